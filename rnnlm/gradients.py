"""Gradient flow (the API's ``gradient_flow``): how fast does the gradient of a prediction
vanish as it travels back through time, layer by layer?

A text of tokens w_0..w_(n-1) is read from a zero state in evaluation mode (no dropout),
tokenized as a ``generate`` seed is (data.tokenize: "<eos>" after each line a newline ends, as
in a corpus; no priming). h^l_t is layer l's output after reading w_t, and
loss_t = -log p(w_(t+1) | w_0..w_t) for t = 0..n-2. For each layer l and lag k = 0..K:

    G[l][k] = mean over t = k..n-2 of || d loss_t / d h^l_(t-k) ||_2

The derivative is the *total* one: h^l_s feeds layer l+1 at step s and layer l's own
recurrence at step s+1 (for the LSTM only h is the variable; the cell state c is a separate
path). It comes from the engine's own backward, the ``dh`` each recurrent layer's time loop
holds at every step (``record_dh`` in layers.py).

How: one forward over the text records every layer's state after every step. Position t then
needs a backward of at most K+1 steps: the window s = t-K..t, started from the recorded state
before step t-K, is exact for lags <= K because the loss at t does not depend on how that
state came about. The windows of all t >= K have the same length and run as rows of one batch
(in chunks of ``CHUNK_ROWS``); the first K positions, whose windows start at the zero state,
run one by one.
"""

from pathlib import Path

import numpy as np

from .checkpoint import Checkpoint, default_model_path, load, model_and_vocab
from .data import read_text, tokenize, unknown_message
from .errors import CheckpointError, DataError, UsageError
from .functions import softmax_cross_entropy
from .model import LanguageModel

DEFAULT_LAG = 30
DEFAULT_TOKENS = 2000      # of the bundled jenny validation text
CHUNK_ROWS = 256           # windows per forward: bounds the (K+1, rows, 4H) buffers


def default_text():
    """The bundled jenny validation text up to its ``DEFAULT_TOKENS``-th word-level token,
    each line's "<eos>" counted: its first lines, the last one cut if need be."""
    from .bundled import JENNY_VALID, bundled_path
    path = bundled_path(JENNY_VALID, "jenny validation text", "pass --text or --file")
    lines, count = [], 0
    for line in path.read_text(encoding="utf-8").split("\n"):
        words = line.split()
        if not words:
            continue
        if len(words) >= DEFAULT_TOKENS - count:        # the text ends within this line
            lines.append(" ".join(words[:DEFAULT_TOKENS - count]))
            return "\n".join(lines)
        lines.append(" ".join(words))
        count += len(words) + 1                         # its words and its <eos>
        if count == DEFAULT_TOKENS:
            break
    return "\n".join(lines) + "\n"


def check_lag(max_lag):
    """--max-lag must be a whole number >= 0 (one-line UsageError)."""
    if isinstance(max_lag, bool) or not isinstance(max_lag, (int, np.integer)) or max_lag < 0:
        raise UsageError(f"--max-lag must be a whole number >= 0, got {max_lag}")
    return int(max_lag)


def record_states(model, ids):
    """Read ids (n,) from a zero state -> per layer {"h": (n+1, H), "c": ...} (row s: the state
    before step s, so row 0 is zero) and the logits (n, V). Eval mode; the state is left reset."""
    with model.evaluating():
        model.reset_state()
        logits = model.forward(np.asarray(ids, np.int64)[None, :])[0]
        states = []
        for layer in model.layers:
            # every step's state, which the layer keeps for its backward: (n+1, 1, H) each
            full = {"h": layer._hs, "c": getattr(layer, "_cs", None)}
            states.append({k: full[k][:, 0].copy() for k in layer.state})
        model.reset_state()
    return states, logits


def _windows(model, ids, states, ts, length):
    """The backward of loss_t over the window s = t-length+1..t, for each t of ``ts`` (B,).

    Returns one (length, B, H) array per layer: row j holds d loss_t / d h^l_(t-length+1+j),
    so row length-1-k is lag k. Each row starts from the recorded state before its window.
    """
    ts = np.asarray(ts)
    starts = ts - length + 1
    x = np.asarray(ids)[starts[:, None] + np.arange(length)]       # (B, length)
    targets = np.asarray(ids)[ts + 1]
    with model.evaluating():
        model.state = [{k: v[starts] for k, v in s.items()} for s in states]
        h = model.embed.forward(x)
        for layer in model.layers:
            h = layer.forward(h)
        # Only the last step is scored: the output layer sees (B, 1, H).
        h_last = np.ascontiguousarray(h[:, -1:])
        if model.adaptive:
            # its loss is the mean over the B rows: times B, each row's own gradient
            model.out.forward(h_last, targets[:, None], with_grad=True)
            dh_top = model.out.backward(weights=False)[:, 0] * len(targets)
        else:
            z = model.out.forward(h_last)[:, 0].copy()
            dz = z              # the loss writes d loss_t / d z over z, each row its own
            softmax_cross_entropy(dz, targets, grad_scale=1.0)
            # the output layer's backward by hand, leaving its weight gradients alone;
            # tied: W = E.T
            W = model.params["out.W"] if "out.W" in model.params else model.params["embed.W"].T
            dh_top = dz @ W.T
        B, H = dh_top.shape
        dh = np.zeros((B, length, H), model.dtype)
        dh[:, -1] = dh_top
        found = [None] * len(model.layers)
        try:
            for l in range(len(model.layers) - 1, -1, -1):
                layer = model.layers[l]
                layer.record_dh = True
                dh = layer.backward(dh, weights=False)
                found[l] = layer.dhs
        finally:
            for layer in model.layers:
                layer.record_dh, layer.dhs = False, None
        model.reset_state()
    return found


