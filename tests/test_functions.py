"""The fused softmax cross-entropy against the plain formulas, on arrays big enough to be
split across threads."""

import numpy as np
import pytest

from rnnlm.functions import add_bias, softmax_cross_entropy
from rnnlm.layers import _activate

from reference import log_softmax, softmax


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("spread,offset", [(20, 0), (3, 0), (3, -40)])
def test_fused_cross_entropy_and_gradient_match_the_plain_formulas(dtype, tol, spread, offset):
    rng = np.random.default_rng(0)
    n, v = 301, 4001                      # > 1M elements: the row-block path runs
    # Spread 20: exp would overflow unshifted; spread 3: computed without the shift;
    # offset -40: every exp would underflow unshifted.
    z = (rng.normal(size=(n, v)) * spread + offset).astype(dtype)
    targets = rng.integers(0, v, n)
    expected_loss = -log_softmax(z.astype(np.float64))[np.arange(n), targets]
    expected_grad = softmax(z.astype(np.float64))
    expected_grad[np.arange(n), targets] -= 1
    expected_grad *= 0.5
    untouched = z.copy()
    losses = softmax_cross_entropy(untouched, targets)
    np.testing.assert_array_equal(untouched, z)         # without a gradient: only read
    grad = z.copy()
    grad_losses = softmax_cross_entropy(grad, targets, grad_scale=0.5)
    assert losses.dtype == dtype and grad.dtype == dtype
    np.testing.assert_allclose(losses, expected_loss, rtol=tol, atol=tol)
    np.testing.assert_allclose(grad_losses, expected_loss, rtol=tol, atol=tol)
    np.testing.assert_allclose(grad, expected_grad, rtol=tol, atol=tol)


def test_add_bias_adds_to_every_row():
    rng = np.random.default_rng(1)
    z, b = rng.normal(size=(500, 3000)), rng.normal(size=3000)
    expected = z + b
    add_bias(z, b)
    np.testing.assert_array_equal(z, expected)


def test_gate_activation_is_a_stable_exact_sigmoid_then_tanh():
    # _activate computes the sigmoid block as (1 + tanh(x / 2)) / 2: no exp to overflow.
    x = np.array([-1000.0, -5.0, 0.0, 5.0, 1000.0])
    a = np.concatenate([x, x])[None, :]
    _activate(a, len(x))
    np.testing.assert_allclose(a[0, :5], [0.0, 1 / (1 + np.exp(5)), 0.5, 1 / (1 + np.exp(-5)), 1.0],
                               rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(a[0, 5:], np.tanh(x), rtol=1e-12, atol=0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bias_and_gradient_fused_into_the_loss_pass_give_the_same_bits(dtype):
    """With the gradient, the loss adds the output bias in its own cache-sized row blocks, in
    place: the same bits as the bias added first. Rows 0-9 have logits far above 60, so their
    blocks take the shifted path. Without the gradient (exp(z) exp(b), the logits only read)
    the losses agree to float rounding."""
    rng = np.random.default_rng(2)
    n, v = 301, 4001
    z = (rng.normal(size=(n, v)) * 3).astype(dtype)
    z[:10] += 200
    b = rng.normal(size=v).astype(dtype)
    targets = rng.integers(0, v, n)
    apart = z.copy()
    add_bias(apart, b)
    losses = softmax_cross_entropy(apart, targets, grad_scale=0.25)
    fused = z.copy()
    np.testing.assert_array_equal(softmax_cross_entropy(fused, targets, b, 0.25), losses)
    np.testing.assert_array_equal(fused, apart)
    read_only = z.copy()
    rtol = 1e-13 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(softmax_cross_entropy(read_only, targets, b), losses, rtol=rtol)
    np.testing.assert_array_equal(read_only, z)


@pytest.mark.filterwarnings("error")            # no overflow or log(0) warning escapes
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 2e-6)])
@pytest.mark.parametrize("bias_scale", [1.0, 50.0])
def test_evaluation_loss_is_exact_where_exp_of_the_logits_overflows_or_underflows(dtype, tol,
                                                                                  bias_scale):
    """Evaluation sums exp(z) exp(b) per row, unshifted; the rows where that is not exact
    are redone with the shift by the row max. Here, in blocks shared with ordinary rows: a
    row above exp's range, one whose terms fit but whose sum overflows, one far below it, one
    below it that a bias of 39 lifts back into range, and a NaN row. A bias scale of 50 puts
    biases beyond the bound of the shortcut: then every row is shifted."""
    rng = np.random.default_rng(3)
    n, v = 301, 4001
    z = rng.normal(size=(n, v)) * 3
    b = rng.normal(size=v) * bias_scale
    if bias_scale == 1.0:
        b[:50] = 39.0
    z[5] += 200                                   # exp(z) overflows
    z[6] = 88.0 + rng.normal(size=v) * 0.1 - b    # every e^(z + b) fits float32; the sum not
    z[7] -= 300                                   # exp(z) underflows, all of the row
    # exp(z) is 0 or subnormal in float32, but e^(z + 39) is a normal number
    z[8] = -100.0 + rng.normal(size=v)
    z[9] = np.nan
    z, b = z.astype(dtype), b.astype(dtype)
    targets = rng.integers(0, v, n)
    targets[8] = 10
    expected = -log_softmax((z + b).astype(np.float64))[np.arange(n), targets]
    read_only = z.copy()
    losses = softmax_cross_entropy(read_only, targets, b)
    np.testing.assert_array_equal(read_only, z)
    assert np.isnan(losses[9])
    keep = np.arange(n) != 9
    np.testing.assert_allclose(losses[keep], expected[keep], rtol=tol, atol=tol)
