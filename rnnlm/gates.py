"""Recording and summarizing gate activations: what a model's gates do while it reads a text.

``record`` runs a model once over a text and keeps every gate of every layer; the rest turns
that record into JSON, CSV, a self-contained HTML page, and the numbers behind the terminal
heatmap (display.print_gates). The gates are the layers' own (see layers.py):
    LSTM  c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)
    GRU   h_t = (1 - z) * h_{t-1} + z * n,   n = tanh(x Wxn + (r * h_{t-1}) Whn + bn)
    RNN   h_t = tanh(x Wx + h_{t-1} Wh + b)
"""

from __future__ import annotations

import csv
import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .checkpoint import model_and_vocab
from .data import tokenize, unknown_message
from .errors import DataError, UsageError
from .files import atomic_write
from .generation import start_of_sentence

GATES = {"lstm": ("f", "i", "o", "g", "c", "h"), "gru": ("z", "r", "n", "h"), "rnn": ("h",)}
DESCRIPTIONS = {
    "f": "forget: how much of the cell is kept",
    "i": "input: how much of the candidate is written",
    "o": "output: how much of the cell is shown",
    "g": "candidate",
    "c": "cell state",
    "z": "update: how much of the new candidate replaces the state",
    "r": "reset: how much of the old state feeds the candidate",
    "n": "candidate",
    "h": "hidden state",
}
# One word per gate for the per-token means: "how much was kept (f), written (i), ...".
SHORT = {"f": "kept", "i": "written", "o": "shown", "g": "candidate", "c": "cell",
         "z": "update", "r": "reset", "n": "candidate", "h": "hidden"}
DEFAULT_GATE = {"lstm": "f", "gru": "z", "rnn": "h"}
SIGMOID_GATES = frozenset("fiozr")          # in [0, 1]; g, n, h in [-1, 1]; c unbounded
DEFAULT_TOP = 16
CSV_HEADER = ("layer", "cell", "gate", "position", "token", "unit", "value")
# Colour scales shared by the terminal and the HTML page (its script interpolates the same
# stops): viridis for [0, 1] (dark = closed, bright = open, readable on dark and light
# backgrounds), blue-white-red for signed quantities.
PALETTES = {
    "sequential": ((0.0, (68, 1, 84)), (0.25, (59, 82, 139)), (0.5, (33, 145, 140)),
                   (0.75, (94, 201, 98)), (1.0, (253, 231, 37))),
    "diverging": ((0.0, (33, 102, 172)), (0.25, (146, 197, 222)), (0.5, (247, 247, 247)),
                  (0.75, (244, 165, 130)), (1.0, (178, 24, 43))),
}


@dataclass
class GateRecord:
    """What one model did on one text. ``layers[l][gate]`` is float32 (T, H) as the model
    gave it; ``initial[l]`` is the state before the first token (after priming), (H,) each."""

    tokens: list[str]               # as typed; the ones flagged in ``unknown`` were read as <unk>
    cell: str
    layers: list[dict[str, np.ndarray]]
    unknown: list[bool]
    initial: list[dict[str, np.ndarray]]
    level: str = "word"

    @property
    def hidden_size(self) -> int:
        return self.layers[0]["h"].shape[1]


def record(checkpoint_or_model, text, vocab=None, on_warning=None) -> GateRecord:
    """Run the model once over ``text`` (batch of one, eval mode) and keep every gate.

    The model is first put in its start-of-sentence state (generation.start_of_sentence), so
    the text is read as the start of a sentence; the record covers the text's own tokens
    only. The model's mode and carried state are restored afterwards.
    """
    model, vocab = model_and_vocab(checkpoint_or_model, vocab)
    tokens = tokenize(text, vocab.level)
    if not tokens:
        raise UsageError("TEXT has no tokens to read")
    unknown = [t not in vocab for t in tokens]
    message = unknown_message(tokens, vocab)
    if message is not None and on_warning is not None:
        on_warning(message)
    cell, H = model.config.cell, model.config.hidden_size
    with model.evaluating(restore_state=True):
        try:
            start_of_sentence(model, vocab)
            # The state the first token starts from: what the equations need for t = 0.
            kinds = ("h", "c") if cell == "lstm" else ("h",)
            initial = [{k: np.zeros(H, model.dtype) for k in kinds} if s is None
                       else {k: v[0].copy() for k, v in s.items()} for s in model.state]
            model.forward(vocab.encode(tokens)[None, :], record_gates=True)
            layers = [{g: np.ascontiguousarray(d[g][0]) for g in GATES[cell]}
                      for d in model.gates]
        finally:
            model.gates = []            # the record holds copies
    return GateRecord(tokens, cell, layers, unknown, initial, vocab.level)


