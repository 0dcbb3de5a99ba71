"""rnnlm.generation: seeds, sampling, beam search, streaming, honest log-probabilities."""

import itertools

import numpy as np
import pytest

import rnnlm
from rnnlm import generation
from rnnlm.errors import DataError, UsageError
from rnnlm.generation import (_draw, _draw_sorted_nucleus, _kth_largest, _mass_before, _top_k,
                              generate, start_of_sentence)

from conftest import REPO
from reference import log_softmax


@pytest.fixture(scope="module")
def corpus_lines():
    return (REPO / "corpora/jenny/jenny.train.txt").read_text().splitlines()[:1500]


@pytest.fixture(scope="module")
def word_ckpt(tmp_path_factory, corpus_lines):
    """A tiny word LSTM trained for two epochs (under a second): it has learnt sentence ends."""
    tmp = tmp_path_factory.mktemp("gen-word")
    path = tmp / "small.txt"
    path.write_text("\n".join(corpus_lines) + "\n")
    rnnlm.train(path, out=tmp / "w.npz", progress=False, num_layers=1, embed_size=16,
                hidden_size=24, epochs=2, batch_size=8, bptt=10)
    return rnnlm.load(tmp / "w.npz")


@pytest.fixture(scope="module")
def char_ckpt(tmp_path_factory, corpus_lines):
    tmp = tmp_path_factory.mktemp("gen-char")
    path = tmp / "small.txt"
    path.write_text("\n".join(corpus_lines[:300]) + "\n")
    rnnlm.train(path, out=tmp / "c.npz", progress=False, level="char", num_layers=1,
                embed_size=16, hidden_size=24, epochs=1, batch_size=8, bptt=20)
    return rnnlm.load(tmp / "c.npz")


def teacher_forced_logprobs(ckpt, seed, tokens):
    """Log-softmax (n, V) at the n generated steps of a fresh teacher-forced run: the start of
    a sentence, then seed + tokens read in one forward call."""
    model, vocab = ckpt.model, ckpt.vocab
    model.eval()
    first = start_of_sentence(model, vocab)            # predicts the first seed token
    seed_ids = vocab.encode(seed.split() if vocab.level == "word" else seed).tolist()
    ids = seed_ids + vocab.encode(tokens).tolist()
    logits = np.concatenate([first, model.forward(np.array([ids[:-1]]))[0]]) if len(ids) > 1 \
        else first
    return log_softmax(logits.astype(np.float64))[len(seed_ids):]


def recomputed_logprob(ckpt, seed, tokens):
    if not tokens:
        return 0.0
    lp = teacher_forced_logprobs(ckpt, seed, tokens)
    return float(lp[np.arange(len(tokens)), ckpt.vocab.encode(tokens)].sum())


# --- determinism and equivalences ------------------------------------------------------------

def test_same_random_seed_gives_identical_text_and_different_seeds_differ(word_ckpt):
    run = lambda s: generate(word_ckpt, "Amy has", length=30, stop_at_eos=False, random_seed=s)
    assert run(7) == run(7)
    assert run(7)[0]["tokens"] != run(8)[0]["tokens"]


def test_top_k_1_and_beam_1_are_greedy(word_ckpt):
    greedy = generate(word_ckpt, "the nurses", greedy=True, length=20, stop_at_eos=False)[0]
    top1 = generate(word_ckpt, "the nurses", top_k=1, length=20, stop_at_eos=False,
                    random_seed=3)[0]
    beam1 = generate(word_ckpt, "the nurses", beam=1, length=20, stop_at_eos=False)[0]
    assert top1["tokens"] == greedy["tokens"] == beam1["tokens"]
    assert top1["logprob"] == greedy["logprob"] == beam1["logprob"]
    # and with sentence ends: beam 1 finishes where greedy stops
    greedy = generate(word_ckpt, "Tom", greedy=True, length=40)[0]
    beam1 = generate(word_ckpt, "Tom", beam=1, length=40)[0]
    assert greedy["tokens"][-1] == "<eos>"
    assert (beam1["tokens"], beam1["logprob"]) == (greedy["tokens"], greedy["logprob"])


