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
  or, for the adaptive softmax, nn.AdaptiveLogSoftmaxWithLoss(div_value=4, head_bias=True):
    decoder.head.weight, decoder.head.bias  <- head.W.T, head.b
    decoder.tail.{k}.0.weight, .1.weight    <- tail{k}.P.T, tail{k}.W.T (projection, scores)

PyTorch packs the LSTM's gates [i, f, g, o], rnnlm [f, i, o, g]. ``rnnlm``, for any cell: our
own names and shapes (``embed.W``, ``gru0.Wx``, ...); a GRU can only go this way, since ours
applies the reset gate before the recurrent product and lets z weight the candidate, which is
not nn.GRU's function (``rnnlm.torch`` runs it). Either way the metadata (JSON strings) holds
the vocabulary (tokens in id order), its level, the cell and the model settings.

Importing a file PyTorch wrote: the cell comes from the metadata, else from the shapes; the
bias is bias_ih + bias_hh; the model is tied when ``decoder.weight`` is absent or equals
``encoder.weight``; the vocabulary comes from the metadata, else from a file of one token a
line in id order (``word_language_model``'s ``Dictionary.idx2word``). rnnlm keeps its specials
first (``<unk>`` = 0, and ``<eos>`` = 1 at word level), so their rows move to the front (a
character vocabulary without ``<unk>`` gains one that never changes a probability);
an adaptive softmax (``decoder.head.weight`` present, its cutoffs read off the shapes) needs
them there already, since the ids fix its clusters.
"""

import json
import re
from pathlib import Path

import numpy as np

from .config import CELLS, ModelConfig
from .data import SPECIALS, UNK, Vocabulary, read_text, token_problem
from .errors import DataError, RnnlmError, UsageError
from .files import atomic_write, check_output
from .layers import RECURRENT_LAYERS

FORMAT = "rnnlm-torch"
LAYOUTS = ("torch", "rnnlm")
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
    blocks = np.split(a, RECURRENT_LAYERS[cell].blocks, axis=axis)
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
    out.update(decoder_tensors(params, c))
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


def decoder_tensors(params, config):
    """The output layer's parameters in the torch layout's names: nn.Linear's, or for the
    adaptive softmax nn.AdaptiveLogSoftmaxWithLoss's (head, then tail.{k} = projection and
    scores), each weight transposed to PyTorch's (out, in)."""
    if config.softmax == "adaptive":
        out = {"decoder.head.weight": params["head.W"].T, "decoder.head.bias": params["head.b"]}
        for k in range(len(config.cutoffs)):
            out[f"decoder.tail.{k}.0.weight"] = params[f"tail{k}.P"].T
            out[f"decoder.tail.{k}.1.weight"] = params[f"tail{k}.W"].T
        return out
    return {"decoder.weight": params["embed.W"] if config.tie_weights else params["out.W"].T,
            "decoder.bias": params["out.b"]}


def adaptive_params(tensors, path):
    """The inverse of ``decoder_tensors`` for the adaptive softmax: (params, config fields),
    the cutoffs read off the shapes; the tensors used are removed from ``tensors``."""
    head = _take(tensors, "decoder.head.weight", 2, path)
    params = {"head.W": np.ascontiguousarray(head.T)}
    if "decoder.head.bias" in tensors:
        params["head.b"] = _expect(_take(tensors, "decoder.head.bias", 1, path),
                                   "decoder.head.bias", (head.shape[0],), path)
    else:                                               # head_bias=False, PyTorch's default
        params["head.b"] = np.zeros(head.shape[0], head.dtype)
    k = 0
    while f"decoder.tail.{k}.0.weight" in tensors:
        params[f"tail{k}.P"] = np.ascontiguousarray(
            _take(tensors, f"decoder.tail.{k}.0.weight", 2, path).T)
        params[f"tail{k}.W"] = np.ascontiguousarray(
            _take(tensors, f"decoder.tail.{k}.1.weight", 2, path).T)
        k += 1
    return params, {"tie_weights": False, "softmax": "adaptive",
                    "cutoffs": _cutoffs(params, k, path)}


