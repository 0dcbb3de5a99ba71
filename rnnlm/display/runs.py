"""Views of the runs log: the list of runs, one run, runs side by side."""

from datetime import datetime
from pathlib import Path

from rich import box
from rich.table import Table
from rich.text import Text

from . import _duration, _num, model_shape, stdout_console

STATUS_STYLES = {"running": "cyan", "done": "green", "interrupted": "yellow",
                 "diverged": "red", "failed": "red", "killed": "red"}
SEED_SHOWN = 60             # a generate run's samples show this much of the seed's end
VALUE_SHOWN = 300           # and a setting, or the command line, this much of its start


def model_summary(run):
    """'lstm 2x200 tied' for a training; the model file's name for a run that used one, the
    names joined for a run over several (probe, gradients)."""
    s = run["settings"]
    if "cell" in s and "layers" in s:
        return f"{s['cell']} {model_shape(s)}"
    if s.get("models"):
        return ", ".join(Path(m).name for m in s["models"])
    return Path(s["model"]).name if s.get("model") else "-"


def corpus_name(run):
    corpus = run.get("corpus") or {}
    return corpus.get("name") or corpus.get("path") or "-"


def _when(iso):
    """ISO 8601 UTC -> local 'MM-DD HH:MM' this year, 'YYYY-MM-DD' before (what a person
    compares with the clock)."""
    if not iso:
        return "-"
    try:
        when = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone()
    except ValueError:
        return iso
    return when.strftime("%m-%d %H:%M" if when.year == datetime.now().year else "%Y-%m-%d")


def _seconds(run):
    """Training time for a training, wall time from start to end for the others."""
    if run["metrics"].get("elapsed_s") is not None:
        return run["metrics"]["elapsed_s"]
    if run.get("ended"):
        start, end = (datetime.fromisoformat(run[k].replace("Z", "+00:00"))
                      for k in ("started", "ended"))
        return (end - start).total_seconds()
    return None


def _ppl(run):
    """The run's headline perplexity: a training's best validation, an eval's (one file)."""
    m = run["metrics"]
    if m.get("valid_ppl") is not None:
        return m["valid_ppl"]
    files = m.get("ppl") or {}
    return next(iter(files.values())) if len(files) == 1 else None


def _status(status):
    return Text(status, style=STATUS_STYLES.get(status, ""))


def print_runs(runs, console=None):
    """The runs as a table, in the order given (newest first)."""
    console = console or stdout_console()
    names = ("id", "kind", "status", "started", "corpus", "model", "ppl", "tokens", "time")
    rows = []
    for r in runs:
        seconds = _seconds(r)
        rows.append((r["id"], r["kind"], r["status"], _when(r["started"]), corpus_name(r),
                     model_summary(r), _num(_ppl(r)), _count(r["metrics"].get("tokens")),
                     "-" if seconds is None else _duration(seconds)))
    table = Table(show_edge=False, pad_edge=False, box=box.SIMPLE_HEAD, padding=(0, 1),
                  collapse_padding=True)
    widths = {name: max(len(name), *(len(row[i]) for row in rows))
              for i, name in enumerate(names)}
    # on a narrow terminal the corpus and the model give way, the longer first, down to 6 and
    # 9 characters; every other column stays whole (2 spaces between columns)
    over = sum(widths.values()) + 2 * (len(names) - 1) - console.width
    least = {"corpus": 6, "model": 9}
    while over > 0 and any(widths[k] > least[k] for k in least):
        longer = max((k for k in least if widths[k] > least[k]), key=widths.get)
        widths[longer] -= 1
        over -= 1
    for name in names:
        table.add_column(name, justify="right" if name in ("ppl", "tokens", "time") else "left",
                         no_wrap=True, overflow="ellipsis", width=widths[name])
    for row in rows:
        table.add_row(*row[:2], _status(row[2]), *row[3:])
    console.print(table)


def _count(n):
    """12840540 -> '12.8M': token counts in a column that has no room for commas."""
    if n is None:
        return "-"
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return str(n)


def _value(v):
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (list, tuple)):
        v = ",".join(map(str, v))
    if v is None:
        return "-"
    v = str(v)
    if len(v) > VALUE_SHOWN:            # a seed read from a file: its start says which
        return f"{v[:VALUE_SHOWN]}… ({len(v):,} characters; --json has them all)"
    return v