def to_json(rec) -> dict:
    """Every gate of every layer as a (T, H) nested list of floats.

    float32 -> Python float is exact, and json writes the shortest repr that reads back as
    the same double, so each value round-trips to the very float32 the model computed.
    """
    return {
        "tokens": list(rec.tokens),
        "unknown": [t for t, u in enumerate(rec.unknown) if u],
        "layers": [{"layer": l, "cell": rec.cell,
                    **{g: a.astype(np.float64).tolist() for g, a in gates.items()}}
                   for l, gates in enumerate(rec.layers)],
        "initial": [{k: v.astype(np.float64).tolist() for k, v in s.items()}
                    for s in rec.initial],
    }


def _write(path, write, newline=None):
    """files.atomic_write, its failures as one DataError naming the path."""
    path = Path(path)
    if not path.parent.is_dir():
        raise DataError(f"cannot write '{path}': directory '{path.parent}' does not exist")
    try:
        return atomic_write(path, write, newline=newline)
    except OSError as e:
        raise DataError(f"cannot write '{path}': {e.strerror or e}") from None


def write_csv(rec, path):
    """Long format, one row per layer x gate x token x unit; values as exact float reprs."""
    def write(f):
        w = csv.writer(f, lineterminator="\n")
        w.writerow(CSV_HEADER)
        for l, gates in enumerate(rec.layers):
            for g, a in gates.items():
                for t, (tok, row) in enumerate(zip(rec.tokens, a.astype(np.float64).tolist())):
                    w.writerows((l, rec.cell, g, t, tok, u, v) for u, v in enumerate(row))
    return _write(path, write, newline="")       # csv does its own line endings


# --- choosing what to show -----------------------------------------------------------------

def rank_units(values) -> list[int]:
    """All units, the most varying over the text first (std over T), ties by index."""
    sd = np.asarray(values, np.float64).std(axis=0)
    return np.argsort(-sd, kind="stable").tolist()


def parse_units(spec, hidden_size) -> list[int]:
    """"0-9,15,20-22" -> [0, ..., 9, 15, 20, 21, 22] (in the given order, duplicates dropped)."""
    def bad(why):
        return UsageError(f"--units '{spec}': {why} (expected e.g. '0-9,15'; "
                          f"units are 0-{hidden_size - 1})")
    units = []
    for part in str(spec).split(","):
        m = re.fullmatch(r"\s*([0-9]+)\s*(?:-\s*([0-9]+)\s*)?", part)
        if not m:
            raise bad(f"'{part.strip()}' is not a unit or a range" if part.strip() else
                      "an item is empty")
        lo, hi = int(m[1]), int(m[2] or m[1])
        if lo > hi:
            raise bad(f"the range '{part.strip()}' runs backwards")
        if hi >= hidden_size:
            raise bad(f"unit {hi} does not exist")
        units.extend(range(lo, hi + 1))
    return list(dict.fromkeys(units))


def select_units(values, units=None, top=None) -> list[int]:
    """The units to show of a (T, H) array: a --units SPEC, the --top K most varying, or by
    default the 16 most varying (all, in index order, when H <= 16)."""
    H = np.shape(values)[1]
    if units is not None and top is not None:
        raise UsageError("--units and --top cannot be used together; choose one")
    if units is not None:
        return parse_units(units, H)
    if top is None:
        if H <= DEFAULT_TOP:
            return list(range(H))
        top = DEFAULT_TOP
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
        raise UsageError(f"--top must be a positive number of units, got {top!r}")
    return rank_units(values)[:top]


def check_layer(rec, layer) -> int:
    n = len(rec.layers)
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) \
            or not 0 <= layer < n:
        span = "0" if n == 1 else f"0-{n - 1}"
        raise UsageError(f"--layer {layer} does not exist: the model has {n} "
                         f"layer{'s' * (n != 1)} ({span})")
    return int(layer)


