"""Central finite differences and the norm-wise comparison the gradient tests share."""

import numpy as np

EPS = 1e-5
TOLERANCE = 1e-6


def numerical_gradient(f, array, eps=EPS):
    """d f() / d array by central differences, perturbing ``array`` in place (and restoring it)."""
    grad = np.zeros_like(array)
    flat, gflat = array.reshape(-1), grad.reshape(-1)
    for k in range(flat.size):
        saved = flat[k]
        flat[k] = saved + eps
        plus = f()
        flat[k] = saved - eps
        minus = f()
        flat[k] = saved
        gflat[k] = (plus - minus) / (2 * eps)
    return grad


def relative_error(analytic, numeric):
    """||a - n|| / (||a|| + ||n||), guarded so that two zero gradients compare as equal."""
    diff = np.linalg.norm(analytic - numeric)
    return diff / max(np.linalg.norm(analytic) + np.linalg.norm(numeric), 1e-12)


def assert_gradients_match(f, analytic, arrays):
    """For each name: the analytic gradient matches finite differences of ``f`` in that array."""
    errors = {name: relative_error(analytic[name], numerical_gradient(f, arrays[name]))
              for name in arrays}
    bad = {name: err for name, err in errors.items() if not err < TOLERANCE}
    assert not bad, f"gradient mismatch (relative error) {bad}"
    return errors
