"""Save and load checkpoints: one .npz per checkpoint, written atomically, never pickled.

Members: ``param/<name>`` per model parameter, ``optim/<key>`` per optimizer state entry
(``optim/average/<name>`` and ``optim/average/count`` for the parameter average of --average),
``state/<layer>/<h|c>`` for carried recurrent state, ``vocab`` (unicode array) and ``meta``
(a 0-d unicode array holding JSON: format, version, config, vocab level, and the caller's meta).

Uncompressed on purpose: for a 4.6M-parameter float32 LSTM, np.savez_compressed saved 7% of
the size (17.3 MB vs 18.6 MB: trained float weights barely compress) and made loading 9x
slower (71 ms vs 8 ms) and saving 15x slower (0.58 s vs 0.04 s).
"""

import json
import math
import zipfile
from dataclasses import asdict, dataclass, is_dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from . import __version__
from .config import ModelConfig
from .data import Vocabulary
from .errors import CheckpointError, RnnlmError
from .files import atomic_write, cleanup_stale_temporaries  # noqa: F401  (kept importable here)
from .model import LanguageModel

FORMAT = "rnnlm-checkpoint"
VERSION = 1
MAX_MEMBER = 4 << 30        # bytes; refuse larger members before numpy allocates them
MAX_RATIO = 1100            # deflate cannot compress better than ~1032:1; more is a forged header


@dataclass
class Checkpoint:
    """What load() returns: a ready model (carried state included) and all that came with it."""

    model: LanguageModel
    vocab: Vocabulary
    config: dict            # {"model": ModelConfig.to_dict(), "train": {...}}
    meta: dict              # everything else in the JSON meta (epoch, step, metrics, rng, ...)
    optimizer_state: dict   # name -> np.ndarray, for SGD/Adam.load_state_dict
    path: Path | None = None


# --- saving ------------------------------------------------------------------------------------

def _cannot(path, cause):
    return CheckpointError(f"cannot write checkpoint '{path}': {cause}".replace("\n", " "))


def _jsonable(value, where):
    """value with numpy scalars made Python; anything JSON cannot round-trip is refused."""
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()                 # np.int64 -> int, np.float32 -> float, np.bool_ -> bool
    if value is None or isinstance(value, (str, bool, int, float)):
        return str(value) if isinstance(value, str) else value     # np.str_ -> str
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        bad = next((k for k in value if not isinstance(k, str)), None)
        if bad is not None:             # json would turn the key into a string: no round trip
            raise ValueError(f"{where} has a non-string key {bad!r}; use strings in meta")
        return {k: _jsonable(v, f"{where}[{k!r}]") for k, v in value.items()}
    raise ValueError(f"{where} is a {type(value).__name__}, which JSON cannot hold; "
                     "store str, int, float, bool, None, lists or dicts in meta")


def save(path, model, vocab, meta=None, optimizer=None, train_config=None):
    """Write the checkpoint to path atomically: the previous file stays whole until the new is."""
    path = Path(path)
    if not path.parent.is_dir():
        raise _cannot(path, f"directory '{path.parent}' does not exist")
    # Refuse what load() would refuse, before a good previous checkpoint is replaced by it.
    if len(vocab) != model.config.vocab_size:
        raise _cannot(path, f"the vocabulary has {len(vocab)} tokens, "
                            f"the model {model.config.vocab_size}")
    bad = next((k for k, v in model.params.items() if not np.isfinite(v).all()), None)
    if bad is not None:
        raise _cannot(path, f"param '{bad}' is not finite (training diverged); "
                            "lower the learning rate")
    if hasattr(train_config, "to_dict"):
        train_config = train_config.to_dict()
    elif is_dataclass(train_config):
        train_config = asdict(train_config)
    header = {"format": FORMAT, "version": VERSION, "rnnlm_version": __version__,
              "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "config": {"model": model.config.to_dict(), "train": dict(train_config or {})},
              "vocab_level": vocab.level}
    try:    # a loaded checkpoint's meta may come back here: our own keys are just refreshed
        header = _jsonable({**(meta or {}), **header}, "meta")
    except ValueError as e:
        raise _cannot(path, e) from None
    arrays = {f"param/{k}": v for k, v in model.params.items()}
    if optimizer is not None:   # an optimizer, or its state_dict (with the average's, in training)
        state = optimizer if isinstance(optimizer, dict) else optimizer.state_dict()
        arrays.update({f"optim/{k}": np.asarray(v) for k, v in state.items()})
    for layer, state in enumerate(model.state):
        arrays.update({f"state/{layer}/{k}": v for k, v in (state or {}).items()})
    arrays["vocab"] = vocab.to_array()
    arrays["meta"] = np.array(json.dumps(header))

    existed = path.exists()
    try:
        atomic_write(path, lambda f: np.savez(f, allow_pickle=False, **arrays), binary=True)
    except Exception as e:              # a KeyboardInterrupt goes through as it is
        cause = getattr(e, "strerror", None) or str(e) or type(e).__name__
        kept = "; the previous checkpoint is intact" if existed else ""
        raise _cannot(path, f"{cause}{kept}") from e
    return path


