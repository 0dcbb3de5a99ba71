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
    """Row-parallel ``_softmax_cross_entropy`` (see there)."""
    parts = in_row_blocks(lambda zs, ts: _softmax_cross_entropy(zs, ts, bias, grad_scale),
                          z, targets)
    if len(parts) == 1:
        return parts[0]
    return tuple(np.concatenate(arrays) for arrays in zip(*parts))


def softmax_cross_entropy_grad(exp_z, sums, targets, scale):
    """Turn ``exp_z`` (as left by ``softmax_cross_entropy``) into scale * (softmax - onehot)."""
    in_row_blocks(lambda z, s, t: _softmax_cross_entropy_grad(z, s, t, scale),
                  exp_z, sums, targets)
    return exp_z


# Each pass over the logits after the product works on this many bytes of rows at a time, so
# that the block stays in the core's cache from the bias to the gradient: the (N, V) array
# then travels through memory once instead of once per pass.
_BLOCK_BYTES = 1 << 20


def _softmax_cross_entropy(z, targets, bias=None, grad_scale=None):
    """Cross-entropy of each row of logits ``z`` (N, V) against ``targets`` (N,), in place.

    ``bias`` (V,), if given, is added to every row first. Overwrites ``z`` with unnormalized
    exponentials exp(z - shift), so that the gradient can be written into the same buffer
    later (``softmax_cross_entropy_grad``), or at once with ``grad_scale``: then ``z`` is left
    holding grad_scale * (softmax(z) - onehot(targets)). The (N, V) array is never copied.
    Returns (per-row losses (N,), row sums of the exponentials (N,)).
    """
    n, V = z.shape
    losses, sums = np.empty(n, z.dtype), np.empty(n, z.dtype)
    step = max(1, _BLOCK_BYTES // (V * z.itemsize))
    for lo in range(0, n, step):
        block, t = z[lo : lo + step], targets[lo : lo + step]
        if bias is not None:
            block += bias
        row_max = block.max(axis=1)
        # Shifting by the row max only guards exp against overflow. When every row max lies
        # in [-30, 60], exp(z) is safe as it is (V * e^60 overflows float32 only for V > 1e12,
        # and each row's largest term stays a normal number), and a pass is saved.
        if not (row_max.max() <= 60 and row_max.min() >= -30):
            block -= row_max[:, None]
        target_logit = block[np.arange(len(t)), t]      # gathered before exp overwrites it
        np.exp(block, out=block)
        s = np.sum(block, axis=1, out=sums[lo : lo + step])
        np.subtract(np.log(s), target_logit, out=losses[lo : lo + step])
        if grad_scale is not None:
            _softmax_cross_entropy_grad(block, s, t, grad_scale)
    return losses, sums


def _softmax_cross_entropy_grad(exp_z, sums, targets, scale):
    factor = scale / sums                   # one division per row, not per element
    np.multiply(exp_z, factor[:, None], out=exp_z)
    exp_z[np.arange(len(targets)), targets] -= scale
    return exp_z
