"""`rnnlm train`."""

import re
from pathlib import Path

import typer

from .. import display
from ..config import read_config_file
from ..errors import UsageError
from .app import app


def parse_duration(text):
    """'90', '90s', '30m', '1.5h' -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not match or float(match[1]) <= 0:
        raise UsageError(f"--max-time must be a positive duration like 90s, 30m or 1.5h, "
                         f"got {text!r}")
    return float(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[match[2]]


# Typer options whose value None means "not given": a config file or a checkpoint decides.
@app.command()
def train(
    corpus: Path = typer.Argument(..., help="A text file, or a directory with *train*.txt "
                                  "(and *valid*.txt, *test*.txt)."),
    cell: str = typer.Option(None, help="lstm, gru or rnn (Elman). [default: lstm]"),
    layers: int = typer.Option(None, help="Stacked recurrent layers. [default: 2]"),
    embed_size: int = typer.Option(None, help="Embedding size. [default: 200]"),
    hidden_size: int = typer.Option(None, help="Units per recurrent layer. [default: 200]"),
    dropout: float = typer.Option(None, help="Dropout on non-recurrent connections, in [0, 1). "
                                  "[default: 0]"),
    variational: bool = typer.Option(None, "--variational/--no-variational",
                                     help="One dropout mask per sequence, shared over time."),
    tie_weights: bool = typer.Option(None, "--tie-weights/--no-tie-weights",
                                     help="Share the embedding and output matrices."),
    init_scale: float = typer.Option(None, help="Uniform init range. [default: 0.1]"),
    optimizer: str = typer.Option(None, help="sgd or adam. [default: sgd]"),
    lr: float = typer.Option(None, help="Learning rate. [default: 20 for sgd, 0.002 for adam]"),
    lr_decay: float = typer.Option(None, help="Factor applied to the lr when it decays. "
                                   "[default: 0.5]"),
    decay_after: int = typer.Option(None, help="Decay the lr after each epoch from this one."),
    decay_on_plateau: bool = typer.Option(None, "--decay-on-plateau/--no-decay-on-plateau",
                                          help="Decay the lr when validation does not improve."),
    anneal: float = typer.Option(None, help="Lower the lr linearly to 0 over this last fraction "
                                 "of the budget (--max-time or --epochs, whichever ends first). "
                                 "[default: 0, off]"),
    clip: float = typer.Option(None, help="Clip gradients to this global norm; 0 turns clipping off. "
                              "[default: 0.25]"),
    batch_size: int = typer.Option(None, help="Parallel streams. [default: 20]"),
    bptt: int = typer.Option(None, help="Steps per chunk (truncated BPTT). [default: 35]"),
    epochs: int = typer.Option(None, help="Epochs in total, over all resumes. [default: 10]"),
    max_time: str = typer.Option(None, help="Training time budget over all resumes: 90s, 30m, "
                                 "1.5h."),
    patience: int = typer.Option(None, help="Stop after this many epochs without improvement."),
    eval_every: int = typer.Option(None, help="Also validate every N steps."),
    seed: int = typer.Option(None, help="Random seed for parameters and dropout. [default: 0]"),
    level: str = typer.Option(None, help="word or char. [default: word]"),
    encoding: str = typer.Option(None, help="Text encoding of the corpus. [default: utf-8]"),
    valid_fraction: float = typer.Option(None, help="Share of a single file's last lines held "
                                         "out for validation. [default: 0.05]"),
    max_vocab: int = typer.Option(None, help="Keep at most this many types (with specials)."),
    min_count: int = typer.Option(None, help="Drop types seen fewer times. [default: 1]"),
    out: Path = typer.Option(None, help="Where the best model goes. "
                             "[default: models/<corpus>-<cell>.npz]"),
    resume: Path = typer.Option(None, help="Continue from a checkpoint (X.last.npz)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing --out."),
    config: Path = typer.Option(None, help="Settings from a TOML file; flags override it."),
    json_lines: bool = typer.Option(False, "--json", help="One JSON object per event on stdout."),
    log_every: int = typer.Option(None, help="Steps between step events. [default: 200]"),
    quiet: bool = typer.Option(False, "--quiet", help="Print only the saved model's path."),
):
    """Train a language model on a corpus; the best model by validation perplexity is saved."""
    from ..training import train as run_training

    given = {k: v for k, v in locals().items() if v is not None and k in _SETTINGS}
    settings = read_config_file(config) if config is not None else {}
    settings.update({("num_layers" if k == "layers" else k): v for k, v in given.items()})
    if isinstance(settings.get("max_time"), str):
        settings["max_time"] = parse_duration(settings["max_time"])
    view = display.training_view(json_lines, quiet)
    try:
        run_training(corpus, out=out, resume=resume, force=force, callback=view,
                     progress=False, **settings)
    finally:
        view.close()


_SETTINGS = {"cell", "layers", "embed_size", "hidden_size", "dropout", "variational",
             "tie_weights", "init_scale", "optimizer", "lr", "lr_decay", "decay_after",
             "decay_on_plateau", "anneal", "clip", "batch_size", "bptt", "epochs", "max_time",
             "patience", "eval_every", "seed", "level", "encoding", "valid_fraction",
             "max_vocab", "min_count", "log_every"}


