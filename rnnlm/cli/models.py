"""Commands about checkpoints themselves: `models` lists the known ones, `info` shows one."""

from pathlib import Path

import typer

from .. import display
from ..display import models as views
from .app import app, examples, option


@app.command("models", epilog=examples("rnnlm models", "rnnlm models --json"))
def list_models(
    json_lines: bool = option(False, "--json", help="One JSON object per model on stdout."),
):
    """List the checkpoints rnnlm knows: architecture, corpus, valid ppl, size, date.

    Newest first: models/*.npz under the current directory, the outputs of logged training runs
    that still exist and the shipped default (never an X.last.npz). A model is resumable when
    its X.last.npz, the training state, is beside it.
    """
    from ..catalog import known_models
    from ..runs import logged_outputs

    views.print_models(known_models(extra=logged_outputs(display.print_warning)), json_lines)


@app.command(epilog=examples("rnnlm info models/default.npz",
                             "rnnlm info models/jenny-lstm.npz --json"))
def info(
    model: Path = typer.Argument(..., help="A checkpoint (.npz)."),
    json_lines: bool = option(False, "--json", help="Everything as one JSON object on stdout."),
):
    """Show one checkpoint: settings, vocabulary, parameters, training, corpus.

    Everything known about a checkpoint: its settings by canonical key, vocabulary (level, size,
    first tokens), parameter count by tensor, training summary (epochs, tokens, time, best
    valid ppl, run id), corpus fingerprint and the rnnlm version that saved it.
    """
    from ..catalog import describe

    views.print_info(describe(model), json_lines)
