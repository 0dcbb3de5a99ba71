"""Optimizers that update parameter dicts in place, and clipping by global norm.

``params`` and ``grads`` are dicts name -> array with the same keys (as LanguageModel keeps
them). An array that appears under two names is updated once. ``rows`` (optional, as
``LanguageModel.grad_rows`` gives it) names gradients that are zero outside some rows: scaling
and SGD then touch those rows only, with the same result to the last bit.
"""

import math
import numbers
from contextlib import contextmanager

import numpy as np

from .errors import UsageError


def _checked(name, value, low, high=math.inf, low_open=False):
    """value as a float in [low, high) (or (low, high) with ``low_open``), else UsageError:
    a negative or NaN step size would not fail, it would quietly train the wrong way."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
            not (low < value if low_open else low <= value) or not value < high:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g})"
        raise UsageError(f"{name} must be a number in {interval}, got {value!r}")
    return float(value)


def _unique(params, grads):
    """(name, param, grad) for each distinct parameter array."""
    seen = set()
    for name, p in params.items():
        if id(p) not in seen:
            seen.add(id(p))
            yield name, p, grads[name]


def global_norm(grads):
    """sqrt of the sum of squares of every distinct gradient array, as a Python float."""
    seen, total = set(), 0.0
    for g in grads.values():
        if id(g) not in seen:
            seen.add(id(g))
            flat = g.ravel()
            total += float(np.dot(flat, flat))      # BLAS dot: one pass, no temporary
    return math.sqrt(total)


def clip_grad_norm(grads, max_norm, rows=None):
    """Scale all gradients in place so their global norm is at most ``max_norm``.

    Returns the norm before clipping (inf or nan if a gradient is not finite; then nothing is
    scaled and the caller should skip the step). The norm reads every element (its sum keeps
    the order it always had); ``rows`` only spares the scaling the rows that are zero.
    """
    if not (isinstance(max_norm, numbers.Real) and not isinstance(max_norm, bool)
            and max_norm > 0):                  # math.inf (no clipping) is fine; NaN is not
        raise UsageError(f"max_norm must be a number > 0 (math.inf: no clipping), got "
                         f"{max_norm!r}")
    norm = global_norm(grads)
    if math.isfinite(norm) and norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        rows, seen = rows or {}, set()
        for name, g in grads.items():
            if id(g) not in seen:
                seen.add(id(g))
                if name in rows:
                    g[rows[name]] *= scale
                else:
                    g *= scale
    return norm


class SGD:
    """Plain stochastic gradient descent: p <- p - lr * g."""

    def __init__(self, lr):
        self.lr = _checked("lr", lr, 0.0)         # 0: where an annealed schedule ends
        self._scratch = {}

    def step(self, params, grads, rows=None):
        for name, p, g in _unique(params, grads):
            if rows and name in rows:
                r = rows[name]
                p[r] -= g[r] * self.lr               # the rows a step touched, nothing else
                continue
            buf = self._scratch.get(name)
            if buf is None or buf.shape != g.shape or buf.dtype != g.dtype:
                buf = self._scratch[name] = np.empty_like(g)
            np.multiply(g, self.lr, out=buf)          # no temporary the size of the model
            p -= buf

    def state_dict(self):
        return {"lr": np.array(self.lr)}

    def load_state_dict(self, state):
        self.lr = float(state["lr"])


class Adam:
    """Adam (Kingma & Ba, 2015) with bias correction."""

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.lr = _checked("lr", lr, 0.0)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise UsageError(f"betas must be a pair (b1, b2), got {betas!r}")
        self.betas = tuple(_checked(f"betas[{i}]", b, 0.0, 1.0) for i, b in enumerate(betas))
        self.eps = _checked("eps", eps, 0.0, low_open=True)
        self.t = 0
        self.m, self.v = {}, {}

    def step(self, params, grads, rows=None):
        """``rows`` is accepted and ignored: Adam's moments decay in every row, every step."""
        self.t += 1
        b1, b2 = self.betas
        # Bias corrections folded into one step size and one eps (as in the paper's Alg. 1 note).
        step = self.lr * math.sqrt(1.0 - b2 ** self.t) / (1.0 - b1 ** self.t)
        eps = self.eps * math.sqrt(1.0 - b2 ** self.t)
        for name, p, g in _unique(params, grads):
            if name not in self.m:
                self.m[name], self.v[name] = np.zeros_like(p), np.zeros_like(p)
            m, v = self.m[name], self.v[name]
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            v += (1.0 - b2) * (g * g)
            p -= step * m / (np.sqrt(v) + eps)

    def state_dict(self):
        state = {"lr": np.array(self.lr), "betas": np.array(self.betas), "eps": np.array(self.eps),
                 "t": np.array(self.t)}
        for name in self.m:
            state[f"m/{name}"], state[f"v/{name}"] = self.m[name], self.v[name]
        return state

    def load_state_dict(self, state):
        self.lr, self.eps, self.t = float(state["lr"]), float(state["eps"]), int(state["t"])
        self.betas = tuple(float(b) for b in state["betas"])
        self.m = {k[2:]: np.array(v) for k, v in state.items() if k.startswith("m/")}
        self.v = {k[2:]: np.array(v) for k, v in state.items() if k.startswith("v/")}


class ParameterAverage:
    """The running mean of the parameters over the steps it has been given (averaged SGD:
    Polyak & Juditsky 1992; AWD-LSTM's ASGD, Merity et al. 2017).

    After n calls of ``update``, ``mean[name]`` = (p_1 + ... + p_n) / n, kept as
    mean += (p - mean) / n, in the parameters' dtype. ``applied`` puts the mean into the
    parameter arrays for a block (validation, saving the best model) and the raw values back
    after it.
    """

    PREFIX = "average/"

    def __init__(self):
        self.reset()
        self._scratch = {}

    def reset(self):
        """Forget every update (the budget grew: the last fraction starts later)."""
        self.count = 0
        self.mean = {}

    def update(self, params):
        self.count += 1
        for name, p, _ in _unique(params, params):
            mean = self.mean.get(name)
            if mean is None or self.count == 1:
                self.mean[name] = p.copy()
                continue
            buf = self._scratch.get(name)
            if buf is None:
                buf = self._scratch[name] = np.empty_like(p)
            np.subtract(p, mean, out=buf)
            buf *= 1.0 / self.count
            mean += buf

    @contextmanager
    def applied(self, params):
        """params hold the mean inside the block (nothing changes before the first update)."""
        if self.count == 0:
            yield
            return
        raw = {}
        for name, p, _ in _unique(params, params):
            raw[name] = p.copy()
            p[...] = self.mean[name]
        try:
            yield
        finally:
            for name, p, _ in _unique(params, params):
                p[...] = raw[name]

    def state_dict(self):
        if self.count == 0:
            return {}
        state = {f"{self.PREFIX}{name}": m for name, m in self.mean.items()}
        state[f"{self.PREFIX}count"] = np.array(self.count)
        return state

    def load_state_dict(self, state):
        """From a checkpoint's optimizer state (entries under "average/"; none: no average)."""
        prefix = self.PREFIX
        self.count = int(state.get(f"{prefix}count", 0))
        self.mean = {k[len(prefix):]: np.array(v) for k, v in state.items()
                     if k.startswith(prefix) and k != f"{prefix}count"}