# --- honest log-probabilities ----------------------------------------------------------------

def test_beam_returns_distinct_continuations_sorted_with_recomputable_logprobs(word_ckpt):
    results = generate(word_ckpt, "Amy has", beam=3, length=15)
    assert len(results) == 3
    assert len({tuple(r["tokens"]) for r in results}) == 3
    logprobs = [r["logprob"] for r in results]
    assert logprobs == sorted(logprobs, reverse=True)
    for r in results:
        assert r["logprob"] == pytest.approx(recomputed_logprob(word_ckpt, "Amy has", r["tokens"]),
                                             abs=1e-4)


def test_a_beam_wider_than_all_sequences_finds_exactly_the_best_ones():
    """V=5, length 3: a beam of 200 keeps every hypothesis, so it must match brute force."""
    vocab = rnnlm.Vocabulary(["<unk>", "<eos>", "a", "b", "c"], "word")
    model = rnnlm.LanguageModel(5, num_layers=1, embed_size=3, hidden_size=4, init_scale=1.5,
                                dtype="float64", seed=3)
    ckpt = rnnlm.Checkpoint(model, vocab, {}, {}, {})
    words = vocab.tokens[:1] + vocab.tokens[2:]
    every = [[*ws, "<eos>"] for n in range(3) for ws in itertools.product(words, repeat=n)]
    every += [list(ws) for ws in itertools.product(words, repeat=3)]
    assert len(every) == 4 ** 3 + 4 ** 2 + 4 + 1
    best = sorted(((recomputed_logprob(ckpt, "a", ts), ts) for ts in every), reverse=True)
    found = generate(model, "a", vocab=vocab, beam=200, length=3)
    assert [r["tokens"] for r in found] == [ts for _, ts in best]
    assert [r["logprob"] for r in found] == pytest.approx([lp for lp, _ in best], abs=1e-9)


def test_sampled_logprob_is_the_untempered_probability_of_the_tokens(word_ckpt):
    for options in ({}, {"temperature": 0.6, "top_k": 20, "top_p": 0.9}):
        for r in generate(word_ckpt, "the nun", length=12, num_samples=3, random_seed=1,
                          stop_at_eos=False, **options):
            want = recomputed_logprob(word_ckpt, "the nun", r["tokens"])
            assert r["logprob"] == pytest.approx(want, abs=1e-4)


def test_top_k_and_top_p_only_choose_allowed_tokens(word_ckpt):
    results = generate(word_ckpt, "Linda", length=25, num_samples=4, top_k=5, random_seed=2,
                       stop_at_eos=False)
    for r in results:
        lp = teacher_forced_logprobs(word_ckpt, "Linda", r["tokens"])
        chosen = lp[np.arange(len(lp)), word_ckpt.vocab.encode(r["tokens"])]
        assert ((lp > chosen[:, None] + 1e-6).sum(axis=1) < 5).all()
    for r in generate(word_ckpt, "Linda", length=25, num_samples=4, top_p=0.5, random_seed=2,
                      stop_at_eos=False):
        lp = teacher_forced_logprobs(word_ckpt, "Linda", r["tokens"])
        chosen = lp[np.arange(len(lp)), word_ckpt.vocab.encode(r["tokens"])]
        # the mass strictly above the chosen token is below p: it is in the nucleus
        above = np.where(lp > chosen[:, None] + 1e-6, np.exp(lp), 0.0).sum(axis=1)
        assert (above < 0.5 + 1e-4).all()


@pytest.mark.parametrize("temperature, top_k, top_p", [
    (1.0, None, None), (0.7, None, None), (1.0, 1, None), (1.0, 40, None), (1.0, None, 0.6),
    (1.0, None, 1.0), (2.0, None, 0.95), (1.0, None, 0.3), (1.5, 100, 0.6)])
