"""`rnnlm models` and `rnnlm info` on real checkpoints trained by the real CLI."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, TINY, run_cli
from rnnlm import __version__, load
from rnnlm.catalog import known_models
from rnnlm.checkpoint import default_model_path

INFO_KEYS = {"path", "cell", "layers", "embed-size", "hidden-size", "tie-weights", "parameters",
             "settings", "vocab", "tensors", "training", "corpus", "rnnlm_version"}


def json_lines(stdout):
    return [json.loads(line) for line in stdout.splitlines()]


def by_file(records, cwd):
    """Listing records by the file they name, however the path is spelled."""
    return {(Path(cwd) / r["path"]).resolve(): r for r in records}


def write_corpus(directory):
    lines = (REPO / "corpora/jenny/jenny.train.txt").read_text().splitlines()[:1500]
    (directory / "small.txt").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A directory holding models/a.npz and models/a.last.npz (a tied 1x24 GRU, 2 epochs), and
    the events of its training."""
    work = tmp_path_factory.mktemp("trained")
    write_corpus(work)
    proc = run_cli("train", "small.txt", *TINY, "--cell", "gru", "--tie-weights", "--epochs", "2",
                   "--out", "models/a.npz", "--json", cwd=work)
    return work, json_lines(proc.stdout)


@pytest.fixture
def workdir(trained, tmp_path):
    """A copy of the trained models/ in tmp_path, free to change."""
    shutil.copytree(trained[0] / "models", tmp_path / "models")
    return tmp_path


def test_models_lists_the_models_here_and_the_shipped_default_never_a_last_one(workdir, trained):
    records = json_lines(run_cli("models", "--json", cwd=workdir).stdout)
    files = by_file(records, workdir)
    model = workdir / "models/a.npz"
    assert (workdir / "models/a.last.npz").is_file()
    assert model.resolve() in files and default_model_path().resolve() in files
    assert not any(r["path"].endswith(".last.npz") for r in records)
    assert len(files) == len(records)                             # each file once
    r = files[model.resolve()]
    best = min(e["valid_ppl"] for e in trained[1] if e["event"] == "epoch")
    assert (r["cell"], r["layers"], r["hidden-size"], r["tie-weights"]) == ("gru", 1, 24, True)
    assert r["parameters"] == load(model).model.num_params()
    assert r["corpus"] == load(model).meta["corpus"]["name"]
    assert r["valid_ppl"] == pytest.approx(best, rel=1e-12)
    assert r["bytes"] == model.stat().st_size and r["created"] and r["resumable"] is True
    assert files[default_model_path().resolve()]["default"] is True


def test_off_a_terminal_the_table_is_whole_for_scripts(workdir):
    """A pipe has no width: every column, and each path on its one line, as grep wants it;
    COLUMNS, where set, still makes a narrow table give way."""
    long = workdir / "models" / ("a-model-whose-name-is-longer-than-any-terminal-" * 2 + ".npz")
    shutil.copy(workdir / "models/a.npz", long)
    text = run_cli("models", cwd=workdir, env={"COLUMNS": None}).stdout
    header = " ".join(text.splitlines()[:2])
    for column in ("path", "cell", "parameters", "corpus", "valid ppl", "size", "date",
                   "resumable"):
        assert column in header
    assert any(line.startswith(f"models/{long.name} ") for line in text.splitlines())
    narrow = run_cli("models", cwd=workdir, env={"COLUMNS": 80}).stdout
    assert "date" not in narrow and f"models/{long.name} " not in narrow


def test_a_model_is_resumable_only_while_its_last_checkpoint_exists(workdir):
    def resumable():
        records = json_lines(run_cli("models", "--json", cwd=workdir).stdout)
        return by_file(records, workdir)[(workdir / "models/a.npz").resolve()]["resumable"]

    def info_resumable(name):
        proc = run_cli("info", f"models/{name}", "--json", cwd=workdir)
        return json.loads(proc.stdout)["resumable"]

    assert resumable() is True and info_resumable("a.npz") is True
    assert info_resumable("a.last.npz") is True        # what --resume takes
    (workdir / "models/a.last.npz").unlink()
    assert resumable() is False and info_resumable("a.npz") is False


def test_a_damaged_or_foreign_file_in_models_does_not_break_the_listing(workdir):
    (workdir / "models/bad.npz").write_bytes(b"not a zip at all")
    np.savez(workdir / "models/foreign.npz", weights=np.arange(6))
    proc = run_cli("models", "--json", cwd=workdir)
    files = by_file(json_lines(proc.stdout), workdir)
    assert files[(workdir / "models/a.npz").resolve()]["cell"] == "gru"
    for name in ("bad.npz", "foreign.npz"):
        assert files[(workdir / "models" / name).resolve()]["error"].startswith(
            f"checkpoint 'models/{name}'")
    plain = run_cli("models", cwd=workdir)
    assert "models/bad.npz" in plain.stdout and "models/a.npz" in plain.stdout
    assert "Traceback" not in plain.stderr + proc.stderr


