"""Models in and out of PyTorch (the API's ``export_torch`` and ``import_torch``), as
safetensors files: never pickled either way, and torch is not needed here (safetensors reads
and writes numpy arrays).

Two layouts. ``torch``, for the LSTM and the Elman RNN: a state_dict in the names of PyTorch's
``word_language_model`` example, loadable into nn.Embedding + nn.LSTM / nn.RNN + nn.Linear:

    encoder.weight (V, E)                   <- embed.W
    rnn.weight_ih_l{k} (G*H, D)             <- {cell}{k}.Wx.T, gate blocks in PyTorch's order
    rnn.weight_hh_l{k} (G*H, H)             <- {cell}{k}.Wh.T, the same
    rnn.bias_ih_l{k} (G*H,)                 <- {cell}{k}.b (our one bias), and bias_hh zero
    decoder.weight (V, H), decoder.bias (V,) <- out.W.T (or embed.W when tied), out.b

PyTorch packs the LSTM's gates [i, f, g, o], rnnlm [f, i, o, g]. ``rnnlm``, for any cell: our
own names and shapes (``embed.W``, ``gru0.Wx``, ...); a GRU can only go this way, since ours
applies the reset gate before the recurrent product and lets z weight the candidate, which is
not nn.GRU's function (``rnnlm.torch`` runs it). Either way the metadata (JSON strings) holds
the vocabulary (tokens in id order), its level, the cell and the model settings.

Importing a file PyTorch wrote: the cell comes from the metadata, else from the shapes; the
bias is bias_ih + bias_hh; the model is tied when ``decoder.weight`` is absent or equals
``encoder.weight``; the vocabulary comes from the metadata, else from a file of one token a
line in id order (``word_language_model``'s ``Dictionary.idx2word``). rnnlm keeps its specials
first (``<unk>`` = 0, and ``<eos>`` = 1 at word level), so their rows move to the front.
"""

import json
import re
from pathlib import Path

import numpy as np

from .config import CELLS, ModelConfig
from .data import SPECIALS, Vocabulary
from .errors import DataError, RnnlmError, UsageError
from .files import atomic_write

FORMAT = "rnnlm-torch"
LAYOUTS = ("torch", "rnnlm")
BLOCKS = {"rnn": 1, "lstm": 4, "gru": 3}
# Our gate blocks in PyTorch's order: [i, f, g, o] are our blocks [1, 0, 3, 2] of [f, i, o, g]
# (the same permutation takes PyTorch's back to ours).
TORCH_ORDER = {"rnn": [0], "lstm": [1, 0, 3, 2]}
_LAYER_KEY = re.compile(r"rnn\.(weight_ih|weight_hh|bias_ih|bias_hh)_l(\d+)")


def _safetensors():
    try:
        import safetensors.numpy
    except ImportError:
        raise RnnlmError("reading and writing safetensors files needs the safetensors "
                         "package: pip install safetensors") from None
    return safetensors


def _reorder(a, cell, axis):
    """a's gate blocks along ``axis`` in the other engine's order (an involution)."""
    blocks = np.split(a, BLOCKS[cell], axis=axis)
    return np.concatenate([blocks[k] for k in TORCH_ORDER[cell]], axis=axis)


# --- writing ---------------------------------------------------------------------------------

def torch_tensors(params, config):
    """rnnlm's parameters (name -> array) -> the torch layout's tensors (see the module)."""
    c = config
    if c.cell not in TORCH_ORDER:
        raise UsageError("rnnlm's GRU is not nn.GRU's function (the reset gate comes before "
                         "the recurrent product, z weights the candidate): export it with "
                         "--layout rnnlm and run it with rnnlm.torch")
    out = {"encoder.weight": params["embed.W"]}
    for k in range(c.num_layers):
        p = f"{c.cell}{k}"
        out[f"rnn.weight_ih_l{k}"] = _reorder(params[f"{p}.Wx"].T, c.cell, 0)
        out[f"rnn.weight_hh_l{k}"] = _reorder(params[f"{p}.Wh"].T, c.cell, 0)
        out[f"rnn.bias_ih_l{k}"] = _reorder(params[f"{p}.b"], c.cell, 0)
        out[f"rnn.bias_hh_l{k}"] = np.zeros_like(params[f"{p}.b"])
    out["decoder.weight"] = params["embed.W"] if c.tie_weights else params["out.W"].T
    out["decoder.bias"] = params["out.b"]
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


