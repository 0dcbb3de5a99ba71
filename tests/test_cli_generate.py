"""`rnnlm generate` and `rnnlm inspect-gates` run for real, on models trained in the test."""

import csv
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import rnnlm
from conftest import REPO, run_cli

JENNY = "Jenny , who met Peter near the old mill , has her pen ."


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    lines = (REPO / "corpora/jenny/jenny.train.txt").read_text().splitlines()[:1500]
    (d / "small.txt").write_text("\n".join(lines) + "\n")
    for cell in ("lstm", "gru", "rnn"):
        rnnlm.train(d / "small.txt", out=d / f"{cell}.npz", progress=False, cell=cell,
                    num_layers=2, embed_size=16, hidden_size=12, epochs=2, batch_size=8, bptt=10)
    return d


def generate(models, *args, cell="lstm", check=True):
    return run_cli("generate", "--model", models / f"{cell}.npz", *args, cwd=models,
                   check=check)


def test_generation_with_the_same_random_seed_is_identical(models):
    a = generate(models, "--seed", "Jenny has", "--random-seed", "4", "--no-stop").stdout
    b = generate(models, "--seed", "Jenny has", "--random-seed", "4", "--no-stop").stdout
    c = generate(models, "--seed", "Jenny has", "--random-seed", "5", "--no-stop").stdout
    assert a == b != c
    assert a.startswith("Jenny has ")


def test_top_k_one_and_beam_one_equal_greedy(models):
    greedy = generate(models, "--seed", "the boys", "--greedy", "--json").stdout
    top1 = generate(models, "--seed", "the boys", "--top-k", "1", "--random-seed", "9",
                    "--json").stdout
    beam1 = json.loads(generate(models, "--seed", "the boys", "--beam", "1", "--json").stdout)
    unlogged = {"run_id": None}                       # each run has its own id
    assert {**json.loads(greedy), **unlogged} == {**json.loads(top1), **unlogged}
    assert beam1["tokens"] == json.loads(greedy)["tokens"]
    assert beam1["logprob"] == pytest.approx(json.loads(greedy)["logprob"])


def test_json_samples_carry_seed_text_tokens_and_logprob(models):
    out = generate(models, "--seed", "Amy", "--num-samples", "3", "--random-seed", "1",
                   "--json").stdout.splitlines()
    samples = [json.loads(line) for line in out]
    assert len(samples) == 3
    for s in samples:
        assert set(s) == {"seed", "text", "tokens", "logprob", "run_id"} and s["seed"] == "Amy"
        assert s["logprob"] < 0 and s["tokens"][-1] == "<eos>"
        assert s["text"] == " ".join(s["tokens"][:-1])


def test_beam_lists_the_best_continuations_with_their_log_probabilities(models):
    lines = generate(models, "--seed", "Tom has", "--beam", "3").stdout.splitlines()
    scores = [float(line.split("\t")[0]) for line in lines]
    assert len(lines) == 3 and scores == sorted(scores, reverse=True)
    assert all(line.split("\t")[1].startswith("Tom has ") for line in lines)


def test_an_unknown_seed_word_warns_once_and_generation_goes_on(models):
    proc = generate(models, "--seed", "Zorro has", "--random-seed", "0", "--no-log")
    assert proc.stderr.count("\n") == 1 and "Zorro" in proc.stderr and "warning" in proc.stderr
    assert proc.stdout.startswith("Zorro has ") and len(proc.stdout.split()) > 2


def test_character_models_join_raw(tmp_path):
    lines = (REPO / "corpora/jenny/jenny.train.txt").read_text().splitlines()[:300]
    (tmp_path / "c.txt").write_text("\n".join(lines) + "\n")
    rnnlm.train(tmp_path / "c.txt", out=tmp_path / "c.npz", progress=False, level="char",
                num_layers=1, embed_size=8, hidden_size=16, epochs=1, batch_size=8, bptt=20)
    out = run_cli("generate", "--model", tmp_path / "c.npz", "--seed", "Jen", "--length", "20",
                  "--no-stop", "--random-seed", "0", "--json", cwd=tmp_path).stdout
    sample = json.loads(out)
    assert sample["text"] == "".join(sample["tokens"]) and len(sample["tokens"]) == 20
    # a character model goes on past its lines by default, and the log says so
    home = {"RNNLM_HOME": tmp_path / "home"}
    out = run_cli("generate", "--model", tmp_path / "c.npz", "--seed", "Jen", "--length", "200",
                  "--random-seed", "0", "--json", cwd=tmp_path, env=home).stdout
    assert len(json.loads(out)["tokens"]) == 200
    logged = json.loads(run_cli("runs", "show", "last", "--json", cwd=tmp_path, env=home).stdout)
    assert logged["settings"]["stop-at-eos"] is False
    out = run_cli("generate", "--model", tmp_path / "c.npz", "--seed", "Jen", "--length", "200",
                  "--random-seed", "0", "--json", "--stop-at-eos", cwd=tmp_path).stdout
    assert json.loads(out)["tokens"][-1] == "\n"
    # samples of several lines each are set apart by a blank line
    args = ["generate", "--model", tmp_path / "c.npz", "--seed", "Jen", "--length", "200",
            "--num-samples", "2", "--random-seed", "0"]
    texts = [json.loads(line)["text"] for line in
             run_cli(*args, "--json", cwd=tmp_path).stdout.splitlines()]
    assert "\n" in texts[0] + texts[1]
    assert run_cli(*args, cwd=tmp_path).stdout == f"Jen{texts[0]}\n\nJen{texts[1]}\n"