def test_sampler_draws_from_the_tempered_then_top_k_then_top_p_distribution(temperature, top_k,
                                                                          top_p):
    """Frequencies of 20,000 draws against the distribution computed directly (top-p by
    rejection for p >= 0.5, from the sorted nucleus for p = 0.3)."""
    rng = np.random.default_rng(0)
    V = 300
    z = rng.normal(size=V) * 2.5
    w = np.exp((z - z.max()) / temperature)
    order = np.argsort(-z)
    if top_k is not None:
        w[order[top_k:]] = 0
    if top_p is not None:
        sorted_w = w[order]
        before = np.cumsum(sorted_w) - sorted_w
        w[order[before >= top_p * w.sum()]] = 0
    expected = w / w.sum()
    counts = np.zeros(V)
    zs = np.tile(z, (2000, 1))
    ms = zs.max(axis=1, keepdims=True)
    for _ in range(10):
        counts += np.bincount(_draw(zs, ms, np.exp(zs - ms), temperature, top_k, top_p, rng),
                              minlength=V)
    freq = counts / counts.sum()
    assert (freq[expected == 0] == 0).all()
    assert np.abs(freq - expected).max() < 4 * np.sqrt(expected.max() / 20_000) + 1e-3


def test_temperature_sharpens_and_flattens_the_distribution(word_ckpt):
    def mean_logprob_per_token(t):
        rs = generate(word_ckpt, "Amy", length=10, num_samples=32, temperature=t, random_seed=0,
                      stop_at_eos=False)
        return sum(r["logprob"] for r in rs) / (32 * 10)
    assert mean_logprob_per_token(0.5) > mean_logprob_per_token(1.0) > mean_logprob_per_token(2.0)
    cold = generate(word_ckpt, "Amy", length=10, temperature=1e-3, random_seed=0)[0]
    assert cold["tokens"] == generate(word_ckpt, "Amy", length=10, greedy=True)[0]["tokens"]


# --- batching, seeds, streaming, sentence ends ----------------------------------------------

def test_num_samples_run_as_one_batch(word_ckpt, monkeypatch):
    model = word_ckpt.model
    calls = []
    step = model.step_logits
    monkeypatch.setattr(model, "step_logits", lambda ids: calls.append(np.shape(ids)) or step(ids))
    start_of_sentence(model, word_ckpt.vocab)
    priming = len(calls)                  # the same greedy sentence start precedes every run
    calls.clear()
    results = generate(word_ckpt, "Tom", length=12, num_samples=4, random_seed=5,
                       stop_at_eos=False)
    del calls[:priming]
    assert len(results) == 4 and all(len(r["tokens"]) == 12 for r in results)
    assert calls == [(4,)] * 11           # one call per token after the first, all four rows
    assert len({tuple(r["tokens"]) for r in results}) > 1
    # A stream that ends its sentence leaves the batch; the run ends when all have ended.
    calls.clear()
    results = generate(word_ckpt, "Tom", length=200, num_samples=4, random_seed=5)
    sizes = [n for (n,) in calls[priming:]]
    assert sizes[0] == 4 and sizes == sorted(sizes, reverse=True)
    assert len(sizes) == max(len(r["tokens"]) for r in results) - 1 < 199


def test_beam_search_stops_once_no_live_hypothesis_can_win(word_ckpt, monkeypatch):
    model, calls = word_ckpt.model, []
    step = model.step_logits
    monkeypatch.setattr(model, "step_logits", lambda ids: calls.append(np.shape(ids)) or step(ids))
    start_of_sentence(model, word_ckpt.vocab)
    priming = len(calls)
    calls.clear()
    results = generate(word_ckpt, "Amy has", beam=3, length=200)
    del calls[:priming]
    assert all(r["tokens"][-1] == "<eos>" for r in results)
    assert len(calls) < 50 and calls[0] == (3,)