def _cutoffs(params, clusters, path):
    """The cutoffs of an adaptive softmax from its shapes: the head scores c_1 types and one
    entry per cluster, and each cluster's scores matrix has a column per type."""
    shortlist = params["head.W"].shape[1] - clusters
    if clusters == 0 or shortlist < 1:
        raise DataError(f"'{path}': its adaptive softmax has a head of "
                        f"{params['head.W'].shape[1]} outputs and {clusters} tail clusters")
    sizes = [params[f"tail{k}.W"].shape[1] for k in range(clusters - 1)]
    return [int(c) for c in np.cumsum([shortlist, *sizes])]


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


def export_torch(checkpoint, path, layout="torch", force=False):
    """Write a checkpoint (path, Checkpoint) as a safetensors file for PyTorch -> path.

    ``layout``: "torch" (word_language_model's names, for nn.LSTM / nn.RNN) or "rnnlm" (our
    own names; the only way for a GRU). An existing ``path`` is refused unless ``force``.
    """
    from .checkpoint import Checkpoint, load
    source = checkpoint.path if isinstance(checkpoint, Checkpoint) else checkpoint
    check_output(path, force=force, reads=(source,), flag="OUT")
    ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else load(checkpoint)
    return write(path, ckpt.model.config, ckpt.model.params, ckpt.vocab, layout)


# --- reading ---------------------------------------------------------------------------------

FLOATS = ("F16", "F32", "F64")              # what numpy reads; bfloat16 it does not
MAX_HEADER = 100 << 20


def _header(path, f, size):
    """The safetensors header of the open file f (dict), or a one-line refusal of what the
    file is."""
    head = f.read(9)
    length = int.from_bytes(head[:8], "little") if len(head) >= 9 else 0
    if 2 <= length <= min(MAX_HEADER, size - 8) and head[8:9] == b"{":
        f.seek(8)
        try:
            header = json.loads(f.read(length))
        except (ValueError, RecursionError):
            header = None
        if isinstance(header, dict):
            return header
    if head.startswith(b"PK\x03\x04"):
        import zipfile
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError):
            names = []
        if names and all(n.endswith(".npy") for n in names):
            raise DataError(f"'{path}' is an .npz archive (an rnnlm checkpoint?), not a "
                            "safetensors file: rnnlm reads it as it is")
    if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80":   # torch.save: zip, or pickle
        raise DataError(f"'{path}' is a pickled PyTorch file (torch.save); rnnlm never "
                        "unpickles (that can run any code): save the state_dict with "
                        "safetensors.torch.save_file")
    raise DataError(f"'{path}' is not a safetensors file")


