"""Views of checkpoints: the table of `rnnlm models` and the report of `rnnlm info`.

They format the records of rnnlm.catalog and add nothing to them; --json prints the records.
"""

import json
from datetime import datetime

from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from . import UNBOUNDED, _duration, _num, model_shape, stdout_console


def _bytes(n):
    """2413652 -> '2.4 MB' (decimal units, as file managers show them)."""
    if n is None:
        return "-"
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000


def _date(created):
    """An ISO date from a checkpoint, in local time to the minute; as stored if unparsable."""
    if created is None:
        return "-"
    try:
        return datetime.fromisoformat(created).astimezone().strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        return str(created)


def _token(token):
    """A vocabulary token made visible: blanks and controls (char level) by their repr."""
    return token if token.isprintable() and not token.isspace() else repr(token)


def _cells(r):
    """A listing record -> its table cells, by column name."""
    path = Text(r["path"])                          # Text: a '[' in a path is not markup
    if r.get("default"):
        path.append(" (default)", style="dim")
    common = {"path": path, "size": _bytes(r["bytes"]), "date": _date(r["created"])}
    if "error" in r:                                # why: printed under the table
        return {**common, "cell": Text("error", style="red")}
    return {**common, "cell": r["cell"], "layers x\nhidden": model_shape(r),
            "parameters": f"{r['parameters']:,}", "corpus": Text(r["corpus"] or "-"),
            "valid ppl": _num(r["valid_ppl"]), "resumable": "yes" if r["resumable"] else "no"}


LISTING = ("path", "cell", "layers x\nhidden", "parameters", "corpus", "valid ppl", "size",
           "date", "resumable")
DROPPED_FIRST = ("size", "date", "corpus")      # when the terminal is too narrow for them all


def _listing(rows, columns):
    table = Table(show_edge=False, pad_edge=False)
    for name in columns:                        # only the path may fold, as a last resort
        table.add_column(name, justify="left" if name in ("path", "cell", "corpus") else "right",
                         no_wrap=name != "path", overflow="fold")
    for row in rows:
        table.add_row(*(row.get(name, "-") for name in columns))
    return table


def print_models(records, json_lines=False, console=None):
    """One JSON object per model, or a table with, under it, why any unreadable file is so."""
    if json_lines:
        for r in records:
            print(json.dumps(r), flush=True)
        return
    console = console or stdout_console()
    if not records:
        console.print("no models found: train one with 'rnnlm train CORPUS'")
        return
    rows, columns = [_cells(r) for r in records], list(LISTING)
    table = _listing(rows, columns)
    unbounded = console.options.update(max_width=UNBOUNDED)  # the width it wants, not the space
    for name in DROPPED_FIRST:
        if Measurement.get(console, unbounded, table).maximum <= console.width:
            break
        columns.remove(name)
        table = _listing(rows, columns)
    console.print(table)
    for r in records:
        if "error" in r:
            console.print(Text(r["error"], style="red"))


def _value(v):
    """A setting's value as a flag takes it: true/false, '-' for unset, 2000,6000 for a list."""
    if isinstance(v, (list, tuple)):
        return ",".join(map(str, v))
    return "-" if v is None else str(v).lower() if isinstance(v, bool) else str(v)


def _pairs(items, columns=2):
    """A borderless grid of key/value pairs, `columns` pairs to a row."""
    grid = Table.grid(padding=(0, 2))
    for _ in range(columns):
        grid.add_column(style="dim")
        grid.add_column()
    items = [(k, Text(_value(v))) for k, v in items]
    for start in range(0, len(items), columns):
        row = [cell for pair in items[start:start + columns] for cell in pair]
        grid.add_row(*row, *[""] * (2 * columns - len(row)))
    return grid


def _training_line(t):
    if t["epochs"] is None:
        return "no training state (saved outside rnnlm train)"
    parts = [f"{t['epochs']} epoch{'' if t['epochs'] == 1 else 's'}",
             t["steps"] is not None and f"{t['steps']:,} steps",
             t["tokens"] is not None and f"{t['tokens']:,} tokens",
             t["elapsed_s"] is not None and f"{_duration(t['elapsed_s'])} of training",
             f"best valid ppl {_num(t['valid_ppl'])}",
             t.get("averaged_steps") and
             f"the mean of the parameters over {t['averaged_steps']:,} steps (--average)",
             t.get("mean_kept") and
             f"the last step's parameters (the --average mean over {t['mean_kept']:,} steps is "
             f"kept for --resume)",
             t["run_id"] is not None and f"run {t['run_id']}"]
    return ", ".join(p for p in parts if p)


def print_info(info, json_lines=False, console=None):
    """One JSON object, or a report: model, settings, vocabulary, tensors, training, corpus."""
    if json_lines:
        print(json.dumps(info), flush=True)
        return
    console = console or stdout_console()
    tied = "tied" if info["tie-weights"] else "untied"
    if info["settings"].get("softmax") == "adaptive":
        tied += f", adaptive softmax {_value(info['settings']['cutoffs'])}"
    console.print(Text(info["path"], style="bold"))
    console.print(f"{info['cell']} {info['layers']}x{info['hidden-size']}"
                  f", embedding {info['embed-size']}, {tied}; {info['parameters']:,} parameters "
                  f"({info['dtype']}), {_bytes(info['bytes'])}; "
                  f"{'resumable' if info['resumable'] else 'not resumable'}")
    training = info["training"]
    console.print(f"saved by rnnlm {info['rnnlm_version'] or '?'} on "
                  f"{_date(training['created'])}")

    console.print("\n[bold]settings[/]")
    console.print(_pairs(info["settings"].items(), columns=3))

    vocab = info["vocab"]
    console.print(f"\n[bold]vocabulary[/] {vocab['level']} level, {vocab['size']:,} tokens "
                  f"(specials {' '.join(vocab['specials'])})")
    console.print(Text("first: " + " ".join(_token(t) for t in vocab["examples"])))

    table = Table(show_edge=False, pad_edge=False, title_justify="left")
    for name, justify in (("tensor", "left"), ("shape", "right"), ("parameters", "right")):
        table.add_column(name, justify=justify)
    for t in info["tensors"]:
        table.add_row(t["name"], " x ".join(map(str, t["shape"])), f"{t['count']:,}")
    table.add_row("[bold]total[/]", "", f"[bold]{info['parameters']:,}[/]")
    console.print()
    console.print(table)

    console.print(Text.assemble("\n", ("training", "bold"), " ", _training_line(training)))
    corpus = info["corpus"]
    if corpus:
        console.print(Text.assemble(("corpus", "bold"), f" {corpus['name']} ({corpus['level']} "
                                    f"level), sha256 {corpus['sha256']}"))
    else:
        console.print("[bold]corpus[/] unknown")
