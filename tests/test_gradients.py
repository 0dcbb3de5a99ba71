"""Every layer and the whole model against central finite differences, in float64.

All parameters are random (biases included: a zero bias hides a transposed bias gradient) and
the sizes are odd and distinct (B=3, T=5, D=4, H=6, V=7), so a transposed axis cannot pass by
symmetry. Recurrent layers start from a random carried-in state, so the path through the
state is checked too.
"""

import numpy as np
import pytest

from gradcheck import assert_gradients_match
from rnnlm import LanguageModel, layers
from rnnlm.layers import (Embedding, SoftmaxLoss, TimeAffine, TimeDropout, TimeGRU, TimeLSTM,
                          TimeRNN)

B, T, D, H, V = 3, 5, 4, 6, 7


def random(rng, *shape):
    return rng.uniform(-1.0, 1.0, shape)


def check_layer(layer, forward, x):
    """Check a layer's parameter gradients and its input gradient under L = sum(out * R)."""
    rng = np.random.default_rng(1)
    weights = random(rng, *forward(x).shape)

    def loss():
        return float(np.sum(forward(x) * weights))

    loss()
    dx = layer.backward(weights.copy())
    analytic = {f"param {k}": g.copy() for k, g in layer.grads.items()}
    arrays = {f"param {k}": p for k, p in layer.params.items()}
    if dx is not None:
        analytic["input"], arrays["input"] = np.array(dx), x
    assert_gradients_match(loss, analytic, arrays)


@pytest.mark.parametrize("min_size", [0, 10**12], ids=["MT-times-xT", "x-times-M"])
@pytest.mark.parametrize("cls,blocks", [(TimeRNN, 1), (TimeLSTM, 4), (TimeGRU, 3)])
def test_recurrent_layer_gradients_match_finite_differences(cls, blocks, min_size, monkeypatch):
    # The time loops' products have two arrangements, chosen by the layer's size
    monkeypatch.setattr(layers._StepProduct, "min_size", min_size)
    monkeypatch.setattr(layers._StepProduct, "min_steps", 0)
    rng = np.random.default_rng(0)
    layer = cls(random(rng, D, blocks * H), random(rng, H, blocks * H), random(rng, blocks * H))
    carried_in = {name: random(rng, B, H) for name in (("h", "c") if cls is TimeLSTM else ("h",))}

    def forward(x):
        layer.state = {k: v.copy() for k, v in carried_in.items()}
        return layer.forward(x)

    check_layer(layer, forward, random(rng, B, T, D))


@pytest.mark.parametrize("cls,blocks", [(TimeRNN, 1), (TimeLSTM, 4), (TimeGRU, 3)])
def test_recurrent_layer_with_weight_drop_matches_finite_differences(cls, blocks):
    rng = np.random.default_rng(0)
    layer = cls(random(rng, D, blocks * H), random(rng, H, blocks * H), random(rng, blocks * H),
                weight_drop=0.4)
    carried_in = {name: random(rng, B, H) for name in (("h", "c") if cls is TimeLSTM else ("h",))}

    def forward(x):
        layer.rng = np.random.default_rng(7)      # the same mask on Wh at every evaluation
        layer.state = {k: v.copy() for k, v in carried_in.items()}
        return layer.forward(x)

    check_layer(layer, forward, random(rng, B, T, D))
    dropped = layer._Wh_mask == 0
    assert 0 < dropped.sum() < dropped.size
    assert np.all(layer.grads["Wh"][dropped] == 0)    # a dropped weight learns nothing


@pytest.mark.parametrize("transposed", [False, True])
def test_affine_gradients_match_finite_differences(transposed):
    rng = np.random.default_rng(0)
    W = random(rng, V, D) if transposed else random(rng, D, V)
    layer = TimeAffine(W, random(rng, V), transposed=transposed)
    check_layer(layer, layer.forward, random(rng, B, T, D))


def test_embedding_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    layer = Embedding(random(rng, V, D))
    ids = np.array([[0, 3, 3, 6, 1], [2, 2, 2, 5, 0], [6, 4, 1, 3, 3]])
    weights = random(rng, B, T, D)

    def loss():
        return float(np.sum(layer.forward(ids) * weights))

    loss()
    layer.backward(weights)
    assert_gradients_match(loss, {"W": layer.grads["W"].copy()}, layer.params)