def _read_file(path):
    """(tensors name -> numpy array, metadata dict) of a safetensors file; a pickle refused
    before anything else is read."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            header = _header(path, f, path.stat().st_size)
    except FileNotFoundError:
        raise DataError(f"'{path}' does not exist") from None
    except IsADirectoryError:
        raise DataError(f"'{path}' is a directory, not a safetensors file") from None
    except OSError as e:
        raise DataError(f"cannot read '{path}': {e.strerror or e}") from None
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(entry, dict):
            raise DataError(f"'{path}' is not a valid safetensors file (entry {name!r})")
        dtype = entry.get("dtype")
        if dtype not in FLOATS:
            raise DataError(f"'{path}': tensor '{name}' is {dtype}, not float16/32/64; in "
                            "PyTorch, save the state_dict after model.float()")
    try:    # safetensors validates what the header claims (offsets, sizes, metadata)
        tensors = _safetensors().numpy.load_file(str(path))
    except Exception as e:  # safetensors raises its own errors for any malformed file
        raise DataError(f"'{path}' is not a valid safetensors file ({e})"
                        .replace("\n", " ")) from None
    return tensors, header.get("__metadata__") or {}


def _json(metadata, key, path):
    try:
        return json.loads(metadata[key])
    except (ValueError, TypeError, RecursionError) as e:
        raise DataError(f"'{path}': its metadata '{key}' is not valid JSON ({e})") from None


def _vocab_tokens(metadata, vocab_file, path):
    """(tokens in id order, the name of where they came from for messages)."""
    if "vocab" in metadata:
        if vocab_file is not None:
            raise UsageError(f"'{path}' holds its own vocabulary: --vocab is for a file "
                             "without one")
        tokens = _json(metadata, "vocab", path)
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise DataError(f"'{path}': its metadata 'vocab' is not a list of tokens")
        return tokens, f"'{path}'"
    if isinstance(vocab_file, (list, tuple)):           # idx2word itself, in memory
        if not all(isinstance(t, str) for t in vocab_file):
            raise UsageError("vocab must be a file or a list of token strings")
        return list(vocab_file), "the vocabulary given"
    if vocab_file is None:
        raise DataError(f"'{path}' holds no vocabulary: pass --vocab FILE (one token a line, "
                        "in id order, as word_language_model's Dictionary.idx2word)")
    text = read_text(vocab_file, "vocabulary file")
    if not text:
        raise DataError(f"vocabulary file '{vocab_file}' is empty")
    lines = text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")
    return [line.removesuffix("\r") for line in lines], \
        f"vocabulary file '{vocab_file}'"                   # (\r\n: a file written on Windows)


def _take(tensors, name, ndim, path):
    """The float tensor ``name`` (removed from ``tensors``) with ``ndim`` dimensions."""
    if name not in tensors:
        raise DataError(f"'{path}': tensor '{name}' is missing")
    a = tensors.pop(name)
    if a.ndim != ndim:
        raise DataError(f"'{path}': tensor '{name}' has shape {tuple(a.shape)}, not "
                        f"{'a matrix' if ndim == 2 else 'a vector'}")
    return a


def _expect(a, name, shape, path):
    if a.shape != shape:
        raise DataError(f"'{path}': tensor '{name}' has shape {tuple(a.shape)}, expected {shape}")
    return a


def from_torch_tensors(tensors, metadata, cell, path):
    """A word_language_model state_dict (name -> numpy array; the tensors it uses are removed
    from it) -> (config fields, rnnlm params): the inverse of ``torch_tensors``. ``path``
    names the source in messages."""
    if any(k.endswith("_reverse") for k in tensors):
        raise DataError(f"'{path}' holds a bidirectional RNN, which cannot be a left-to-right "
                        "language model")
    # safetensors' save_model keeps one name of a shared (tied) matrix, often decoder.weight
    embed_name = "encoder.weight" if "encoder.weight" in tensors else "decoder.weight"
    if embed_name not in tensors:
        raise DataError(f"'{path}' is not an rnnlm or word_language_model model: it has no "
                        "'encoder.weight' (expected encoder, rnn.*_l{k} and decoder tensors)")
    layers = sorted({int(m[2]) for k in tensors if (m := _LAYER_KEY.fullmatch(k))})
    if not layers or layers != list(range(len(layers))):
        raise DataError(f"'{path}': its rnn tensors are not layers 0, 1, ... "
                        "(expected rnn.weight_ih_l0, rnn.weight_hh_l0, ...)")
    embed = _take(tensors, embed_name, 2, path)
    V, E = embed.shape
    w_hh0 = _take(tensors, "rnn.weight_hh_l0", 2, path)
    G, H = w_hh0.shape
    tensors["rnn.weight_hh_l0"] = w_hh0
    given = cell
    cell = cell or metadata.get("cell") or {H: "rnn", 4 * H: "lstm"}.get(G)
    if H == 0 or cell is None:
        raise DataError(f"'{path}': tensor 'rnn.weight_hh_l0' has shape {(G, H)}: neither "
                        f"an LSTM's (4H, H) nor an RNN's (H, H)" + (
                            "; an nn.GRU's (3H, H) computes another function than rnnlm's "
                            "GRU: only a GRU exported by rnnlm (--layout rnnlm) imports"
                            if G == 3 * H and H else ""))
    if cell not in TORCH_ORDER:
        problem = f"--cell {cell}" if given else f"its metadata says cell {cell!r}"
        raise (UsageError if given else DataError)(
            f"'{path}': {problem}, but the torch layout holds an LSTM or an Elman RNN (rnnlm's "
            "GRU comes only in the rnnlm layout)")
    if G != RECURRENT_LAYERS[cell].blocks * H:
        raise (UsageError if given else DataError)(
            f"'{path}': tensor 'rnn.weight_hh_l0' has shape {(G, H)}, not an {cell.upper()}'s "
            f"({RECURRENT_LAYERS[cell].blocks * H}, {H})" + (f": leave out --cell {cell}"
                                                             if given else ""))
    adaptive = "decoder.head.weight" in tensors
    decoder = tensors.pop("decoder.weight", None) if embed_name == "encoder.weight" else embed
    tied = not adaptive and (decoder is None or decoder is embed or (
        decoder.shape == embed.shape and np.array_equal(decoder, embed)))
    if tied and E != H:
        raise DataError(f"'{path}': the embedding is shared with the output layer, but the "
                        f"embedding size {E} is not the hidden size {H}")
    # nn.LSTM(bias=True) has both biases in every layer, bias=False none: never some
    biases = {f"rnn.bias_{w}_l{k}" for k in layers for w in ("ih", "hh")}
    if biases & tensors.keys() and biases - tensors.keys():
        raise DataError(f"'{path}': tensor '{min(biases - tensors.keys())}' is missing (an "
                        f"nn.LSTM or nn.RNN has both biases in every layer, or none)")
    params = {"embed.W": embed}
    for k in layers:
        w_ih = _expect(_take(tensors, f"rnn.weight_ih_l{k}", 2, path), f"rnn.weight_ih_l{k}",
                       (G, E if k == 0 else H), path)
        w_hh = _expect(_take(tensors, f"rnn.weight_hh_l{k}", 2, path), f"rnn.weight_hh_l{k}",
                       (G, H), path)
        bias = np.zeros(G)
        for which in ("ih", "hh"):
            name = f"rnn.bias_{which}_l{k}"
            if name in tensors:                         # (bias=False: none)
                bias = bias + _expect(_take(tensors, name, 1, path), name, (G,), path)
        params[f"{cell}{k}.Wx"] = np.ascontiguousarray(_reorder(w_ih, cell, 0).T)
        params[f"{cell}{k}.Wh"] = np.ascontiguousarray(_reorder(w_hh, cell, 0).T)
        params[f"{cell}{k}.b"] = _reorder(bias, cell, 0)     # float64: rounded once, later
    fields = {"vocab_size": V, "cell": cell, "num_layers": len(layers), "embed_size": E,
              "hidden_size": H, "tie_weights": tied}
    if adaptive:
        if decoder is not None:
            raise DataError(f"'{path}' holds both an adaptive softmax and 'decoder.weight'")
        decoder_params, decoder_fields = adaptive_params(tensors, path)
        return {**fields, **decoder_fields}, {**params, **decoder_params}
    if not tied:
        params["out.W"] = np.ascontiguousarray(_expect(decoder, "decoder.weight", (V, H), path).T)
    params["out.b"] = _expect(_take(tensors, "decoder.bias", 1, path), "decoder.bias", (V,),
                              path) if "decoder.bias" in tensors else np.zeros(V, embed.dtype)
    return fields, params


def _rnnlm_layout(tensors, cell, path):
    """A file in rnnlm's own names -> (config fields, params); shapes checked later."""
    found = {(m[1], int(m[2])) for k in tensors
             if (m := re.fullmatch(r"(rnn|lstm|gru)(\d+)\.(Wx|Wh|b)", k))}
    cells = {c for c, _ in found}
    if "embed.W" not in tensors or len(cells) != 1:
        raise DataError(f"'{path}' is not an rnnlm-layout model (expected embed.W, one cell's "
                        "{cell}{k}.Wx, .Wh and .b, out.b)")
    (found_cell,) = cells
    if cell is not None and cell != found_cell:
        raise UsageError(f"--cell {cell}: '{path}' holds a {found_cell.upper()}")
    layers = sorted(k for _, k in found)
    if layers != list(range(len(layers))):
        raise DataError(f"'{path}': its {found_cell} layers are not 0, 1, ...")
    embed = _take(dict(tensors), "embed.W", 2, path)
    Wh = _take(dict(tensors), f"{found_cell}0.Wh", 2, path)
    fields = {"vocab_size": embed.shape[0], "cell": found_cell, "num_layers": len(layers),
              "embed_size": embed.shape[1], "hidden_size": Wh.shape[0],
              "tie_weights": "out.W" not in tensors}
    if "head.W" in tensors:
        head = _take(dict(tensors), "head.W", 2, path)
        clusters = sum(1 for k in tensors if re.fullmatch(r"tail\d+\.W", k))
        tails = {f"tail{k}.W": _take(dict(tensors), f"tail{k}.W", 2, path)
                 for k in range(clusters) if f"tail{k}.W" in tensors}
        if len(tails) != clusters:
            raise DataError(f"'{path}': its tail clusters are not 0, 1, ...")
        fields.update(tie_weights=False, softmax="adaptive",
                      cutoffs=_cutoffs({"head.W": head, **tails}, clusters, path))
    return fields, dict(tensors)


