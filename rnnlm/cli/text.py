"""Commands that read text with a trained model: `eval`, `generate`, `inspect-gates`.

Each can read its text from stdin: `eval MODEL -` and `inspect-gates -` by the name "-",
`generate` by leaving out --seed while stdin is a pipe or a file.
"""

import sys
from pathlib import Path

import typer

from .. import display, runs
from ..errors import UsageError
from ..gates import DEFAULT_TOP
from ..files import check_output
from .app import app, examples, force_option, log_finished, log_option, option


@app.command("eval", epilog=examples(
    "rnnlm eval models/jenny-lstm.npz corpora/jenny/jenny.test.txt",
    "zcat news.txt.gz | rnnlm eval models/news-lstm.npz -"))
def evaluate(
    model: Path = typer.Argument(..., help="A checkpoint (.npz)."),
    files: list[Path] = typer.Argument(..., help="Text files to evaluate; - reads stdin."),
    batch_size: int = option(10, help="Parallel streams, state carried through each; 1 gives "
                             "the strict one-stream figure."),
    encoding: str = option("utf-8", help="Text encoding of the files."),
    json_lines: bool = option(False, "--json", help="One JSON object per file on stdout."),
    no_log: bool = log_option(),
):
    """Perplexity (and bits per character) of a model on text files.

    A file named - is stdin, read once; the results call it "-", as wc does.
    """
    from ..checkpoint import load
    from ..data import check_readable, is_stdin
    from ..evaluation import evaluate as run_evaluation

    if batch_size < 1:
        raise UsageError(f"--batch-size must be a positive whole number, got {batch_size}")
    if sum(map(is_stdin, files)) > 1:
        raise UsageError("'-' is given more than once: stdin can be read only once")
    for path in files:
        if not is_stdin(path):
            check_readable(path)
    checkpoint = load(model)
    started = runs.now()
    results = []
    for path in files:
        result = run_evaluation(checkpoint, path, batch_size=batch_size, encoding=encoding)
        if result["warning"]:
            display.print_warning(result["warning"])
        if result["unk"]:
            n = result["unk"]
            display.print_warning(f"{n:,} token{'s' * (n != 1)} of '{path}' "
                                  f"{'are' if n != 1 else 'is'} unknown to the model and "
                                  f"count{'s' * (n == 1)} as <unk>")
        results.append(result)
    printed = [{k: v for k, v in r.items() if k != "warning"} for r in results]
    if runs.enabled(no_log):
        run_id = runs.new_id()
        printed = [{**r, "run_id": run_id} for r in printed]
        log_finished("eval", run_id, json_lines,
                      {"model": str(model), "batch-size": batch_size, "encoding": encoding},
                      printed, started=started, corpus=runs.read_record(files),
                      metrics={"ppl": {r["file"]: r["ppl"] for r in results},
                               "tokens": sum(r["tokens"] for r in results)},
                      results=printed)
    display.print_evaluation(printed, json_lines)


def _read_stdin():
    """All of stdin as text (read as a corpus file is: see data.decode_text), one trailing line
    end ("\n" or "\r\n") removed, as `$(...)` would remove it."""
    from ..data import decode_text

    if sys.stdin is None:                     # closed (`<&-`): nothing to read
        return ""
    # Bytes, decoded here: a C locale would let bad bytes through as surrogates otherwise.
    data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else \
        sys.stdin.read().encode("utf-8", "surrogateescape")
    text = decode_text(data, "stdin")
    return text.removesuffix("\n").removesuffix("\r") if text.endswith("\n") else text


def _model_path(model):
    """--model, or the shipped default model."""
    from ..checkpoint import default_model_path

    return model if model is not None else default_model_path()


@app.command(epilog=examples(
    'rnnlm generate --seed "Jenny has" --greedy',
    'echo "Jenny has" | rnnlm generate --num-samples 3 --random-seed 0',
    'while read -r s; do rnnlm generate --seed "$s" --greedy; done < seeds.txt'))
