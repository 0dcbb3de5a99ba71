"""Commands that read text with a trained model: `eval`, `generate`, `inspect-gates`."""

from pathlib import Path

import typer

from .. import display
from ..errors import UsageError
from .app import app


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
    from ..checkpoint import load
    from ..evaluation import evaluate as run_evaluation

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
    from ..checkpoint import default_model_path, load

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

    from ..generation import generate as run_generation

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

    from .. import gates

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
