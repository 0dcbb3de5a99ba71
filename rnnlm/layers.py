"""The layers of a recurrent language model, each with a hand-written forward and backward.

Every layer takes and returns (batch, time, features) blocks. Inside, the Time layers work
time-major, (time, batch, features), so that each step's slice is one contiguous block: they
return a transposed *view* of their time-major buffer, and the next layer's ``time_major``
turns it back without a copy. Only the recurrent product runs step by step; the input
projection of all steps is one matrix product, and so is each weight gradient.

Conventions:
- ``params`` and ``grads`` are dicts with the same keys and shapes. ``backward`` overwrites the
  layer's gradients, except ``Embedding`` when its matrix is shared with the output layer
  (weight tying): the output layer writes first, the embedding adds its rows to that.
- The dtype comes from the parameter arrays (float32 for training, float64 for gradient
  checks); nothing here names a float type.
- Recurrent state (h, and c for the LSTM) carries from one ``forward`` to the next until
  ``reset_state``; gradients never flow into it (truncated backpropagation through time).
- A layer's returned arrays may be its own buffers: use them before the next ``forward``.
"""

import numpy as np

from .functions import add_bias, log_softmax, softmax_cross_entropy


def time_major(xs):
    """(B, T, D) -> C-contiguous (T, B, D); free when ``xs`` is a view of time-major memory."""
    return np.ascontiguousarray(xs.transpose(1, 0, 2))


def _dropout_mask(rng, p, shape, dtype):
    """Inverted dropout's multiplier: 0 with probability p, else 1 / (1 - p)."""
    mask = (rng.random(shape, dtype=dtype) >= p).astype(dtype)
    mask *= 1.0 / (1.0 - p)
    return mask


class Embedding:
    """Rows of W (V, E) looked up for token ids (B, T) -> (B, T, E).

    ``drop_words`` p > 0 (in training): embedding dropout of Gal & Ghahramani (2016), as
    AWD-LSTM applies it: each of the V rows is zeroed with probability p, the others scaled
    by 1 / (1 - p), one mask per call, so a dropped word is absent from the whole chunk.
    """

    def __init__(self, W, shared=False, drop_words=0.0, rng=None):
        self.params = {"W": W}
        self.grads = {"W": np.zeros_like(W)}
        self.shared = shared        # tied: another layer writes grads["W"] before backward
        self._touched = None        # rows written by the last backward (cleared next time)
        self.rows = None            # untied: those rows (unique), the only non-zero ones
        self.drop_words = float(drop_words)
        self.rng = rng if rng is not None else np.random.default_rng()
        self.training = True
        self._scale = None          # (B*T, 1) multiplier of each looked-up row, or None

    def forward(self, ids):
        self._ids = np.ascontiguousarray(ids.T).ravel()          # time-major order
        B, T = ids.shape
        W = self.params["W"]
        out = np.take(W, self._ids, axis=0)
        self._scale = None
        if self.training and self.drop_words > 0.0:
            rows = _dropout_mask(self.rng, self.drop_words, W.shape[0], W.dtype)
            self._scale = rows[self._ids][:, None]
            out *= self._scale
        return out.reshape(T, B, -1).transpose(1, 0, 2)

    def backward(self, dout):
        grad = self.grads["W"]
        E = grad.shape[1]
        if not self.shared:
            # Only the rows of the last chunk are non-zero: clearing them is exact and
            # avoids zeroing all V rows every step.
            if self._touched is None:
                grad[...] = 0
            else:
                grad[self._touched] = 0
            self._touched = self.rows = np.unique(self._ids)
        drows = time_major(dout).reshape(-1, E)
        if self._scale is not None:
            drows = drows * self._scale
        np.add.at(grad, self._ids, drows)


