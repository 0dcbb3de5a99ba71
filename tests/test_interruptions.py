"""Nothing lost: killed writers, concurrent trainings, a full disk, a diverging run.

Each test does the real thing: a real subprocess, a real signal, a real write failure.
"""

import json
import os
import random
import resource
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import rnnlm
from conftest import REPO, TINY, run_cli

ENV = dict(os.environ, PYTHONPATH=str(REPO))

# A writer that saves the same checkpoint over and over (about 10 MB, so a kill lands inside
# a write most of the time) and says when the first save is complete, and how long it took.
WRITER = textwrap.dedent("""
    import sys
    import time
    import rnnlm
    from rnnlm.data import Vocabulary
    vocab = Vocabulary(["<unk>", "<eos>"] + [f"w{i}" for i in range(4998)], "word")
    model = rnnlm.LanguageModel(len(vocab), num_layers=2, embed_size=128, hidden_size=128)
    k = 0
    while True:
        start = time.perf_counter()
        model.params["out.b"][0] = k      # each save differs, and says which one it was
        rnnlm.save(sys.argv[1], model, vocab, meta={"k": k})
        k += 1
        if k == 1:
            print(f"saved {time.perf_counter() - start}", flush=True)
""")


def test_sigkill_during_checkpoint_writes_never_breaks_the_previous_one(tmp_path):
    path = tmp_path / "ckpt.npz"
    rng = random.Random(0)
    seen = []
    for _ in range(20):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], env=ENV,
                                stdout=subprocess.PIPE, text=True)
        said, seconds = proc.stdout.readline().split()
        assert said == "saved"
        # Up to ~8 more saves, however fast this machine writes (15 ms idle, 40 ms loaded).
        time.sleep(rng.uniform(0.0, 8 * max(float(seconds), 0.015)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        ckpt = rnnlm.load(path)                     # whatever was last renamed in is whole
        assert ckpt.model.params["out.b"][0] == ckpt.meta["k"]
        seen.append(ckpt.meta["k"])
    assert len(set(seen)) > 5                       # the kills landed at many moments
    leftovers = list(tmp_path.glob(".ckpt.npz.*.tmp"))
    assert not [p for p in tmp_path.iterdir() if p.name != "ckpt.npz" and p not in leftovers]
    for p in leftovers:                             # killed mid-write: stale after 10 minutes
        os.utime(p, (time.time() - 3600,) * 2)
    rnnlm.save(path, ckpt.model, ckpt.vocab)
    assert list(tmp_path.glob(".ckpt.npz.*.tmp")) == []


def test_a_second_training_on_the_same_output_refuses(tmp_path, small_corpus):
    out = tmp_path / "m.npz"
    first = subprocess.Popen([sys.executable, "-m", "rnnlm", "train", str(small_corpus), *TINY,
                              "--epochs", "100", "--log-every", "1", "--json", "--out", str(out)],
                             cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, text=True)
    try:
        json.loads(first.stdout.readline())         # the first is training now
        second = run_cli("train", small_corpus, *TINY, "--out", out, "--force", cwd=tmp_path,
                         check=False)
        assert second.returncode == 1
        assert second.stderr.startswith("rnnlm: error: another training is writing")
        assert first.poll() is None                 # the first goes on undisturbed
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
    assert first.returncode == 143
    rnnlm.load(tmp_path / "m.last.npz")


def _limit_file_size():
    """In the child: writes past 64 KiB fail with EFBIG, as on a full disk."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


def test_a_failing_disk_leaves_the_previous_checkpoint_intact_and_says_so(tmp_path,
                                                                          small_corpus):
    run_cli("train", small_corpus, *TINY, "--epochs", "1", "--out", tmp_path / "m.npz",
            "--quiet", cwd=tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.glob("m*.npz")}
    assert len(before) == 2 and all(len(b) > 64 * 1024 for b in before.values())
    proc = subprocess.run([sys.executable, "-m", "rnnlm", "train", str(small_corpus),
                           "--epochs", "2", "--resume", str(tmp_path / "m.last.npz")],
                          cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120,
                          preexec_fn=_limit_file_size)
    assert proc.returncode == 1
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith("rnnlm: error: cannot write checkpoint") and "intact" in error
    assert {p.name: p.read_bytes() for p in tmp_path.glob("m*.npz")} == before
    assert list(tmp_path.glob(".*.tmp")) == []
    rnnlm.load(tmp_path / "m.last.npz")


def test_a_diverging_run_never_puts_non_finite_values_in_the_parameters(tmp_path, small_corpus):
    # Adam moves every parameter by about lr on its first step, whatever the gradient: with
    # lr 1e38 the next products overflow, for any data and initialization.
    settings = dict(progress=False, num_layers=1, embed_size=16, hidden_size=16, batch_size=8,
                    bptt=10, optimizer="adam")
    rnnlm.train(small_corpus, out=tmp_path / "m.npz", epochs=1, **settings)
    last = (tmp_path / "m.last.npz").read_bytes()
    warnings = []
    with pytest.raises(rnnlm.training.TrainingDiverged) as error:
        rnnlm.train(small_corpus, resume=tmp_path / "m.last.npz", epochs=3, lr=1e38,
                    progress=False,
                    callback=lambda e: e["event"] == "warning" and warnings.append(e["message"]))
    assert "diverged" in str(error.value) and "m.last.npz" in str(error.value)
    assert len(warnings) == rnnlm.training.MAX_BAD_STEPS - 1
    assert all(np.isfinite(p).all() for p in error.value.model.params.values())
    assert (tmp_path / "m.last.npz").read_bytes() == last       # the last good one is kept


def test_a_diverging_run_on_the_command_line_ends_with_one_clear_line(tmp_path, small_corpus):
    proc = run_cli("train", small_corpus, *TINY, "--optimizer", "adam", "--lr", "1e38",
                   "--out", tmp_path / "m.npz", cwd=tmp_path, check=False)
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1].startswith("rnnlm: error: training diverged")
    assert "no checkpoint was written" in proc.stderr and "Traceback" not in proc.stderr
