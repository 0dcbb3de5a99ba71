"""The checkpoints rnnlm knows: the list behind `rnnlm models` and the facts behind `rnnlm info`.

Records are plain dicts, keyed as the JSON output is (a setting by its canonical key:
``hidden-size``, ``tie-weights``), so the CLI prints them as they are and the views only format.

Known models: ``models/*.npz`` under a directory (the current one), the outputs of logged
training runs (passed in as ``extra``: this module does not read the runs log) and the shipped
default model. Never an ``X.last.npz``: that is X's training state, and X is resumable when it
exists beside X.
"""

import math
from datetime import datetime, timezone
from pathlib import Path

from .checkpoint import default_model_path, load
from .config import canonical_settings
from .data import SPECIALS
from .errors import RnnlmError
from .optim import ParameterAverage
from .outputs import last_path

EXAMPLES = 10           # vocabulary tokens shown by `info`


def is_last(path):
    """True for an X.last.npz (the latest training state beside the best model X.npz)."""
    return Path(path).name.endswith(".last.npz")


def _key(path):
    """The identity of a file, however it is spelled (relative, absolute, through a symlink)."""
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError):         # a symlink loop: only its spelling identifies it
        return Path(path).absolute()


def candidates(extra=(), directory="."):
    """The best-model checkpoints to list: models/*.npz under directory, then the extra paths
    that still exist, then the shipped default; each file once, X.last.npz never."""
    found = sorted(p for p in (Path(directory) / "models").glob("*.npz")
                   if not p.name.startswith("."))          # .X.npz.abcd.tmp: a save under way
    found += [Path(p) for p in extra]
    try:
        found.append(default_model_path())
    except RnnlmError:                       # no default installed: nothing to list for it
        pass
    seen, paths = set(), []
    for path in found:
        key = _key(path)
        if key in seen or is_last(path) or not path.is_file():
            continue
        seen.add(key)
        paths.append(path)
    return paths


def _mtime_iso(path):
    try:
        stamp = path.stat().st_mtime
    except OSError:
        return None
    return datetime.fromtimestamp(stamp, timezone.utc).isoformat(timespec="seconds")


def _size(path):
    try:
        return path.stat().st_size
    except OSError:
        return None


def _dict(value):
    """A meta entry that should be a dict; a forged or older checkpoint may hold anything."""
    return value if isinstance(value, dict) else {}


def _number(value):
    """A finite number from meta, else None (JSON has no NaN, and a forged file may lie)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return value if ok and math.isfinite(value) else None


def _count(value):
    """A whole number >= 0 from meta, else None."""
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return value if ok else None


def _text(value):
    return value if isinstance(value, str) else None


def _architecture(ckpt):
    c = ckpt.model.config
    return {"cell": c.cell, "layers": c.num_layers, "embed-size": c.embed_size,
            "hidden-size": c.hidden_size, "tie-weights": c.tie_weights,
            "parameters": ckpt.model.num_params()}


def _default_key():
    try:
        return _key(default_model_path())
    except RnnlmError:                       # no default installed
        return None


def _created(path, meta):
    return _text(meta.get("created")) or _mtime_iso(path)


def summary(path):
    """One line of the listing for the checkpoint at path: architecture, corpus, best valid
    ppl, size, date, resumable. A file that does not load gets ``error`` (its one-line
    reason) instead of the model's facts: a listing goes on past a damaged file."""
    path = Path(path)
    record = {"path": str(path)}
    try:
        ckpt = load(path)
    except (RnnlmError, OSError) as e:
        record.update(error=str(e), bytes=_size(path), created=_mtime_iso(path))
    else:
        meta = ckpt.meta
        record.update(_architecture(ckpt), corpus=_text(_dict(meta.get("corpus")).get("name")),
                      valid_ppl=_number(meta.get("best_valid_ppl")), bytes=_size(path),
                      created=_created(path, meta))
    record.update(resumable=last_path(path).is_file(), default=_key(path) == _default_key())
    return record


def _when(record):
    """Seconds since the epoch of a record's date, for sorting (undated ones last)."""
    try:
        when = datetime.fromisoformat(record["created"])
    except (TypeError, ValueError):
        return -math.inf
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


def known_models(extra=(), directory="."):
    """Every known best-model checkpoint as a summary() record, newest first.

    ``extra``: more paths to consider (the outputs of logged training runs; the missing ones
    are skipped). ``directory``: where to look for models/*.npz [default: the current one].
    """
    records = [summary(p) for p in candidates(extra, directory)]
    return sorted(records, key=_when, reverse=True)


def _vocabulary(vocab):
    specials = SPECIALS[vocab.level]
    examples = [t for t in vocab.tokens if t not in specials][:EXAMPLES]
    return {"level": vocab.level, "size": len(vocab), "specials": list(specials),
            "examples": examples}


def _training(meta):
    """What training left in meta; all None for a checkpoint saved outside training."""
    state = _dict(meta.get("train_state"))
    return {"epochs": _count(state.get("epoch")), "steps": _count(state.get("step")),
            "tokens": _count(state.get("tokens")),
            "elapsed_s": _number(state.get("train_time")),
            "valid_ppl": _number(meta.get("best_valid_ppl")), "run_id": _text(meta.get("run_id")),
            "averaged_steps": _count(meta.get("averaged_steps")),
            "created": _text(meta.get("created"))}


def _mean_kept(ckpt):
    """Steps in the --average mean that a training state keeps beside the last step's own
    parameters (its X.last.npz), or None: eval and generate use the parameters, not the mean."""
    if "averaged_steps" in ckpt.meta:          # the parameters are the mean itself
        return None
    count = ckpt.optimizer_state.get(f"{ParameterAverage.PREFIX}count")
    return _count(count.item()) if getattr(count, "size", 0) == 1 else None


def describe(path):
    """Everything about one checkpoint: settings by canonical key, vocabulary, parameters by
    tensor, training summary, corpus fingerprint, rnnlm version. A file that does not load
    raises the loader's CheckpointError."""
    path = Path(path)
    ckpt = load(path)
    meta = ckpt.meta
    corpus = _dict(meta.get("corpus"))
    return {"path": str(path), **_architecture(ckpt),
            "settings": canonical_settings(ckpt.config),
            "vocab": _vocabulary(ckpt.vocab),
            "tensors": [{"name": name, "shape": list(a.shape), "count": int(a.size)}
                        for name, a in ckpt.model.params.items()],
            "dtype": ckpt.model.config.dtype,
            "training": {**_training(meta), "mean_kept": _mean_kept(ckpt)},
            "corpus": {k: _text(corpus.get(k)) for k in ("name", "sha256", "level")}
            if corpus else None,
            "rnnlm_version": _text(meta.get("rnnlm_version")),
            "bytes": _size(path), "resumable": _resumable(path, meta)}


def _resumable(path, meta):
    """X.npz with its X.last.npz beside it, or an X.last.npz itself: what --resume takes."""
    if path.name.endswith(".last.npz"):
        return isinstance(meta.get("train_state"), dict)
    return last_path(path).is_file()
