"""The Typer application every command module registers with, and what they share."""

import typer

from .. import __version__

# Typer's usage errors (unknown option, bad type) derive from a UsageError class that Typer
# does not export under one name across versions (click's, or its vendored copy): find it.
_TyperUsageError = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")

app = typer.Typer(
    name="rnnlm",
    help="Train recurrent language models (Elman RNN, LSTM, GRU) with a NumPy engine, evaluate "
         "their perplexity, generate text and look inside their gates.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _show_version(value: bool):
    if value:
        typer.echo(f"rnnlm {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True,
                                 help="Print the version and exit."),
):
    """Train recurrent language models (Elman RNN, LSTM, GRU) with a NumPy engine."""


