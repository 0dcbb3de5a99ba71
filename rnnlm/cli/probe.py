"""`rnnlm probe`: agreement accuracy of models on minimal pairs, by distance and attractors."""

import sys
from pathlib import Path

import typer

from .. import display, runs
from ..errors import UsageError
from ..files import check_output
from .app import app, examples, force_option, log_finished, log_option, models_read, option


@app.command(epilog=examples(
    "rnnlm probe",
    "rnnlm probe models/jenny-rnn.npz models/jenny-lstm.npz --plot",
    "rnnlm probe models/jenny-gru.npz --pairs my-pairs.tsv --json",
    "rnnlm probe models/*.npz --out probe.svg"))
def probe(
    models: list[Path] = typer.Argument(None, help="Checkpoints (.npz) to compare. "
                                        "\\[default: the shipped model]", show_default=False),
    pairs: Path = option(None, help="Pairs file: prefix, good, bad, distance [, attractors], "
                         "tab-separated, one pair a line.", shown="the bundled jenny probes"),
    plot: bool = option(False, "--plot", help="Also chart accuracy against distance in the "
                        "terminal, one line per model."),
    out: Path = option(None, help="Write that chart to a .png or .svg file.",
                       shown="no file"),
    json_lines: bool = option(False, "--json", help="One JSON object per model on stdout."),
    force: bool = force_option(),
    no_log: bool = log_option(),
):
    """Agreement accuracy: does each model prefer the good word of every minimal pair?

    Each prefix starts a sentence; a pair is right when log p(good) > log p(bad) (a tie is
    wrong). Pairs with words a model does not know are skipped and counted.
    """
    from .. import plot as charts
    from ..display.probe import print_probe
    from ..probe import accuracy_chart, pairs_path
    from ..probe import probe as run_probe

    if out is not None and out.suffix.lower() not in charts.PICTURE_TYPES:
        raise UsageError(f"--out '{out}': write a .png or .svg file")
    path = pairs_path(pairs)
    if out is not None:
        check_output(out, force=force, reads=(*models_read(models), path))
    started = runs.now()
    printed = run_probe(list(models or []), path, on_warning=display.print_warning)
    if runs.enabled(no_log):
        run_id = runs.new_id()
        printed = [{**r, "run_id": run_id} for r in printed]
        log_finished("probe", run_id, json_lines,
                     {"models": [r["model"] for r in printed], "pairs": str(path)},
                     printed, started=started, corpus=runs.read_record([path]),
                     metrics={"accuracy": {r["model"]: r["accuracy"] for r in printed},
                              "pairs": sum(r["pairs"] for r in printed)},
                     results=printed)
    print_probe(printed, json_lines)
    if out is None and not plot:
        return
    series, chart = accuracy_chart(printed)
    if chart is None:
        display.print_warning("no pair was scored: no chart to draw")
        return
    if out is not None:
        charts.save_chart(series, chart, out)
        display.print_note(f"wrote {out}")
    if plot:
        # --json keeps stdout for JSON lines: the chart goes to the terminal on stderr then
        stream = sys.stderr if json_lines else sys.stdout
        print(charts.terminal_chart(series, chart, *charts.terminal_size(),
                                    colour=stream.isatty()), file=stream, flush=True)