def _config(fields, metadata, wide, path):
    """ModelConfig from the shapes, with the file's other settings (dropout, seed, ...) when
    its metadata has them: each of its type, none contradicting the shapes. float32, unless
    the metadata says float64 and every tensor is (a float64 rnnlm export)."""
    from dataclasses import fields as dataclass_fields
    settings = {}
    if "config" in metadata:
        settings = _json(metadata, "config", path)
        if not isinstance(settings, dict):
            raise DataError(f"'{path}': its metadata 'config' is not an object")
    declared = {f.name: f.type for f in dataclass_fields(ModelConfig)}
    for key, value in settings.items():
        kinds = getattr(declared.get(key), "__args__", (declared.get(key),))  # float | None
        want = kinds[0]
        fits = (value is None and type(None) in kinds) or want is not None and (
            isinstance(value, bool) if want is bool else
            isinstance(value, int) and not isinstance(value, bool) if want is int else
            isinstance(value, (int, float)) and not isinstance(value, bool) if want is float else
            isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool)
                                            for v in value)
            if getattr(want, "__origin__", None) is tuple else
            isinstance(value, str))
        if not fits:
            raise DataError(f"'{path}': its metadata config has " + (
                f"an unknown setting {key!r}" if want is None else
                f"{key} = {value!r}, not a {want.__name__}"))
        if key in fields and value != fields[key]:
            raise DataError(f"'{path}': its metadata says {key} = {value!r}, its tensors "
                            f"{fields[key]!r}")
    dtype = "float64" if wide and settings.get("dtype") == "float64" else "float32"
    try:
        config = ModelConfig(**{**settings, **fields, "dtype": dtype})
        if config.seed < 0 or config.seed >= 2 ** 63:
            raise ValueError(f"seed {config.seed} is out of range")
    except (RnnlmError, TypeError, ValueError) as e:
        raise DataError(f"'{path}': its settings do not make a model ({e})") from None
    return config


