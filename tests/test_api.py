"""The Python API a notebook uses: train, evaluate, load, save."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest

import rnnlm
from conftest import REPO
from rnnlm.data import BatchStream, load_corpus


def test_train_evaluate_load_round_trip_through_the_api(tmp_path, small_corpus):
    events = []
    result = rnnlm.train(small_corpus, out=tmp_path / "m.npz", callback=events.append,
                         progress=False, cell="gru", num_layers=1, embed_size=16,
                         hidden_size=16, batch_size=8, bptt=10, epochs=2, log_every=10)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and kinds.count("epoch") == 2
    assert "progress" in kinds and "step" in kinds
    assert result.out == tmp_path / "m.npz" and result.last.exists()
    assert result.best_valid_ppl == min(r["valid_ppl"] for r in result.history)

    ckpt = rnnlm.load(result.out)
    assert isinstance(ckpt.model, rnnlm.LanguageModel) and ckpt.config["model"]["cell"] == "gru"
    assert ckpt.meta["best_valid_ppl"] == pytest.approx(result.best_valid_ppl)
    valid = tmp_path / "valid.txt"
    valid.write_text("\n".join(small_corpus.read_text().splitlines()[-75:]) + "\n")
    report = rnnlm.evaluate(ckpt, valid)
    assert report["ppl"] == pytest.approx(result.best_valid_ppl, rel=1e-6)
    assert rnnlm.evaluate(result.out, valid)["ppl"] == pytest.approx(report["ppl"])
    assert rnnlm.evaluate(ckpt.model, valid, vocab=ckpt.vocab)["ppl"] == pytest.approx(report["ppl"])


def test_char_level_evaluation_reports_bits_per_character(tmp_path, small_corpus):
    rnnlm.train(small_corpus, out=tmp_path / "c.npz", progress=False, level="char",
                num_layers=1, embed_size=8, hidden_size=8, epochs=1, batch_size=8, bptt=20)
    report = rnnlm.evaluate(tmp_path / "c.npz", small_corpus)
    assert report["bpc"] == pytest.approx(math.log2(report["ppl"]))
    assert report["bpc"] < math.log2(40)          # better than uniform over the characters
    assert report["unk"] == 0
    odd = tmp_path / "odd.txt"
    odd.write_text("J\u00e9\u00e9ny\n")                 # 6 characters; the two accents unknown
    report = rnnlm.evaluate(tmp_path / "c.npz", odd, batch_size=1)
    assert (report["tokens"], report["unk"], report["unk_rate"]) == (5, 2, 2 / 5)


def test_eval_counts_unknown_words_among_the_tokens_it_predicts(tmp_path):
    """unk and unk_rate share the denominator of "tokens": the predicted tokens, which leave
    out the first and those left over by equal streams; a literal <unk> is not unknown."""
    ckpt = rnnlm.load(rnnlm.checkpoint.default_model_path())
    assert "<unk>" in ckpt.vocab and "zzz" not in ckpt.vocab
    path = tmp_path / "u.txt"
    path.write_text("zzz the <unk> zzz\n" * 100)      # 500 tokens: zzz at 5k and 5k + 3
    one = rnnlm.evaluate(ckpt, path, batch_size=1)      # predicts ids[1:500]
    assert (one["tokens"], one["unk"], one["unk_rate"]) == (499, 199, 199 / 499)
    seven = rnnlm.evaluate(ckpt, path, batch_size=7)    # 7 streams of 71: ids[1:498]
    assert (seven["tokens"], seven["unk"], seven["unk_rate"]) == (497, 198, 198 / 497)


def test_eval_of_a_short_text_keeps_its_streams_and_says_nothing_of_chunk_lengths(tmp_path):
    """The chunk length does not change an evaluation's figure: a short text gets shorter
    chunks, with no warning, and the streams asked for while it has a token for each."""
    ckpt = rnnlm.load(rnnlm.checkpoint.default_model_path())
    path = tmp_path / "short.txt"
    path.write_text("Jenny has her little pony .\n" * 10)        # 70 tokens
    one = rnnlm.evaluate(ckpt, path, batch_size=1)
    assert (one["tokens"], one["warning"]) == (69, None)
    ten = rnnlm.evaluate(ckpt, path, batch_size=10)                # 10 streams of 6
    assert (ten["tokens"], ten["warning"]) == (60, None)
    few = rnnlm.evaluate(ckpt, path, batch_size=100)
    assert few["tokens"] == 69 and few["warning"].endswith("batch size 100 -> 69")


def test_save_then_load_gives_the_same_model(tmp_path, small_corpus):
    corpus = rnnlm.load_corpus(small_corpus)
    model = rnnlm.LanguageModel(len(corpus.vocab), cell="rnn", num_layers=1, embed_size=6,
                                hidden_size=6, seed=5)
    rnnlm.save(tmp_path / "x.npz", model, corpus.vocab)
    back = rnnlm.load(tmp_path / "x.npz")
    x = corpus.train[:20].reshape(2, 10)
    np.testing.assert_array_equal(back.model.forward(x), model.forward(x))
    assert back.vocab == corpus.vocab


def test_resuming_with_a_contradicting_setting_is_refused(tmp_path, small_corpus):
    rnnlm.train(small_corpus, out=tmp_path / "m.npz", progress=False, num_layers=1,
                embed_size=8, hidden_size=8, epochs=1)
    with pytest.raises(rnnlm.UsageError, match="hidden-size"):
        rnnlm.train(small_corpus, resume=tmp_path / "m.last.npz", progress=False, hidden_size=9,
                    epochs=2)


def test_train_with_an_unknown_setting_says_which(tmp_path, small_corpus):
    with pytest.raises(rnnlm.UsageError, match="hidden_sise"):
        rnnlm.train(small_corpus, out=tmp_path / "m.npz", hidden_sise=3)


def test_time_budget_stops_mid_epoch_and_counts_over_resumes(tmp_path, small_corpus):
    settings = dict(progress=False, num_layers=1, embed_size=8, hidden_size=8, batch_size=4,
                    bptt=5, epochs=100)
    first = rnnlm.train(small_corpus, out=tmp_path / "m.npz", max_time="0.5s", **settings)
    assert first.reason == "max_time"
    assert rnnlm.load(first.last).config["train"]["max_time"] == 0.5     # "0.5s", as the flag
    state = rnnlm.load(first.last).meta["train_state"]
    assert 0.5 <= state["train_time"] < 5 and state["epoch"] < 100
    events = []
    second = rnnlm.train(small_corpus, resume=first.last, max_time=1.0, progress=False,
                         callback=events.append)
    after = rnnlm.load(second.last).meta["train_state"]
    assert second.reason == "max_time"
    assert 1.0 <= after["train_time"] < 6 and after["step"] > state["step"]
    # each epoch event's speed: the tokens since the record before, over the time since it
    records = [{"tokens": 0, "elapsed_s": 0.0}] + after["history"]
    epochs = [e for e in events if e["event"] == "epoch"]
    for e, before in zip(epochs, records[-len(epochs) - 1:]):
        assert e["tokens_per_s"] == pytest.approx(
            (e["tokens"] - before["tokens"]) / (e["elapsed_s"] - before["elapsed_s"]))


def test_anneal_lowers_the_lr_linearly_over_the_last_share_of_the_epochs(tmp_path,
                                                                         small_corpus):
    events = []
    rnnlm.train(small_corpus, out=tmp_path / "m.npz", progress=False, callback=events.append,
                num_layers=1, embed_size=8, hidden_size=8, batch_size=4, bptt=5, epochs=2,
                lr=4.0, anneal=0.25, decay_on_plateau=False)
    lrs = [e["lr"] for e in events if e["event"] == "progress"]
    steps = len(lrs)
    # The lr of step s (from 0) is set with s/steps of the budget gone.
    expected = [4.0 * min(1.0, (1 - s / steps) / 0.25) for s in range(steps)]
    assert lrs == pytest.approx(expected)
    assert lrs[0] == 4.0 and lrs[-1] == pytest.approx(4.0 / (0.25 * steps))


def test_anneal_follows_the_time_budget_when_it_runs_out_first(tmp_path, small_corpus):
    events = []
    rnnlm.train(small_corpus, out=tmp_path / "m.npz", progress=False, callback=events.append,
                num_layers=1, embed_size=8, hidden_size=8, batch_size=4, bptt=5, epochs=1000,
                lr=4.0, anneal=0.5, max_time=1.0, decay_on_plateau=False)
    progress = [e for e in events if e["event"] == "progress"]
    for before, event in zip(progress, progress[1:]):
        assert event["lr"] == pytest.approx(4.0 * min(1.0, (1 - before["elapsed_s"]) / 0.5))
    assert progress[0]["lr"] == 4.0 and progress[-1]["lr"] < 0.2


def test_eval_every_validates_mid_epoch_and_patience_stops_an_overfitting_run(tmp_path):
    lines = (REPO / "corpora/jenny/jenny.train.txt").read_text().splitlines()
    (tmp_path / "c.train.txt").write_text("\n".join(lines[:60]) + "\n")     # far too little
    (tmp_path / "c.valid.txt").write_text("\n".join(lines[60:120]) + "\n")
    events = []
    result = rnnlm.train(tmp_path, out=tmp_path / "m.npz", progress=False, num_layers=1,
                         embed_size=32, hidden_size=64, optimizer="adam", lr=0.01, batch_size=4,
                         bptt=10, epochs=60, patience=2, eval_every=20, callback=events.append)
    validated = [e for e in events if e["event"] == "step" and "valid_ppl" in e]
    assert validated and all(e["step"] % 20 == 0 for e in validated)
    assert result.reason == "patience" and len(result.history) < 30
    assert [r["best"] for r in result.history][-2:] == [False, False]


def test_a_validation_at_the_epochs_last_step_does_not_make_the_epoch_unimproved(tmp_path):
    """--eval-every dividing the epoch validates its last step twice, the same parameters:
    the epoch is compared with the earlier epochs, so an improving run keeps its lr."""
    lines = (REPO / "corpora/jenny/jenny.train.txt").read_text().splitlines()
    (tmp_path / "c.train.txt").write_text("\n".join(lines[:600]) + "\n")
    (tmp_path / "c.valid.txt").write_text("\n".join(lines[600:700]) + "\n")
    chunks = len(BatchStream(load_corpus(tmp_path).train, 8, 10))
    result = rnnlm.train(tmp_path, out=tmp_path / "m.npz", progress=False, num_layers=1,
                         embed_size=16, hidden_size=16, batch_size=8, bptt=10, epochs=3,
                         eval_every=chunks)
    valid = [r["valid_ppl"] for r in result.history]
    assert valid[1] < valid[0] and valid[2] < valid[1]          # improving, epoch by epoch
    assert [r["lr"] for r in result.history] == [20.0] * 3       # so never halved
    assert all(r["best"] for r in result.history)


# Run in a fresh interpreter: what OPENBLAS_THREAD_TIMEOUT holds at the moment numpy is imported.
_TIMEOUT_SEEN_BY_NUMPY = """
import os, sys
seen = []
class Watch:
    def find_spec(self, name, path=None, target=None):
        if name == "numpy" and not seen:
            seen.append(os.environ.get("OPENBLAS_THREAD_TIMEOUT"))