@pytest.mark.parametrize("shared", [False, True])
def test_embedding_with_word_dropout_matches_finite_differences(shared):
    rng = np.random.default_rng(0)
    layer = Embedding(random(rng, V, D), shared=shared, drop_words=0.4)
    ids = np.array([[0, 3, 3, 6, 1], [2, 2, 2, 5, 0], [6, 4, 1, 3, 3]])
    weights = random(rng, B, T, D)

    def loss():
        layer.rng = np.random.default_rng(5)      # the same rows dropped at every evaluation
        return float(np.sum(layer.forward(ids) * weights))

    out = layer.forward(ids)
    layer.rng = np.random.default_rng(5)
    out = np.array(layer.forward(ids))
    kept = np.abs(out).sum(axis=2) > 0
    # A word is dropped from the whole chunk or from none of it.
    for word in np.unique(ids):
        assert len(set(kept[ids == word])) == 1
    assert kept.any() and not kept.all()
    loss()
    layer.grads["W"][...] = 0                     # shared: the other layer's part is zero
    layer.backward(weights)
    assert_gradients_match(loss, {"W": layer.grads["W"].copy()}, layer.params)


@pytest.mark.parametrize("variational", [False, True])
def test_dropout_gradient_with_a_fixed_mask_matches_finite_differences(variational):
    layer = TimeDropout(0.4, variational=variational)

    def forward(x):
        layer.rng = np.random.default_rng(7)      # the same mask at every evaluation
        return layer.forward(x)

    check_layer(layer, forward, random(np.random.default_rng(0), B, T, D))


def test_softmax_loss_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    logits, targets = random(rng, B, T, V) * 3, rng.integers(0, V, (B, T))
    layer = SoftmaxLoss()

    def loss():
        return layer.forward(logits.copy(), targets)   # the layer overwrites what it is given

    loss()
    assert_gradients_match(loss, {"logits": np.array(layer.backward())}, {"logits": logits})


def check_model(m):
    """The whole model's gradients against finite differences, every mask fixed across
    evaluations; returns the (x, t) it used."""
    rng = np.random.default_rng(0)
    x, t = rng.integers(0, V, (B, T)), rng.integers(0, V, (B, T))
    mask_state = m.rng.bit_generator.state

    def loss():
        m.reset_state()
        m.rng.bit_generator.state = mask_state
        return m.forward(x, t)

    loss()
    m.backward()
    assert_gradients_match(loss, {k: g.copy() for k, g in m.grads.items()}, m.params)
    return x, t


MODEL_CASES = [(cell, layers, tied) for cell in ("rnn", "lstm", "gru")
               for layers in (1, 2) for tied in (False, True)]


@pytest.mark.parametrize("cell,num_layers,tied", MODEL_CASES)
def test_model_gradients_match_finite_differences(cell, num_layers, tied):
    m = LanguageModel(V, cell=cell, num_layers=num_layers, embed_size=H if tied else D,
                      hidden_size=H, dropout=0.3, variational=(num_layers == 2),
                      tie_weights=tied, init_scale=0.5, dtype="float64", seed=3)
    check_model(m)


@pytest.mark.parametrize("cell,tied", [(cell, tied) for cell in ("rnn", "lstm", "gru")
                                       for tied in (False, True)])
def test_model_with_every_regulariser_matches_finite_differences(cell, tied):
    """Word dropout, DropConnect on Wh and a different dropout rate at each place, at once."""
    m = LanguageModel(V, cell=cell, num_layers=3, embed_size=H if tied else D, hidden_size=H,
                      dropout=0.1, dropout_embed=0.2, dropout_hidden=0.3, dropout_out=0.4,
                      dropout_words=0.3, weight_drop=0.5, variational=True, tie_weights=tied,
                      init_scale=0.5, dtype="float64", seed=3)
    assert [d.p for d in m.dropouts] == [0.2, 0.3, 0.3, 0.4]
    x, t = check_model(m)
    assert all(layer._Wh_mask is not None for layer in m.layers)
    with m.evaluating():                           # no mask of any kind outside training
        m.forward(x, t)
    assert all(layer._Wh_mask is None for layer in m.layers) and m.embed._scale is None


def test_tied_model_has_one_matrix_for_embedding_and_output():
    m = LanguageModel(V, embed_size=H, hidden_size=H, tie_weights=True, dtype="float64")
    assert "out.W" not in m.params and "out.W" not in m.grads
    assert m.out.params["W"] is m.params["embed.W"]
    assert m.embed.grads["W"] is m.grads["embed.W"] is m.out.grads["W"]
