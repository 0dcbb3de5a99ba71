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
    return list(_pool.map(lambda block: fn(*block), blocks))


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
    (N, V) array is never copied. Without it ``z`` is only read: each cache-sized block is
    worked on in a scratch buffer, so evaluation never writes the logits back to memory.
    """
    n, V = z.shape
    losses = np.empty(n, z.dtype)
    step = max(1, _BLOCK_BYTES // (V * z.itemsize))
    scratch = None if grad_scale is not None else np.empty((min(step, n), V), z.dtype)
    for lo in range(0, n, step):
        t, rows = targets[lo : lo + step], np.arange(min(step, n - lo))
        block = z[lo : lo + step]
        out = block if scratch is None else scratch[:len(rows)]      # where exp is written
        if bias is not None:
            block = np.add(block, bias, out=out)
        row_max = block.max(axis=1)
        target_logit = block[rows, t]
        # Shifting by the row max only guards exp against overflow. When every row max lies
        # in [-30, 60], exp(z) is safe as it is (V * e^60 overflows float32 only for V > 1e12,
        # and each row's largest term stays a normal number), and a pass is saved.
        if not (row_max.max() <= 60 and row_max.min() >= -30):
            block = np.subtract(block, row_max[:, None], out=out)
            target_logit -= row_max
        np.exp(block, out=out)
        sums = np.sum(out, axis=1)
        np.subtract(np.log(sums), target_logit, out=losses[lo : lo + step])
        if grad_scale is not None:
            # d loss_i / d z_ij, scaled: exp_ij / sum_i - [j = t_i]; one division per row
            np.multiply(out, (grad_scale / sums)[:, None], out=out)
            out[rows, t] -= grad_scale
    return losses
