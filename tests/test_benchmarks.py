"""benchmarks.speed: its table runs end to end, and "all products alone" are all of them."""

import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("config", ["dlfs2", "record"])
def test_all_products_alone_do_the_flops_of_a_training_and_an_evaluation_step(
        monkeypatch, config, cell):
    """Counted product by product, they add up to the benchmark's FLOPs per token (the GEMM
    share's numerator): three times the forward products in training, once in evaluation."""
    from benchmarks.speed import CONFIGS, RnnlmRunner, train_flops_per_token

    sizes = CONFIGS[config]
    runner = RnnlmRunner(cell, *sizes)
    flops, matmul = [0], np.matmul

    def counting(a, b, **kw):
        flops[0] += 2 * a.shape[0] * a.shape[1] * b.shape[1]
        return matmul(a, b, **kw)

    tokens = sizes[3] * sizes[4]
    want = train_flops_per_token(cell, *sizes[:3]) * tokens
    monkeypatch.setattr(np, "matmul", counting)
    for train, share in ((True, 1), (False, 3)):
        flops[0] = 0
        runner.all_products_step(train)
        assert flops[0] * share == want


def test_the_speed_table_has_every_column_without_pytorch():
    proc = subprocess.run([sys.executable, "-m", "benchmarks.speed", "--no-torch",
                           "--configs", "dlfs2", "--cells", "gru", "--rounds", "1",
                           "--seconds", "0.05"], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    header, rule, row = proc.stdout.strip().splitlines()[-3:]
    assert "all products alone, train / eval tok/s" in header
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert len(cells) == header.count("|") - 1 == rule.count("|") - 1
    assert cells[:2] == ["dlfs2", "gru"]
    train, evaluation = (float(v.replace(",", "")) for v in cells[9].split(" / "))
    assert evaluation > train > 0          # a third of the products go faster


@pytest.mark.parametrize("with_torch", [False, True])
def test_the_adaptive_softmax_rows_run_both_engines_and_leave_the_products_empty(with_torch):
    if with_torch:
        pytest.importorskip("torch")
    proc = subprocess.run([sys.executable, "-m", "benchmarks.speed", "--softmax", "adaptive",
                           "--cutoffs", "2000", "--configs", "dlfs2", "--cells", "lstm",
                           "--rounds", "1", "--seconds", "0.05",
                           *([] if with_torch else ["--no-torch"])],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "softmax adaptive:2000" in proc.stdout
    cells = [c.strip() for c in proc.stdout.strip().splitlines()[-1].strip("|").split("|")]
    assert cells[:2] == ["dlfs2", "lstm"] and float(cells[2].replace(",", "")) > 0
    assert (cells[3] != "-") == with_torch
    assert cells[8:] == ["-", "- / -", "-"]


def test_adaptive_targets_follow_zipf_so_the_head_covers_most_of_them():
    from benchmarks.speed import token_ids

    x, t = token_ids(20, 35, (2000,))
    assert 0.78 < np.mean(t < 2000) < 0.90 and t.max() >= 2000
    uniform = next(token_ids(20, 35, None))
    assert 0.1 < np.mean(uniform < 2000) < 0.3