class TimeAffine:
    """y = x W + b over a (B, T, D) block -> (B, T, V).

    With ``transposed=True`` the weight is given as (V, D) and used as W.T: that is how the
    output layer shares the embedding matrix (weight tying) without copying it.
    """

    def __init__(self, W, b, transposed=False):
        self.params = {"W": W, "b": b}
        self.grads = {"W": np.zeros_like(W), "b": np.zeros_like(b)}
        self.transposed = transposed
        self._y = None

    def _weight(self):
        W = self.params["W"]
        return W.T if self.transposed else W

    def forward(self, xs, bias=True):
        """``bias=False`` leaves b out: the caller adds it (the loss does, in its own pass)."""
        x = time_major(xs)
        T, B, D = x.shape
        self._x = x.reshape(T * B, D)
        W = self._weight()
        shape = (T * B, W.shape[1])
        if self._y is None or self._y.shape != shape:
            self._y = np.empty(shape, W.dtype)    # the largest array of a step: allocated once
        np.matmul(self._x, W, out=self._y)
        if bias:
            add_bias(self._y, self.params["b"])
        return self._y.reshape(T, B, -1).transpose(1, 0, 2)

    def backward(self, dys):
        dy = time_major(dys)
        T, B, V = dy.shape
        dy = dy.reshape(T * B, V)
        if self.transposed:
            np.matmul(dy.T, self._x, out=self.grads["W"])
        else:
            np.matmul(self._x.T, dy, out=self.grads["W"])
        # Column sums as a matrix-vector product: BLAS, both cores, no temporary.
        np.matmul(np.ones(T * B, dy.dtype), dy, out=self.grads["b"])
        dx = dy @ self._weight().T
        return dx.reshape(T, B, -1).transpose(1, 0, 2)


class TimeDropout:
    """Inverted dropout on a (B, T, D) block: zero each unit with probability p, scale by 1/(1-p).

    ``variational=True`` draws one mask per sequence (per batch row), shared over all time
    steps of the call, as in Gal & Ghahramani (2016); otherwise every (b, t, d) is drawn anew.
    Masks come from ``rng``, so resetting its state reproduces them (the gradient checks do).
    Does nothing outside training.
    """

    def __init__(self, p, variational=False, rng=None):
        self.params, self.grads = {}, {}
        self.p = float(p)
        self.variational = variational
        self.rng = rng if rng is not None else np.random.default_rng()
        self.training = True
        self._mask = None

    def forward(self, xs):
        if not self.training or self.p == 0.0:
            self._mask = None
            return xs
        x = time_major(xs)
        T, B, D = x.shape
        shape = (1, B, D) if self.variational else (T, B, D)
        self._mask = _dropout_mask(self.rng, self.p, shape, x.dtype)
        return (x * self._mask).transpose(1, 0, 2)

    def backward(self, dout):
        if self._mask is None:
            return dout
        return (time_major(dout) * self._mask).transpose(1, 0, 2)


class SoftmaxLoss:
    """Mean cross-entropy (nats per token) of logits (B, T, V) against targets (B, T).

    Fused and in place: with ``with_grad`` (a training step's backward follows) the logits
    buffer it is given is overwritten by the gradient in the same pass; no second (B*T, V)
    array ever exists. Pass a copy if you still need the logits. Without it the logits are
    only read (evaluation writes nothing back), and ``backward``, if asked, computes the
    gradient from them in a pass of its own. ``bias`` (V,) is added to the logits on the way.
    """

    def forward(self, logits, targets, bias=None, with_grad=False):
        z = time_major(logits)
        T, B, V = z.shape
        self._shape = (T, B, V)
        self._z = z.reshape(T * B, V)
        self._targets = np.ascontiguousarray(targets.T).ravel()
        self._bias = bias
        self._scale = 1.0 / (T * B)
        losses = softmax_cross_entropy(self._z, self._targets, bias,
                                       self._scale if with_grad else None)
        self._grad_ready = with_grad
        self.token_losses = losses.reshape(T, B).T                   # (B, T), for callers
        return float(losses.sum(dtype=np.float64)) / losses.size

    def backward(self):
        T, B, V = self._shape
        if not self._grad_ready:
            softmax_cross_entropy(self._z, self._targets, self._bias, self._scale)
            self._grad_ready = True
        return self._z.reshape(T, B, V).transpose(1, 0, 2)