def check_gate(rec, gate) -> str:
    """The gate to show: ``gate``, or the cell's most telling one when None (f, z, h)."""
    if gate is None:
        return DEFAULT_GATE[rec.cell]
    names = GATES[rec.cell]
    if gate not in names:
        raise UsageError(f"--gate '{gate}' is not part of the {rec.cell.upper()} cell; "
                         f"its gates are {', '.join(names)}")
    return gate


def scale(rec, layer, gate) -> tuple[float, float, str]:
    """(lo, hi, palette) for colouring a gate: sigmoid gates [0, 1]; tanh quantities [-1, 1];
    the unbounded cell state +-its largest |value| in the layer, so units stay comparable."""
    if gate in SIGMOID_GATES:
        return 0.0, 1.0, "sequential"
    if gate == "c":
        m = float(np.abs(rec.layers[layer]["c"]).max()) or 1.0
        return -m, m, "diverging"
    return -1.0, 1.0, "diverging"


def colour(value, lo, hi, palette) -> tuple[int, int, int]:
    """The RGB colour of ``value`` on the scale [lo, hi] (clipped)."""
    x = min(1.0, max(0.0, (float(value) - lo) / (hi - lo)))
    stops = PALETTES[palette]
    for (p0, c0), (p1, c1) in zip(stops, stops[1:]):
        if x <= p1:
            w = (x - p0) / (p1 - p0)
            return tuple(round(a + (b - a) * w) for a, b in zip(c0, c1))
    return stops[-1][1]


def token_means(rec, layer) -> dict[str, np.ndarray]:
    """gate -> (T,) mean over the layer's units: how much was kept, written, shown, ..."""
    return {g: a.mean(axis=1, dtype=np.float64) for g, a in rec.layers[layer].items()}


# --- summary: saturation and what the forget gate keeps ------------------------------------

LOW, HIGH = 0.1, 0.9                        # a gate below LOW is shut, above HIGH open
FORGET_BINS = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)


def summary(rec) -> dict:
    """Over the whole text, per layer: how saturated each gate is, and for an LSTM what its
    forget gate keeps. -> {"cell", "tokens", "units", "layers": [{"layer", "gates", ...}]}

    ``gates``: for each sigmoid gate (LSTM f, i, o; GRU z, r) {"below_0.1", "above_0.9",
    "mean"}: the shares of its T x H values below 0.1 and above 0.9, and its mean; and for
    every cell "h": the shares of |h| below 0.1 and above 0.9 (tanh saturation; an RNN has
    nothing else). LSTM layers also get ``forget``: {"bins", "share"} (the distribution of f
    over FORGET_BINS) and {"units_keeping_0.9": {"per_token", "mean", "min", "max"}}, the
    number of units with f > 0.9 at each token: the ones that carry their cell on intact.
    """
    layers = []
    for index, gates in enumerate(rec.layers):
        stats = {}
        for g, a in gates.items():
            if g in SIGMOID_GATES:
                values = a
            elif g == "h":
                values = np.abs(a)
            else:
                continue
            stats[g] = {f"below_{LOW}": float((values < LOW).mean()),
                        f"above_{HIGH}": float((values > HIGH).mean()),
                        "mean": float(values.mean(dtype=np.float64))}
        layer = {"layer": index, "gates": stats}
        if "f" in gates:
            f = gates["f"]
            counts = np.histogram(f, bins=FORGET_BINS)[0]
            keeping = (f > HIGH).sum(axis=1)
            layer["forget"] = {"bins": list(FORGET_BINS),
                               "share": (counts / f.size).tolist(),
                               f"units_keeping_{HIGH}": {
                                   "per_token": keeping.tolist(), "mean": float(keeping.mean()),
                                   "min": int(keeping.min()), "max": int(keeping.max())}}
        layers.append(layer)
    return {"cell": rec.cell, "tokens": len(rec.tokens), "units": rec.hidden_size,
            "layers": layers}


# --- the HTML page ---------------------------------------------------------------------------

def _f32_json(a):
    """A float32 (T, H) array as JSON with each value's shortest float32 repr (half the size
    of full doubles, and still exact: it reads back as the same float32)."""
    return "[" + ",".join("[" + ",".join(map(str, row)) + "]" for row in a) + "]"


