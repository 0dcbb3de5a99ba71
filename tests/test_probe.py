"""rnnlm probe: agreement accuracy on minimal pairs (API and command)."""

import importlib
import json

import numpy as np
import pytest
from conftest import REPO, run_cli

import rnnlm

from rnnlm import load
from rnnlm import probe as run_probe
from rnnlm.generation import start_of_sentence
from rnnlm.probe import BUCKETS, accuracy_chart, bucket, read_pairs

MODEL = REPO / "models/default.npz"
PROBES = REPO / "corpora/jenny/jenny.probes.tsv"


def lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def checkpoint():
    return load(MODEL)


@pytest.fixture
def few(tmp_path):
    """The first 400 jenny probes (all five columns)."""
    path = tmp_path / "few.tsv"
    path.write_text("\n".join(PROBES.read_text().splitlines()[:400]) + "\n")
    return path


def test_swapping_good_and_bad_gives_one_minus_the_accuracy(tmp_path, few, checkpoint):
    swapped = tmp_path / "swapped.tsv"
    rows = [line.split("\t") for line in few.read_text().splitlines()]
    swapped.write_text("".join("\t".join([p, b, g, *rest]) + "\n" for p, g, b, *rest in rows))
    [plain] = run_probe([checkpoint], few)
    [other] = run_probe([checkpoint], swapped)
    assert plain["pairs"] == other["pairs"] == 400
    assert plain["accuracy"] + other["accuracy"] == pytest.approx(1.0)
    for label, cell in plain["by_distance"].items():
        assert cell["accuracy"] + other["by_distance"][label]["accuracy"] == pytest.approx(1.0)


def test_unknown_words_are_skipped_counted_and_warned_once(tmp_path, few, checkpoint):
    path = tmp_path / "unknown.tsv"
    path.write_text(few.read_text() + "Zyxwv has\ther\this\t2\t0\n"
                    "Jenny\tflurbs\thas\t1\t0\nJenny has\ther\tqqq\t2\t0\n")
    warnings = []
    [result] = run_probe([checkpoint], path, on_warning=warnings.append)
    assert result["skipped"] == 3 and result["pairs"] == 400
    assert len(warnings) == 1 and "3 of 403" in warnings[0] and "Zyxwv" in warnings[0]


def test_a_pairs_file_is_read_as_a_corpus_is(tmp_path, few):
    # a byte-order mark is not text, "\r\n" ends a line, and only "\n" does: a U+2028 or a
    # form feed inside a prefix is whitespace between its words, as in a corpus
    rows = few.read_text().splitlines()[:3]
    odd = tmp_path / "odd.tsv"
    odd.write_bytes(("\ufeff" + "\r\n".join(rows[:2]) + "\r\n").encode())
    assert read_pairs(odd) == read_pairs(few)[:2]
    prefix, rest = rows[2].split("\t", 1)
    words = prefix.split()
    odd.write_text(words[0] + "\u2028" + "\x0c".join(words[1:]) + "\t" + rest + "\n")
    [pair] = read_pairs(odd)
    assert pair["prefix"].split() == words and pair["good"] == read_pairs(few)[2]["good"]