class AdaptiveSoftmax:
    """Output layer and loss in one: the adaptive softmax of Grave et al. (2017), the function
    of PyTorch's ``nn.AdaptiveLogSoftmaxWithLoss(H, V, cutoffs, div_value=4, head_bias=True)``.

    Ids run from the most frequent type down (the Vocabulary's order). ``cutoffs``
    c_1 < ... < c_K split them into the head's shortlist [0, c_1) and K tail clusters
    [c_k, c_(k+1)), c_(K+1) = V. The head scores the shortlist and one entry per cluster; a
    cluster scores its own types from h projected to d_k = H // 4^k units:
        log p(w) = log softmax(h W + b)[w]                                w < c_1
        log p(w) = log softmax(h W + b)[c_1 + k - 1]
                   + log softmax((h P_k) W_k)[w - c_k]                   w in cluster k
    With targets, a cluster's products run only over the rows whose target lies in it.

    Parameters: "W" (H, c_1 + K), "b" (c_1 + K,); for k = 0..K-1 "P{k}" (H, d_(k+1)),
    "W{k}" (d_(k+1), c_(k+2) - c_(k+1)).

    ``forward`` with targets (B, T) returns the mean loss (nats per token) and, with
    ``with_grad``, leaves the gradients of the products in their buffers for ``backward``;
    without targets it returns log p (B, T, V), which are logits of the same distribution.
    """

    def __init__(self, params, cutoffs):
        self.params = params
        self.grads = {k: np.zeros_like(v) for k, v in params.items()}
        self.cutoffs = tuple(cutoffs)
        vocab_size = cutoffs[-1] + params[f"W{len(cutoffs) - 1}"].shape[1]
        self.bounds = (*self.cutoffs, vocab_size)           # cluster k: bounds[k]..bounds[k+1]
        self._head, self._ready = None, False

    @staticmethod
    def shapes(hidden_size, vocab_size, cutoffs):
        """name -> shape of each parameter (see the class)."""
        bounds = (*cutoffs, vocab_size)
        shapes = {"W": (hidden_size, cutoffs[0] + len(cutoffs)), "b": (cutoffs[0] + len(cutoffs),)}
        for k in range(len(cutoffs)):
            d = hidden_size // 4 ** (k + 1)
            shapes[f"P{k}"] = (hidden_size, d)
            shapes[f"W{k}"] = (d, bounds[k + 1] - bounds[k])
        return shapes

    def forward(self, hs, targets=None, with_grad=False):
        x = time_major(hs)
        T, B, H = x.shape
        self._shape = (T, B, H)
        x = self._x = x.reshape(T * B, H)
        p = self.params
        shape = (T * B, p["W"].shape[1])
        if self._head is None or self._head.shape != shape:
            self._head = np.empty(shape, x.dtype)      # allocated once, as TimeAffine's
        head = np.matmul(x, p["W"], out=self._head)
        if targets is None:
            self._ready = False
            return self._log_probs(x, head).reshape(T, B, -1).transpose(1, 0, 2)
        t = np.ascontiguousarray(targets.T).ravel()
        scale = 1.0 / t.size
        head_t = t.copy()
        self._tails = []            # per cluster: (rows, x[rows], x[rows] P_k, logits or dz)
        for k, (lo, hi) in enumerate(zip(self.bounds, self.bounds[1:])):
            rows = np.flatnonzero((t >= lo) & (t < hi))
            head_t[rows] = self.cutoffs[0] + k
            xk = x[rows]
            pk = xk @ p[f"P{k}"]
            self._tails.append((rows, t[rows] - lo, xk, pk, pk @ p[f"W{k}"]))
        self._head_t, self._scale = head_t, scale
        losses = self._losses(scale if with_grad else None)
        self._grad_ready, self._ready = with_grad, True
        return float(losses.sum(dtype=np.float64)) / losses.size

    def _losses(self, grad_scale):
        """Each row's loss, head plus its target's cluster; with ``grad_scale`` the logits
        buffers are left holding the scaled gradients (see softmax_cross_entropy)."""
        losses = softmax_cross_entropy(self._head, self._head_t, self.params["b"], grad_scale)
        for rows, tk, _, _, zk in self._tails:
            if rows.size:
                losses[rows] += softmax_cross_entropy(zk, tk, None, grad_scale)
        return losses

    def backward(self, weights=True):
        """d loss / d hs (B, T, H) of the last forward with targets; the parameters' gradients
        too unless ``weights`` is False."""
        if not self._ready:
            raise RuntimeError("AdaptiveSoftmax.backward needs a forward with targets")
        p, g, x = self.params, self.grads, self._x
        if not self._grad_ready:          # evaluation's forward only read the logits
            self._losses(self._scale)
            self._grad_ready = True
        dz = self._head
        dx = dz @ p["W"].T
        if weights:
            np.matmul(x.T, dz, out=g["W"])
            np.matmul(np.ones(len(dz), dz.dtype), dz, out=g["b"])
        for k, (rows, _, xk, pk, dzk) in enumerate(self._tails):
            dpk = dzk @ p[f"W{k}"].T
            dx[rows] += dpk @ p[f"P{k}"].T
            if weights:
                np.matmul(pk.T, dzk, out=g[f"W{k}"])
                np.matmul(xk.T, dpk, out=g[f"P{k}"])
        T, B, H = self._shape
        return dx.reshape(T, B, H).transpose(1, 0, 2)

    def _log_probs(self, x, head):
        """log p (N, V) of every type for the rows x (N, H) and their head logits (N, c_1 + K)."""
        p, c1 = self.params, self.cutoffs[0]
        head = log_softmax(head + p["b"])
        out = np.empty((len(x), self.bounds[-1]), x.dtype)
        out[:, :c1] = head[:, :c1]
        for k, (lo, hi) in enumerate(zip(self.bounds, self.bounds[1:])):
            tail = log_softmax((x @ p[f"P{k}"]) @ p[f"W{k}"])
            np.add(tail, head[:, c1 + k, None], out=out[:, lo:hi])
        return out