# --- loading -----------------------------------------------------------------------------------

def _fail(path, problem, advice="re-save it or use another checkpoint"):
    return CheckpointError(f"checkpoint '{path}' {problem}; {advice}".replace("\n", " "))


def _read_members(path):
    """name -> array for every member, no pickles, sizes checked before numpy allocates."""
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            name = info.filename
            if not name.endswith(".npy"):       # repr: a damaged name may hold control bytes
                raise _fail(path, f"is not an rnnlm checkpoint or is damaged "
                                  f"(member {name!r} is not an array)")
            if info.file_size > min(MAX_MEMBER, MAX_RATIO * max(info.compress_size, 1)):
                raise _fail(path, f"is damaged (member {name!r} declares {info.file_size} bytes)")
            # np.load allocates whatever the .npy header declares before reading the data:
            # check the declaration against the member's real size first.
            with zf.open(info) as f:
                version = np.lib.format.read_magic(f)
                if version not in ((1, 0), (2, 0)):
                    raise ValueError(f"unsupported .npy version {version}")
                read_header = getattr(np.lib.format, f"read_array_header_{version[0]}_0")
                shape, _, dtype = read_header(f)
                if dtype.hasobject:
                    raise CheckpointError(f"checkpoint '{path}' holds pickled objects (member "
                                          f"{name!r}); refusing to load it")
                if f.tell() + math.prod(shape) * dtype.itemsize != info.file_size:
                    raise _fail(path, f"is damaged (member {name!r} is not the size it declares)")
    data = np.load(path, allow_pickle=False)
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise _fail(path, "is not an .npz archive", "pass a file written by rnnlm")
    with data:
        return {k: data[k] for k in data.files}


