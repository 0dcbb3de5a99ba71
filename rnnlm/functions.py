"""Pure array functions for the layers: the bias add and the fused softmax cross-entropy.

They never change dtype: float32 in, float32 out (a float64 temporary on the hot path would
halve the speed of training).
"""

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

# NumPy's elementwise calls run on one core but release the GIL: on the (tokens, vocabulary)
# logits, the largest elementwise work of a step, row blocks in threads use every core.
_WORKERS = max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else os.cpu_count() or 1))
_PARALLEL_MIN_SIZE = 1 << 20        # below this, handing work to threads costs more than it saves
_pool = None


def in_row_blocks(fn, *arrays):
    """fn(*row_block) for each block of rows of ``arrays`` (same first axis), in threads.

    Returns the list of results in row order. Rows must be independent: the result is the same
    as one call on the whole arrays.
    """
    global _pool
    n = arrays[0].shape[0]
    if _WORKERS == 1 or arrays[0].size < _PARALLEL_MIN_SIZE or n < _WORKERS:
        return [fn(*arrays)]
    if _pool is None:
        _pool = ThreadPoolExecutor(_WORKERS, thread_name_prefix="rnnlm-rows")
    bounds = [n * k // _WORKERS for k in range(_WORKERS + 1)]
    blocks = [[a[lo:hi] for a in arrays] for lo, hi in zip(bounds, bounds[1:])]
    caller = np.geterr()            # np.errstate is the thread's own: the workers take the caller's

    def run(block):
        with np.errstate(**caller):
            return fn(*block)
    return list(_pool.map(run, blocks))


def add_bias(z, b):
    """z += b for each row of z (N, V), in row blocks across the cores."""
    in_row_blocks(lambda rows: np.add(rows, b, out=rows), z)


def softmax_cross_entropy(z, targets, bias=None, grad_scale=None):
    """Row-parallel ``_softmax_cross_entropy`` (see there): per-row losses (N,)."""
    parts = in_row_blocks(lambda zs, ts: _softmax_cross_entropy(zs, ts, bias, grad_scale),
                          z, targets)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


# Each pass over the logits after the product works on this many bytes of rows at a time, so
# that the block stays in the core's cache from the bias to the gradient: the (N, V) array
# then travels through memory once instead of once per pass.
_BLOCK_BYTES = 1 << 20


def _softmax_cross_entropy(z, targets, bias=None, grad_scale=None):
    """Cross-entropy of each row of logits ``z`` (N, V) against ``targets`` (N,) -> losses (N,).

    ``bias`` (V,), if given, is added to every row first. With ``grad_scale`` the work is done
    in place and ``z`` is left holding grad_scale * (softmax(z + bias) - onehot(targets)): the
    (N, V) array is never copied. Without it ``z`` is only read (see ``_cross_entropy``).
    """
    if grad_scale is None:
        return _cross_entropy(z, targets, bias)
    n, V = z.shape
    losses = np.empty(n, z.dtype)
    step = max(1, _BLOCK_BYTES // (V * z.itemsize))
    for lo in range(0, n, step):
        t, rows = targets[lo : lo + step], np.arange(min(step, n - lo))
        block = z[lo : lo + step]
        if bias is not None:
            np.add(block, bias, out=block)
        row_max = block.max(axis=1)
        target_logit = block[rows, t]
        # Shifting by the row max only guards exp against overflow. When every row max lies
        # in [-30, 60], exp(z) is safe as it is (V * e^60 overflows float32 only for V > 1e12,
        # and each row's largest term stays a normal number), and a pass is saved.
        if not (row_max.max() <= 60 and row_max.min() >= -30):
            np.subtract(block, row_max[:, None], out=block)
            target_logit -= row_max
        np.exp(block, out=block)
        sums = np.sum(block, axis=1)
        np.subtract(np.log(sums), target_logit, out=losses[lo : lo + step])
        # d loss_i / d z_ij, scaled: exp_ij / sum_i - [j = t_i]; one division per row
        np.multiply(block, (grad_scale / sums)[:, None], out=block)
        block[rows, t] -= grad_scale
    return losses


# Evaluation takes exp(z + b) as exp(z) * exp(b) when every bias lies within this bound, so
# exp(b) is a normal float32 and the bias costs no pass of its own.
_BIAS_BOUND = 40.0


def _cross_entropy(z, targets, bias=None):
    """Losses (N,) of logits ``z`` (N, V) + ``bias``, reading ``z`` only, in two passes a block.

    log sum_j exp(z_ij + b_j) = log (exp(z_i) . exp(b)): one exp of the block into a scratch
    buffer that stays in cache, then one dot product per row with exp(b). No bias add, no
    row max, no write back to ``z``. The shortcut is exact wherever it is used: a row whose
    sum overflowed, or is so small that an exp that underflowed could have counted (see
    ``floor``), is redone with the shift by its max, as is every row when a bias is wider
    than ``_BIAS_BOUND``.
    """
    n, V = z.shape
    losses = np.empty(n, z.dtype)
    step = max(1, _BLOCK_BYTES // (V * z.itemsize))
    scratch = np.empty((min(step, n), V), z.dtype)
    exp_bias, every_row_shifted, top = None, False, 0.0
    if bias is not None:
        top = float(bias.max())
        every_row_shifted = not (-_BIAS_BOUND <= float(bias.min()) and top <= _BIAS_BOUND)
        if not every_row_shifted:
            exp_bias = np.exp(bias)
    # A term whose exp(z_ij) underflowed (z_ij < -87.3) is at most e^(-87.3 + max b) in
    # truth; all V of them stay below float32's rounding of the sum (2^-24 = e^-16.6 of it)
    # when the sum is at least V e^(max b - 70).
    floor = V * np.exp(max(top, 0.0) - 70.0)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for lo in range(0, n, step):
            t, rows = targets[lo : lo + step], np.arange(min(step, n - lo))
            block, exps = z[lo : lo + step], scratch[: len(rows)]
            target_logit = block[rows, t] if bias is None else block[rows, t] + bias[t]
            out = losses[lo : lo + step]
            if every_row_shifted:
                redo = rows
            else:
                np.exp(block, out=exps)
                sums = exps.sum(axis=1) if exp_bias is None else np.vecdot(exps, exp_bias)
                np.subtract(np.log(sums), target_logit, out=out)
                redo = np.flatnonzero(~((sums >= floor) & (sums < np.inf)))   # NaN included
            if redo.size:
                out[redo] = _log_sum_exp_shifted(block[redo], bias) - target_logit[redo]
    return losses


def log_softmax(z):
    """log softmax over the last axis of z, shifted by each row's max: a new array."""
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _log_sum_exp_shifted(z, bias=None):
    """log sum_j exp(z_ij + b_j) for each row of a copy of z (n, V), shifted by its max."""
    z = z + bias if bias is not None else z.copy()
    row_max = z.max(axis=1)
    np.subtract(z, row_max[:, None], out=z)
    np.exp(z, out=z)
    return np.log(z.sum(axis=1)) + row_max
