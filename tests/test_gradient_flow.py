"""rnnlm gradients: gradient flow against finite differences (API) and the command."""

import json
import re

import numpy as np
import pytest
from conftest import REPO, run_cli

from rnnlm import LanguageModel, Vocabulary, gradient_flow, save
from rnnlm.data import tokenize
from rnnlm.gradients import (default_text, flow_chart, hidden_gradients,
                             record_states)

MODEL = REPO / "models/default.npz"
WORDS = ["<unk>", "<eos>", "a", "b", "c", "d", "e"]
TEXT = "a b c d e a c b d a e e b"               # 13 tokens
EPS = 1e-5


def tiny(cell, layers, tie=False, **settings):
    """Odd sizes, float64, every parameter (biases too) drawn away from zero."""
    return LanguageModel(len(WORDS), cell=cell, num_layers=layers, embed_size=5 if tie else 4,
                         hidden_size=5, dropout=0.3, tie_weights=tie, init_scale=0.6,
                         dtype="float64", seed=3, **settings)


def loss_at(model, ids, t, perturb=None):
    """loss_t, reading one token at a time from a zero state, with ``perturb`` = (l, s, delta)
    added to h^l_s: both where the layer above reads it and in the layer's carried state (its
    own recurrence); the LSTM's c stays as computed. An independent path from the windows."""
    model.eval()
    model.reset_state()
    for step in range(t + 1):
        h = model.embed.forward(np.array([[ids[step]]]))
        for l, layer in enumerate(model.layers):
            h = layer.forward(h).copy()
            if perturb is not None and perturb[:2] == (l, step):
                h += perturb[2]
                layer.state["h"] = layer.state["h"] + perturb[2]
        z = model.out.forward(h)[0, 0].copy()
    model.reset_state()
    return float(np.log(np.exp(z - z.max()).sum()) + z.max() - z[ids[t + 1]])


def numeric(model, ids, t, l, s):
    H = model.config.hidden_size
    grad = np.empty(H)
    for i in range(H):
        e = np.zeros(H)
        e[i] = EPS
        grad[i] = (loss_at(model, ids, t, (l, s, e)) - loss_at(model, ids, t, (l, s, -e))) / (2 * EPS)
    return grad


def relative(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-12)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 2])
def test_hidden_gradients_equal_finite_differences(cell, layers):
    model = tiny(cell, layers)
    ids = Vocabulary(WORDS, "word").encode(TEXT.split())
    states, _ = record_states(model, ids)
    worst = 0.0
    for t, K in ((0, 3), (2, 4), (7, 4), (11, 3)):
        found = hidden_gradients(model, ids, t, K, states=states)
        assert set(found) == set(range(layers))
        for l, grads in found.items():
            assert grads.shape == (min(K, t) + 1, 5)
            for k, analytic in enumerate(grads):
                err = relative(analytic, numeric(model, ids, t, l, t - k))
                assert np.linalg.norm(analytic) > 1e-6, "a vanished gradient checks nothing"
                assert err < 1e-6, (cell, layers, t, k, l, err)
                worst = max(worst, err)
    print(f"worst relative error {worst:.2e}")


def test_tied_weights_equal_finite_differences():
    model = tiny("lstm", 2, tie=True)
    ids = Vocabulary(WORDS, "word").encode(TEXT.split())
    for l, grads in hidden_gradients(model, ids, 9, 3).items():
        for k, analytic in enumerate(grads):
            assert relative(analytic, numeric(model, ids, 9, l, 9 - k)) < 1e-6