class _TimeRecurrent:
    """What the three recurrent layers share: the projection and weight gradients in bulk.

    Parameters for a layer of G gate blocks of H units: Wx (D, G*H), Wh (H, G*H), b (G*H,).
    Subclasses implement ``_steps`` (the time loop forward over the pre-activations
    A = x Wx + b, in place) and ``_steps_backward`` (returns dA, the gradient of A).
    ``self._hs`` is (T+1, B, H) with the carried-in state in row 0.

    With ``record_dh`` set, ``backward`` keeps ``self.dhs`` (T, B, H): the total gradient of
    each step's output h_t, from above (dhs[t]) plus through the recurrence (from step t+1),
    i.e. the ``dh`` the time loop holds at step t. Gradient flow reads it (gradients.py).

    ``weight_drop`` p > 0 (in training): DropConnect on the recurrent weights (Wan et al.
    2013, as AWD-LSTM uses it, Merity et al. 2017): each call draws one mask M over Wh and
    runs all its steps with Wh * M / (1 - p); the gradient of Wh is that of the product,
    masked and scaled the same way. ``self._Wh`` is the matrix the steps use.
    """

    blocks = 1
    record_dh = False

    def __init__(self, Wx, Wh, b, weight_drop=0.0, rng=None):
        self.params = {"Wx": Wx, "Wh": Wh, "b": b}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.hidden_size = Wh.shape[0]
        self.state = None           # dict of (B, H) arrays carried between calls
        self.weight_drop = float(weight_drop)
        self.rng = rng if rng is not None else np.random.default_rng()
        self.training = True
        self._Wh_mask = None

    def reset_state(self):
        self.state = None

    def _initial(self, name, B, dtype):
        if self.state is None or self.state[name].shape[0] != B:
            return np.zeros((B, self.hidden_size), dtype)    # fresh, or batch size changed
        return self.state[name]

    def forward(self, xs):
        x = time_major(xs)
        T, B, D = x.shape
        H, Wx = self.hidden_size, self.params["Wx"]
        self._x = x.reshape(T * B, D)
        A = np.matmul(self._x, Wx).reshape(T, B, -1)    # inputs of all steps: one product
        A += self.params["b"]
        self._hs = np.empty((T + 1, B, H), Wx.dtype)
        self._hs[0] = self._initial("h", B, Wx.dtype)
        self._A = A
        self._Wh, self._Wh_mask = self.params["Wh"], None
        if self.training and self.weight_drop > 0.0:
            self._Wh_mask = _dropout_mask(self.rng, self.weight_drop, self._Wh.shape, Wx.dtype)
            self._Wh = self._Wh * self._Wh_mask
        self._steps(A)
        self.state = self._final_state()
        return self._hs[1:].transpose(1, 0, 2)

    def _final_state(self):
        return {"h": self._hs[-1].copy()}

    def backward(self, dhs, weights=True):
        """dhs (B, T, H) -> dxs (B, T, D); ``weights=False`` leaves the weight gradients as
        they were (a reader of gradients, not a training step, saves three products)."""
        dh_seq = time_major(dhs)
        T, B, H = dh_seq.shape
        self.dhs = np.empty_like(dh_seq) if self.record_dh else None
        dA = self._steps_backward(dh_seq).reshape(T * B, -1)
        if weights:
            np.matmul(self._x.T, dA, out=self.grads["Wx"])
            self._grad_Wh(dA)
            if self._Wh_mask is not None:
                self.grads["Wh"] *= self._Wh_mask
            np.sum(dA, axis=0, out=self.grads["b"])
        dx = dA @ self.params["Wx"].T
        return dx.reshape(T, B, -1).transpose(1, 0, 2)

    def _grad_Wh(self, dA):
        h_prev = self._hs[:-1].reshape(-1, self.hidden_size)
        np.matmul(h_prev.T, dA, out=self.grads["Wh"])


