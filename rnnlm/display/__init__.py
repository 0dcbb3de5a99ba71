"""Everything Rich: the live training view, plain lines for logs, JSON lines, result tables.

The only module importing rich. Each training view is a callable taking the trainer's events.
"""

import functools
import json
import os
import sys

from rich.color import Color
from rich.console import Console, Group
from rich.live import Live
from rich.progress import (BarColumn, Progress, TaskProgressColumn, TextColumn,
                           TimeRemainingColumn)
from rich.style import Style
from rich.table import Table
from rich.text import Text

from .. import events
from .. import gates as _gates



# Off a terminal, output goes to a file or a pipe, which has no width to fit: a table is
# printed whole there, so that a script's grep or awk meets every column and no folded cell.
# COLUMNS, where set, still gives the width.
UNBOUNDED = 1 << 14


class _StdoutConsole(Console):
    def on_broken_pipe(self):
        raise BrokenPipeError      # Rich would exit 1 here; the command line's main decides


def stdout_console(fit=False):
    """The console of stdout. ``fit``: off a terminal too, lay out for a width (COLUMNS, else
    Rich's 80), as the gate heatmap's blocks of tokens need."""
    console = _StdoutConsole(highlight=False, soft_wrap=True)
    if not (fit or console.is_terminal or "COLUMNS" in os.environ):
        console.width = UNBOUNDED
    return console


def stderr_console():
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _num(value, digits=2):
    """12,345.68; past a billion 1.23e+09, since a diverged perplexity (up to 1e304) written
    out in full is hundreds of characters."""
    if value is None:
        return "-"
    return f"{value:.{digits}e}" if abs(value) >= 1e9 else f"{value:,.{digits}f}"


def _duration(seconds):
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


def model_shape(settings):
    """'2x200 tied' from settings by canonical key (layers, hidden-size, tie-weights)."""
    return f"{settings['layers']}x{settings['hidden-size']}" + \
        (" tied" if settings.get("tie-weights") else "")


def describe_dropout(m):
    """'dropout 0.3 variational, weight drop 0.5' from a model's settings (field names); ''
    without any. Rates given per place show as embed/hidden/out."""
    rates = [m["dropout"] if m.get(k) is None else m[k]
             for k in ("dropout_embed", "dropout_hidden", "dropout_out")]
    parts = []
    if any(rates):
        shown = f"{rates[0]:g}" if len(set(rates)) == 1 else "/".join(f"{r:g}" for r in rates)
        parts.append(f"dropout {shown}{' variational' if m['variational'] else ''}")
    parts += [f"{name} {m[k]:g}" for k, name in (("dropout_words", "word dropout"),
                                                 ("weight_drop", "weight drop")) if m.get(k)]
    return ", ".join(parts)


def describe_start(e):
    """The lines that open a training run: what is trained on what."""
    m, stats = e["model"], e["stats"]
    tied = ", tied" if m["tie_weights"] else ""
    drop = describe_dropout(m)
    drop = f", {drop}" if drop else ""
    lines = [f"{'resuming' if e['resumed'] else 'training'} {m['cell']} "
             f"{m['num_layers']}x{m['hidden_size']} (embedding {m['embed_size']}{tied}{drop}), "
             f"{e['params']:,} parameters, on '{e['corpus']}'",
             f"vocabulary {e['vocab_size']:,} {stats['level']}s; tokens: "
             + ", ".join(f"{split} {stats[split]['tokens']:,}" for split in
                         ("train", "valid", "test") if stats.get(split))]
    valid = stats.get("valid")
    if valid:
        lines.append(f"validation out-of-vocabulary rate {valid['oov_rate']:.2%}")
    return lines + list(e["notes"])


def describe_step(e):
    text = (f"epoch {e['epoch']} step {e['step']:,}: train ppl {_num(e['train_ppl'])}, "
            f"lr {e['lr']:.4g}, grad norm {_num(e['grad_norm'], 3)}, "
            f"{e['tokens_per_s']:,.0f} tok/s, {_duration(e['elapsed_s'])}")
    return text + (f", valid ppl {_num(e['valid_ppl'])}" if "valid_ppl" in e else "")


def describe_epoch(e):
    return (f"epoch {e['epoch']}: train ppl {_num(e['train_ppl'])}, valid ppl "
            f"{_num(e['valid_ppl'])}{' (best)' if e['best'] else ''}, lr {e['lr']:.4g}, "
            f"{e['tokens_per_s']:,.0f} tok/s, {_duration(e['elapsed_s'])}")


