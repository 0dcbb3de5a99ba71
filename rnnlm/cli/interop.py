"""`rnnlm export` and `rnnlm import`: models to and from PyTorch as safetensors files."""

from pathlib import Path

import typer

from .. import display
from .app import app, examples, option


@app.command("export", epilog=examples(
    "rnnlm export models/jenny-lstm.npz jenny-lstm.safetensors",
    "rnnlm export models/jenny-gru.npz jenny-gru.safetensors --layout rnnlm"))
def export_model(
    model: Path = typer.Argument(..., help="A checkpoint (.npz)."),
    out: Path = typer.Argument(..., help="The .safetensors file to write."),
    layout: str = option("torch", help="torch: PyTorch word_language_model's names, for "
                         "nn.LSTM / nn.RNN; rnnlm: rnnlm's own names (a GRU's only way; run "
                         "it with rnnlm.torch)."),
    force: bool = option(False, "--force", help="Overwrite an existing OUT."),
):
    """Write a model for PyTorch: its weights, vocabulary and settings, in safetensors.

    The torch layout is a state_dict for nn.Embedding + nn.LSTM / nn.RNN + nn.Linear
    (encoder, rnn, decoder), gate blocks in PyTorch's order. Nothing is pickled.
    """
    from ..interop import export_torch

    export_torch(model, out, layout, force)
    display.print_note(f"wrote {out}")


@app.command("import", epilog=examples(
    "rnnlm import lstm-from-pytorch.safetensors models/imported.npz --vocab idx2word.txt",
    "rnnlm import jenny-lstm.safetensors models/back.npz"))
def import_model(
    source: Path = typer.Argument(..., metavar="IN", help="A .safetensors file (never a "
                                  "pickled .pt)."),
    out: Path = typer.Argument(..., help="The rnnlm checkpoint (.npz) to write."),
    vocab: Path = option(None, help="The vocabulary, one token a line in id order, for a file "
                         "without one in its metadata.", shown="the file's metadata"),
    level: str = option(None, help="word or char, for a file that does not say.",
                        shown="the file's metadata, else word"),
    cell: str = option(None, help="lstm or rnn, for a file whose shapes and metadata leave it "
                       "open.", shown="from the metadata or the shapes"),
    force: bool = option(False, "--force", help="Overwrite an existing OUT."),
):
    """Make an rnnlm checkpoint of a model trained in PyTorch (or exported by rnnlm).

    A word_language_model-style state_dict (encoder, rnn, decoder) of an nn.LSTM or nn.RNN
    (tanh), or a file in rnnlm's layout. The bias is bias_ih + bias_hh; tied when there is no
    decoder.weight or it equals encoder.weight; <unk> and <eos> move to the front.
    """
    from ..interop import import_torch

    import_torch(source, out, vocab, level, cell, force)
    display.print_note(f"wrote {out}")