def generate(
    model: Path = option(None, help="A checkpoint.", shown="the shipped model"),
    seed: str = option(None, help="Text that primes the model; empty starts a sentence. Without "
                       "--seed: all of stdin if it is not a terminal (one trailing newline "
                       "removed).", shown="stdin, or empty on a terminal"),
    length: int = option(50, help="Tokens to generate (at most, with --stop-at-eos)."),
    temperature: float = option(1.0, help="Divide the logits by T first: below 1 sharper, above "
                                "1 flatter."),
    top_k: int = option(None, help="Then keep only the K most probable tokens.", shown="all"),
    top_p: float = option(None, help="Then keep the fewest tokens whose probability reaches P "
                          "(nucleus sampling).", shown="1, all"),
    greedy: bool = option(False, "--greedy", help="Always take the most probable token."),
    beam: int = option(None, help="Beam search: the W most probable continuations, with their "
                       "log-probabilities.", shown="off, sample"),
    num_samples: int = option(1, help="Samples, generated together in one batch."),
    random_seed: int = option(None, help="Same seed, same text.", shown="a fresh one each time"),
    stop_at_eos: bool | None = option(None, "--stop-at-eos/--no-stop", help="End a sample at "
                                      "the end of its sentence (a character model's: its line).",
                                      shown="on for word models, off for character models"),
    strict: bool = option(False, "--strict", help="Unknown seed words are an error, not a "
                          "warning."),
    json_lines: bool = option(False, "--json", help="One JSON object per sample: seed, text, "
                              "tokens, logprob."),
    no_log: bool = log_option(),
):
    """Generate text from a model: sampled, greedy or by beam search.

    Without --seed, a stdin that is a pipe or a file is read to its end: in a
    `while read` loop, pass --seed (or < /dev/null) so that generate does not
    eat the loop's input.
    """
    import json

    from ..checkpoint import load
    from ..generation import generate as run_generation, stops_at_eos

    if seed is None:        # a terminal is not read: `rnnlm generate` alone must not wait
        seed = _read_stdin() if sys.stdin is not None and not sys.stdin.isatty() else ""
    model = _model_path(model)
    checkpoint = load(model)
    stop_at_eos = stops_at_eos(checkpoint.vocab, stop_at_eos)    # logged as it acts
    started = runs.now()
    run_id = runs.new_id() if runs.enabled(no_log) else None
    # Plain output shows the seed and its continuation as one text; --json keeps them apart.
    if checkpoint.vocab.level == "char":
        prefix = seed
    elif seed.strip():
        # a seed ending with a newline ended its sentence (tokenize gave it an <eos>): the
        # continuation starts a line, as generated sentences do
        prefix = seed.strip() + ("\n" if seed.rstrip(" \t\r").endswith("\n") else " ")
    else:
        prefix = ""
    stream = not json_lines and num_samples == 1 and beam is None

    pending = [prefix]             # the seed goes out with the first piece, after any warning

    def write(piece):
        print(pending.pop() + piece if pending else piece, end="", flush=True)

    samples = run_generation(
        checkpoint, seed, length=length, temperature=temperature, top_k=top_k, top_p=top_p,
        greedy=greedy, beam=beam, num_samples=num_samples, random_seed=random_seed,
        stop_at_eos=stop_at_eos, strict=strict, on_warning=display.print_warning,
        on_text=write if stream else None)
    if run_id is not None:
        samples = [{**sample, "run_id": run_id} for sample in samples]
    # samples that run over several lines (a character model's) are told apart by a blank line
    apart = not json_lines and len(samples) > 1 and any("\n" in x["text"] for x in samples)
    for k, sample in enumerate(samples):
        if apart and k:
            print(flush=True)
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
    if run_id is not None:
        settings = {"model": str(model), "seed": seed, "length": length,
                    "temperature": temperature, "top-k": top_k, "top-p": top_p,
                    "greedy": greedy, "beam": beam, "num-samples": num_samples,
                    "random-seed": random_seed, "stop-at-eos": stop_at_eos, "strict": strict}
        # The seed, the same in every sample, is logged once, with the settings: 50 samples
        # of a long seed would otherwise store it 100 times over
        logged = [{k: v for k, v in sample.items() if k != "seed"} for sample in samples]
        log_finished("generate", run_id, json_lines, settings, logged, started=started,
                      results={"samples": logged},
                      metrics={"samples": len(samples),
                               "tokens": sum(len(x["tokens"]) for x in samples),
                               "mean_logprob": sum(x["logprob"] for x in samples)
                               / max(len(samples), 1)})