def test_the_shipped_model_answers_from_any_directory(tmp_path):
    proc = run_cli("generate", "--seed", "Jenny has", "--random-seed", "0", cwd=tmp_path)
    assert re.match(r"Jenny has \w+", proc.stdout)
    assert re.fullmatch(r"rnnlm: run [0-9a-z]{8}\n", proc.stderr)      # no warning
    proc = run_cli("inspect-gates", JENNY, "--top", "4", cwd=tmp_path)
    assert "Peter" in proc.stdout and "forget" in proc.stdout


def gate_dump(models, cell):
    out = run_cli("inspect-gates", "--model", models / f"{cell}.npz", JENNY, "--json",
                  cwd=models).stdout
    return json.loads(out)


def test_lstm_gate_dump_satisfies_the_lstm_equations(models):
    dump = gate_dump(models, "lstm")
    assert dump["tokens"] == JENNY.split()
    for layer in dump["layers"]:
        g = {k: np.array(layer[k]) for k in "fiogch"}
        assert all(g[k].shape == (len(JENNY.split()), 12) for k in g)
        for k in "fio":
            assert ((g[k] >= 0) & (g[k] <= 1)).all()
        np.testing.assert_allclose(g["c"][1:], g["f"][1:] * g["c"][:-1] + g["i"][1:] * g["g"][1:],
                                   atol=1e-5)
        np.testing.assert_allclose(g["h"], g["o"] * np.tanh(g["c"]), atol=1e-5)


def test_gru_gate_dump_satisfies_the_gru_equations(models):
    for layer in gate_dump(models, "gru")["layers"]:
        g = {k: np.array(layer[k]) for k in "zrnh"}
        np.testing.assert_allclose(g["h"][1:], (1 - g["z"][1:]) * g["h"][:-1] + g["z"][1:] * g["n"][1:],
                                   atol=1e-5)


def test_rnn_gate_dump_has_the_hidden_state(models):
    for layer in gate_dump(models, "rnn")["layers"]:
        assert set(layer) == {"layer", "cell", "h"} and layer["cell"] == "rnn"


def test_heatmap_csv_and_html_from_one_run(models):
    proc = run_cli("inspect-gates", "--model", models / "lstm.npz", JENNY, "--gate", "i",
                   "--units", "0-3", "--csv", models / "g.csv", "--html", models / "g.html",
                   cwd=models)
    assert "input" in proc.stdout and "u3" in proc.stdout and "Peter" in proc.stdout
    rows = list(csv.reader((models / "g.csv").open()))
    tokens, layers, gates, units = len(JENNY.split()), 2, 6, 12
    assert rows[0] == ["layer", "cell", "gate", "position", "token", "unit", "value"]
    assert len(rows) - 1 == tokens * layers * gates * units
    page = (models / "g.html").read_text()
    for token in set(JENNY.split()):
        assert f">{token}<" in page
    assert not re.search(r"https?:|src=|href=|@import|url\(", page)
    # an existing file is replaced only with --force
    before = (models / "g.csv").read_bytes()
    again = run_cli("inspect-gates", "--model", models / "lstm.npz", "Tom .", "--csv",
                    models / "g.csv", cwd=models, check=False)
    assert again.returncode == 1 and "--force" in again.stderr
    assert (models / "g.csv").read_bytes() == before
    run_cli("inspect-gates", "--model", models / "lstm.npz", "Tom .", "--csv", models / "g.csv",
            "--force", cwd=models)
    assert len(list(csv.reader((models / "g.csv").open()))) - 1 == 2 * layers * gates * units


def test_a_reader_that_stops_early_is_not_an_error(tmp_path):
    """`rnnlm generate ... | head -c 10`: exit 0, nothing on stderr, no traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "rnnlm", "generate", "--seed", "",
                             "--length", "30000", "--no-stop", "--no-log"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert len(proc.stdout.read(10)) == 10
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0 and stderr == ""