def hidden_gradients(model, ids, t, max_lag=DEFAULT_LAG, states=None):
    """d loss_t / d h^l_(t-k) for k = 0..min(K, t): {layer l: (min(K, t)+1, H)}, row k = lag k.

    ``model`` a LanguageModel, ``ids`` (n,) token ids, 0 <= t <= n-2; ``states`` from
    ``record_states`` (computed when not given). The model's gradients are left as they were.
    """
    ids = np.asarray(ids)
    if not 0 <= t <= len(ids) - 2:
        raise UsageError(f"t must be in [0, {len(ids) - 2}], got {t}")
    if states is None:
        states, _ = record_states(model, ids)
    length = min(check_lag(max_lag), t) + 1
    found = _windows(model, ids, states, [t], length)
    return {l: d[::-1, 0].copy() for l, d in enumerate(found)}


def flow(model, ids, max_lag=DEFAULT_LAG):
    """G (layers, K'+1) float64 for K' = min(K, n-2): G[l, k] = mean over t = k..n-2 of
    ||d loss_t / d h^l_(t-k)||. Gradients left as they were, the state reset."""
    ids = np.asarray(ids)
    n = len(ids)
    K = min(check_lag(max_lag), n - 2)
    states, _ = record_states(model, ids)
    sums = np.zeros((len(model.layers), K + 1))
    for t in range(K):                                   # windows that start at step 0
        for l, d in enumerate(_windows(model, ids, states, [t], t + 1)):
            sums[l, : t + 1] += np.linalg.norm(d[::-1, 0], axis=-1)
    full = np.arange(K, n - 1)
    for lo in range(0, len(full), CHUNK_ROWS):
        for l, d in enumerate(_windows(model, ids, states, full[lo : lo + CHUNK_ROWS], K + 1)):
            sums[l] += np.linalg.norm(d[::-1].astype(np.float64), axis=-1).sum(axis=1)
    counts = n - 1 - np.arange(K + 1)                    # positions t = k..n-2
    return sums / counts


def _read(text, file):
    if text is not None and file is not None:
        raise UsageError("give --text or --file, not both")
    if file is None:
        return default_text() if text is None else text
    return read_text(file)


def gradient_flow(checkpoint=None, text=None, max_lag=DEFAULT_LAG, *, file=None, vocab=None,
                  untrained=False, on_warning=None) -> dict:
    """Mean gradient norm of a prediction's loss with respect to each layer's output k steps back.

    ``checkpoint``: a path, a Checkpoint, a LanguageModel (with ``vocab``), or None for the
    shipped model. ``text`` (or a ``file``; neither: the first 2,000 tokens of the bundled
    jenny validation text) is tokenized as a generate seed; unknown tokens read as <unk>
    (one warning to ``on_warning``). ``untrained``: the same configuration (and seed), freshly
    initialised. Lags run 0..min(max_lag, n-2): a lag with no position is not reported.
    A LanguageModel given keeps its mode and carried state.

    Returns {"model", "untrained", "tokens", "layers": [{"layer": l, "lags": [0..K],
    "norm": [G[l][0], ..., G[l][K]]}]}.
    """
    max_lag = check_lag(max_lag)
    if checkpoint is None:
        checkpoint = default_model_path()
    name = "(model)" if isinstance(checkpoint, LanguageModel) else \
        str(checkpoint.path if isinstance(checkpoint, Checkpoint) else checkpoint)
    if isinstance(checkpoint, (str, Path)):
        checkpoint = load(checkpoint)
    model, vocab = model_and_vocab(checkpoint, vocab)
    tokens = tokenize(_read(text, file), vocab.level)
    if len(tokens) < 2:
        raise DataError(f"the text has {len(tokens)} token{'s' * (len(tokens) != 1)}: gradient "
                        "flow needs at least 2 (one prediction)")
    message = unknown_message(tokens, vocab)
    if message is not None and on_warning is not None:
        on_warning(message)
    if untrained:
        model = LanguageModel.from_config(model.config)
    # the caller's model keeps its carried state; non-finite norms are refused just below
    with model.evaluating(restore_state=True), np.errstate(all="ignore"):
        G = flow(model, vocab.encode(tokens), max_lag)
    if not np.isfinite(G).all():
        raise CheckpointError(f"the gradient norms of '{name}' are not finite numbers (its "
                              f"weights overflow float32 arithmetic): retrain it or use "
                              f"another checkpoint")
    return {"model": name, "untrained": bool(untrained), "tokens": len(tokens),
            "layers": [{"layer": l, "lags": list(range(G.shape[1])),
                        "norm": [float(v) for v in G[l]]} for l in range(len(G))]}


def flow_chart(results):
    """(series, Chart) of results: norm against lag, one line per layer of each model (named
    by the model's file name when there are several), on a log scale."""
    from .plot import Chart

    series = []
    for result in results:
        model = f"{Path(result['model']).stem} " if len(results) > 1 else ""
        for layer in result["layers"]:
            points = [(k, v) for k, v in zip(layer["lags"], layer["norm"]) if v > 0]  # log y
            series.append((f"{model}layer {layer['layer']}", [k for k, _ in points],
                           [v for _, v in points]))
    untrained = " (untrained)" if all(r["untrained"] for r in results) else ""
    return series, Chart("gradient norm by lag" + untrained, "lag k (steps back)", log_y=True)