@app.command("inspect-gates", epilog=examples(
    'rnnlm inspect-gates "Jenny , who met Peter , has her pen ." --gate i',
    "head -n 1 corpora/jenny/jenny.test.txt | rnnlm inspect-gates - --json",
    "head -n 200 corpora/jenny/jenny.valid.txt | rnnlm inspect-gates - --summary"))
def inspect_gates(
    text: str = typer.Argument(..., help="The text to read, e.g. \"Jenny , who met Peter , has "
                               "her pen .\"; - reads it from stdin (one trailing newline "
                               "removed)."),
    model: Path = option(None, help="A checkpoint.", shown="the shipped model"),
    layer: int = option(0, help="Which layer to show (0 = nearest the input)."),
    gate: str = option(None, help="LSTM f,i,o,g,c,h; GRU z,r,n,h; RNN h.",
                       shown="f for LSTM, z for GRU, h for RNN"),
    units: str = option(None, help="Units to show, e.g. 0-9,15.", shown="the --top ones"),
    top: int = option(None, help="Show the K units that vary most over the text.",
                      shown=str(DEFAULT_TOP)),
    json_lines: bool = option(False, "--json", help="Every gate of every layer for every token "
                              "and unit, as one JSON object on stdout."),
    csv: Path = option(None, help="Also write every value to this CSV file.", shown="none"),
    html: Path = option(None, help="Also write a self-contained page that colours the text by "
                        "a chosen unit, gate and layer.", shown="none"),
    summary: bool = option(False, "--summary", help="Instead of the heatmap: each gate's "
                           "saturation (share of values < 0.1 and > 0.9) per layer, and for an "
                           "LSTM how many units keep their cell (f > 0.9) per token; with "
                           "--json as one object."),
    force: bool = force_option(),
):
    """Show what the gates do, token by token: a heatmap of units over the text.

    TEXT - reads the text from stdin (one trailing newline removed).
    """
    import json

    from .. import gates

    if csv is not None and html is not None and csv.resolve() == html.resolve():
        raise UsageError(f"--csv and --html name the same file '{csv}': give two paths")
    reads = (_model_path(model), "-" if text == "-" else None)      # "-": a file in stdin
    for out, flag in ((csv, "--csv"), (html, "--html")):
        if out is not None:
            check_output(out, force=force, reads=reads, flag=flag)
    if text == "-":
        text = _read_stdin()
    record = gates.record(_model_path(model), text, on_warning=display.print_warning)
    layer = gates.check_layer(record, layer)
    gate = gates.check_gate(record, gate)
    chosen = gates.select_units(record.layers[layer][gate], units=units, top=top)
    if csv is not None:
        gates.write_csv(record, csv)
        display.print_note(f"wrote {csv}")
    if html is not None:
        gates.write_html(record, html, layer, gate, chosen[0])
        display.print_note(f"wrote {html}")
    if summary:
        result = gates.summary(record)
        if json_lines:
            print(json.dumps(result), flush=True)
        else:
            display.print_gate_summary(result)
    elif json_lines:
        print(json.dumps(gates.to_json(record)), flush=True)
    else:
        display.print_gates(record, layer, gate, chosen)