def _html_text(s):
    # "/" too, so no "http://" or "</" of a token ever appears in the page as such.
    return html.escape(s, quote=True).replace("/", "&#47;")


def _script_json(s):
    """JSON made inert inside <script>: "<", ">", "&" as \\u escapes and "/" as "\\/" (valid
    JSON escapes), so no "</script>" or "<!--" can end or confuse the script element."""
    return (s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("/", "\\/"))


def _token_spans(rec):
    shown = {"\n": "\u21b5\n", "\t": "\u21e5"}  # newline and tab made visible (char level)
    spans = [f'<span class="t{" unk" if u else ""}">{_html_text(shown.get(t, t))}</span>'
             for t, u in zip(rec.tokens, rec.unknown)]
    return ("" if rec.level == "char" else " ").join(spans)    # characters run together


def write_html(rec, path, layer=0, gate=None, unit=None):
    """One self-contained page: the text coloured by one unit of one gate (chosen with
    <select>s, starting at ``layer``/``gate``/``unit``), a legend, exact values on hover, and
    per-token means of every gate of the layer. No external reference of any kind."""
    layer, gate = check_layer(rec, layer), check_gate(rec, gate)
    H = rec.hidden_size
    ranks = [{g: rank_units(a) for g, a in gates.items()} for gates in rec.layers]
    if unit is None:
        unit = ranks[layer][gate][0]
    elif not 0 <= unit < H:
        raise UsageError(f"unit {unit} does not exist (units are 0-{H - 1})")
    meta = {
        "tokens": rec.tokens, "unknown": rec.unknown, "cell": rec.cell, "hidden": H,
        "gates": GATES[rec.cell], "descriptions": DESCRIPTIONS, "short": SHORT,
        "palettes": PALETTES, "top": min(DEFAULT_TOP, H), "rank": ranks,
        "sd": [{g: np.round(a.astype(np.float64).std(axis=0), 4).tolist()
                for g, a in gates.items()} for gates in rec.layers],
        "scales": [{g: scale(rec, l, g) for g in GATES[rec.cell]} for l in range(len(rec.layers))],
        "means": [{g: m.tolist() for g, m in token_means(rec, l).items()}
                  for l in range(len(rec.layers))],
        "init": {"layer": layer, "gate": gate, "unit": int(unit)},
    }
    values = "[" + ",".join("{" + ",".join(f"{json.dumps(g)}:{_f32_json(a)}"
                                           for g, a in gates.items()) + "}"
                            for gates in rec.layers) + "]"
    blob = json.dumps(meta)[:-1] + f',"values":{values}}}'
    parts = {"TITLE": _html_text(f"{rec.cell.upper()}, {len(rec.layers)} layer"
                                 f"{'s' * (len(rec.layers) != 1)} of {H} units, "
                                 f"{len(rec.tokens)} tokens"),
             "TOKENS": _token_spans(rec), "DATA": _script_json(blob)}
    # One pass over the template: a token that reads "@@DATA@@" stays a token.
    page = re.sub(r"@@(\w+)@@", lambda m: parts[m[1]], _PAGE)
    return _write(path, lambda f: f.write(page))


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>rnnlm gates</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;margin:1.5em auto;max-width:72em;padding:0 1em}
h1{font-size:1.3em}h2{font-size:1.05em;margin-top:1.5em}
label{margin-right:1.2em}
#text{font:18px/2.3 ui-monospace,monospace;white-space:pre-wrap;margin:1em 0}
.t{padding:.12em .18em;border-radius:3px;cursor:default}.unk{text-decoration:underline dotted}
#bar{display:inline-block;width:14em;height:1em;vertical-align:middle;border:1px solid #999;
margin:0 .4em}
#means{border-collapse:collapse;font:12px ui-monospace,monospace}
#means td,#means th{padding:2px 5px;text-align:center;white-space:pre}
#means th{font-weight:normal;color:#555}#means tbody th{text-align:left}
.note{color:#666}
</style></head><body>
<h1>Gates of an rnnlm model: @@TITLE@@</h1>
<p><label>layer <select id="layer"></select></label><label>gate <select id="gate"></select></label>
<label>unit <select id="unit"></select></label></p>
<p><span id="lo"></span><span id="bar"></span><span id="hi"></span> <span id="what"></span></p>
<div id="text">@@TOKENS@@</div>
<p class="note">Each token is coloured by the chosen unit after reading it; hover for the exact
value. Dotted underline: not in the vocabulary (read as &lt;unk&gt;).</p>
<h2>Mean over all units of the layer, per token</h2>
<table id="means"></table>
<script type="application/json" id="data">@@DATA@@</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const $ = (id) => document.getElementById(id);
const spans = document.querySelectorAll("#text .t");
function rgb(pal, x) {
  const s = D.palettes[pal];
  x = Math.min(1, Math.max(0, x));
  for (let k = 1; k < s.length; k++) {
    if (x <= s[k][0] || k === s.length - 1) {
      const [p0, c0] = s[k - 1], [p1, c1] = s[k], w = (x - p0) / (p1 - p0);
      return c0.map((c, j) => Math.round(c + (c1[j] - c) * w));
    }
  }
}
function paint(el, v, sc) {
  const c = rgb(sc[2], (v - sc[0]) / (sc[1] - sc[0]));
  el.style.background = "rgb(" + c.join(",") + ")";
  el.style.color = 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2] < 140 ? "#fff" : "#000";
}
function option(parent, value, label) {
  const o = document.createElement("option");
  o.value = value; o.textContent = label; parent.appendChild(o);
}
function fillUnits(keep) {
  const l = +$("layer").value, g = $("gate").value, sel = $("unit");
  sel.textContent = "";
  const top = document.createElement("optgroup"), all = document.createElement("optgroup");
  top.label = "most varying over the text"; all.label = "all units";
  D.rank[l][g].slice(0, D.top).forEach(
    (u) => option(top, u, "u" + u + "  (sd " + D.sd[l][g][u] + ")"));
  for (let u = 0; u < D.hidden; u++) option(all, u, "u" + u);
  sel.append(top, all);
  sel.value = keep === undefined ? D.rank[l][g][0] : keep;
}
function render() {
  const l = +$("layer").value, g = $("gate").value, u = +$("unit").value;
  const sc = D.scales[l][g], vals = D.values[l][g];
  spans.forEach((el, t) => {
    paint(el, vals[t][u], sc);
    el.title = JSON.stringify(D.tokens[t]) + (D.unknown[t] ? " (read as <unk>)" : "") +
      "\\nlayer " + l + ", " + g + ", u" + u + " = " + vals[t][u];
  });
  $("lo").textContent = +sc[0].toPrecision(3); $("hi").textContent = +sc[1].toPrecision(3);
  $("bar").style.background = "linear-gradient(to right," + D.palettes[sc[2]].map(
    (s) => "rgb(" + s[1].join(",") + ") " + 100 * s[0] + "%").join(",") + ")";
  $("what").textContent = g + ": " + D.descriptions[g] + (g === "c" ?
    " (scaled by its largest |value| in the layer)" : "");
  const table = $("means"), head = document.createElement("tr");
  table.textContent = "";
  head.appendChild(document.createElement("th"));
  D.tokens.forEach((tok) => {
    const th = document.createElement("th");
    th.textContent = tok; head.appendChild(th);
  });
  table.appendChild(head);
  D.gates.forEach((gate) => {
    const tr = document.createElement("tr"), th = document.createElement("th");
    th.textContent = gate + " " + D.short[gate]; tr.appendChild(th);
    D.means[l][gate].forEach((m, t) => {
      const td = document.createElement("td");
      td.textContent = m.toFixed(2);
      td.title = "mean " + gate + " at " + JSON.stringify(D.tokens[t]) + " = " + m;
      paint(td, m, D.scales[l][gate]); tr.appendChild(td);
    });
    table.appendChild(tr);
  });
}
D.layers = D.values.length;
for (let l = 0; l < D.layers; l++) option($("layer"), l, String(l));
D.gates.forEach((g) => option($("gate"), g, g + ": " + D.descriptions[g]));
$("layer").value = D.init.layer; $("gate").value = D.init.gate; fillUnits(D.init.unit);
$("layer").onchange = () => { fillUnits(); render(); };
$("gate").onchange = () => { fillUnits($("unit").value); render(); };  // same unit, other gate
$("unit").onchange = render;
render();
</script></body></html>
"""