def test_oov_seed_warns_once_and_goes_on_and_strict_refuses(word_ckpt):
    warnings = []
    r = generate(word_ckpt, "Zorro has xyz Zorro", length=5, random_seed=0,
                 on_warning=warnings.append)
    assert warnings == ["seed words unknown to the model, read as <unk>: 'Zorro', 'xyz'"]
    assert r[0]["seed"] == "Zorro has xyz Zorro" and r[0]["tokens"]
    with pytest.raises(DataError, match="'Zorro', 'xyz'"):       # the seed is data: exit 1
        generate(word_ckpt, "Zorro has xyz", strict=True)
    assert generate(word_ckpt, "Zorro", length=3, random_seed=0)    # no on_warning: no error


def test_a_long_seed_is_read_in_chunks_with_the_state_carried(word_ckpt, monkeypatch):
    seed = "Jenny has her pen . Amy met Peter , who has the book . Jenny"
    whole = generate(word_ckpt, seed, greedy=True, length=8)
    monkeypatch.setattr(generation, "_PRIME_CHUNK", 3)
    chunked = generate(word_ckpt, seed, greedy=True, length=8)
    assert chunked[0]["tokens"] == whole[0]["tokens"]
    assert chunked[0]["logprob"] == pytest.approx(whole[0]["logprob"], rel=1e-5)


def test_a_seed_of_many_unknown_words_warns_in_one_short_line(word_ckpt):
    warnings = []
    seed = " ".join(f"zz{i}" for i in range(5000)) + " " + "q" * 100_000
    generate(word_ckpt, seed, length=1, random_seed=0, on_warning=warnings.append)
    assert warnings == ["seed words unknown to the model, read as <unk>: "
                        + ", ".join(f"'zz{i}'" for i in range(10)) + " and 4,991 more"]
    with pytest.raises(DataError, match=r"'q{30}\.\.\.'$"):
        generate(word_ckpt, "q" * 100_000, strict=True)


def test_empty_seed_starts_a_sentence(word_ckpt):
    r = generate(word_ckpt, "", length=20, random_seed=4)[0]
    assert r["seed"] == "" and r["tokens"] and r["text"]
    assert r["logprob"] == pytest.approx(recomputed_logprob(word_ckpt, "", r["tokens"]), abs=1e-4)


def test_a_seed_of_several_lines_ends_each_line_with_eos_as_the_corpus_did(word_ckpt):
    run = lambda seed: generate(word_ckpt, seed, length=12, greedy=True)[0]["tokens"]
    assert run("Amy has a dog .\nTom has") == run("Amy has a dog . <eos> Tom has")
    assert run("Amy has a dog .\nTom has") != run("Amy has a dog . Tom has")


def test_stream_pieces_join_to_the_text(word_ckpt, char_ckpt):
    for ckpt, seed in ((word_ckpt, "Amy has"), (char_ckpt, "Amy h")):
        pieces = []
        r = generate(ckpt, seed, length=60, random_seed=1, stop_at_eos=False,
                     on_text=pieces.append)[0]
        assert len(pieces) == 60 and "".join(pieces) == r["text"]
    pieces = []
    r = generate(word_ckpt, "Amy has", length=60, random_seed=1, on_text=pieces.append)[0]
    assert "".join(pieces) == r["text"] and pieces[0] != " " and pieces[1].startswith(" ")


def test_stop_at_eos_ends_the_sentence_and_no_stop_runs_across_lines(word_ckpt):
    for r in generate(word_ckpt, "Amy has", length=60, num_samples=8, random_seed=0):
        assert r["tokens"][-1] == "<eos>" and "<eos>" not in r["tokens"][:-1]
        assert "\n" not in r["text"] and r["text"] == " ".join(r["tokens"][:-1])
    r = generate(word_ckpt, "Amy has", length=60, random_seed=0, stop_at_eos=False)[0]
    assert len(r["tokens"]) == 60 and "\n" in r["text"]
    assert " \n" not in r["text"] and "\n " not in r["text"]
    assert r["text"] == " ".join(r["tokens"]).replace(" <eos> ", "\n").replace("<eos>", "\n")


