"""Gate recording (rnnlm.gates) and its views: JSON, CSV, HTML and the terminal heatmap."""

import csv
import html
import io
import json
import re

import numpy as np
import pytest
from rich.console import Console

import rnnlm
from rnnlm import gates
from rnnlm.generation import start_of_sentence
from rnnlm.display import print_gates
from rnnlm.errors import UsageError

from conftest import REPO

TEXT = "Jenny , who met Peter , has her pen ."
HOSTILE = "</script><script>alert(1)</script>"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Tiny 2-layer models of each cell (and a character-level LSTM), trained for one epoch."""
    root = tmp_path_factory.mktemp("gates")
    lines = (REPO / "corpora/jenny/jenny.train.txt").read_text().splitlines()
    corpus = root / "small.txt"
    corpus.write_text("\n".join(lines[:1000]) + "\n")
    chars = root / "chars.txt"
    chars.write_text("\n".join(lines[:150]) + "\n")
    tiny = dict(progress=False, num_layers=2, embed_size=12, hidden_size=10, epochs=1,
                batch_size=8, bptt=10)
    out = {}
    for cell in ("lstm", "gru", "rnn"):
        rnnlm.train(corpus, out=root / f"{cell}.npz", cell=cell, **tiny)
        out[cell] = rnnlm.load(root / f"{cell}.npz")
    rnnlm.train(chars, out=root / "char.npz", cell="lstm", level="char", **tiny)
    out["char"] = rnnlm.load(root / "char.npz")
    return out


def _primed_state(ckpt):
    """The start-of-sentence state the record starts from, from a separate run."""
    model = ckpt.model
    model.eval()
    start_of_sentence(model, ckpt.vocab)
    state = model.state
    model.reset_state()
    return [{k: v[0] for k, v in s.items()} for s in state]


# --- the record satisfies the cell's own equations ----------------------------------------------

def test_lstm_record_satisfies_the_lstm_equations_from_the_primed_state(models):
    ckpt = models["lstm"]
    rec = gates.record(ckpt, TEXT)
    primed = _primed_state(ckpt)
    assert rec.tokens == TEXT.split() and rec.cell == "lstm" and len(rec.layers) == 2
    for layer, (g, start) in enumerate(zip(rec.layers, primed)):
        assert set(g) == {"f", "i", "o", "g", "c", "h"}
        for name in "fiogch":
            assert g[name].shape == (len(rec.tokens), 10) and g[name].dtype == np.float32
        # c_{-1}, h_{-1}: the state after the priming <eos>, recorded and equal to a fresh run
        np.testing.assert_array_equal(rec.initial[layer]["c"], start["c"])
        np.testing.assert_array_equal(rec.initial[layer]["h"], start["h"])
        for name in "fio":
            assert ((g[name] >= 0) & (g[name] <= 1)).all()
        assert (np.abs(g["g"]) <= 1).all()
        c_prev = rec.initial[layer]["c"]
        for t in range(len(rec.tokens)):
            c = g["f"][t] * c_prev + g["i"][t] * g["g"][t]
            np.testing.assert_allclose(g["c"][t], c, rtol=0, atol=1e-5)
            np.testing.assert_allclose(g["h"][t], g["o"][t] * np.tanh(g["c"][t]), rtol=0, atol=1e-5)
            c_prev = g["c"][t]


def test_gru_record_satisfies_the_gru_equations_from_the_primed_state(models):
    ckpt = models["gru"]
    rec = gates.record(ckpt, TEXT)
    primed = _primed_state(ckpt)
    for layer, (g, start) in enumerate(zip(rec.layers, primed)):
        assert set(g) == {"z", "r", "n", "h"}
        np.testing.assert_array_equal(rec.initial[layer]["h"], start["h"])
        assert ((g["z"] >= 0) & (g["z"] <= 1)).all() and ((g["r"] >= 0) & (g["r"] <= 1)).all()
        assert (np.abs(g["n"]) <= 1).all()
        h_prev = rec.initial[layer]["h"]
        for t in range(len(rec.tokens)):
            h = (1 - g["z"][t]) * h_prev + g["z"][t] * g["n"][t]
            np.testing.assert_allclose(g["h"][t], h, rtol=0, atol=1e-5)
            h_prev = g["h"][t]


def test_rnn_record_is_the_elman_recurrence_from_the_primed_state(models):
    ckpt = models["rnn"]
    rec = gates.record(ckpt, TEXT)
    p = ckpt.model.params
    x = p["embed.W"][ckpt.vocab.encode(rec.tokens)]
    for layer, g in enumerate(rec.layers):
        assert set(g) == {"h"} and (np.abs(g["h"]) <= 1).all()
        h_prev = rec.initial[layer]["h"]
        for t in range(len(rec.tokens)):
            a = x[t] @ p[f"rnn{layer}.Wx"] + h_prev @ p[f"rnn{layer}.Wh"] + p[f"rnn{layer}.b"]
            np.testing.assert_allclose(g["h"][t], np.tanh(a), rtol=0, atol=1e-5)
            h_prev = g["h"][t]
        x = g["h"]                                  # the next layer reads this one's output


def test_record_covers_only_the_text_and_leaves_the_model_as_it_was(models):
    ckpt = models["gru"]
    model = ckpt.model
    model.train()
    model.state = [{"h": np.full((3, 10), 0.5, np.float32)} for _ in range(2)]
    rec = gates.record(ckpt, TEXT)
    assert model.training and model.gates == []
    np.testing.assert_array_equal(model.state[1]["h"], np.full((3, 10), 0.5, np.float32))
    # The same as starting a sentence, then reading TEXT in one go.
    model.eval()
    start_of_sentence(model, ckpt.vocab)
    model.forward(ckpt.vocab.encode(TEXT.split())[None, :], record_gates=True)
    for layer in range(2):
        for name in "zrnh":
            np.testing.assert_allclose(rec.layers[layer][name], model.gates[layer][name][0],
                                       rtol=0, atol=1e-6)
    model.reset_state()


def test_character_model_reads_characters_primed_with_a_newline(models):
    ckpt = models["char"]
    rec = gates.record(ckpt, "Amy ran")
    assert rec.tokens == list("Amy ran") and rec.level == "char"
    primed = _primed_state(ckpt)
    np.testing.assert_array_equal(rec.initial[0]["c"], primed[0]["c"])


def test_unknown_words_are_shown_as_typed_flagged_and_reported_in_one_line(models):
    warnings = []
    rec = gates.record(models["lstm"], "Jenny met Zorblax and Zorblax , Quux",
                       on_warning=warnings.append)
    assert rec.tokens[2] == "Zorblax"
    assert rec.unknown == [False, False, True, False, True, False, True]
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert "'Zorblax', 'Quux'" in warnings[0] and "<unk>" in warnings[0]
    assert gates.record(models["lstm"], TEXT, on_warning=warnings.append) and len(warnings) == 1


def test_text_without_tokens_is_a_usage_error(models):
    with pytest.raises(UsageError, match="no tokens"):
        gates.record(models["lstm"], "   \n ")


# --- JSON and CSV ---------------------------------------------------------------------------------

def test_json_holds_every_gate_of_every_layer_and_round_trips_exactly(models):
    rec = gates.record(models["lstm"], TEXT)
    data = json.loads(json.dumps(gates.to_json(rec)))
    assert data["tokens"] == rec.tokens and len(data["layers"]) == 2
    for layer, entry in enumerate(data["layers"]):
        assert entry["layer"] == layer and entry["cell"] == "lstm"
        assert set(entry) == {"layer", "cell", *gates.GATES["lstm"]}
        for name in gates.GATES["lstm"]:
            got = np.array(entry[name], dtype=np.float32)
            assert got.shape == (len(rec.tokens), 10)
            np.testing.assert_array_equal(got, rec.layers[layer][name])   # bit for bit


def test_csv_is_long_format_with_one_row_per_layer_gate_token_unit(models, tmp_path):
    rec = gates.record(models["gru"], 'Amy , "Tom" has')
    path = tmp_path / "g.csv"
    gates.write_csv(rec, path)
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["layer", "cell", "gate", "position", "token", "unit", "value"]
    T, H = len(rec.tokens), 10
    assert len(rows) == 1 + 2 * 4 * T * H
    for layer in range(2):
        for name in "zrnh":
            mine = [r for r in rows[1:] if r[0] == str(layer) and r[2] == name]
            assert len(mine) == T * H
            values = np.array([float(r[6]) for r in mine], np.float32).reshape(T, H)
            np.testing.assert_array_equal(values, rec.layers[layer][name])
    assert rows[1 + 2 * H][3:5] == ["2", '"Tom"']          # quotes survive the csv quoting
    assert [p.name for p in tmp_path.iterdir()] == ["g.csv"]   # no temporary file left


def test_writing_into_a_missing_directory_is_one_error(models, tmp_path):
    rec = gates.record(models["rnn"], TEXT)
    with pytest.raises(rnnlm.DataError, match="does not exist"):
        gates.write_csv(rec, tmp_path / "nope" / "g.csv")


# --- choosing units, layers and gates -------------------------------------------------------------

def test_units_spec_is_parsed_in_order_without_duplicates():
    values = np.zeros((3, 30), np.float32)
    assert gates.select_units(values, units="0-3,15,20-22") == [0, 1, 2, 3, 15, 20, 21, 22]
    assert gates.select_units(values, units=" 7 , 2-3,3") == [7, 2, 3]
    assert gates.select_units(values, units="29") == [29]


@pytest.mark.parametrize("spec", ["", "a", "1-", "3-1", "0-30", "30", "1,,2", "-1", "1.5", "٣"])
def test_bad_units_spec_is_a_usage_error_naming_the_option(spec):
    with pytest.raises(UsageError, match="--units") as err:
        gates.select_units(np.zeros((3, 30)), units=spec)
    assert "\n" not in str(err.value)


def test_top_picks_the_most_varying_units_ties_by_index():
    rng = np.random.default_rng(0)
    values = np.zeros((8, 20))
    values[:, 5] = rng.normal(0, 3, 8)          # varies most
    values[:, 12] = rng.normal(0, 2, 8)
    values[:, 2] = values[:, 9] = rng.normal(0, 1, 8)       # a tie: index order
    assert gates.select_units(values, top=4) == [5, 12, 2, 9]
    assert gates.select_units(values, top=100)[:4] == [5, 12, 2, 9]
    assert gates.select_units(values) == gates.rank_units(values)[:16]     # default: top 16
    assert gates.select_units(np.zeros((4, 10))) == list(range(10))        # H <= 16: all
    with pytest.raises(UsageError, match="--units and --top"):
        gates.select_units(values, units="1", top=2)
    with pytest.raises(UsageError, match="--top"):
        gates.select_units(values, top=0)


def test_layer_and_gate_are_validated_with_one_line(models):
    rec = gates.record(models["gru"], TEXT)
    assert gates.check_layer(rec, 1) == 1 and gates.check_gate(rec, None) == "z"
    with pytest.raises(UsageError, match=r"--layer 2 .*2 layers \(0-1\)"):
        gates.check_layer(rec, 2)
    with pytest.raises(UsageError, match=r"--gate 'f' .*GRU.*z, r, n, h"):
        gates.check_gate(rec, "f")
    assert gates.check_gate(gates.record(models["lstm"], TEXT), None) == "f"
    assert gates.check_gate(gates.record(models["rnn"], TEXT), None) == "h"


def test_token_means_average_over_units(models):
    rec = gates.record(models["lstm"], TEXT)
    means = gates.token_means(rec, 1)
    assert set(means) == set("fiogch")
    np.testing.assert_allclose(means["f"], rec.layers[1]["f"].astype(np.float64).mean(axis=1))


# --- the HTML page --------------------------------------------------------------------------------

def _page(models, tmp_path, text, **kw):
    rec = gates.record(models["lstm"], text)
    path = tmp_path / "gates.html"
    gates.write_html(rec, path, **kw)
    return rec, path.read_text(encoding="utf-8")


def test_html_page_is_self_contained_with_controls_legend_and_data(models, tmp_path):
    rec, page = _page(models, tmp_path, TEXT, layer=1, gate="o")
    for token in rec.tokens:
        assert f'<span class="t">{html.escape(token)}</span>' in page
    for control in ("layer", "gate", "unit"):
        assert f'<select id="{control}">' in page
    assert 'id="bar"' in page and 'id="means"' in page and "el.title" in page
    lowered = page.lower()
    for external in ("http://", "https://", "src=", "href=", "url(", "@import", "//cdn"):
        assert external not in lowered
    blob = re.search(r'<script type="application/json" id="data">(.*?)</script>', page, re.S)[1]
    data = json.loads(blob)
    assert data["tokens"] == rec.tokens and data["init"] == {"layer": 1, "gate": "o",
                                                              "unit": data["rank"][1]["o"][0]}
    for layer in range(2):
        for name in gates.GATES["lstm"]:
            np.testing.assert_array_equal(np.array(data["values"][layer][name], np.float32),
                                          rec.layers[layer][name])
    assert data["scales"][0]["f"] == [0, 1, "sequential"]
    assert data["scales"][0]["g"] == [-1, 1, "diverging"]
    assert data["scales"][0]["c"][1] == pytest.approx(float(np.abs(rec.layers[0]["c"]).max()))


def test_hostile_tokens_stay_inert_in_the_html_page(models, tmp_path):
    text = f"Jenny {HOSTILE} <!--<script> https://evil.example/x.js a&b \"q\" @@DATA@@ ."
    rec, page = _page(models, tmp_path, text)
    assert page.count("<script") == 2 and page.count("</script>") == 2   # only our own two
    assert "alert(1)</script>" not in page and "<!--" not in page
    assert "https:" + "//" not in page
    escaped = html.escape(HOSTILE).replace("/", "&#47;")
    assert f'<span class="t unk">{escaped}</span>' in page
    assert '<span class="t unk">@@DATA@@</span>' in page
    blob = re.search(r'<script type="application/json" id="data">(.*?)</script>', page, re.S)[1]
    assert json.loads(blob)["tokens"] == rec.tokens


def test_html_rejects_a_unit_that_does_not_exist(models, tmp_path):
    rec = gates.record(models["gru"], TEXT)
    with pytest.raises(UsageError, match="unit 10"):
        gates.write_html(rec, tmp_path / "g.html", unit=10)
    with pytest.raises(UsageError, match="--gate"):
        gates.write_html(rec, tmp_path / "g.html", gate="f")


# --- the terminal heatmap -------------------------------------------------------------------------

def _render(rec, width=80, **kw):
    console = Console(record=True, width=width, file=io.StringIO())
    print_gates(rec, console=console, **kw)
    return console.export_text()


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_heatmap_shows_values_and_the_per_token_means_of_every_gate(models, cell):
    rec = gates.record(models[cell], TEXT)
    out = _render(rec, layer=1)
    lines = out.splitlines()
    default = gates.DEFAULT_GATE[cell]
    assert f"gate {default}: {gates.DESCRIPTIONS[default]}" in " ".join(out.split())
    assert all(len(line) <= 80 for line in lines)
    header = next(line for line in lines if "Jenny" in line)
    assert "Peter" in header and "pen" in header
    for u in range(10):                         # H = 10 <= 16: every unit, one row each
        assert any(line.startswith(f"u{u} ") for line in lines)
    row = next(line for line in lines if line.startswith("u3 "))
    shown = [float(v) for v in row.split()[1:]]
    np.testing.assert_allclose(shown, rec.layers[1][default][:, 3], atol=0.051)
    assert "mean over all 10 units" in out
    for name in gates.GATES[cell]:
        assert any(line.startswith(f"{name} {gates.SHORT[name]}") for line in lines)


def test_heatmap_wraps_a_long_text_into_blocks_that_fit_the_width(models):
    words = (TEXT + " Amy has packed her drum .").split()
    text = " ".join((words * 3)[:40])
    rec = gates.record(models["lstm"], text)
    out = _render(rec, gate="c", units=[0, 4])
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines)
    blocks = [line.split()[0] for line in lines if re.match(r"\d+-\d+ ", line)]
    assert len(blocks) >= 3 and blocks[0].startswith("1-") and blocks[-1].endswith("-40")
    assert out.count("mean over all") == len(blocks)
    assert "\u2026" in out              # "visitor"-like long tokens are cut, not overflowing


def test_heatmap_is_coloured_on_a_terminal(models):
    rec = gates.record(models["gru"], TEXT)
    console = Console(force_terminal=True, color_system="truecolor", width=80,
                      file=io.StringIO())
    print_gates(rec, 0, "r", [1, 2], console=console)
    raw = console.file.getvalue()
    assert "\x1b[" in raw and "48;2;" in raw         # 24-bit background colours


def test_heatmap_rejects_a_gate_the_cell_does_not_have(models):
    rec = gates.record(models["rnn"], TEXT)
    with pytest.raises(UsageError, match="its gates are h"):
        _render(rec, gate="f")