def test_every_model_is_read_before_the_first_is_scored(tmp_path, few):
    # the pair with an unknown word would be warned of, were the first model scored first
    with few.open("a") as f:
        f.write("Jenny\tzyzzyvas\tzyzzyva\t1\t0\n")
    warnings = []
    with pytest.raises(rnnlm.CheckpointError, match="nothere.npz"):
        run_probe([MODEL, tmp_path / "nothere.npz"], few, on_warning=warnings.append)
    assert warnings == []
    proc = run_cli("probe", MODEL, tmp_path / "nothere.npz", "--pairs", few, "--no-log",
                   cwd=tmp_path, check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    [line] = proc.stderr.splitlines()
    assert line.startswith("rnnlm: error:") and "nothere.npz" in line


def test_bucket_counts_sum_to_the_pairs(few, checkpoint):
    [result] = run_probe([checkpoint], few)
    assert sum(c["pairs"] for c in result["by_distance"].values()) == result["pairs"]
    assert sum(c["pairs"] for c in result["by_attractors"].values()) == result["pairs"]
    order = [label for *_, label in BUCKETS]
    assert list(result["by_distance"]) == sorted(result["by_distance"], key=order.index)
    assert [bucket(d) for d in (1, 2, 3, 4, 6, 7, 10, 11, 15, 16, 40)] == \
        ["1", "2-3", "2-3", "4-6", "4-6", "7-10", "7-10", "11-15", "11-15", "16+", "16+"]


def _reference_margin(checkpoint, prefix, good, bad):
    """log p(good) - log p(bad), one sentence at a time, token by token."""
    model, vocab = checkpoint.model, checkpoint.vocab

    def logp(words):
        with model.evaluating():
            logits = start_of_sentence(model, vocab)
            total = 0.0
            for t in vocab.encode(prefix.split()).tolist():
                logits = model.step_logits([t])
            for t in vocab.encode(words.split()).tolist():
                z = logits[0].astype(np.float64)
                total += z[t] - z.max() - np.log(np.exp(z - z.max()).sum())
                logits = model.step_logits([t])
        return total

    return logp(good) - logp(bad)


def test_batched_scores_match_one_sentence_at_a_time(tmp_path, checkpoint):
    # single-token pairs, multi-token pairs and an empty prefix: the batched path's decisions
    # agree with a sentence-by-sentence reference (margins far from 0 on these pairs)
    pairs = [("Jenny", "has", "have"), ("the boys", "are", "is"), ("", "Jenny", "the"),
             ("Jenny has", "her pen", "his pen"), ("the girls", "have their", "has her"),
             ("Peter , who met Mary ,", "has", "have")]
    path = tmp_path / "mixed.tsv"
    path.write_text("".join(f"{p}\t{g}\t{b}\t1\n" for p, g, b in pairs))
    from rnnlm.probe import _score
    right, skipped, _ = _score(checkpoint.model, checkpoint.vocab, read_pairs(path))
    assert skipped == 0
    assert right == [_reference_margin(checkpoint, *p) > 0 for p in pairs]
    [result] = run_probe([checkpoint], path)
    assert result["by_attractors"] == {} and result["by_distance"]["1"]["pairs"] == 6


def test_json_keys_run_id_and_the_runs_log(tmp_path, few):
    home = {"RNNLM_HOME": tmp_path / "home"}
    proc = run_cli("probe", MODEL, MODEL, "--pairs", few, "--json", cwd=tmp_path, env=home)
    printed = lines(proc.stdout)
    assert len(printed) == 2
    assert set(printed[0]) == {"model", "pairs", "skipped", "accuracy", "by_distance",
                               "by_attractors", "run_id"}
    assert set(printed[0]["by_distance"]["4-6"]) == {"pairs", "accuracy"}
    [run] = lines(run_cli("runs", "--kind", "probe", "--json", cwd=tmp_path,
                          env=home).stdout)
    assert run["kind"] == "probe" and run["id"] == printed[0]["run_id"] == printed[1]["run_id"]
    quiet = run_cli("probe", "--pairs", few, "--json", "--no-log", cwd=tmp_path, env=home)
    assert "run_id" not in lines(quiet.stdout)[0]


def test_defaults_work_from_any_directory_and_the_table_names_the_model(tmp_path):
    proc = run_cli("probe", "--no-log", cwd=tmp_path)
    assert "default.npz" in proc.stdout and "overall" in proc.stdout
    assert "4,543" in proc.stdout and "attractors 0" in proc.stdout


@pytest.mark.parametrize("content, problem", [
    (None, "does not exist"),
    ("Jenny\thas\thave\t1\nJenny\thas\thave\n", "line 2: 3 tab-separated columns"),
    ("Jenny\thas\thave\tfar\n", "line 1: distance must be a whole number"),
    ("Jenny\thas\thave\t1\t0\nJenny\thas\thave\t1\n", "line 2: 4 columns"),
    ("Jenny\thas\thave\t1\nJenny\thas\t has\t1\n", "line 2: the good and bad words are the same"),
])
def test_a_bad_pairs_file_is_one_line_naming_file_and_line(tmp_path, content, problem):
    path = tmp_path / "bad.tsv"
    if content is not None:
        path.write_text(content)
    proc = run_cli("probe", "--pairs", path, cwd=tmp_path, check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("rnnlm: error: ")
    assert str(path) in proc.stderr and problem in proc.stderr


def test_a_picture_needs_png_or_svg(tmp_path, few):
    proc = run_cli("probe", "--pairs", few, "--out", tmp_path / "x.gif", cwd=tmp_path,
                   check=False)
    assert proc.returncode == 2 and "png or .svg" in proc.stderr


def test_the_chart_has_one_line_per_model_over_the_named_buckets(tmp_path, few):
    results = [{"model": "a/x.npz", "by_distance": {"1": {"pairs": 3, "accuracy": 1.0},
                                                     "4-6": {"pairs": 2, "accuracy": 0.5}}},
               {"model": "b/y.npz", "by_distance": {"4-6": {"pairs": 1, "accuracy": 0.0},
                                                     "16+": {"pairs": 1, "accuracy": 1.0}}},
               {"model": "c/z.npz", "by_distance": {}}]
    series, chart = accuracy_chart(results)
    assert series == [("x.npz", [0, 1], [1.0, 0.5]), ("y.npz", [1, 2], [0.0, 1.0])]
    assert chart.x_ticks == ((0, "1"), (1, "4-6"), (2, "16+"))
    assert accuracy_chart([results[2]]) == ([], None)
    scored = lines(run_cli("probe", "--pairs", few, "--json", "--no-log", cwd=tmp_path).stdout)
    proc = run_cli("probe", "--pairs", few, "--plot", "--no-log", cwd=tmp_path)
    assert "agreement accuracy" in proc.stdout
    assert any(line.split() == list(scored[0]["by_distance"])     # the buckets, named
               for line in proc.stdout.splitlines())


def test_out_writes_the_chart_as_a_picture(tmp_path, few):
    pytest.importorskip("matplotlib")
    proc = run_cli("probe", "--pairs", few, "--out", tmp_path / "probe.svg", "--no-log",
                   cwd=tmp_path)
    assert "wrote" in proc.stderr and "<svg" in (tmp_path / "probe.svg").read_text()


def test_a_large_vocabulary_runs_in_smaller_chunks_with_the_same_scores(monkeypatch, few,
                                                                          checkpoint):
    module = importlib.import_module("rnnlm.probe")   # rnnlm.probe is also the function

    [whole] = run_probe([checkpoint], few)
    # as if the vocabulary were ~100x larger: a few rows per forward instead of 512
    monkeypatch.setattr(module, "CHUNK_VALUES", 100 * len(checkpoint.vocab))
    [chunked] = run_probe([checkpoint], few)
    assert chunked == whole