def test_char_model_joins_characters_raw(char_ckpt):
    r = generate(char_ckpt, "Tom ", length=80, random_seed=0, stop_at_eos=False)[0]
    assert all(len(t) == 1 for t in r["tokens"]) and r["text"] == "".join(r["tokens"])
    r = generate(char_ckpt, "", length=300, random_seed=0, stop_at_eos=True)[0]
    assert r["tokens"][-1] == "\n" and r["text"] == "".join(r["tokens"][:-1])


def test_a_character_model_goes_on_past_its_lines_unless_told_to_stop(char_ckpt, word_ckpt):
    # to a character model a newline is text: by default it writes its --length, lines and all
    r = generate(char_ckpt, "Amy", length=300, random_seed=0)[0]
    assert len(r["tokens"]) == 300 and "\n" in r["text"].rstrip("\n")
    stopped = generate(char_ckpt, "Amy", length=300, random_seed=0, stop_at_eos=True)[0]["tokens"]
    assert stopped[-1] == "\n" and stopped == r["tokens"][:len(stopped)]
    # a word model stops at its sentence's end unless told to go on
    r = generate(word_ckpt, "Amy has", length=60, random_seed=0)[0]
    assert r["tokens"][-1] == "<eos>" and len(r["tokens"]) < 60
    with pytest.raises(rnnlm.UsageError):
        generate(word_ckpt, "Amy", stop_at_eos="no")


def test_model_and_vocab_can_be_passed_directly_and_the_mode_is_restored(word_ckpt):
    model, vocab = word_ckpt.model, word_ckpt.vocab
    model.train()
    a = generate(model, "Tom", vocab=vocab, length=8, greedy=True)
    assert model.training
    model.eval()
    assert a == generate(word_ckpt, "Tom", length=8, greedy=True)
    assert a == generate(str(word_ckpt.path), "Tom", length=8, greedy=True)
    with pytest.raises(TypeError):
        generate(model, "Tom")


def test_length_zero_returns_empty_continuations(word_ckpt):
    assert generate(word_ckpt, "Tom", length=0, num_samples=2) == \
        [{"seed": "Tom", "text": "", "tokens": [], "logprob": 0.0}] * 2
    assert generate(word_ckpt, "Tom", length=0, beam=3) == \
        [{"seed": "Tom", "text": "", "tokens": [], "logprob": 0.0}]


@pytest.mark.parametrize("options, message", [
    ({"temperature": 0}, "--temperature must be > 0"),
    ({"temperature": float("nan")}, "--temperature"),
    ({"top_p": 0}, "--top-p must be in"),
    ({"top_p": 1.5}, "--top-p must be in"),
    ({"top_k": 0}, "--top-k must be"),
    ({"length": -1}, "--length must be"),
    ({"length": 2.5}, "--length must be an integer"),
    ({"num_samples": 0}, "--num-samples must be"),
    ({"beam": 0}, "--beam must be"),
    ({"beam": 2, "num_samples": 2}, "--beam does not combine with --num-samples"),
    ({"beam": 2, "temperature": 0.5}, "--beam does not combine with --temperature"),
    ({"beam": 2, "top_k": 3}, "--beam does not combine"),
    ({"beam": 2, "greedy": True}, "--beam does not combine with --greedy"),
    ({"greedy": True, "num_samples": 3}, "--greedy does not combine with --num-samples"),
    ({"greedy": True, "top_p": 0.9}, "--greedy does not combine"),
])
def test_bad_options_are_one_line_usage_errors(word_ckpt, options, message):
    with pytest.raises(UsageError, match=message) as e:
        generate(word_ckpt, "Tom", **options)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("k", [1, 7, 40])
