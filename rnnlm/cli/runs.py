"""`rnnlm runs`: find, show, compare, plot and delete the runs in the runs log."""

import json
import sys
from pathlib import Path

import typer

from .. import display
from ..display import runs as view
from ..errors import RnnlmError, UsageError
from ..runs.store import KINDS, STATUSES
from ..files import check_output
from .app import app, examples, force_option, option

runs_app = typer.Typer(help="The runs log: every command that trains, evaluates or measures a "
                            "model, to find, compare and plot. IDs may be shortened to any "
                            "unique prefix; 'last' is the newest run.", no_args_is_help=False)
app.add_typer(runs_app, name="runs")

JSON_HELP = "One JSON object per run on stdout."


def _log():
    from ..runs import RunsLog
    return RunsLog()


def _choice(flag, value, choices):
    if value is not None and value not in choices:
        raise UsageError(f"{flag} must be one of {', '.join(choices)}, got {value!r}")


def _print_json(obj):
    print(json.dumps(obj), flush=True)


@runs_app.callback(invoke_without_command=True, epilog=examples(
    "rnnlm runs --kind train --status done", "rnnlm runs --corpus ptb --limit 0 --json",
    "rnnlm runs show last", "rnnlm runs compare 3kq 9x1 a7c", "rnnlm runs plot 3kq 9x1 a7c"))
def runs_list(
    ctx: typer.Context,
    kind: str = option(None, help=f"Only runs of this kind: {', '.join(KINDS)}.", shown="all"),
    status: str = option(None, help=f"Only runs with this status: {', '.join(STATUSES)}.",
                         shown="all"),
    corpus: str = option(None, help="Only runs whose corpus path or name contains TEXT.",
                         shown="all", metavar="TEXT"),
    limit: int = option(20, help="Show at most N runs, newest first; 0 shows all."),
    json_lines: bool = option(False, "--json", help=JSON_HELP),
):
    """List the logged runs, newest first."""
    if ctx.invoked_subcommand is not None:
        if (kind, status, corpus, limit, json_lines) != (None, None, None, 20, False):
            raise UsageError(f"--kind, --status, --corpus, --limit and --json before "
                             f"'{ctx.invoked_subcommand}' belong to the list: put the "
                             f"subcommand's own options after it")
        return
    _choice("--kind", kind, KINDS)
    _choice("--status", status, STATUSES)
    if limit < 0:
        raise UsageError(f"--limit must be 0 (all) or more, got {limit}")
    log = _log()
    found = log.runs(kind=kind, status=status, corpus=corpus, limit=limit,
                     on_warning=display.print_warning)
    if json_lines:
        for run in found:
            _print_json(run)
    elif found:
        view.print_runs(found)
    else:
        display.print_note(f"no runs match in '{log.path}'" if log.conn is not None else
                           f"no runs logged yet (the log will be '{log.path}')")


@runs_app.command("show", epilog=examples("rnnlm runs show last",
                                          "rnnlm runs show 3kq --json"))
def runs_show(
    run: str = typer.Argument(..., help="A run id, a unique prefix of one, or 'last'."),
    json_lines: bool = option(False, "--json", help="The run as one JSON object (with its "
                              "epochs) on stdout."),
):
    """One run: its settings, its results and its per-epoch table."""
    log = _log()
    found = log.get(run)
    events = log.events(found["id"])
    if json_lines:
        _print_json({**found, "epochs": view.epoch_rows(events)})
    else:
        view.print_run(found, events)


@runs_app.command("compare", epilog=examples("rnnlm runs compare 3kq 9x1 last",
                                             "rnnlm runs compare 3kq 9x1 --json | jq .differ"))
