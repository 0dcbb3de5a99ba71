"""The command line: thin Typer commands over the Python API (the only module importing typer).

Errors rnnlm expects (RnnlmError) and usage errors Typer finds become one line on stderr,
``rnnlm: error: ...``, and exit 2 (bad usage) or 1 (bad files, data, checkpoints).
"""

import re
import sys
from pathlib import Path

import typer

from . import __version__, display
from .config import read_config_file
from .errors import RnnlmError, UsageError

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
    from .training import train as run_training

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


@app.command("eval")
def evaluate(
    model: Path = typer.Argument(..., help="A checkpoint (.npz)."),
    files: list[Path] = typer.Argument(..., help="Text files to evaluate."),
    batch_size: int = typer.Option(10, help="Parallel streams, state carried through each; 1 "
                                   "gives the strict one-stream figure."),
    encoding: str = typer.Option("utf-8", help="Text encoding of the files."),
    json_lines: bool = typer.Option(False, "--json", help="One JSON object per file on stdout."),
):
    """Perplexity (and bits per character) of a model on text files."""
    from .checkpoint import load
    from .evaluation import evaluate as run_evaluation

    if batch_size < 1:
        raise UsageError(f"--batch-size must be a positive whole number, got {batch_size}")
    checkpoint = load(model)
    results = []
    for path in files:
        result = run_evaluation(checkpoint, path, batch_size=batch_size, encoding=encoding)
        if result["warning"]:
            display.print_warning(result["warning"])
        if result["unk"]:
            display.print_warning(f"{result['unk']:,} tokens of '{path}' are unknown to the "
                                  f"model and count as <unk>")
        results.append(result)
    display.print_evaluation(results, json_lines)


def _load_model(model):
    """The checkpoint at --model, or the shipped default model."""
    from .checkpoint import default_model_path, load

    return load(model if model is not None else default_model_path())


@app.command()
def generate(
    model: Path = typer.Option(None, help="A checkpoint. [default: the shipped model]"),
    seed: str = typer.Option("", help="Text that primes the model; empty starts a sentence."),
    length: int = typer.Option(50, help="Tokens to generate (at most, with --stop-at-eos)."),
    temperature: float = typer.Option(1.0, help="Divide the logits by T first: below 1 sharper, "
                                      "above 1 flatter."),
    top_k: int = typer.Option(None, help="Then keep only the K most probable tokens."),
    top_p: float = typer.Option(None, help="Then keep the fewest tokens whose probability "
                                "reaches P (nucleus sampling)."),
    greedy: bool = typer.Option(False, "--greedy", help="Always take the most probable token."),
    beam: int = typer.Option(None, help="Beam search: the W most probable continuations, with "
                             "their log-probabilities."),
    num_samples: int = typer.Option(1, help="Samples, generated together in one batch."),
    random_seed: int = typer.Option(None, help="Same seed, same text."),
    stop_at_eos: bool = typer.Option(True, "--stop-at-eos/--no-stop",
                                     help="End a sample at the end of its sentence."),
    strict: bool = typer.Option(False, "--strict", help="Unknown seed words are an error, "
                                "not a warning."),
    json_lines: bool = typer.Option(False, "--json", help="One JSON object per sample: seed, "
                                    "text, tokens, logprob."),
):
    """Generate text from a model: sampled, greedy or by beam search."""
    import json

    from .generation import generate as run_generation

    checkpoint = _load_model(model)
    # Plain output shows the seed and its continuation as one text; --json keeps them apart.
    joiner = " " if checkpoint.vocab.level == "word" and seed.strip() else ""
    prefix = seed.strip() + joiner if checkpoint.vocab.level == "word" else seed
    stream = not json_lines and num_samples == 1 and beam is None

    pending = [prefix]             # the seed goes out with the first piece, after any warning

    def write(piece):
        print(pending.pop() + piece if pending else piece, end="", flush=True)

    samples = run_generation(
        checkpoint, seed, length=length, temperature=temperature, top_k=top_k, top_p=top_p,
        greedy=greedy, beam=beam, num_samples=num_samples, random_seed=random_seed,
        stop_at_eos=stop_at_eos, strict=strict, on_warning=display.print_warning,
        on_text=write if stream else None)
    for sample in samples:
        if json_lines:
            print(json.dumps(sample), flush=True)
        elif beam is not None:
            print(f"{sample['logprob']:.3f}\t{prefix}{sample['text']}", flush=True)
        elif not stream:
            print(prefix + sample["text"], flush=True)
    if stream and pending:                      # nothing was generated (--length 0)
        print(pending.pop().rstrip(), flush=True)
    elif stream and not samples[0]["text"].endswith("\n"):
        print(flush=True)


@app.command("inspect-gates")
def inspect_gates(
    text: str = typer.Argument(..., help="The text to read, e.g. \"Jenny , who met Peter , has "
                               "her pen .\""),
    model: Path = typer.Option(None, help="A checkpoint. [default: the shipped model]"),
    layer: int = typer.Option(0, help="Which layer to show (0 = nearest the input)."),
    gate: str = typer.Option(None, help="LSTM f,i,o,g,c,h; GRU z,r,n,h; RNN h. "
                             "[default: f for LSTM, z for GRU, h for RNN]"),
    units: str = typer.Option(None, help="Units to show, e.g. 0-9,15."),
    top: int = typer.Option(None, help="Show the K units that vary most over the text. "
                            "[default: 16]"),
    json_lines: bool = typer.Option(False, "--json", help="Every gate of every layer for every "
                                    "token and unit, as one JSON object on stdout."),
    csv: Path = typer.Option(None, help="Also write every value to this CSV file."),
    html: Path = typer.Option(None, help="Also write a self-contained page that colours the "
                              "text by a chosen unit, gate and layer."),
):
    """Show what the gates do, token by token: a heatmap of units over the text."""
    import json

    from . import gates

    record = gates.record(_load_model(model), text, on_warning=display.print_warning)
    layer = gates.check_layer(record, layer)
    gate = gates.check_gate(record, gate)
    chosen = gates.select_units(record.layers[layer][gate], units=units, top=top)
    if csv is not None:
        gates.write_csv(record, csv)
        display.print_note(f"wrote {csv}")
    if html is not None:
        gates.write_html(record, html, layer, gate, chosen[0])
        display.print_note(f"wrote {html}")
    if json_lines:
        print(json.dumps(gates.to_json(record)), flush=True)
    else:
        display.print_gates(record, layer, gate, chosen)


def main():
    """Console entry point: one line on stderr and a clear exit code for expected errors."""
    from .training import TrainingInterrupted

    try:
        code = app(standalone_mode=False, prog_name="rnnlm")
    except TrainingInterrupted as e:
        display.print_warning(str(e))
        code = e.exit_code
    except RnnlmError as e:
        display.print_error(str(e))
        code = e.exit_code
    except _TyperUsageError as e:
        if type(e).__name__ == "NoArgsIsHelpError":     # bare `rnnlm`: the help was shown
            sys.exit(0)
        hint = f" (see 'rnnlm {e.ctx.info_name} --help')" if e.ctx and e.ctx.parent else \
            " (see 'rnnlm --help')"
        display.print_error(e.format_message().replace("\n", " ") + hint)
        code = 2
    except typer.Abort:
        code = 130
    except BrokenPipeError:
        code = 0         # `rnnlm ... | head` closed the pipe: not an error
    sys.exit(code if isinstance(code, int) else 0)