def write(path, config, params, vocab, layout="torch"):
    """Write a model's parameters, vocabulary and settings to a safetensors file, atomically."""
    if layout not in LAYOUTS:
        raise UsageError(f"--layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    path = Path(path)
    if not path.parent.is_dir():
        raise DataError(f"cannot write '{path}': directory '{path.parent}' does not exist")
    tensors = torch_tensors(params, config) if layout == "torch" else \
        {k: np.ascontiguousarray(v) for k, v in params.items()}
    from . import __version__
    metadata = {"format": FORMAT, "layout": layout, "cell": config.cell, "level": vocab.level,
                "vocab": json.dumps(list(vocab.tokens)), "config": json.dumps(config.to_dict()),
                "rnnlm_version": __version__}
    data = _safetensors().numpy.save(tensors, metadata=metadata)
    try:
        atomic_write(path, lambda f: f.write(data), binary=True)
    except OSError as e:
        raise DataError(f"cannot write '{path}': {e.strerror or e}") from None
    return path


def export_torch(checkpoint, path, layout="torch"):
    """Write a checkpoint (path, Checkpoint) as a safetensors file for PyTorch -> path.

    ``layout``: "torch" (word_language_model's names, for nn.LSTM / nn.RNN) or "rnnlm" (our
    own names; the only way for a GRU).
    """
    from .checkpoint import Checkpoint, load
    ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else load(checkpoint)
    return write(path, ckpt.model.config, ckpt.model.params, ckpt.vocab, layout)


# --- reading ---------------------------------------------------------------------------------

def _read_file(path):
    """(tensors name -> numpy array, metadata dict) of a safetensors file; a pickle refused."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except FileNotFoundError:
        raise DataError(f"'{path}' does not exist") from None
    except IsADirectoryError:
        raise DataError(f"'{path}' is a directory, not a safetensors file") from None
    except OSError as e:
        raise DataError(f"cannot read '{path}': {e.strerror or e}") from None
    if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80":
        raise DataError(f"'{path}' is a pickled PyTorch file (torch.save); rnnlm never "
                        "unpickles (that can run any code): save the state_dict with "
                        "safetensors.torch.save_file")
    st = _safetensors()
    try:
        tensors = st.numpy.load_file(str(path))
        with st.safe_open(str(path), framework="np") as f:
            metadata = f.metadata() or {}
    except Exception as e:  # safetensors raises its own errors for any malformed header
        raise DataError(f"'{path}' is not a safetensors file ({e})".replace("\n", " ")) from None
    return tensors, metadata


def _json(metadata, key, path):
    try:
        return json.loads(metadata[key])
    except (ValueError, TypeError) as e:
        raise DataError(f"'{path}': its metadata '{key}' is not valid JSON ({e})") from None


def _vocab_tokens(metadata, vocab_file, path):
    if "vocab" in metadata:
        tokens = _json(metadata, "vocab", path)
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise DataError(f"'{path}': its metadata 'vocab' is not a list of tokens")
        return tokens
    if vocab_file is None:
        raise DataError(f"'{path}' holds no vocabulary: pass --vocab FILE (one token a line, "
                        "in id order, as word_language_model's Dictionary.idx2word)")
    try:
        text = Path(vocab_file).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"vocabulary file '{vocab_file}' does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read vocabulary file '{vocab_file}': "
                        f"{getattr(e, 'strerror', None) or e}") from None
    lines = text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")
    return [line.removesuffix("\r") for line in lines]     # a file written on Windows


def _take(tensors, name, shape, path):
    """The tensor ``name`` as float32, checked against ``shape``; one line when it does not fit."""
    if name not in tensors:
        raise DataError(f"'{path}': tensor '{name}' is missing")
    a = tensors.pop(name)
    if a.shape != shape:
        raise DataError(f"'{path}': tensor '{name}' has shape {tuple(a.shape)}, expected {shape}")
    if a.dtype.kind != "f":
        raise DataError(f"'{path}': tensor '{name}' is {a.dtype}, not floating point")
    if not np.isfinite(a).all():
        raise DataError(f"'{path}': tensor '{name}' holds non-finite values")
    return a.astype(np.float32, copy=False)


def _torch_layout(tensors, metadata, cell, path):
    """A word_language_model state_dict -> (config fields, rnnlm params)."""
    if "encoder.weight" not in tensors:
        raise DataError(f"'{path}' is not an rnnlm or word_language_model model: it has no "
                        "'encoder.weight' (expected encoder, rnn.*_l{{k}} and decoder tensors)")
    V, E = tensors["encoder.weight"].shape
    layers = sorted({int(m[2]) for k in tensors if (m := _LAYER_KEY.fullmatch(k))})
    if not layers or layers != list(range(len(layers))):
        raise DataError(f"'{path}': its rnn tensors are not layers 0, 1, ... "
                        "(expected rnn.weight_ih_l0, rnn.weight_hh_l0, ...)")
    if "rnn.weight_hh_l0" not in tensors or tensors["rnn.weight_hh_l0"].ndim != 2:
        raise DataError(f"'{path}': tensor 'rnn.weight_hh_l0' is missing or not a matrix")
    G, H = tensors["rnn.weight_hh_l0"].shape
    from_shape = {H: "rnn", 4 * H: "lstm"}.get(G)
    if G == 3 * H:
        raise DataError(f"'{path}' holds an nn.GRU, which computes another function than "
                        "rnnlm's GRU; only a GRU exported by rnnlm (--layout rnnlm) imports")
    cell = cell or metadata.get("cell") or from_shape
    if cell is None:
        raise DataError(f"'{path}': tensor 'rnn.weight_hh_l0' has shape {(G, H)}: neither an "
                        f"LSTM's ({4 * H} rows) nor an RNN's ({H} rows)")
    if cell not in TORCH_ORDER:
        raise UsageError(f"--cell {cell}: rnnlm's GRU comes only in the rnnlm layout")
    if G != BLOCKS[cell] * H:
        raise DataError(f"'{path}': tensor 'rnn.weight_hh_l0' has shape {(G, H)}, not an "
                        f"{cell.upper()}'s ({BLOCKS[cell] * H}, {H})")
    tied = "decoder.weight" not in tensors or (
        tensors["decoder.weight"].shape == (V, E)
        and np.array_equal(tensors["decoder.weight"], tensors["encoder.weight"]))
    if tied and E != H:
        raise DataError(f"'{path}': no decoder.weight, so the embedding is shared, but the "
                        f"embedding size {E} is not the hidden size {H}")
    params = {"embed.W": _take(tensors, "encoder.weight", (V, E), path)}
    for k in layers:
        D = E if k == 0 else H
        w_ih = _take(tensors, f"rnn.weight_ih_l{k}", (G, D), path)
        w_hh = _take(tensors, f"rnn.weight_hh_l{k}", (G, H), path)
        bias = np.zeros(G, np.float32)
        for which in ("ih", "hh"):
            if f"rnn.bias_{which}_l{k}" in tensors:    # nn.LSTM(bias=False) has none
                bias = bias + _take(tensors, f"rnn.bias_{which}_l{k}", (G,), path)
        params[f"{cell}{k}.Wx"] = np.ascontiguousarray(_reorder(w_ih, cell, 0).T)
        params[f"{cell}{k}.Wh"] = np.ascontiguousarray(_reorder(w_hh, cell, 0).T)
        params[f"{cell}{k}.b"] = _reorder(bias, cell, 0)
    if tied:
        tensors.pop("decoder.weight", None)
    else:
        params["out.W"] = np.ascontiguousarray(_take(tensors, "decoder.weight", (V, H), path).T)
    params["out.b"] = _take(tensors, "decoder.bias", (V,), path) if "decoder.bias" in tensors \
        else np.zeros(V, np.float32)
    fields = {"vocab_size": V, "cell": cell, "num_layers": len(layers), "embed_size": E,
              "hidden_size": H, "tie_weights": tied}
    return fields, params


def _rnnlm_layout(tensors, metadata, path):
    """A file in rnnlm's own names -> (config fields, params), shapes checked on building."""
    cells = {m[1] for k in tensors if (m := re.fullmatch(r"(rnn|lstm|gru)(\d+)\.(Wx|Wh|b)", k))}
    if "embed.W" not in tensors or len(cells) != 1:
        raise DataError(f"'{path}' is not an rnnlm-layout model (expected embed.W, one cell's "
                        "{cell}{k}.Wx/Wh/b, out.b)")
    cell = cells.pop()
    V, E = tensors["embed.W"].shape
    layers = len({k.split(".")[0] for k in tensors if k.startswith(cell)})
    H = tensors[f"{cell}0.Wh"].shape[0] if f"{cell}0.Wh" in tensors else 0
    fields = {"vocab_size": V, "cell": cell, "num_layers": layers, "embed_size": E,
              "hidden_size": H, "tie_weights": "out.W" not in tensors}
    return fields, dict(tensors)


def _config(fields, metadata, path):
    """ModelConfig from the shapes, with the file's other settings (dropout, seed, ...) when
    its metadata has them; a metadata config that contradicts the shapes is refused."""
    settings = {}
    if "config" in metadata:
        settings = _json(metadata, "config", path)
        if not isinstance(settings, dict):
            raise DataError(f"'{path}': its metadata 'config' is not an object")
        clash = next((k for k, v in fields.items() if k in settings and settings[k] != v), None)
        if clash:
            raise DataError(f"'{path}': its metadata says {clash} = {settings[clash]!r}, its "
                            f"tensors {fields[clash]!r}")
    try:
        return ModelConfig(**{**settings, **fields, "dtype": "float32"})
    except (RnnlmError, TypeError, ValueError) as e:
        raise DataError(f"'{path}': its settings do not make a model ({e})") from None


def _specials_first(tokens, level, path):
    """The permutation that puts rnnlm's specials first, the other tokens in their order."""
    missing = [s for s in SPECIALS[level] if s not in tokens]
    if missing:
        raise DataError(f"'{path}': the {level}-level vocabulary has no {missing[0]!r}; rnnlm "
                        f"needs {' and '.join(SPECIALS[level])} (add them to the vocabulary)")
    if len(set(tokens)) != len(tokens):
        raise DataError(f"'{path}': the vocabulary lists a token twice")
    first = [tokens.index(s) for s in SPECIALS[level]]
    return np.array(first + [i for i in range(len(tokens)) if i not in set(first)])


def read(path, vocab=None, level=None, cell=None):
    """A safetensors model -> (ModelConfig, rnnlm params float32, Vocabulary).

    ``vocab``: a vocabulary file for a file without one in its metadata; ``level``: "word"
    or "char" (metadata, else word); ``cell``: "lstm" or "rnn" when the shapes and the
    metadata leave it open.
    """
    if cell is not None and cell not in CELLS:
        raise UsageError(f"--cell must be one of {', '.join(CELLS)}, got {cell!r}")
    if level is not None and level not in SPECIALS:
        raise UsageError(f"--level must be one of {', '.join(SPECIALS)}, got {level!r}")
    tensors, metadata = _read_file(path)
    if metadata.get("layout") == "rnnlm" or "embed.W" in tensors:
        fields, params = _rnnlm_layout(tensors, metadata, path)
        tensors = {}
    else:
        fields, params = _torch_layout(tensors, metadata, cell, path)
    if tensors:
        raise DataError(f"'{path}': tensor '{min(tensors)}' is not part of the model")
    config = _config(fields, metadata, path)
    level = level or metadata.get("level") or "word"
    if level not in SPECIALS:
        raise DataError(f"'{path}': its metadata names an unknown level {level!r}")
    tokens = _vocab_tokens(metadata, vocab, path)
    if len(tokens) != config.vocab_size:
        raise DataError(f"'{path}': the vocabulary has {len(tokens):,} tokens, the embedding "
                        f"{config.vocab_size:,} rows")
    order = _specials_first(tokens, level, path)
    if (order != np.arange(len(order))).any():
        params["embed.W"] = params["embed.W"][order]
        params["out.b"] = params["out.b"][order]
        if "out.W" in params:
            params["out.W"] = np.ascontiguousarray(params["out.W"][:, order])
    try:
        vocabulary = Vocabulary([tokens[i] for i in order], level)
    except RnnlmError as e:
        raise DataError(f"'{path}': {e}") from None
    return config, params, vocabulary


def build(config, params, path):
    """A LanguageModel holding ``params`` (shapes checked, one line naming the culprit)."""
    from .model import LanguageModel
    model = LanguageModel(**config.to_dict())
    extra = sorted(params.keys() - model.params.keys())
    if extra:
        raise DataError(f"'{path}': tensor '{extra[0]}' is not part of the model")
    for name, target in model.params.items():
        if name not in params:
            raise DataError(f"'{path}': tensor '{name}' is missing")
        a = params[name]
        if a.shape != target.shape:
            raise DataError(f"'{path}': tensor '{name}' has shape {tuple(a.shape)}, expected "
                            f"{target.shape}")
        if a.dtype.kind != "f" or not np.isfinite(a).all():
            raise DataError(f"'{path}': tensor '{name}' is not finite floating point")
        np.copyto(target, a)
    return model


def import_torch(path, out, vocab=None, level=None, cell=None):
    """A safetensors model written by PyTorch (or by ``export_torch``) -> an rnnlm checkpoint
    at ``out``, which eval, generate, inspect-gates, probe and gradients read. -> out."""
    from .checkpoint import save
    config, params, vocabulary = read(path, vocab, level, cell)
    model = build(config, params, path)
    return save(out, model, vocabulary, meta={"imported_from": str(path)})