def test_each_model_is_listed_once_however_its_path_is_spelled(workdir):
    model = workdir / "models/a.npz"
    (workdir / "models/link.npz").symlink_to("a.npz")
    extra = [model, workdir / "models/../models/a.npz", workdir / "models/a.last.npz",
             workdir / "gone.npz"]
    records = known_models(extra=extra, directory=workdir)
    files = [(workdir / r["path"]).resolve() for r in records]
    assert files.count(model.resolve()) == 1
    assert len(files) == len(set(files))
    assert not any(r["path"].endswith((".last.npz", "gone.npz")) for r in records)


def test_models_lists_the_outputs_of_logged_runs_while_they_exist(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNLM_HOME", str(tmp_path / "home"))      # a log of this test's own
    (tmp_path / "elsewhere").mkdir()
    write_corpus(tmp_path)
    run_cli("train", "small.txt", *TINY, "--epochs", "1", "--out", "run.npz", "--quiet",
            cwd=tmp_path)
    listed = by_file(json_lines(run_cli("models", "--json", cwd=tmp_path / "elsewhere").stdout),
                     tmp_path / "elsewhere")
    assert (tmp_path / "run.npz").resolve() in listed
    (tmp_path / "run.npz").unlink()
    listed = by_file(json_lines(run_cli("models", "--json", cwd=tmp_path / "elsewhere").stdout),
                     tmp_path / "elsewhere")
    assert (tmp_path / "run.npz").resolve() not in listed


def test_info_json_reports_what_was_trained(trained):
    work, events = trained
    info = json.loads(run_cli("info", "models/a.npz", "--json", cwd=work).stdout)
    ckpt = load(work / "models/a.npz")
    assert INFO_KEYS <= set(info)
    assert info["path"] == "models/a.npz"
    assert (info["cell"], info["layers"], info["embed-size"], info["hidden-size"],
            info["tie-weights"]) == ("gru", 1, 24, 24, True)
    assert info["parameters"] == ckpt.model.num_params()
    assert sum(t["count"] for t in info["tensors"]) == info["parameters"]
    assert {t["name"]: t["shape"] for t in info["tensors"]} == \
        {k: list(v.shape) for k, v in ckpt.model.params.items()}
    assert info["settings"]["cell"] == "gru" and info["settings"]["batch-size"] == 8
    assert info["settings"]["bptt"] == 10 and info["settings"]["tie-weights"] is True
    vocab = info["vocab"]
    assert (vocab["level"], vocab["size"]) == ("word", len(ckpt.vocab))
    assert vocab["examples"] == list(ckpt.vocab.tokens[2:12])     # after <unk> and <eos>
    epochs = [e for e in events if e["event"] == "epoch"]
    best = min(epochs, key=lambda e: e["valid_ppl"])
    training = info["training"]
    assert training["valid_ppl"] == pytest.approx(best["valid_ppl"], rel=1e-12)
    assert (training["epochs"], training["tokens"]) == (best["epoch"], best["tokens"])
    assert training["elapsed_s"] > 0 and training["created"]
    assert training["run_id"] == ckpt.meta.get("run_id")
    assert info["corpus"] == {k: ckpt.meta["corpus"][k] for k in ("name", "sha256", "level")}
    assert info["corpus"]["level"] == "word"
    assert info["corpus"]["name"].startswith("small") and len(info["corpus"]["sha256"]) == 64
    assert info["rnnlm_version"] == __version__


def test_info_of_a_model_trained_elsewhere_claims_no_training_settings(trained, tmp_path):
    # an export and import (or any save outside train): the model's settings, no training's
    work, _ = trained
    pytest.importorskip("safetensors")
    run_cli("export", work / "models/a.npz", tmp_path / "a.safetensors", "--layout", "rnnlm",
            cwd=tmp_path)
    run_cli("import", tmp_path / "a.safetensors", tmp_path / "b.npz", cwd=tmp_path)
    info = json.loads(run_cli("info", tmp_path / "b.npz", "--json", cwd=tmp_path).stdout)
    assert info["settings"]["cell"] == "gru" and info["settings"]["tie-weights"] is True
    assert "bptt" not in info["settings"] and "lr" not in info["settings"]
    assert info["training"]["epochs"] is None
    shown = run_cli("info", tmp_path / "b.npz", cwd=tmp_path).stdout
    assert "batch-size" not in shown and "no training state" in shown


@pytest.mark.parametrize("content", [None, b"garbage"], ids=["missing", "damaged"])
def test_info_on_a_missing_or_damaged_file_is_one_error_line(tmp_path, content):
    if content is not None:
        (tmp_path / "m.npz").write_bytes(content)
    proc = run_cli("info", "m.npz", cwd=tmp_path, check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith("rnnlm: error: checkpoint 'm.npz'")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_plain_outputs_name_the_path_and_the_cell(trained):
    work, _ = trained
    listing = run_cli("models", cwd=work).stdout
    assert "models/a.npz" in listing and "gru" in listing and "1x24 tied" in listing
    info = run_cli("info", "models/a.npz", cwd=work).stdout
    assert "models/a.npz" in info and "gru 1x24" in info and "embed.W" in info


def test_help_ends_with_examples(tmp_path):
    for command in ("models", "info"):
        text = run_cli(command, "--help", cwd=tmp_path).stdout
        examples = text[text.index("Examples:"):]
        assert text.index("Options") < text.index("Examples:")        # the end of the help
        assert f"rnnlm {command}" in examples and "--json" in examples