def runs_compare(
    runs: list[str] = typer.Argument(..., help="Two or more run ids (or prefixes, or 'last')."),
    json_lines: bool = option(False, "--json", help='{"differ": {setting: [value per run]}, '
                              '"metrics": [per run]} on stdout.'),
):
    """The settings that differ between runs, and their results, side by side."""
    from ..runs import compare

    if len(runs) < 2:
        raise UsageError("compare needs two or more runs")
    log = _log()
    found = [log.get(r) for r in runs]
    result = compare(found)
    if json_lines:
        _print_json(result)
    else:
        view.print_compare(found, result["differ"])


@runs_app.command("plot", epilog=examples(
    "rnnlm runs plot 3kq 9x1 a7c",
    "rnnlm runs plot 3kq 9x1 --metric train_ppl --x time --out curves.svg"))
def runs_plot(
    runs: list[str] = typer.Argument(..., help="Run ids (or prefixes, or 'last') of trainings."),
    metric: str = option("valid_ppl", help="valid_ppl, train_ppl, lr or grad_norm."),
    x: str = option("tokens", "--x", help="tokens, time (training seconds) or epoch."),
    out: str = option(None, help="Write the chart to this .png or .svg file instead (needs "
                      "pip install 'rnnlm[plot]').", shown="draw in the terminal",
                      metavar="FILE"),
    force: bool = force_option(),
):
    """Learning curves of several runs in one chart, in the terminal or as a picture."""
    from .. import plot

    if out is not None:
        if Path(out).suffix.lower() not in plot.PICTURE_TYPES:
            raise UsageError(f"--out '{out}': write a .png or .svg file")
        check_output(out, force=force)
    log = _log()
    found = [log.get(r) for r in runs]
    series, nothing = _curves(log, found, metric, x)
    if not series and all(r["kind"] != "train" for r in found):
        given = ", ".join(f"{r['id']} ({r['kind']})" for r in found)
        raise UsageError(f"no {metric} to plot in {given}: plot trainings that have validated "
                         f"at least once")
    if not series:                      # trainings without the points asked for: their data
        raise RnnlmError("; ".join(nothing))
    for why in nothing:
        display.print_warning(f"{why}; left out")
    if out is not None:
        plot.save_chart(series, plot.chart_of_runs(metric, x), out)
        display.print_note(f"wrote {out}")
        return
    print(plot.terminal_chart(series, plot.chart_of_runs(metric, x), *plot.terminal_size(),
                              colour=sys.stdout.isatty()), flush=True)


def _curves(log, runs, metric, x):
    """-> (series of the runs that have points to plot, why each of the others has none)."""
    from ..runs import curve

    series, nothing = [], []
    for run in runs:
        events = log.events(run["id"])
        xs, ys = curve(events, metric, x)
        if xs:
            series.append((f"{run['id']} {view.model_summary(run)}", xs, ys))
        elif x == "epoch" and curve(events, metric, "tokens")[0]:
            nothing.append(f"run {run['id']} has completed no epoch to place its {metric} on: "
                           f"plot it against tokens (the default --x) or time")
        else:
            nothing.append(f"run {run['id']} ({run['kind']}) has no {metric} to plot against "
                           f"{x}")
    return series, nothing


@runs_app.command("events", epilog=examples(
    "rnnlm runs events last | jq -c 'select(.event == \"epoch\")'"))
def runs_events(
    run: str = typer.Argument(..., help="A run id, a unique prefix of one, or 'last'."),
):
    """The run's events as JSON lines, as --json printed them live."""
    for event in _log().events(run):
        _print_json(event)


@runs_app.command("delete", epilog=examples("rnnlm runs delete 3kq 9x1",
                                            "rnnlm runs delete --force 3kq"))
def runs_delete(
    runs: list[str] = typer.Argument(..., help="Run ids (or prefixes, or 'last')."),
    force: bool = option(False, "--force", help="Delete runs that read as running too: a run "
                         "of another machine (a shared RNNLM_HOME, a container, a changed "
                         "hostname) is one rnnlm cannot check, and may have stopped long ago."),
):
    """Remove runs from the log. Checkpoints are never touched."""
    for run_id in _log().delete(runs, force=force):
        display.print_note(f"deleted run {run_id}")