sys.meta_path.insert(0, Watch())
import rnnlm
print(seen[0])
"""


@pytest.mark.parametrize("given, expected", [(None, "20"), ("6", "6")])
def test_rnnlm_shortens_openblas_idle_spin_before_numpy_loads_it(given, expected):
    # OpenBLAS reads the variable once, when numpy loads it; a value the user set is kept
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    if given is not None:
        env["OPENBLAS_THREAD_TIMEOUT"] = given
    out = subprocess.run([sys.executable, "-c", _TIMEOUT_SEEN_BY_NUMPY], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == expected


# --- the API checks what scripts pass it ------------------------------------------------------

def test_numpy_numbers_are_numbers_and_a_flag_is_true_or_false():
    model = rnnlm.LanguageModel(np.int64(20), hidden_size=np.int64(8), embed_size=np.int32(8),
                                seed=np.uint8(3), dropout=np.float32(0.25),
                                tie_weights=np.bool_(True))
    c = model.config
    assert (type(c.vocab_size), type(c.hidden_size), type(c.seed)) == (int, int, int)
    assert type(c.dropout) is float and c.tie_weights is True
    assert rnnlm.TrainConfig(lr=np.float32(2.0), epochs=np.int64(2)).lr == 2.0
    for bad in (dict(tie_weights="no"), dict(variational=1)):
        with pytest.raises(rnnlm.UsageError, match="on or off"):
            rnnlm.LanguageModel(20, **bad)
    with pytest.raises(rnnlm.UsageError, match="on or off"):
        rnnlm.TrainConfig(random_bptt="no")
    with pytest.raises(rnnlm.UsageError, match=r"--seed .*2\^63"):
        rnnlm.LanguageModel(20, seed=2**63)              # a checkpoint could not hold it


def test_optimizers_and_clipping_refuse_a_step_size_that_would_train_the_wrong_way():
    grads = {"w": np.ones(4)}
    for make in (lambda: rnnlm.SGD(-1), lambda: rnnlm.SGD(math.nan), lambda: rnnlm.SGD("1"),
                 lambda: rnnlm.Adam(betas=(1, 2)), lambda: rnnlm.Adam(eps=0),
                 lambda: rnnlm.clip_grad_norm(grads, -1.0),
                 lambda: rnnlm.clip_grad_norm(grads, math.nan)):
        with pytest.raises(rnnlm.UsageError):
            make()
    np.testing.assert_array_equal(grads["w"], np.ones(4))      # nothing was scaled
    assert rnnlm.SGD(0).lr == 0.0                                # where annealing ends
    assert rnnlm.clip_grad_norm(grads, math.inf) == 2.0          # no clipping


def test_generate_refuses_flags_that_are_not_booleans_and_a_beam_beyond_memory():
    model = rnnlm.load(REPO / "models/default.npz")
    with pytest.raises(rnnlm.UsageError, match="--greedy is on or off"):
        rnnlm.generate(model, "Jenny has", greedy="no")
    with pytest.raises(rnnlm.RnnlmError, match="--beam"):
        rnnlm.generate(model, "Jenny has", beam=10**12, length=2)
    with pytest.raises(rnnlm.UsageError, match=r"shape \(batch,\)"):
        model.model.step_logits([[1, 2], [3, 4]])


def test_gradient_flow_and_probe_leave_the_models_state_as_it_was():
    ckpt = rnnlm.load(REPO / "models/default.npz")
    model = ckpt.model
    model.forward(ckpt.vocab.encode("Jenny has her pen".split())[None, :])
    before = model.state
    rnnlm.gradient_flow(model, "Jenny has her pen .", max_lag=2, vocab=ckpt.vocab)
    rnnlm.probe(ckpt)
    for old, new in zip(before, model.state):
        for k in old:
            np.testing.assert_array_equal(new[k], old[k])
    assert model.training                                        # and its mode