class _StepProduct:
    """``x @ M`` for a time loop's per-step products, x (B, K), M (K, N) -> (B, N).

    Which layout runs faster depends on M's size (OpenBLAS, per product at B=20): from about
    200 x 400, ``M.T @ x.T`` into an (N, B) buffer, with M.T contiguous, returned as its
    (B, N) transposed view (the backward's products 1.1-1.5x faster on a Zen 4, the
    forward's 1.1-1.4x on a Zen 3 with the strided add of the view counted); below that,
    ``x @ M`` with M contiguous is as fast or faster. The small layers keep that arrangement,
    and with it their rounding: the DLfS2 recipe's figures stay as logged. The backward loop
    passes Wh.T, so M.T is Wh itself; the forward loop passes Wh, and the contiguous copy of
    Wh.T costs about what five to eight products save, so calls of fewer steps (generation's
    one) keep ``x @ M``.
    """

    min_size = 80_000
    min_steps = 8

    def __init__(self, M, batch, steps):
        copy_pays = M.T.flags.c_contiguous or steps >= self.min_steps
        self._transposed = M.size >= self.min_size and copy_pays
        if self._transposed:                      # M.T contiguous; the product lands as (N, B)
            self._M, self._out = np.ascontiguousarray(M.T), np.empty((M.shape[1], batch), M.dtype)
        else:                                     # M contiguous; the product is (B, N)
            self._M, self._out = np.ascontiguousarray(M), np.empty((batch, M.shape[1]), M.dtype)

    def __call__(self, x):
        """The product, in a buffer this object reuses on every call."""
        if self._transposed:
            return np.matmul(self._M, x.T, out=self._out).T
        return np.matmul(x, self._M, out=self._out)


def _activate(a, n):
    """In place: sigmoid on the first n columns of a, tanh on the rest, with one tanh call.

    sigmoid(x) = (1 + tanh(x / 2)) / 2, so halving the sigmoid block first lets a single tanh
    serve the gates and the candidate together (and it is stable for any x).
    """
    gates = a[:, :n]
    gates *= 0.5
    np.tanh(a, out=a)
    gates *= 0.5
    gates += 0.5


class TimeRNN(_TimeRecurrent):
    """Elman RNN over a (B, T, D) block: h_t = tanh(x_t Wx + h_{t-1} Wh + b) -> (B, T, H)."""

    def _steps(self, A):
        hs = self._hs
        times_Wh = _StepProduct(self._Wh, hs.shape[1], A.shape[0])
        for t in range(A.shape[0]):
            A[t] += times_Wh(hs[t])
            np.tanh(A[t], out=hs[t + 1])

    def _steps_backward(self, dh_seq):
        hs = self._hs
        dtanh = 1.0 - hs[1:] * hs[1:]                          # all steps at once
        dA = np.empty_like(dtanh)
        times_WhT = _StepProduct(self._Wh.T, hs.shape[1], dh_seq.shape[0])
        dh, dh_rec = np.empty_like(hs[0]), np.zeros_like(hs[0])
        record = self.dhs
        for t in range(dh_seq.shape[0] - 1, -1, -1):
            np.add(dh_seq[t], dh_rec, out=dh)
            if record is not None:
                record[t] = dh
            np.multiply(dh, dtanh[t], out=dA[t])
            dh_rec = times_WhT(dA[t])
        return dA

    def gates(self):
        return {"h": self._hs[1:].transpose(1, 0, 2).copy()}