def test_top_k_takes_the_k_largest_and_the_smaller_ids_among_ties(k):
    """Rows with many ties at the k-th largest logit and rows without: the k ids a stable
    argsort of the row puts first, in id order; k = 1 is numpy's argmax (greedy)."""
    rng = np.random.default_rng(k)
    z = np.round(rng.normal(size=(8, 500)), 1).astype(np.float32)
    z[::2] += rng.normal(size=(4, 500)).astype(np.float32) * 1e-3     # even rows: no ties
    want = np.sort(np.argsort(-z, axis=1, kind="stable")[:, :k], axis=1)
    np.testing.assert_array_equal(_top_k(z, k), want)
    if k == 1:
        np.testing.assert_array_equal(_top_k(z, 1)[:, 0], z.argmax(axis=1))


@pytest.mark.parametrize("V, k", [(10_000, 1), (10_000, 40), (10_000, 600), (5_000, 300),
                                  (2_100, 2), (300, 20), (65, 65)])
def test_kth_largest_is_what_a_partition_of_the_row_gives(V, k):
    """Grouped rows (V >= 8 * 256 here, k small) and plain partitions alike, on rows of
    distinct values, of heavy ties, and with -inf: the value np.partition finds."""
    rng = np.random.default_rng(V + k)
    z = rng.normal(size=(6, V)).astype(np.float32)
    z[1] = np.round(z[1])                               # a handful of values, each many times
    z[2, : V // 2] = -np.inf
    z[3] = np.sort(z[3])                                # the largest all in the last groups
    z[4, -k:] = 7.0                                     # k ties at the top
    z[5] = 1.5                                          # one value
    np.testing.assert_array_equal(_kth_largest(z, k), np.partition(z, V - k, axis=1)[:, V - k])
    np.testing.assert_array_equal(_top_k(z, k),
                                  np.sort(np.argsort(-z, axis=1, kind="stable")[:, :k], axis=1))


def _nucleus_by_argsort(z, top_p, temperature):
    """The nucleus as a stable argsort of all V defines it, the reference for the sort-free
    sampler: (weights w, the order, the order's weights with those outside the nucleus 0)."""
    w = np.exp((z - z.max()) / temperature)
    order = np.argsort(-z, kind="stable")
    ws = w[order]
    return w, order, np.where(np.cumsum(ws) - ws < top_p * w.sum(), ws, 0.0)


# Flat and peaked rows (the nucleus beyond and within the first 256), with ties: logits rounded
# to a few values so that many tokens share a weight, ordered by id among them.
NUCLEUS_ROWS = [(300, 2.5, 0.9, 1.0), (1000, 0.05, 0.9, 1.0), (1000, 4.0, 0.5, 1.0),
                (1000, 4.0, 0.95, 0.7), (5000, 0.5, 0.3, 1.3)]


@pytest.mark.parametrize("V, scale, top_p, temperature", NUCLEUS_ROWS)
def test_sorted_top_p_draws_the_token_a_stable_argsort_would(V, scale, top_p, temperature):
    rng = np.random.default_rng(V)
    for z in np.round(rng.normal(size=(6, V)) * scale, 1):
        w, order, kept = _nucleus_by_argsort(z, top_p, temperature)
        cum = np.cumsum(kept)
        for r in np.random.default_rng(0).random(40):
            u = min(r * cum[-1], np.nextafter(cum[-1], 0))
            want = order[(cum <= u).sum()]
            assert _draw_sorted_nucleus(w, top_p * w.sum(), r) == want


@pytest.mark.parametrize("V, scale, top_p, temperature", NUCLEUS_ROWS)
def test_top_p_by_rejection_keeps_exactly_the_nucleus(V, scale, top_p, temperature):
    """The membership test of the rejection sampler against the argsort's nucleus, for every
    token; the sampler's frequencies are checked in the test of the sampling distribution."""
    rng = np.random.default_rng(V)
    for z in np.round(rng.normal(size=(6, V)) * scale, 1):
        w, order, kept = _nucleus_by_argsort(z, top_p, temperature)
        inside = np.zeros(V, bool)
        inside[order[kept > 0]] = True
        before = np.array([_mass_before(w, i) for i in range(V)])
        np.testing.assert_array_equal(before < top_p * w.sum(), inside)