def _pairs(title, pairs):
    table = Table(title=title, title_justify="left", title_style="bold", show_header=False,
                  show_edge=False, pad_edge=False, box=None)
    table.add_column(style="dim")
    table.add_column()
    for key, value in pairs:
        table.add_row(key, value if isinstance(value, Text) else _value(value))
    return table


def epoch_rows(events):
    return [e for e in events if e.get("event") == "epoch"]


def print_run(run, events, console=None):
    """One run: what ran where, its settings, its results and (a training) its epochs."""
    console = console or stdout_console()
    corpus = run.get("corpus") or {}
    machine = run.get("machine") or {}
    blas = machine.get("blas") or {}
    about = [("id", run["id"]), ("kind", run["kind"]), ("status", _status(run["status"])),
             ("started", run["started"]), ("ended", run["ended"]),
             ("command", " ".join(map(str, run["command"]))), ("directory", run.get("cwd"))]
    if corpus:
        size = f" ({corpus['bytes']:,} bytes)" if corpus.get("bytes") else ""
        about.append(("corpus", f"{corpus.get('path')}{size}"))
        about += [("", f"{f['path']} " + (f"sha256 {f['sha256'][:16]}..." if f.get("sha256")
                                          else "(read once, not fingerprinted)"))
                  for f in corpus.get("files", [])]
    if run.get("out"):
        about += [("out", run["out"]), ("last", run.get("last"))]
    about += [("machine", f"{machine.get('cpu')}, {machine.get('cores')} cores, numpy "
                          f"{machine.get('numpy')} with {blas.get('name')} {blas.get('version')}"),
              ("rnnlm", run["rnnlm_version"])]
    if run.get("error"):
        about.append(("error", run["error"]))
    console.print(_pairs(None, about))
    console.print()
    console.print(_pairs("settings", sorted(run["settings"].items())))
    console.print()
    console.print(_pairs("results", _flat(run["metrics"])))
    epochs = epoch_rows(events)
    if epochs:
        console.print()
        table = Table(show_edge=False, pad_edge=False)
        for name in ("epoch", "tokens", "train ppl", "valid ppl", "lr", "time", ""):
            table.add_column(name, justify="right")
        best = None
        for e in epochs:
            valid = e.get("valid_ppl")
            better = valid is not None and (best is None or valid < best)
            best = valid if better else best
            table.add_row(str(e["epoch"]), f"{e['tokens']:,}", _num(e.get("train_ppl")),
                          _num(valid), f"{e['lr']:.4g}", _duration(e["elapsed_s"]),
                          "[green]best so far[/]" if better else "")
        console.print(table)
    samples = (run.get("results") or {}).get("samples") if run["kind"] == "generate" else None
    seed = str((run.get("settings") or {}).get("seed") or "")    # logged once, beside them
    for sample in samples or []:
        shown = str(sample.get("seed", seed))                  # (older logs: in each sample)
        if len(shown) > SEED_SHOWN:                            # the settings hold all of it
            shown = "…" + shown[-SEED_SHOWN:]
        console.print(f"{sample['logprob']:9.3f}  {shown}|{sample['text']}",
                      markup=False, highlight=False)


def _flat(metrics, prefix=""):
    """{"ppl": {"a.txt": 3.2}} -> [("ppl a.txt", 3.2)]: nested results as rows."""
    rows = []
    for key, value in metrics.items():
        if isinstance(value, dict):
            rows += _flat(value, f"{prefix}{key} ")
        else:
            rows.append((f"{prefix}{key}", value))
    return rows


def print_compare(runs, differ, console=None):
    """Runs side by side: what they are, the settings that differ, and their results."""
    console = console or stdout_console()
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("")
    for r in runs:
        table.add_column(r["id"], justify="right")
    table.add_row("kind", *(r["kind"] for r in runs))
    table.add_row("status", *(_status(r["status"]) for r in runs))
    table.add_row("corpus", *(corpus_name(r) for r in runs))
    table.add_row("model", *(model_summary(r) for r in runs), end_section=True)
    for key, values in differ.items():
        table.add_row(Text(key, style="bold"), *(_value(v) for v in values))
    if not differ:
        table.add_row(Text("(every setting is the same)", style="dim"), *("" for _ in runs))
    table.rows[-1].end_section = True
    keys = list(dict.fromkeys(k for r in runs for k, _ in _flat(r["metrics"])))
    for key in keys:
        values = [dict(_flat(r["metrics"])).get(key) for r in runs]
        table.add_row(key, *(_value(v) for v in values))
    console.print(table)
