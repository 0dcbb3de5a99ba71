"""LanguageModel: embedding -> stacked recurrent layers -> output layer -> softmax loss."""

import dataclasses
import math
import os
from contextlib import contextmanager

import numpy as np

from .config import ModelConfig
from .errors import RnnlmError, UsageError
from .layers import (RECURRENT_LAYERS, AdaptiveSoftmax, Embedding, SoftmaxLoss, TimeAffine,
                     TimeDropout)


class LanguageModel:
    """A word- or character-level recurrent language model.

    Token ids (B, T) -> embedding (E) -> ``num_layers`` recurrent layers (H) -> logits (V).
    Dropout acts on the embedding output, between layers and before the output layer (the
    non-recurrent connections, each at its rate: ``ModelConfig.dropout_rates``);
    ``variational`` shares one mask over the time steps of a call. ``dropout_words`` drops
    whole rows of the embedding, ``weight_drop`` entries of each layer's Wh, one mask a call.
    With ``tie_weights`` the output layer uses the embedding matrix transposed: there is no
    "out.W", and "embed.W"'s gradient holds both contributions. With ``softmax="adaptive"``
    the output layer and loss are one AdaptiveSoftmax (see there) over ``cutoffs``.

    Parameters, by name (G = 4 for lstm [f, i, o, g], 3 for gru [z, r, n], 1 for rnn):
        "embed.W" (V, E); "{cell}{l}.Wx" (in, G*H), ".Wh" (H, G*H), ".b" (G*H,);
        "out.W" (H, V), "out.b" (V,); adaptive instead: "head.W" (H, c_1 + K), "head.b",
        "tail{k}.P" (H, H // 4^(k+1)), "tail{k}.W" (H // 4^(k+1), size of cluster k)
    All are drawn uniformly from [-init_scale, init_scale] (biases too), from ``seed``.

    Hidden (and cell) state carry from one ``forward`` to the next until ``reset_state``;
    gradients stop at the call boundary (truncated BPTT). A batch of another size starts from
    a zero state.
    """

    def __init__(self, vocab_size, **settings):
        """``settings``: the fields of ModelConfig (cell="lstm", num_layers=2, embed_size=200,
        hidden_size=200, dropout=0.0, ..., dtype="float32", seed=0), by keyword."""
        self.config = ModelConfig(vocab_size, **settings)
        self.dtype = np.dtype(self.config.dtype)
        self.rng = np.random.default_rng(self.config.seed)  # parameters, then dropout masks
        self.params = self._init_params()
        self._build_layers()
        self.grads = {name: layer.grads[key] for name, (layer, key) in self._owners.items()}
        self.gates = []
        self.training = True
        self._loss_ready = False
        self._forwards = 0                  # calls of forward: evaluating() tells if it ran

    @classmethod
    def from_config(cls, config):
        return cls(**config.to_dict())

    def _init_params(self):
        s = self.config.init_scale
        return {name: self.rng.uniform(-s, s, shape).astype(self.dtype)
                for name, shape in param_shapes(self.config).items()}

    def _build_layers(self):
        c, p = self.config, self.params
        self.embed = Embedding(p["embed.W"], shared=c.tie_weights, drop_words=c.dropout_words,
                               rng=self.rng)
        self.layers = [
            RECURRENT_LAYERS[c.cell](*(p[f"{c.cell}{l}.{k}"] for k in ("Wx", "Wh", "b")),
                                     weight_drop=c.weight_drop, rng=self.rng)
            for l in range(c.num_layers)
        ]
        embed, hidden, out = c.dropout_rates
        rates = [embed] + [hidden] * (c.num_layers - 1) + [out]
        self.dropouts = [TimeDropout(rate, c.variational, self.rng) for rate in rates]
        # Which layer holds each named parameter, in the order of self.params.
        owners = {"embed.W": (self.embed, "W")}
        for l, layer in enumerate(self.layers):
            owners.update({f"{c.cell}{l}.{k}": (layer, k) for k in ("Wx", "Wh", "b")})
        self.adaptive = c.softmax == "adaptive"
        if self.adaptive:
            names = _adaptive_names(len(c.cutoffs))
            self.out = AdaptiveSoftmax({key: p[name] for name, key in names.items()}, c.cutoffs)
            self.loss_layer = None
            owners.update({name: (self.out, key) for name, key in names.items()})
        else:
            tied = c.tie_weights
            self.out = TimeAffine(p["embed.W"] if tied else p["out.W"], p["out.b"],
                                  transposed=tied)
            self.loss_layer = SoftmaxLoss()
            if tied:
                # One gradient array for the shared matrix: the output layer writes it, then
                # the embedding adds its rows (see Embedding(shared=True)).
                self.embed.grads["W"] = self.out.grads["W"]
            else:
                owners["out.W"] = (self.out, "W")
            owners["out.b"] = (self.out, "b")
        self._owners = owners

    # --- modes and state -------------------------------------------------------------------
    def train(self):
        self._set_training(True)
        return self

    def eval(self):
        self._set_training(False)
        return self

    def _set_training(self, flag):
        self.training = flag
        for part in (self.embed, *self.layers, *self.dropouts):
            part.training = flag

    @contextmanager
    def evaluating(self, restore_state=False):
        """Eval mode (no dropout) for the block; the training flag as it was afterwards.

        With ``restore_state`` the carried state is saved too and put back afterwards, so a
        validation or a recording in the middle of a training epoch leaves it undisturbed;
        without it, the state stays as the block left it (generation's state is its own).
        A forward in the block replaces the loss a backward() after it would differentiate,
        so backward() is then refused until the next forward(x, t), not computed for the
        block's last chunk.
        """
        training, saved = self.training, self.state if restore_state else None
        forwards = self._forwards
        self._set_training(False)
        try:
            yield self
        finally:
            if restore_state:
                self.state = saved
            self._set_training(training)
            if self._forwards != forwards:
                self._loss_ready = False

    def reset_state(self):
        for layer in self.layers:
            layer.reset_state()

    @property
    def state(self):
        """The carried state: one dict per layer ({"h"}, plus "c" for the LSTM), or None."""
        return [None if l.state is None else {k: v.copy() for k, v in l.state.items()}
                for l in self.layers]

    @state.setter
    def state(self, states):
        for layer, s in zip(self.layers, states, strict=True):
            layer.state = None if s is None else {k: np.array(v, self.dtype) for k, v in s.items()}

    # --- computation -----------------------------------------------------------------------
    def _check_ids(self, ids, name):
        ids = np.asarray(ids)
        if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer) or ids.size == 0:
            raise UsageError(f"{name} must be a non-empty (batch, time) array of integer token ids")
        if ids.min() < 0 or ids.max() >= self.config.vocab_size:
            raise UsageError(f"{name} holds ids outside [0, {self.config.vocab_size})")
        return ids

    def forward(self, x, t=None, record_gates=False):
        """x (B, T) ids -> mean cross-entropy per token (nats) against t, or (B, T, V) logits
        (with the adaptive softmax: log-probabilities, logits of the same distribution)."""
        x = self._check_ids(x, "x")
        self._forwards += 1
        if t is not None:
            t = self._check_ids(t, "t")
            if t.shape != x.shape:
                raise UsageError(f"targets of shape {t.shape} do not match inputs {x.shape}")
        h = self.dropouts[0].forward(self.embed.forward(x))
        for layer, dropout in zip(self.layers, self.dropouts[1:]):
            h = dropout.forward(layer.forward(h))
        self.gates = [layer.gates() for layer in self.layers] if record_gates else []
        if self.adaptive:
            self._loss_ready = t is not None
            return self.out.forward(h, t, with_grad=self.training)     # log p: a new array
        # With targets the loss adds the output bias in its own pass over the logits, and in
        # training writes the gradient there too: the logits leave memory once, not per pass.
        logits = self.out.forward(h, bias=t is None)
        if t is None:
            self._loss_ready = False
            return logits.copy()            # the layer's buffer is reused by the next call
        self._loss_ready = True
        return self.loss_layer.forward(logits, t, bias=self.out.params["b"],
                                       with_grad=self.training)

    def backward(self):
        """Write the gradients of the last forward's loss into ``self.grads``."""
        if not self._loss_ready:
            raise UsageError("backward() needs a forward(x, t) with targets before it")
        self._loss_ready = False            # the loss buffer now holds gradients
        dh = self.out.backward() if self.adaptive else self.out.backward(self.loss_layer.backward())
        for layer, dropout in zip(reversed(self.layers), reversed(self.dropouts[1:])):
            dh = layer.backward(dropout.backward(dh))
        self.embed.backward(self.dropouts[0].backward(dh))

    @property
    def grad_rows(self):
        """{name: row ids} of the gradients that are zero outside those rows after the last
        ``backward``: the untied embedding's, whose matrix a step touches at most B*T rows of.
        ``clip_grad_norm`` and ``SGD.step`` take it to skip the rest ({} when tied)."""
        rows = self.embed.rows
        return {} if self.config.tie_weights or rows is None else {"embed.W": rows}

    def step_logits(self, ids):
        """One generation step without dropout: ids (B,) -> logits (B, V), state carried."""
        ids = np.asarray(ids)
        if ids.ndim != 1:
            raise UsageError(f"step_logits takes one id per row, shape (batch,), got shape "
                             f"{ids.shape}")
        ids = ids.reshape(-1, 1)
        with self.evaluating():
            return self.forward(ids)[:, 0]

    def num_params(self):
        return sum(p.size for p in self.params.values())


