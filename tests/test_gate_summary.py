"""`inspect-gates --summary`: saturation and forget-gate statistics equal numpy's on the record."""

import json

import numpy as np
import pytest

import rnnlm
from conftest import REPO, run_cli
from rnnlm import gates
from rnnlm.checkpoint import default_model_path

TEXT = "the boys , who met Jenny near the old mill , have their pens ."


def test_lstm_shares_and_forget_counts_equal_the_record():
    record = gates.record(default_model_path(), TEXT)
    result = gates.summary(record)
    assert (result["cell"], result["tokens"]) == ("lstm", len(TEXT.split()))
    [layer] = result["layers"]
    assert set(layer["gates"]) == {"f", "i", "o", "h"}
    for g in ("f", "i", "o"):
        values = record.layers[0][g]
        assert layer["gates"][g]["below_0.1"] == pytest.approx(np.mean(values < 0.1))
        assert layer["gates"][g]["above_0.9"] == pytest.approx(np.mean(values > 0.9))
    h = np.abs(record.layers[0]["h"])
    assert layer["gates"]["h"]["above_0.9"] == pytest.approx(np.mean(h > 0.9))
    f = record.layers[0]["f"]
    keeping = layer["forget"]["units_keeping_0.9"]
    assert keeping["per_token"] == (f > 0.9).sum(axis=1).tolist()
    assert sum(layer["forget"]["share"]) == pytest.approx(1.0)
    assert layer["forget"]["share"][-1] == pytest.approx(np.mean(f > 0.9), abs=1e-6)


@pytest.mark.parametrize("cell, expected", [("gru", {"z", "r", "h"}), ("rnn", {"h"})])
def test_each_cell_summarises_its_own_gates_in_every_layer(tmp_path, cell, expected):
    lines = (REPO / "corpora/jenny/jenny.train.txt").read_text().splitlines()[:300]
    (tmp_path / "c.txt").write_text("\n".join(lines) + "\n")
    rnnlm.train(tmp_path / "c.txt", out=tmp_path / "m.npz", progress=False, cell=cell,
                num_layers=2, embed_size=8, hidden_size=8, epochs=1, batch_size=4, bptt=10)
    result = gates.summary(gates.record(tmp_path / "m.npz", "Jenny has her pen ."))
    assert [set(layer["gates"]) for layer in result["layers"]] == [expected, expected]
    assert all("forget" not in layer for layer in result["layers"])


def test_the_cli_prints_the_summary_as_one_json_object_or_a_table(tmp_path):
    proc = run_cli("inspect-gates", TEXT, "--summary", "--json", cwd=tmp_path)
    [line] = proc.stdout.splitlines()
    assert json.loads(line) == json.loads(json.dumps(
        gates.summary(gates.record(default_model_path(), TEXT))))
    table = run_cli("inspect-gates", TEXT, "--summary", cwd=tmp_path).stdout
    assert "f kept" in table and "units with f > 0.9" in table
    run_cli("inspect-gates", TEXT, "--summary", "--csv", tmp_path / "g.csv", cwd=tmp_path)
    assert (tmp_path / "g.csv").read_text().count("\n") > len(TEXT.split())  # written as asked
