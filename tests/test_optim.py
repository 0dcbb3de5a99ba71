"""Optimizers and clipping against straightforward formulas."""

import math

import numpy as np
import pytest

from rnnlm import SGD, Adam, LanguageModel, clip_grad_norm
from rnnlm.optim import ParameterAverage


def problem(seed=0):
    rng = np.random.default_rng(seed)
    shared = rng.normal(size=(4, 3))
    params = {"a": shared, "b": rng.normal(size=5), "a_again": shared}
    grad_shared = rng.normal(size=(4, 3))
    grads = {"a": grad_shared, "b": rng.normal(size=5), "a_again": grad_shared}
    return params, grads


def test_sgd_steps_each_shared_array_once():
    params, grads = problem()
    before = {k: v.copy() for k, v in params.items()}
    SGD(0.1).step(params, grads)
    np.testing.assert_allclose(params["a"], before["a"] - 0.1 * grads["a"])
    np.testing.assert_allclose(params["b"], before["b"] - 0.1 * grads["b"])


def test_adam_matches_the_textbook_update_over_several_steps():
    params, grads = problem()
    p_ref, m_ref, v_ref = params["b"].copy(), 0.0, 0.0
    opt = Adam(lr=0.01, betas=(0.8, 0.95), eps=1e-6)
    for t in range(1, 6):
        opt.step(params, grads)
        g = grads["b"]
        m_ref = 0.8 * m_ref + 0.2 * g
        v_ref = 0.95 * v_ref + 0.05 * g * g
        m_hat, v_hat = m_ref / (1 - 0.8 ** t), v_ref / (1 - 0.95 ** t)
        p_ref = p_ref - 0.01 * m_hat / (np.sqrt(v_hat) + 1e-6)
    np.testing.assert_allclose(params["b"], p_ref, rtol=1e-6)
    assert set(k for k in opt.state_dict() if k.startswith("m/")) == {"m/a", "m/b"}


def test_adam_state_dict_round_trip_continues_identically():
    params, grads = problem()
    twin = {k: v.copy() for k, v in params.items()}
    twin["a_again"] = twin["a"]
    a = Adam(0.01)
    a.step(params, grads)
    b = Adam(0.5)
    b.load_state_dict({k: np.array(v) for k, v in a.state_dict().items()})
    twin_state = {k: v.copy() for k, v in params.items()}
    twin_state["a_again"] = twin_state["a"]
    a.step(params, grads)
    b.step(twin_state, grads)
    for k in params:
        np.testing.assert_array_equal(params[k], twin_state[k])


def test_clip_grad_norm_scales_in_place_and_returns_the_norm_before():
    params, grads = problem()
    expected = math.sqrt(np.sum(grads["a"] ** 2) + np.sum(grads["b"] ** 2))
    before = {k: v.copy() for k, v in grads.items()}
    norm = clip_grad_norm(grads, max_norm=0.5)
    assert norm == pytest.approx(expected)
    after = math.sqrt(np.sum(grads["a"] ** 2) + np.sum(grads["b"] ** 2))
    assert after == pytest.approx(0.5, rel=1e-5)
    np.testing.assert_allclose(grads["b"] / before["b"], 0.5 / expected, rtol=1e-5)


def test_clip_grad_norm_leaves_small_and_non_finite_gradients_alone():
    params, grads = problem()
    before = grads["b"].copy()
    assert clip_grad_norm(grads, max_norm=1e6) < 1e6
    np.testing.assert_array_equal(grads["b"], before)
    grads["b"][0] = np.nan
    assert math.isnan(clip_grad_norm(grads, max_norm=0.1))
    np.testing.assert_array_equal(grads["b"][1:], before[1:])


def test_tied_model_gradient_norm_counts_the_shared_matrix_once():
    m = LanguageModel(9, embed_size=4, hidden_size=4, tie_weights=True, dtype="float64")
    rng = np.random.default_rng(0)
    m.forward(rng.integers(0, 9, (2, 3)), rng.integers(0, 9, (2, 3)))
    m.backward()
    # The output layer and the embedding write one gradient array; listed under both of its
    # names, it must still count once in the norm and be scaled once.
    shared = m.out.grads["W"]
    assert shared is m.embed.grads["W"] is m.grads["embed.W"]
    grads = {**m.grads, "out.W": shared}
    expected = math.sqrt(sum(np.sum(g ** 2) for g in m.grads.values()))
    before = {k: g.copy() for k, g in m.grads.items()}
    assert clip_grad_norm(grads, expected / 2) == pytest.approx(expected)
    for name, g in m.grads.items():
        np.testing.assert_allclose(g, before[name] / 2, rtol=1e-4, err_msg=name)


@pytest.mark.parametrize("clip", [0.05, 100.0])
def test_sparse_embedding_rows_give_the_dense_update_to_the_last_bit(clip):
    """Clipping and SGD over the rows a step touched equal the whole-matrix passes exactly
    (clip 0.05 scales every step, 100 never does)."""
    rng = np.random.default_rng(0)
    models = [LanguageModel(50, cell="lstm", num_layers=1, embed_size=6, hidden_size=7,
                            dropout=0.2, seed=1) for _ in range(2)]
    opts = [SGD(1.0), SGD(1.0)]
    for step in range(5):
        x, t = rng.integers(0, 50, (3, 4)), rng.integers(0, 50, (3, 4))
        for sparse, (m, opt) in enumerate(zip(models, opts)):
            m.train().forward(x, t)
            m.backward()
            rows = m.grad_rows if sparse else None
            assert not sparse or len(rows["embed.W"]) <= x.size
            clip_grad_norm(m.grads, clip, rows)
            opt.step(m.params, m.grads, rows)
        for name in models[0].params:
            assert np.array_equal(models[0].params[name], models[1].params[name]), (step, name)
    tied = LanguageModel(50, cell="gru", embed_size=7, hidden_size=7, tie_weights=True)
    tied.train().forward(x, t)
    tied.backward()
    assert tied.grad_rows == {}             # the output layer fills every row of the shared one


def test_parameter_average_is_the_mean_of_what_it_was_given_and_applies_in_place():
    params, _ = problem()
    rng = np.random.default_rng(1)
    seen = []
    average = ParameterAverage()
    for _ in range(7):
        params["a"] += rng.normal(size=(4, 3))      # "a_again" is the same array: once only
        params["b"] += rng.normal(size=5)
        average.update(params)
        seen.append({k: params[k].copy() for k in ("a", "b")})
    assert set(average.mean) == {"a", "b"} and average.count == 7
    raw = {k: v.copy() for k, v in params.items()}
    with average.applied(params):
        for k in ("a", "b"):
            np.testing.assert_allclose(params[k], np.mean([s[k] for s in seen], axis=0),
                                       rtol=1e-12)
        assert params["a_again"] is params["a"]
    for k, v in raw.items():
        np.testing.assert_array_equal(params[k], v)          # the raw values are back
    restored = ParameterAverage()
    restored.load_state_dict({"lr": np.array(1.0), **average.state_dict()})
    assert restored.count == 7
    for k in ("a", "b"):
        np.testing.assert_array_equal(restored.mean[k], average.mean[k])


def test_an_empty_average_changes_nothing_and_saves_nothing():
    params, _ = problem()
    raw = {k: v.copy() for k, v in params.items()}
    average = ParameterAverage()
    with average.applied(params):
        np.testing.assert_array_equal(params["b"], raw["b"])
    assert average.state_dict() == {}
    average.load_state_dict({"lr": np.array(1.0)})
    assert average.count == 0
    average.update(params)
    average.reset()
    assert average.count == 0 and average.state_dict() == {}