def test_the_adaptive_softmax_equals_finite_differences():
    """Its loss_t comes from its own backward (log p, the forward without targets, in
    ``loss_at``): both of its paths meet here."""
    model = tiny("gru", 2, softmax="adaptive", cutoffs=(3,))
    ids = Vocabulary(WORDS, "word").encode(TEXT.split())
    assert set(ids[1:]) & {0, 1, 2} and set(ids[1:]) - {0, 1, 2}      # head and cluster
    for t in (4, 9, 11):
        for l, grads in hidden_gradients(model, ids, t, 3).items():
            for k, analytic in enumerate(grads):
                assert relative(analytic, numeric(model, ids, t, l, t - k)) < 1e-6


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_the_top_layer_at_lag_0_is_the_output_layers_gradient(cell):
    model = tiny(cell, 2)
    ids = Vocabulary(WORDS, "word").encode(TEXT.split())
    states, logits = record_states(model, ids)
    for t in (0, 5, 11):
        p = np.exp(logits[t] - logits[t].max())
        p /= p.sum()
        p[ids[t + 1]] -= 1
        expected = p @ model.params["out.W"].T
        top = hidden_gradients(model, ids, t, 2, states=states)[1][0]
        assert relative(top, expected) < 1e-10


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("K", [0, 3, 40])
def test_gradient_flow_is_the_mean_norm_over_positions(cell, K):
    model, vocab = tiny(cell, 2), Vocabulary(WORDS, "word")
    ids = vocab.encode(TEXT.split())
    n = len(ids)
    result = gradient_flow(model, TEXT, K, vocab=vocab)
    assert result["tokens"] == n and result["model"] == "(model)"
    lags = min(K, n - 2) + 1                   # no position has a lag beyond n-2
    states, _ = record_states(model, ids)
    per_t = [hidden_gradients(model, ids, t, K, states=states) for t in range(n - 1)]
    for l, layer in enumerate(result["layers"]):
        assert layer["layer"] == l and layer["lags"] == list(range(lags))
        for k in range(lags):
            expected = np.mean([np.linalg.norm(g[l][k]) for t, g in enumerate(per_t) if t >= k])
            assert layer["norm"][k] == pytest.approx(expected, rel=1e-10)


def test_gradient_flow_leaves_parameters_gradients_and_mode_alone():
    model, vocab = tiny("lstm", 1), Vocabulary(WORDS, "word")
    model.train()
    for g in model.grads.values():
        g[...] = 7.0
    before = {k: v.copy() for k, v in model.params.items()}
    first = gradient_flow(model, TEXT, 3, vocab=vocab)
    assert model.training and all(np.array_equal(before[k], v) for k, v in model.params.items())
    assert all((g == 7.0).all() for g in model.grads.values())     # a reader, not a step
    assert gradient_flow(model, TEXT, 3, vocab=vocab) == first     # no dropout: deterministic
    assert not any(layer.record_dh for layer in model.layers)


# --- the command ----------------------------------------------------------------------------

SENTENCE = "Jenny has a dog and the dog has a red ball and Jenny likes the ball"


def run_json(tmp_path, *args):
    proc = run_cli("gradients", *args, "--json", "--no-log", cwd=tmp_path)
    [line] = proc.stdout.splitlines()
    return json.loads(line)


def test_json_keys_text_and_file_agree(tmp_path):
    got = run_json(tmp_path, "--text", SENTENCE, "--max-lag", "5")
    assert set(got) >= {"model", "tokens", "layers"} and got["tokens"] == 16
    [layer] = got["layers"]                                # the shipped model: 1 layer
    assert set(layer) == {"layer", "lags", "norm"} and layer["lags"] == list(range(6))
    assert all(v > 0 for v in layer["norm"])
    path = tmp_path / "s.txt"
    path.write_text(SENTENCE + "\n")                      # its line ends: one more token
    read = run_json(tmp_path, "--file", path, "--max-lag", "5")
    assert read["tokens"] == 17
    assert read["layers"] == run_json(tmp_path, "--text", SENTENCE + "\n", "--max-lag", "5")[
        "layers"]
    untrained = run_json(tmp_path, "--text", SENTENCE, "--max-lag", "5", "--untrained")
    assert untrained["untrained"] and untrained["layers"][0]["norm"] != layer["norm"]


def test_table_chart_picture_and_the_runs_log(tmp_path):
    home = {"RNNLM_HOME": tmp_path / "home"}
    proc = run_cli("gradients", MODEL, "--text", SENTENCE, "--max-lag", "4", "--out",
                   tmp_path / "flow.svg", cwd=tmp_path, env=home)
    assert "layer 0 norm" in proc.stdout and "ratio" in proc.stdout
    assert "gradient norm by lag" in proc.stdout             # the terminal chart
    assert (tmp_path / "flow.svg").read_text().lstrip().startswith("<?xml")
    runs = run_cli("runs", "--kind", "gradients", "--json", cwd=tmp_path, env=home).stdout
    [run] = map(json.loads, runs.splitlines())
    assert run["settings"]["models"] == [str(MODEL)] and run["metrics"]["tokens"] == 16
    assert "default.npz" in run_cli("runs", cwd=tmp_path, env=home).stdout  # its model column