def check_fits_memory(c):
    """A model too large to train on this machine -> one RnnlmError, before anything is
    allocated (or a loop over 10^20 layers begins). Training holds about five copies of the
    parameters: themselves, their gradients, the optimizer's state (SGD's scratch, Adam's two
    moments) and a step's temporaries as large as a gradient. Three let a 1.6e9-parameter
    model start and be killed by the kernel, 19 GB counted against 23.5 GiB."""
    one_layer = dataclasses.replace(c, num_layers=1)        # the layers above it: alike
    G, H = RECURRENT_LAYERS[c.cell].blocks, c.hidden_size
    count = sum(math.prod(shape) for shape in param_shapes(one_layer).values()) + \
        (c.num_layers - 1) * G * H * (2 * H + 1)
    need = 5 * count * np.dtype(c.dtype).itemsize
    memory, where = memory_limit()
    if memory is not None and need > memory:
        raise RnnlmError(f"a model of about {count:,} parameters needs {need / 2**30:,.1f} GiB "
                         f"to train, more than {where} ({memory / 2**30:,.1f} GiB): choose "
                         f"a smaller --embed-size, --hidden-size or --layers")


def memory_limit(cgroup_root="/sys/fs/cgroup", proc_cgroup="/proc/self/cgroup"):
    """(bytes, whose) this process may use: the machine's physical memory, or less where a
    cgroup limits it (a container, a CI runner: past its limit the kernel kills the process
    without a word). (None, None) where the system tells neither."""
    limits = []
    try:
        limits.append((os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
                       "this machine's memory"))
    except (AttributeError, ValueError, OSError):       # not a POSIX system that tells
        pass
    # cgroup v2 ("0::/path") and v1 ("N:memory:/path"); inside a container the path may not
    # exist under the root it sees, whose own file then holds the limit
    files = [f"{cgroup_root}/memory.max", f"{cgroup_root}/memory/memory.limit_in_bytes"]
    try:
        with open(proc_cgroup) as f:
            for line in f:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                if controllers == "":
                    files.append(f"{cgroup_root}{path}/memory.max")
                elif "memory" in controllers.split(","):
                    files.append(f"{cgroup_root}/memory{path}/memory.limit_in_bytes")
    except (OSError, ValueError):
        pass
    for path in files:
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit():              # "max" (v2) or a huge number (v1) when unlimited
            limits.append((int(text), "the memory limit of this process's cgroup"))
    return min(limits) if limits else (None, None)


