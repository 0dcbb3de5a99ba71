"""The Typer application every command module registers with, and what they share."""

import typer
from typer.core import TyperGroup

from .. import __version__


def examples(*commands):
    """A command's epilog: its examples, after its options, one command a line."""
    return "Examples:\n\n" + "\n\n".join(f"  {c}" for c in commands)


# Typer's usage errors (unknown option, bad type) derive from a UsageError class that Typer
# does not export under one name across versions (click's, or its vendored copy): find it.
_TyperUsageError = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


class OutputClosed(Exception):
    """The reader of stdout went away (``rnnlm generate | head``): not an error of rnnlm's."""


# The help lists the commands in the order a user meets them, not in the order their modules
# happen to register them: train first, then what reads a model, then the logs and interop.
COMMAND_ORDER = ("train", "eval", "generate", "inspect-gates", "probe", "gradients", "runs",
                 "models", "info", "export", "import")


class _Group(TyperGroup):
    def list_commands(self, ctx):
        names = super().list_commands(ctx)
        rank = {name: i for i, name in enumerate(COMMAND_ORDER)}
        return sorted(names, key=lambda name: rank.get(name, len(rank)))

    def invoke(self, ctx):
        # Typer turns a BrokenPipeError into exit 1 with nothing said; main() decides instead
        try:
            return super().invoke(ctx)
        except BrokenPipeError as e:
            raise OutputClosed from e


app = typer.Typer(
    cls=_Group,
    name="rnnlm",
    help="Train recurrent language models (Elman RNN, LSTM, GRU) with a NumPy engine, evaluate "
         "their perplexity, generate text and look inside their gates.",
    add_completion=True,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _show_version(value: bool):
    if value:
        typer.echo(f"rnnlm {__version__}")
        raise typer.Exit()


@app.callback(epilog=examples(
    "rnnlm train corpora/jenny --cell gru --epochs 3", "rnnlm runs",
    'rnnlm generate --seed "Jenny has" --greedy', "rnnlm train --help"))
def _main(
    version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True,
                                 help="Print the version and exit."),
):
    """Train recurrent language models (Elman RNN, LSTM, GRU) with a NumPy engine."""


def option(default, *flags, help, shown=None, **kwargs):
    """A Typer option whose help ends with its default: "[default: off]" for a False flag,
    ``shown`` where the value alone would not say it (None = "not given"). Typer shows no
    default for None or False, and puts a text one in parentheses."""
    if shown is None:
        shown = {True: "on", False: "off"}[default] if isinstance(default, bool) else default
    text = f"{help} [default: {shown}]"
    # Typer reads help as Rich markup, where [default: x] or 'rnnlm[plot]' is a tag: "\\[" is text
    return typer.Option(default, *flags, help=text.replace("[", "\\["), show_default=False,
                        **kwargs)


def force_option():
    """--force, the same on every command that writes a file of its own choosing."""
    return option(False, "--force", help="Overwrite an existing output file (never one that "
                  "the command reads).")


def models_read(models):
    """The checkpoints a command given MODELS... reads: those, or the shipped default."""
    from ..checkpoint import default_model_path

    return list(models) if models else [default_model_path()]


def log_option():
    """--no-log, the same on every command that records itself in the runs log."""
    return option(False, "--no-log", help="Do not record this run in the runs log "
                  "(RNNLM_NO_LOG=1 does the same for every command).")


def log_finished(kind, run_id, json_lines, settings, printed, **fields):
    """Record a command that has its results (eval, generate, ...: see runs.record_finished);
    plain output names the run on stderr."""
    from .. import display, runs

    if runs.record_finished(kind, settings, printed, run_id=run_id,
                            on_warning=display.print_warning, **fields) and not json_lines:
        display.print_note(f"run {run_id}")