class TimeLSTM(_TimeRecurrent):
    """LSTM over a (B, T, D) block -> hs (B, T, H).

    Gates are packed [f, i, o, g] along the last axis of the 4H projection (the three sigmoid
    gates contiguous, then the tanh candidate), in Wx (D, 4H), Wh (H, 4H) and b (4H,):
        f, i, o = sigmoid(.),  g = tanh(.)   of  x_t Wx + h_{t-1} Wh + b
        c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)
    """

    blocks = 4

    def _steps(self, A):
        T, B, H4 = A.shape
        H = H4 // 4
        hs = self._hs
        self._cs = cs = np.empty_like(hs)
        cs[0] = self._initial("c", B, A.dtype)
        self._tanh_c = tanh_c = np.empty((T, B, H), A.dtype)
        times_Wh = _StepProduct(self._Wh, B, T)
        ig = np.empty((B, H), A.dtype)
        for t in range(T):
            a = A[t]
            a += times_Wh(hs[t])
            _activate(a, 3 * H)
            f, i, o, g = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
            np.multiply(f, cs[t], out=cs[t + 1])
            np.multiply(i, g, out=ig)
            cs[t + 1] += ig
            np.tanh(cs[t + 1], out=tanh_c[t])
            np.multiply(o, tanh_c[t], out=hs[t + 1])

    def _final_state(self):
        return {"h": self._hs[-1].copy(), "c": self._cs[-1].copy()}

    def _steps_backward(self, dh_seq):
        A, cs, tanh_c = self._A, self._cs, self._tanh_c
        T, B, H4 = A.shape
        H = H4 // 4
        f, i, o, g = A[..., :H], A[..., H : 2 * H], A[..., 2 * H : 3 * H], A[..., 3 * H :]
        # Everything the recurrence does not feed back is computed for all steps at once:
        # dc_t = dh_t * o (1 - tanh(c)^2) + dc_{t+1} * f_{t+1}   -> dh_to_dc
        # dA_t = [dc * c_{t-1} f(1-f), dc * g i(1-i), dh * tanh(c) o(1-o), dc * i (1-g^2)]
        #      = [dc, dc, dh, dc] * coef
        dh_to_dc = 1.0 - tanh_c * tanh_c
        dh_to_dc *= o
        coef = A * (1.0 - A)                          # sigmoid' for f, i, o (g block redone)
        coef[..., 3 * H :] = 1.0 - g * g
        coef[..., :H] *= cs[:-1]
        coef[..., H : 2 * H] *= g
        coef[..., 2 * H : 3 * H] *= tanh_c
        coef[..., 3 * H :] *= i
        coef4 = coef.reshape(T, B, 4, H)
        dA = np.empty_like(A)
        dA4 = dA.reshape(T, B, 4, H)
        times_WhT = _StepProduct(self._Wh.T, B, T)
        dh, dc = np.empty((B, H), A.dtype), np.empty((B, H), A.dtype)
        dh_rec, dc_next = np.zeros((B, H), A.dtype), np.zeros((B, H), A.dtype)
        record = self.dhs
        for t in range(T - 1, -1, -1):
            np.add(dh_seq[t], dh_rec, out=dh)
            if record is not None:
                record[t] = dh
            np.multiply(dh, dh_to_dc[t], out=dc)
            dc += dc_next
            np.multiply(dc[:, None, :], coef4[t], out=dA4[t])       # f, i, g blocks (o redone)
            np.multiply(dh, coef4[t, :, 2], out=dA4[t, :, 2])
            np.multiply(dc, f[t], out=dc_next)
            dh_rec = times_WhT(dA[t])
        return dA

    def gates(self):
        A, H = self._A, self.hidden_size
        out = {name: A[..., k * H : (k + 1) * H] for k, name in enumerate("fiog")}
        out["c"], out["h"] = self._cs[1:], self._hs[1:]
        return {k: v.transpose(1, 0, 2).copy() for k, v in out.items()}