def _specials_first(tokens, level, source):
    """The permutation that puts rnnlm's specials first, the other tokens in their order."""
    missing = [s for s in SPECIALS[level] if s not in tokens]
    if missing:
        raise DataError(f"{source}: the {level}-level vocabulary has no {missing[0]!r}; rnnlm "
                        f"needs {' and '.join(SPECIALS[level])} (add "
                        f"{'them' if len(missing) > 1 else 'it'} to the vocabulary)")
    first = [tokens.index(s) for s in SPECIALS[level]]
    return np.array(first + [i for i in range(len(tokens)) if i not in set(first)])


def read(path, vocab=None, level=None, cell=None):
    """A safetensors model -> (ModelConfig, rnnlm params, Vocabulary), every tensor checked.

    ``vocab``: a vocabulary file for a file without one in its metadata; ``level``: "word"
    or "char" (metadata, else word); ``cell``: "lstm" or "rnn" when the shapes and the
    metadata leave it open. The params are float32, or float64 for a float64 rnnlm export.
    """
    if cell is not None and cell not in CELLS:
        raise UsageError(f"--cell must be one of {', '.join(CELLS)}, got {cell!r}")
    if level is not None and level not in SPECIALS:
        raise UsageError(f"--level must be one of {', '.join(SPECIALS)}, got {level!r}")
    tensors, metadata = _read_file(path)
    if metadata.get("layout") == "rnnlm" or "embed.W" in tensors:
        fields, params = _rnnlm_layout(tensors, cell, path)
    else:
        fields, params = from_torch_tensors(tensors, metadata, cell, path)
        if tensors:
            raise DataError(f"'{path}': tensor '{min(tensors)}' is not part of the model")
    config = _config(fields, metadata, all(a.dtype == np.float64 for a in params.values()),
                     path)
    params = _checked(config, params, path)
    known = metadata.get("level")
    if level is not None and known is not None and level != known:
        raise UsageError(f"--level {level}: '{path}' says its vocabulary is {known}-level")
    level = level or known or "word"
    if level not in SPECIALS:
        raise DataError(f"'{path}': its metadata names an unknown level {level!r}")
    tokens, source = _vocab_tokens(metadata, vocab, path)
    if len(tokens) != config.vocab_size:
        raise DataError(f"{source}: the vocabulary has {len(tokens):,} tokens, the embedding "
                        f"of '{path}' {config.vocab_size:,} rows")
    if (problem := token_problem(tokens, level)) is not None:
        raise DataError(f"{source}: {problem}")
    if level == "char" and UNK not in tokens and config.softmax == "full":
        config, params, tokens = _with_unk(config, params, tokens)
    order = _specials_first(tokens, level, source)
    if (order != np.arange(len(order))).any():
        if config.softmax == "adaptive":
            raise DataError(f"'{path}': its vocabulary does not put "
                            f"{' and '.join(SPECIALS[level])} first, and an adaptive softmax's "
                            "clusters are fixed by the ids: reorder it in PyTorch first")
        params["embed.W"] = params["embed.W"][order]
        params["out.b"] = params["out.b"][order]
        if "out.W" in params:
            params["out.W"] = np.ascontiguousarray(params["out.W"][:, order])
    try:
        vocabulary = Vocabulary([tokens[i] for i in order], level)
    except RnnlmError as e:
        raise DataError(f"'{path}': {e}") from None
    return config, params, vocabulary