def describe_done(e):
    why = {"epochs": "all epochs done", "max_time": "time budget reached",
           "patience": "no improvement for --patience epochs"}[e["reason"]]
    return (f"{why}: best valid ppl {_num(e['valid_ppl'])} after {e['tokens']:,} tokens "
            f"in {_duration(e['elapsed_s'])}; model saved to {e['out']} (last state {e['last']})")


class PlainView:
    """Plain lines, one per event worth logging: for files, pipes and CI logs."""

    def __init__(self, out=sys.stdout, err=sys.stderr):
        self.out, self.err = out, err

    def __call__(self, e):
        kind = e["event"]
        if kind == "start":
            lines = describe_start(e)
        elif kind == "step":
            lines = [describe_step(e)]
        elif kind == "epoch":
            lines = [describe_epoch(e)]
        elif kind == "done":
            lines = [describe_done(e)]
        elif kind == "warning":
            print(f"rnnlm: warning: {e['message']}", file=self.err, flush=True)
            return
        else:
            return
        print("\n".join(lines), file=self.out, flush=True)

    def close(self):
        pass


class JsonView:
    """One JSON object per step/epoch/done event on stdout; warnings go to stderr."""

    def __call__(self, e):
        record = events.to_json(e)
        if record is not None:
            print(json.dumps(record), flush=True)
        elif e["event"] == "warning":
            print(f"rnnlm: warning: {e['message']}", file=sys.stderr, flush=True)

    def close(self):
        pass


class QuietView:
    """Nothing but warnings and, at the end, the path of the saved model."""

    def __call__(self, e):
        if e["event"] == "done":
            print(e["out"], flush=True)
        elif e["event"] == "warning":
            print(f"rnnlm: warning: {e['message']}", file=sys.stderr, flush=True)

    def close(self):
        pass


class LiveView:
    """On a terminal: a progress bar over the epoch with tokens/s, ETA, perplexity, learning
    rate and gradient norm, above it a table of epochs with the best one marked."""

    def __init__(self, console=None):
        self.console = console or stdout_console()
        self.table = Table(title=None, show_edge=False, pad_edge=False)
        for name in ("epoch", "train ppl", "valid ppl", "lr", "tok/s", "time", ""):
            self.table.add_column(name, justify="right")
        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}"), BarColumn(), TaskProgressColumn(),
            TextColumn("{task.fields[tps]} tok/s"), TimeRemainingColumn(),
            TextColumn("ppl [cyan]{task.fields[ppl]}[/] lr {task.fields[lr]} "
                       "|g| {task.fields[norm]}"),
            console=self.console)
        self.task = self.task_epoch = None
        self.live = None

    def __call__(self, e):
        kind = e["event"]
        if kind == "start":
            for line in describe_start(e):
                self.console.print(line)
            self.live = Live(console=self.console, refresh_per_second=4, transient=False,
                             get_renderable=self._render)
            self.live.start()
        elif kind == "progress":
            self._progress(e)
        elif kind == "step" and "valid_ppl" in e:
            self.console.print(describe_step(e))
        elif kind == "epoch":
            self.table.add_row(str(e["epoch"]), _num(e["train_ppl"]), _num(e["valid_ppl"]),
                               f"{e['lr']:.4g}", f"{e['tokens_per_s']:,.0f}",
                               _duration(e["elapsed_s"]), "[green]best[/]" if e["best"] else "")
        elif kind == "warning":
            self.console.print(f"[yellow]warning:[/] {e['message']}")
        elif kind == "done":
            self.close()
            self.console.print(describe_done(e))

    def _render(self):
        return Group(self.table, self.progress) if self.table.row_count else self.progress

    def _progress(self, e):
        fields = dict(epoch=e["epoch"], tps=f"{e['tokens_per_s']:,.0f}", lr=f"{e['lr']:.3g}",
                      ppl=_num(e["train_ppl"]), norm=_num(e["grad_norm"], 3))
        if self.task_epoch != e["epoch"]:            # a new bar for each epoch
            if self.task is not None:
                self.progress.remove_task(self.task)
            self.task = self.progress.add_task("", total=e["chunks"], **fields)
            self.task_epoch = e["epoch"]
        self.progress.update(self.task, completed=e["position"], **fields)

    def close(self):
        if self.live is not None:
            self.live.stop()
            self.live = None