def param_shapes(c):
    """name -> shape of every parameter of a model of ModelConfig ``c``, in ``params`` order."""
    shapes = {"embed.W": (c.vocab_size, c.embed_size)}
    blocks = RECURRENT_LAYERS[c.cell].blocks
    for layer in range(c.num_layers):
        size_in = c.embed_size if layer == 0 else c.hidden_size
        name = f"{c.cell}{layer}"
        shapes[f"{name}.Wx"] = (size_in, blocks * c.hidden_size)
        shapes[f"{name}.Wh"] = (c.hidden_size, blocks * c.hidden_size)
        shapes[f"{name}.b"] = (blocks * c.hidden_size,)
    if c.softmax == "adaptive":
        layer_shapes = AdaptiveSoftmax.shapes(c.hidden_size, c.vocab_size, c.cutoffs)
        shapes.update({name: layer_shapes[key]
                       for name, key in _adaptive_names(len(c.cutoffs)).items()})
        return shapes
    if not c.tie_weights:
        shapes["out.W"] = (c.hidden_size, c.vocab_size)
    shapes["out.b"] = (c.vocab_size,)
    return shapes


def _adaptive_names(clusters):
    """The model's name -> the AdaptiveSoftmax's key of each of its parameters, in its order."""
    names = {"head.W": "W", "head.b": "b"}
    for k in range(clusters):
        names.update({f"tail{k}.P": f"P{k}", f"tail{k}.W": f"W{k}"})
    return names
