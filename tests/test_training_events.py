"""The trainer's events through the Python API: several listeners, the run id, and the events
that end a run early ("interrupted", "diverged") arriving before the exception."""

import os
import signal
from pathlib import Path

import pytest

import rnnlm
from rnnlm.training import MAX_BAD_STEPS, TrainingDiverged, TrainingInterrupted

from conftest import REPO

# 80 tokens a step, a few dozen steps an epoch on the corpus below.
TINY = dict(progress=False, num_layers=1, embed_size=8, hidden_size=8, batch_size=8, bptt=10,
            log_every=20)
END_FIELDS = {"event", "epoch", "step", "tokens", "elapsed_s", "run_id"}


@pytest.fixture
def small_corpus(tmp_path):
    """The first 300 sentences of the bundled corpus: enough for steps, epochs, resumes."""
    lines = (REPO / "corpora/jenny/jenny.train.txt").read_text().splitlines()[:300]
    path = tmp_path / "small.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_every_listener_of_a_list_receives_every_event_in_order(tmp_path, small_corpus):
    first, second = [], []
    rnnlm.train(small_corpus, out=tmp_path / "m.npz", epochs=1,
                callback=[first.append, second.append], **TINY)
    kinds = [e["event"] for e in first]
    assert kinds[0] == "start" and kinds[-1] == "done"
    assert {"progress", "step", "epoch"} <= set(kinds)
    assert second == first
    steps = [e["step"] for e in first if e["event"] == "progress"]
    assert steps == list(range(1, len(steps) + 1))


def test_a_callback_that_is_not_callable_is_refused_before_training(tmp_path, small_corpus):
    with pytest.raises(rnnlm.UsageError, match="callback must be a callable"):
        rnnlm.train(small_corpus, out=tmp_path / "m.npz", callback=[print, "log"], **TINY)
    assert list(tmp_path.iterdir()) == [small_corpus]


def test_the_run_id_is_in_start_done_the_result_and_every_checkpoint(tmp_path, small_corpus):
    events = []
    result = rnnlm.train(small_corpus, out=tmp_path / "m.npz", epochs=1, run_id="run-1",
                         callback=events.append, **TINY)
    assert events[0]["run_id"] == events[-1]["run_id"] == result.run_id == "run-1"
    assert rnnlm.load(result.out).meta["run_id"] == "run-1"         # the best model
    assert rnnlm.load(result.last).meta["run_id"] == "run-1"        # the latest state

    # A resumed training continues its run: the checkpoint's id wins over a new one.
    events = []
    resumed = rnnlm.train(small_corpus, resume=result.last, epochs=2, run_id="run-2",
                          callback=events.append, progress=False)
    assert events[0]["run_id"] == events[-1]["run_id"] == resumed.run_id == "run-1"
    assert events[0]["resumed"] == result.last
    assert rnnlm.load(resumed.last).meta["run_id"] == "run-1"


def test_without_a_run_id_none_is_reported_and_a_resume_may_give_one(tmp_path, small_corpus):
    events = []
    result = rnnlm.train(small_corpus, out=tmp_path / "m.npz", epochs=1,
                         callback=events.append, **TINY)
    assert events[0]["run_id"] is None and events[-1]["run_id"] is None
    assert result.run_id is None and "run_id" not in rnnlm.load(result.last).meta
    resumed = rnnlm.train(small_corpus, resume=result.last, epochs=2, run_id="later",
                          progress=False)
    assert resumed.run_id == "later" and rnnlm.load(resumed.last).meta["run_id"] == "later"


def test_a_divergence_is_an_event_before_the_exception(tmp_path, small_corpus):
    # Adam moves every parameter by about lr on its first step, whatever the gradient: at lr
    # 1e38 every later loss overflows; each bad step is skipped, and after MAX_BAD_STEPS the
    # run gives up. (Unclipped SGD at lr 1e30 overflowed only where the BLAS kernel summed an
    # inf and a -inf: the gates saturate at +-inf, and on a Zen 4 EPYC the run stayed finite.)
    events = []
    with pytest.raises(TrainingDiverged) as error:
        rnnlm.train(small_corpus, out=tmp_path / "m.npz", epochs=1, lr=1e38,
                    optimizer="adam", callback=events.append, **TINY)
    diverged = events[-1]
    assert diverged["event"] == "diverged" and set(diverged) == END_FIELDS | {"message"}
    assert diverged["message"] == str(error.value)
    assert "training diverged" in diverged["message"]
    assert [e["event"] for e in events].count("warning") == MAX_BAD_STEPS - 1
    # The failing step is not counted: the state is the last progress event's.
    progress = [e for e in events if e["event"] == "progress"][-1]
    assert (diverged["epoch"], diverged["step"], diverged["tokens"]) == \
        (0, progress["step"], progress["tokens"])
    assert diverged["elapsed_s"] == progress["elapsed_s"]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interruption_is_an_event_before_the_exception(tmp_path, small_corpus, signum):
    events, last_existed = [], []
    before = signal.getsignal(signum)

    def listener(event):
        events.append(event)
        if event["event"] == "progress" and event["step"] == 3:
            os.kill(os.getpid(), signum)        # as Ctrl-C (or kill) would, mid-epoch
        if event["event"] == "interrupted":
            last_existed.append(Path(event["last"]).exists())

    with pytest.raises(TrainingInterrupted) as error:
        rnnlm.train(small_corpus, out=tmp_path / "m.npz", epochs=5, callback=listener, **TINY)
    interrupted = events[-1]
    assert interrupted["event"] == "interrupted"
    assert set(interrupted) == END_FIELDS | {"signal", "last"}
    assert interrupted["signal"] == signal.Signals(signum).name
    assert interrupted["last"] == str(tmp_path / "m.last.npz") == str(error.value.last)
    assert last_existed == [True]               # saved before the event was sent
    state = rnnlm.load(tmp_path / "m.last.npz").meta["train_state"]
    assert (interrupted["epoch"], interrupted["step"], interrupted["tokens"]) == \
        (state["epoch"], state["step"], state["tokens"]) == (0, 3, 3 * 80)
    assert interrupted["elapsed_s"] == state["train_time"]
    assert error.value.exit_code == 128 + signum
    assert signal.getsignal(signum) is before   # the trainer's handler is gone again
