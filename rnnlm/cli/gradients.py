"""`rnnlm gradients`: how the gradient of a prediction fades with the steps back, per layer
and per model."""

import sys
from pathlib import Path

import typer

from .. import display, runs
from ..errors import UsageError
from ..files import check_output
from .app import app, examples, force_option, log_finished, log_option, models_read, option


@app.command(epilog=examples(
    "rnnlm gradients",
    "rnnlm gradients models/jenny-rnn.npz --max-lag 50 --out rnn-flow.svg",
    "rnnlm gradients models/jenny-rnn.npz models/jenny-lstm.npz --untrained",
    'rnnlm gradients --text "Jenny has a dog and the dog has a ball" --json',
    "rnnlm gradients --untrained"))
def gradients(
    models: list[Path] = typer.Argument(None, help="Checkpoints (.npz) to measure, each "
                                        "over the same text. \\[default: the shipped model]",
                                        show_default=False),
    text: str = option(None, help="The text to read (tokenized as a generate seed).",
                       shown="the first 2,000 tokens of the bundled jenny validation text"),
    file: Path = option(None, help="Read the text from this file instead (UTF-8).",
                        shown="no file"),
    max_lag: int = option(30, help="Measure lags 0..K (steps back)."),
    untrained: bool = option(False, "--untrained", help="Measure the same sizes freshly "
                             "initialised (same seed) instead of the trained weights."),
    out: Path = option(None, help="Write the chart to a .png or .svg file.", shown="no file"),
    json_lines: bool = option(False, "--json", help="One JSON object per model on stdout: "
                              "model, tokens, and each layer's lags and norms."),
    force: bool = force_option(),
    no_log: bool = log_option(),
):
    """Vanishing gradients: mean ||d loss_t / d h_(t-k)|| for each layer and lag k.

    The model reads the text from a zero state without dropout; loss_t is the loss of
    predicting token t+1. The gradient is the engine's own backward, through the layer above
    and the layer's own recurrence.
    """
    from .. import plot as charts
    from ..checkpoint import load
    from ..display.gradients import print_gradients
    from ..gradients import check_lag, default_text, flow_chart, gradient_flow

    check_lag(max_lag)
    if out is not None and out.suffix.lower() not in charts.PICTURE_TYPES:
        raise UsageError(f"--out '{out}': write a .png or .svg file")
    if out is not None:
        check_output(out, force=force, reads=(*models_read(models), file))
    started = runs.now()
    source = "file" if file is not None else "given" if text is not None else "default"
    if source == "default":
        text = default_text()               # read once, whatever the number of models
    # Every model is read before the work on the first begins: a bad last file fails at once.
    checkpoints = [load(model) for model in models_read(models)]
    results = [gradient_flow(checkpoint, text, max_lag, file=file, untrained=untrained,
                             on_warning=display.print_warning) for checkpoint in checkpoints]
    if runs.enabled(no_log):
        run_id = runs.new_id()
        results = [{**r, "run_id": run_id} for r in results]
        log_finished("gradients", run_id, json_lines,
                     {"models": [r["model"] for r in results], "max-lag": max_lag,
                      "untrained": untrained, "text": source},
                     results, started=started,
                     corpus=runs.read_record([file]) if file is not None else None,
                     metrics={"tokens": results[0]["tokens"],
                              "ratio": {r["model"]: _last_ratio(r) for r in results}},
                     results=results)
    print_gradients(results, json_lines)
    series, chart = flow_chart(results)
    if out is not None:
        charts.save_chart(series, chart, out)
        display.print_note(f"wrote {out}")
    if not json_lines:
        print(charts.terminal_chart(series, chart, *charts.terminal_size(),
                                    colour=sys.stdout.isatty()), flush=True)


def _last_ratio(result):
    """The top layer's norm at the last lag over its norm at lag 0 (None when lag 0 is 0)."""
    top = result["layers"][-1]["norm"]
    return top[-1] / top[0] if top[0] else None