def _read_meta(path, arr):
    foreign = "is not an rnnlm checkpoint", "pass a file written by rnnlm"
    if arr is None:
        raise _fail(path, f"{foreign[0]} (it has no 'meta' entry)", foreign[1])
    try:
        if arr.ndim != 0 or arr.dtype.kind != "U":
            raise ValueError("'meta' is not a string")
        meta = json.loads(str(arr[()]))
    except (ValueError, RecursionError) as e:
        raise _fail(path, f"has an unreadable 'meta' entry ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise _fail(path, *foreign)
    version = meta.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise _fail(path, f"has a bad format version {version!r}")
    if version > VERSION:
        raise _fail(path, f"was written by a newer rnnlm (format {version})", "upgrade rnnlm")
    config = meta.pop("config", None)
    if not (isinstance(config, dict) and isinstance(config.get("model"), dict)
            and isinstance(config.get("train", {}), dict)):
        raise _fail(path, "has no valid 'config' in its meta")
    return meta, config


def _least_params(c):
    """A lower bound on the model's parameter count (one gate block per layer)."""
    n = c.vocab_size * c.embed_size                                         # embed.W
    n += (c.embed_size + c.hidden_size + 1) * c.hidden_size                 # first layer
    n += (c.num_layers - 1) * (2 * c.hidden_size + 1) * c.hidden_size       # the others
    if c.softmax == "adaptive":
        return n + c.cutoffs[0]                                             # head.b
    n += c.vocab_size                                                       # out.b
    return n if c.tie_weights else n + c.hidden_size * c.vocab_size         # out.W


def _check_array(path, what, a, shape, dtype):
    if a.shape != shape:
        raise _fail(path, f"is damaged: {what} has shape {a.shape}, expected {shape}")
    if dtype is not None and a.dtype != dtype:
        raise _fail(path, f"is damaged: {what} has dtype {a.dtype}, expected {dtype}")
    if a.dtype.kind in "fc" and not np.isfinite(a).all():
        raise _fail(path, f"holds non-finite values in {what}")


def _build_model(path, config, params):
    try:
        cfg = ModelConfig(**config["model"])
        # A forged config must not make us allocate a model far bigger than the file.
        if _least_params(cfg) > sum(a.size for a in params.values()):
            raise CheckpointError("it describes a bigger model than the file holds")
        model = LanguageModel(**cfg.to_dict())
    except (RnnlmError, TypeError, ValueError, OverflowError) as e:
        raise _fail(path, f"has an invalid model config ({e})") from None
    missing, extra = sorted(model.params.keys() - params), sorted(params.keys() - model.params)
    if missing or extra:
        raise _fail(path, f"is damaged: param '{missing[0]}' is missing" if missing else
                    f"is damaged: param {extra[0]!r} is not part of the configured model")
    for name, target in model.params.items():
        _check_array(path, f"param '{name}'", params[name], target.shape, target.dtype)
        np.copyto(target, params[name])     # in place: the layers hold these very arrays
    return model


def _restore_state(path, model, arrays):
    """arrays: "<layer>/<h|c>" -> (B, H) array, as save() wrote model.state."""
    c = model.config
    kinds = ("h", "c") if c.cell == "lstm" else ("h",)      # as LanguageModel.state holds them
    unknown = arrays.keys() - {f"{l}/{k}" for l in range(c.num_layers) for k in kinds}
    if unknown:
        raise _fail(path, f"is damaged: it holds an unexpected entry {'state/' + min(unknown)!r}")
    states, batch = [None] * c.num_layers, None
    for layer in range(c.num_layers):
        found = {k: arrays[f"{layer}/{k}"] for k in kinds if f"{layer}/{k}" in arrays}
        if found and len(found) < len(kinds):
            raise _fail(path, f"is damaged: the carried state of layer {layer} is incomplete")
        for k, a in found.items():
            batch = (a.shape[0] if a.ndim else 1) if batch is None else batch   # one batch size
            _check_array(path, f"state '{layer}/{k}'", a, (batch, c.hidden_size), model.dtype)
        states[layer] = found or None
    model.state = states


def load(path):
    """Read a checkpoint written by save(); any problem with the file is one CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise _fail(path, "is a directory" if path.is_dir() else "does not exist", "check the path")
    try:
        arrays = _read_members(path)
    except CheckpointError:
        raise
    except PermissionError as e:
        raise _fail(path, f"cannot be read ({e.strerror})", "check its permissions") from None
    except Exception as e:      # zipfile, zlib and numpy raise many types for damaged bytes
        cause = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        raise _fail(path, f"is damaged or not an .npz file ({cause})") from None
    meta, config = _read_meta(path, arrays.pop("meta", None))
    groups = {"param": {}, "optim": {}, "state": {}}     # "param/lstm0.Wx" -> ["param"]["lstm0.Wx"]
    for key in arrays:
        prefix, _, name = key.partition("/")
        if key == "vocab":
            continue
        if prefix not in groups or not name:
            raise _fail(path, f"is damaged: it holds an unexpected entry {key!r}")
        groups[prefix][name] = arrays[key]

    model = _build_model(path, config, groups["param"])
    try:
        vocab = Vocabulary.from_array(arrays.get("vocab"), meta.get("vocab_level"))
    except RnnlmError as e:
        raise _fail(path, f"has a bad vocabulary ({e})") from None
    if len(vocab) != model.config.vocab_size:
        raise _fail(path, f"is damaged: its vocabulary has {len(vocab)} tokens, "
                          f"the model {model.config.vocab_size}")
    _restore_state(path, model, groups["state"])
    for key, a in groups["optim"].items():
        target = model.params.get(key.partition("/")[2])    # "m/lstm0.Wx" follows lstm0.Wx
        if a.dtype.kind not in "biuf":
            raise _fail(path, f"is damaged: optimizer entry {key!r} is not numeric")
        _check_array(path, f"optimizer entry {key!r}", a,
                     a.shape if target is None else target.shape, None)
    config = {"model": model.config.to_dict(), "train": config.get("train", {})}
    return Checkpoint(model, vocab, config, meta, groups["optim"], path)


def model_and_vocab(checkpoint_or_model, vocab=None):
    """A checkpoint path, a Checkpoint, or a LanguageModel with its vocab -> (model, vocab).

    What evaluate, generate and the gate recorder accept as their first argument.
    """
    model = checkpoint_or_model
    if isinstance(model, (str, Path)):
        model = load(model)
    if isinstance(model, Checkpoint):
        model, vocab = model.model, model.vocab
    if not isinstance(model, LanguageModel):
        raise TypeError(f"expected a checkpoint path, Checkpoint or LanguageModel, "
                        f"not {type(model).__name__}")
    if vocab is None:
        raise TypeError("a LanguageModel needs its vocab (vocab=...)")
    if len(vocab) != model.config.vocab_size:
        raise RnnlmError(f"the vocabulary has {len(vocab)} tokens, the model "
                         f"{model.config.vocab_size}")
    return model, vocab


def default_model_path():
    """The model that generate and inspect-gates use without --model (see bundled.py)."""
    from .bundled import DEFAULT_MODEL, bundled_path
    try:
        return bundled_path(DEFAULT_MODEL, "default model", "pass --model PATH")
    except RnnlmError as e:
        raise CheckpointError(str(e)) from None