def training_view(json_lines=False, quiet=False):
    """The view for this output: JSON lines, quiet, live on a terminal, plain lines otherwise."""
    if json_lines:
        return JsonView()
    if quiet:
        return QuietView()
    console = stdout_console()
    return LiveView(console) if console.is_terminal else PlainView()


def print_evaluation(results, json_lines=False):
    """One JSON object per file, or a table."""
    if json_lines:
        for r in results:
            print(json.dumps({k: v for k, v in r.items() if k != "warning"}), flush=True)
        return
    table = Table(show_edge=False, pad_edge=False)
    has_bpc = any("bpc" in r for r in results)
    columns = ["file", "tokens", "ppl"] + (["bpc"] if has_bpc else []) + \
        ["unk", "unk rate", "tok/s"]
    for name in columns:
        table.add_column(name, justify="left" if name == "file" else "right")
    for r in results:
        row = [r["file"], f"{r['tokens']:,}", f"{r['ppl']:.2f}"]
        row += [f"{r['bpc']:.3f}"] if has_bpc else []
        row += [f"{r['unk']:,}", f"{r['unk_rate']:.2%}", f"{r['tokens_per_s']:,.0f}"]
        table.add_row(*row)
    stdout_console().print(table)


def print_error(message):
    print(f"rnnlm: error: {message}", file=sys.stderr, flush=True)


def print_warning(message):
    print(f"rnnlm: warning: {message}", file=sys.stderr, flush=True)


def print_note(message):
    """A line for the person at the terminal, kept off stdout (which may be piped)."""
    print(f"rnnlm: {message}", file=sys.stderr, flush=True)


# --- gate heatmaps (rnnlm inspect-gates) -------------------------------------------------------

GATE_COLUMN = 5         # characters per token column: "Jenny", " .93 ", "-1.0"
GATE_LABEL = 11         # the row-label column: "u123", "g candidate"
_SHOWN_CHARS = {" ": "\u2423", "\n": "\u21b5", "\t": "\u21e5"}    # blanks made visible


def _gate_number(v):
    """A value in at most 4 characters (.93, -.41, 1.0, -3.4, 27, 2e3): printed in every cell,
    so the heatmap still reads where colour is stripped (a file, a pipe)."""
    a = abs(float(v))
    if round(a, 2) < 1:
        s = f"{a:.2f}"[1:]
    elif round(a, 1) < 10:
        s = f"{a:.1f}"
    elif round(a) < 1000:
        s = f"{a:.0f}"
    else:
        s = f"{a:.0e}".replace("e+0", "e").replace("e+", "e")
    return "-" + s if v < 0 and s.strip("0.") else s


def _gate_style(v, lo, hi, palette):
    return _cell_style(*_gates.colour(v, lo, hi, palette))


@functools.lru_cache(maxsize=4096)
def _cell_style(r, g, b):
    """A cell's style for its background colour: a heatmap of a long text has a few hundred
    colours in tens of thousands of cells, and a Style costs more than a look-up."""
    dark = 0.299 * r + 0.587 * g + 0.114 * b < 140      # white text on dark cells
    return Style(color=Color.from_rgb(*((255,) * 3 if dark else (0,) * 3)),
                 bgcolor=Color.from_rgb(r, g, b))