def _with_unk(config, params, tokens):
    """A character model from PyTorch without rnnlm's <unk> (char-rnn's vocabularies have
    none) gains one as id 0 that never changes a probability: a zero embedding row and output
    weights, and a bias 40 below the least that the highest logit can be. Every output is in
    (-1, 1), so logit j >= b_j - ||w_j||_1, and p(<unk>) < e^-40 times the likeliest
    character's: nothing, in float32."""
    embed = params["embed.W"]
    W = params["out.W"] if "out.W" in params else embed.T           # (H, V); tied: embed
    floor = np.max(params["out.b"].astype(np.float64) - np.abs(W.astype(np.float64)).sum(0))
    params = {**params, "embed.W": np.concatenate([np.zeros_like(embed[:1]), embed]),
              "out.b": np.concatenate([np.array([floor - 40], params["out.b"].dtype),
                                       params["out.b"]])}
    if "out.W" in params:
        params["out.W"] = np.ascontiguousarray(np.concatenate([np.zeros_like(W[:, :1]), W], 1))
    return (ModelConfig(**{**config.to_dict(), "vocab_size": config.vocab_size + 1}), params,
            [UNK, *tokens])


def _checked(config, params, path):
    """params as the model's dtype, every name and shape the configured model's, all finite
    after the cast (a float64 1e300 is not a float32)."""
    from .model import param_shapes
    shapes = param_shapes(config)
    extra = sorted(params.keys() - shapes.keys())
    if extra:
        raise DataError(f"'{path}': tensor '{extra[0]}' is not part of the model")
    out = {}
    for name, shape in shapes.items():
        if name not in params:
            raise DataError(f"'{path}': tensor '{name}' is missing")
        a = params[name]
        if a.shape != shape:
            raise DataError(f"'{path}': tensor '{name}' has shape {tuple(a.shape)}, expected "
                            f"{shape}")
        with np.errstate(over="ignore", invalid="ignore"):
            a = a.astype(config.dtype, copy=False)
        if not np.isfinite(a).all():
            raise DataError(f"'{path}': tensor '{name}' (rnnlm's name) holds values that are "
                            f"not finite as {config.dtype}")
        out[name] = a
    return out


def build(config, params):
    """A LanguageModel holding ``params`` (as ``read`` returns them: checked)."""
    from .model import LanguageModel
    model = LanguageModel(**config.to_dict())
    for name, target in model.params.items():
        np.copyto(target, params[name])
    return model


def import_torch(path, out, vocab=None, level=None, cell=None, force=False):
    """A safetensors model written by PyTorch (or by ``export_torch``) -> an rnnlm checkpoint
    at ``out``, which eval, generate, inspect-gates, probe and gradients read. -> out.

    ``vocab``: for a file without a vocabulary in its metadata, a file of one token a line
    in id order, or that list of tokens (``word_language_model``'s ``Dictionary.idx2word``).

    An existing ``out`` is refused unless ``force`` (never the input itself).
    """
    from .checkpoint import save
    check_output(out, force=force, flag="OUT",
                 reads=(path, None if isinstance(vocab, (list, tuple)) else vocab))
    config, params, vocabulary = read(path, vocab, level, cell)
    return save(out, build(config, params), vocabulary, meta={"imported_from": str(path)})
