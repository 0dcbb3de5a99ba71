"""The command line: thin Typer commands over the Python API (the only module importing typer)."""

import typer

from . import __version__

app = typer.Typer(
    name="rnnlm",
    help="Train recurrent language models (Elman RNN, LSTM, GRU) with a NumPy engine.",
    add_completion=False,
    no_args_is_help=True,
)


def _show_version(value: bool):
    if value:
        typer.echo(f"rnnlm {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True,
                                 help="Print the version and exit."),
):
    """Train recurrent language models (Elman RNN, LSTM, GRU) with a NumPy engine."""