def _token_label(token, width):
    """A token cut to ``width`` terminal cells ("visi…"), blanks and controls made visible."""
    from rich.cells import cell_len, set_cell_size
    token = "".join(_SHOWN_CHARS.get(ch, ch if ch.isprintable() else "\u00b7") for ch in token)
    if cell_len(token) > width:
        token = set_cell_size(token, width - 1) + "\u2026"
    pad = width - cell_len(token)                # centred by terminal cells: 日 takes two
    return " " * (pad // 2) + token + " " * (pad - pad // 2)


def _gate_row(label, values, scale, bold=False):
    line = Text(f"{label:<{GATE_LABEL}.{GATE_LABEL}}", style="bold" if bold else "")
    for v in values:
        line.append(" ")
        line.append(f"{_gate_number(v):>{GATE_COLUMN - 1}} ", style=_gate_style(v, *scale))
    return line


def _gate_legend(record, layer, gate, units, scale):
    lo, hi, palette = scale
    head = Text(f"{record.cell.upper()} layer {layer} (of {len(record.layers)}), ", style="bold")
    head.append(f"gate {gate}: {_gates.DESCRIPTIONS[gate]}")
    key = Text("colour ")
    key.append(_gate_number(lo) if gate == "c" else f"{lo:g}")
    key.append(" ")
    for k in range(5):                                  # five chips from lo to hi
        key.append("  ", style=_gate_style(lo + (hi - lo) * k / 4, *scale))
    key.append(" " + (_gate_number(hi) if gate == "c" else f"{hi:g}"))
    key.append(" (dark to bright)" if palette == "sequential" else " (blue, white, red)")
    if gate == "c":
        key.append(" scaled by the layer's largest |c|")
    key.append(f"; {len(units)} of {record.hidden_size} units; cells show the value")
    lines = [head, key]
    unknown = list(dict.fromkeys(t for t, u in zip(record.tokens, record.unknown) if u))
    if unknown:
        lines.append(Text("read as <unk> (underlined): " + ", ".join(map(repr, unknown)),
                          style="yellow"))
    return lines


def print_gates(record, layer=0, gate=None, units=None, console=None):
    """A heatmap of one gate of one layer: tokens across, units down, one coloured number per
    cell; under each block, the per-token mean of every gate of the layer. Blocks of tokens
    wrap to the console width."""
    console = console or stdout_console(fit=True)
    layer, gate = _gates.check_layer(record, layer), _gates.check_gate(record, gate)
    values = record.layers[layer][gate]
    units = _gates.select_units(values) if units is None else list(units)
    sc = _gates.scale(record, layer, gate)
    means = _gates.token_means(record, layer)
    mean_scales = {g: _gates.scale(record, layer, g) for g in means}
    for line in _gate_legend(record, layer, gate, units, sc):
        console.print(line, soft_wrap=False)
    T = len(record.tokens)
    per_block = max(1, (console.width - GATE_LABEL) // (GATE_COLUMN + 1))
    grid = dict(no_wrap=True, overflow="crop", soft_wrap=False)     # rows never wrap: crop
    for start in range(0, T, per_block):
        end = min(T, start + per_block)
        console.print()
        header = Text(f"{f'{start + 1}-{end}':<{GATE_LABEL}}", style="dim")
        for t in range(start, end):
            header.append(" ")
            header.append(_token_label(record.tokens[t], GATE_COLUMN),
                          style="bold underline" if record.unknown[t] else "bold")
        console.print(header, **grid)
        for u in units:
            console.print(_gate_row(f"u{u}", values[start:end, u], sc), **grid)
        console.print(Text(f"mean over all {record.hidden_size} units", style="dim italic"),
                      **grid)
        for g, m in means.items():
            console.print(_gate_row(f"{g} {_gates.SHORT[g]}", m[start:end], mean_scales[g],
                                    bold=g == gate), **grid)


def print_gate_summary(summary, console=None):
    """`inspect-gates --summary`: saturation of every gate of every layer, and for an LSTM the
    distribution of its forget gate and how many units keep their cell (f > 0.9) per token."""
    console = console or stdout_console()
    low, high = f"below_{_gates.LOW}", f"above_{_gates.HIGH}"
    console.print(Text(f"{summary['cell'].upper()}, {summary['units']} units a layer, over "
                       f"{summary['tokens']} tokens", style="bold"))
    table = Table(show_edge=False, pad_edge=False)
    for name in ("layer", "gate", f"< {_gates.LOW}", f"> {_gates.HIGH}", "mean"):
        table.add_column(name, justify="left" if name == "gate" else "right")
    for layer in summary["layers"]:
        for g, st in layer["gates"].items():
            what = "|h| (tanh)" if g == "h" else f"{g} {_gates.SHORT[g]}"
            table.add_row(str(layer["layer"]), what, f"{st[low]:.1%}", f"{st[high]:.1%}",
                          f"{st['mean']:.3f}")
    console.print(table)
    for layer in summary["layers"]:
        forget = layer.get("forget")
        if forget is None:
            continue
        bins = forget["bins"]
        shares = ", ".join(f"{lo:g}-{hi:g} {share:.1%}" for lo, hi, share
                           in zip(bins, bins[1:], forget["share"]))
        keep = forget[f"units_keeping_{_gates.HIGH}"]
        console.print(f"layer {layer['layer']} forget gate f: {shares}")
        console.print(f"layer {layer['layer']} units with f > {_gates.HIGH} (keeping their cell) "
                      f"per token: mean {keep['mean']:.1f}, min {keep['min']}, max {keep['max']} "
                      f"of {summary['units']}")