def test_several_models_each_get_an_object_a_table_and_their_lines(tmp_path):
    vocab = Vocabulary(["<unk>", "<eos>", *sorted(set(SENTENCE.split()))], "word")
    gru = LanguageModel(len(vocab), cell="gru", num_layers=2, embed_size=6, hidden_size=7, seed=1)
    save(tmp_path / "tiny-gru.npz", gru, vocab)
    proc = run_cli("gradients", MODEL, tmp_path / "tiny-gru.npz", "--text", SENTENCE,
                   "--max-lag", "3", "--json", "--no-log", cwd=tmp_path)
    default, tiny = map(json.loads, proc.stdout.splitlines())
    assert [len(default["layers"]), len(tiny["layers"])] == [1, 2]
    assert tiny["model"].endswith("tiny-gru.npz")
    assert tiny["layers"] == gradient_flow(gru, SENTENCE, 3, vocab=vocab)["layers"]
    table = run_cli("gradients", MODEL, tmp_path / "tiny-gru.npz", "--text", SENTENCE,
                    "--max-lag", "3", "--no-log", cwd=tmp_path).stdout
    assert "default.npz:" in table and "tiny-gru.npz:" in table and "layer 1 norm" in table
    series, chart = flow_chart([default, tiny])
    assert [label for label, _, _ in series] == ["default layer 0", "tiny-gru layer 0",
                                                 "tiny-gru layer 1"]
    assert chart.log_y and [xs for _, xs, _ in series][2] == [0, 1, 2, 3]


def test_a_text_file_is_read_as_a_corpus_is(tmp_path):
    # the byte-order mark is not a token; "\r\n" stays as it is (whitespace at word level)
    path = tmp_path / "bom.txt"
    path.write_bytes(("\ufeff" + SENTENCE + "\r\n").encode())
    plain, read = (run_cli("gradients", *given, "--max-lag", "3", "--json", "--no-log",
                           cwd=tmp_path) for given in (["--text", SENTENCE + "\n"],
                                                       ["--file", path]))
    assert read.stderr == plain.stderr and read.stdout == plain.stdout   # the same warning too
    char = Vocabulary(["<unk>", *sorted(set(SENTENCE + "\r\n"))], "char")
    model = LanguageModel(len(char), embed_size=5, hidden_size=6, num_layers=1, seed=2)
    assert gradient_flow(model, file=path, vocab=char)["tokens"] == len(SENTENCE) + 2


def test_the_default_text_is_the_validation_texts_first_tokens_with_their_eos():
    text = default_text()
    tokens = tokenize(text, "word")
    lines = (REPO / "corpora/jenny/jenny.valid.txt").read_text().splitlines()
    corpus = [t for line in lines for t in line.split() + ["<eos>"]]
    assert len(tokens) == 2000 and tokens == corpus[:2000]


def test_every_model_is_read_before_the_work_on_the_first(tmp_path):
    # the unknown word would be warned of, were the first model measured before the failure
    proc = run_cli("gradients", MODEL, tmp_path / "nothere.npz", "--text", SENTENCE + " zyzzyva",
                   "--no-log", cwd=tmp_path, check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    [line] = proc.stderr.splitlines()
    assert line.startswith("rnnlm: error:") and "nothere.npz" in line


@pytest.mark.parametrize("args, code, words", [
    (["--max-lag", "-1"], 2, "--max-lag"),
    (["--max-lag", "many"], 2, "--max-lag"),
    (["--text", "Jenny"], 1, "at least 2"),
    (["--text", ""], 1, "at least 2"),
    (["--text", "a b", "--file", "x.txt"], 2, "not both"),
    (["--file", "missing.txt"], 1, "does not exist"),
    (["--text", "a b", "--out", "x.gif"], 2, ".png or .svg"),
])
def test_bad_input_is_one_line(tmp_path, args, code, words):
    proc = run_cli("gradients", *args, "--no-log", cwd=tmp_path, check=False)
    assert proc.returncode == code, proc.stderr
    [line] = proc.stderr.splitlines()
    assert line.startswith("rnnlm: error:") and words in line


def test_a_log_picture_over_many_decades_labels_only_the_powers_of_ten(tmp_path):
    pytest.importorskip("matplotlib")
    from rnnlm.plot import Chart, save_chart

    def labels(ys):
        path = save_chart([("a", [0, 1, 2], ys)], Chart("t", "lag", log_y=True),
                          tmp_path / "c.svg")
        return set(re.findall(r"<!-- (\S+) -->", path.read_text()))   # the svg's text

    decades = labels([1, 1e-2, 1e-5])
    assert {"1e-05", "0.001", "1"} <= decades and "0.002" not in decades
    assert {"12", "16", "24"} <= labels([12, 15, 24])       # within a decade: the minor ticks
