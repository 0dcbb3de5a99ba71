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


def softmax_cross_entropy(z, targets):
    """Row-parallel ``_softmax_cross_entropy`` (see there)."""
    parts = in_row_blocks(_softmax_cross_entropy, z, targets)
    if len(parts) == 1:
        return parts[0]
    return tuple(np.concatenate(arrays) for arrays in zip(*parts))


def softmax_cross_entropy_grad(exp_z, sums, targets, scale):
    """Turn ``exp_z`` (as left by ``softmax_cross_entropy``) into scale * (softmax - onehot)."""
    in_row_blocks(lambda z, s, t: _softmax_cross_entropy_grad(z, s, t, scale),
                  exp_z, sums, targets)
    return exp_z


def _softmax_cross_entropy(z, targets):
    """Cross-entropy of each row of logits ``z`` (N, V) against ``targets`` (N,), in place.

    Overwrites ``z`` with unnormalized exponentials exp(z - shift) so that the gradient can
    be written into the same buffer later (see ``softmax_cross_entropy_grad``): the (N, V)
    array is never copied. Returns (per-row losses (N,), row sums of the exponentials (N,)).
    """
    rows = np.arange(len(targets))
    row_max = z.max(axis=1)
    # Shifting by the row max only guards exp against overflow. When every row max lies in
    # [-30, 60], exp(z) is safe as it is (V * e^60 overflows float32 only for V > 1e12, and
    # each row's largest term stays a normal number), and a whole pass over z is saved.
    if not (row_max.max(initial=0) <= 60 and row_max.min(initial=0) >= -30):
        z -= row_max[:, None]
    target_logit = z[rows, targets]        # gathered before exp overwrites the logits
    np.exp(z, out=z)
    sums = z.sum(axis=1)
    return np.log(sums) - target_logit, sums


def _softmax_cross_entropy_grad(exp_z, sums, targets, scale):
    factor = scale / sums                   # one division per row, not per element
    np.multiply(exp_z, factor[:, None], out=exp_z)
    exp_z[np.arange(len(targets)), targets] -= scale
    return exp_z