class TimeGRU(_TimeRecurrent):
    """GRU over a (B, T, D) block -> hs (B, T, H).

    Gates are packed [z, r, n] along the last axis of the 3H projection, in Wx (D, 3H),
    Wh (H, 3H) and b (3H,):
        z = sigmoid(x Wxz + h Whz + bz)        update gate
        r = sigmoid(x Wxr + h Whr + br)        reset gate
        n = tanh(x Wxn + (r * h) Whn + bn)     candidate: the reset applies *before* the product
        h_t = (1 - z) * h_{t-1} + z * n        z weights the *new* candidate
    PyTorch's GRU differs on both counts (r * (h Whn + bhn), and z weights the old state), so
    its weights do not transfer as they are.
    """

    blocks = 3

    def _steps(self, A):
        T, B, H3 = A.shape
        H = H3 // 3
        hs = self._hs
        self._rh = rh = np.empty((T, B, H), A.dtype)     # r * h_{t-1}, for the Whn gradient
        self._n_minus_h = n_minus_h = np.empty((T, B, H), A.dtype)
        times_Wh_zr = _StepProduct(self._Wh[:, : 2 * H], B, T)
        times_Wh_n = _StepProduct(self._Wh[:, 2 * H :], B, T)
        tmp = np.empty((B, H), A.dtype)
        for t in range(T):
            a = A[t]
            zr, n = a[:, : 2 * H], a[:, 2 * H :]
            zr += times_Wh_zr(hs[t])
            _activate(zr, 2 * H)
            np.multiply(a[:, H : 2 * H], hs[t], out=rh[t])
            n += times_Wh_n(rh[t])
            np.tanh(n, out=n)
            np.subtract(n, hs[t], out=n_minus_h[t])
            np.multiply(a[:, :H], n_minus_h[t], out=tmp)
            np.add(hs[t], tmp, out=hs[t + 1])

    def _steps_backward(self, dh_seq):
        A, hs = self._A, self._hs
        T, B, H3 = A.shape
        H = H3 // 3
        z, r, n = A[..., :H], A[..., H : 2 * H], A[..., 2 * H :]
        # Factors the recurrence does not feed back, for all steps at once:
        # dA_z = dh * (n - h) z(1-z),  dA_n = dh * z (1-n^2),  dA_r = d(rh) * h r(1-r)
        to_z = self._n_minus_h * z * (1.0 - z)
        to_n = z * (1.0 - n * n)
        to_r = hs[:-1] * r * (1.0 - r)
        keep = 1.0 - z
        times_Wh_zr_T = _StepProduct(self._Wh[:, : 2 * H].T, B, T)
        times_Wh_n_T = _StepProduct(self._Wh[:, 2 * H :].T, B, T)
        dA = np.empty_like(A)
        dh, tmp = np.empty((B, H), A.dtype), np.empty((B, H), A.dtype)
        dh_rec = np.zeros((B, H), A.dtype)
        record = self.dhs
        for t in range(T - 1, -1, -1):
            da = dA[t]
            np.add(dh_seq[t], dh_rec, out=dh)
            if record is not None:
                record[t] = dh
            np.multiply(dh, to_z[t], out=da[:, :H])
            np.multiply(dh, to_n[t], out=da[:, 2 * H :])
            drh = times_Wh_n_T(da[:, 2 * H :])
            np.multiply(drh, to_r[t], out=da[:, H : 2 * H])
            np.multiply(dh, keep[t], out=dh_rec)
            np.multiply(drh, r[t], out=tmp)
            dh_rec += tmp
            dh_rec += times_Wh_zr_T(da[:, : 2 * H])
        return dA

    def _grad_Wh(self, dA):
        H = self.hidden_size
        h_prev = self._hs[:-1].reshape(-1, H)
        gWh = self.grads["Wh"]
        gWh[:, : 2 * H] = h_prev.T @ dA[:, : 2 * H]
        gWh[:, 2 * H :] = self._rh.reshape(-1, H).T @ dA[:, 2 * H :]

    def gates(self):
        A, H = self._A, self.hidden_size
        out = {name: A[..., k * H : (k + 1) * H] for k, name in enumerate("zrn")}
        out["h"] = self._hs[1:]
        return {k: v.transpose(1, 0, 2).copy() for k, v in out.items()}


RECURRENT_LAYERS = {"rnn": TimeRNN, "lstm": TimeLSTM, "gru": TimeGRU}
