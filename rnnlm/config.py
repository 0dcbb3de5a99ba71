"""Settings: one source of truth for each, and every check of a value, with one-line messages.

A setting is a field of ModelConfig or TrainConfig declared with ``setting(default, help)``:
its name, type, default and help live there and nowhere else. From those fields come the
CLI's options and their ``--help`` defaults, the ``--config`` file's keys and their checks,
and the runs log's ``settings``. A setting's canonical key is its flag without the dashes
(``embed-size``, ``layers``); the API keeps the field names (``embed_size``, ``num_layers``).
"""

import numbers
import re
import tomllib
import types
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from .errors import DataError, UsageError

CELLS = ("rnn", "lstm", "gru")
DTYPES = ("float32", "float64")
SOFTMAXES = ("full", "adaptive")


def setting(default, help, *, key=None, shown=None, parse=None):
    """A dataclass field that is a user setting.

    ``key``: the canonical key (and flag) when it is not the field name with dashes;
    ``shown``: the default as --help shows it, when the value alone would mislead (None =
    off, or a default that depends on another setting); ``parse``: turns the text a user
    types (a flag, or a string in the --config file) into the value.
    """
    return field(default=default,
                 metadata={"help": help, "key": key, "shown": shown, "parse": parse})


def parse_duration(text):
    """'90', '90s', '30m', '1.5h' -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(text))
    if not match or float(match[1]) <= 0:
        raise UsageError(f"--max-time must be a positive duration like 90s, 30m or 1.5h, "
                         f"got {text!r}")
    return float(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[match[2]]


def parse_cutoffs(value):
    """'2000', '2000,6000', 2000 or [2000, 6000] -> (2000, 6000); checked against the
    vocabulary by ModelConfig."""
    items = value.replace(",", " ").split() if isinstance(value, str) else \
        list(value) if isinstance(value, (list, tuple)) else [value]
    try:
        cutoffs = tuple(int(v) if isinstance(v, str) else v for v in items)
    except ValueError:
        cutoffs = ()
    if not cutoffs or not all(isinstance(c, int) and not isinstance(c, bool) for c in cutoffs):
        raise UsageError(f"--cutoffs must be whole numbers like 2000 or 2000,6000, got {value!r}")
    return cutoffs


def _as_python(config):
    """Each setting of a config as Python's own type: NumPy's scalars (np.int64(16) is a whole
    number too, np.float32(0.25) a number) made int and float; a setting that is on or off
    given anything but True or False refused, never read as true ("no" is a true string)."""
    for f in fields(config):
        value = getattr(config, f.name)
        if isinstance(value, (bool, np.bool_)):
            value = bool(value)
        elif isinstance(value, numbers.Integral):
            value = int(value)
        elif isinstance(value, numbers.Real) and not isinstance(value, float):
            value = float(value)
        if f.type is bool and not isinstance(value, bool):
            key = f.metadata.get("key") or f.name.replace("_", "-")
            raise UsageError(f"--{key} is on or off (True or False), got {value!r}")
        object.__setattr__(config, f.name, value)


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"--{name} must be a positive whole number, got {value!r}")


@dataclass(frozen=True)
class ModelConfig:
    """The architecture of a LanguageModel: everything needed to rebuild it from a checkpoint."""

    vocab_size: int
    cell: str = setting("lstm", "lstm, gru or rnn (Elman).")
    num_layers: int = setting(2, "Stacked recurrent layers.", key="layers")
    embed_size: int = setting(200, "Embedding size.")
    hidden_size: int = setting(200, "Units per recurrent layer.")
    dropout: float = setting(0.0, "Dropout on non-recurrent connections, in [0, 1): sets "
                                  "--dropout-embed, --dropout-hidden and --dropout-out.")
    dropout_embed: float | None = setting(None, "Dropout on the embedding's output.",
                                          shown="--dropout")
    dropout_hidden: float | None = setting(None, "Dropout between recurrent layers.",
                                           shown="--dropout")
    dropout_out: float | None = setting(None, "Dropout before the output layer.",
                                        shown="--dropout")
    dropout_words: float = setting(0.0, "Drop whole words: each vocabulary row of the "
                                        "embedding is zeroed with this probability, one mask "
                                        "per chunk (Gal & Ghahramani 2016).", shown="0, off")
    weight_drop: float = setting(0.0, "DropConnect on the hidden-to-hidden weights, one mask "
                                      "per chunk (Merity et al. 2017).", shown="0, off")
    variational: bool = setting(False, "One dropout mask per sequence, shared over time.")
    tie_weights: bool = setting(False, "Share the embedding and output matrices (needs "
                                       "--embed-size == --hidden-size).")
    softmax: str = setting("full", "full, or adaptive: a head of the --cutoffs most frequent "
                                   "types and smaller tail clusters (Grave et al. 2017), "
                                   "faster for large vocabularies.")
    cutoffs: tuple[int, ...] | None = setting(
        None, "Adaptive softmax: where the head and each tail cluster end, in frequency ranks "
              "(2000, or 2000,6000).", shown="none", parse=parse_cutoffs)
    init_scale: float = setting(0.1, "Parameters start uniform in [-s, s].")
    dtype: str = "float32"
    seed: int = setting(0, "Random seed for parameters and dropout.")

    def __post_init__(self):
        _as_python(self)
        if self.cell not in CELLS:
            raise UsageError(f"--cell: unknown cell {self.cell!r}, choose one of {', '.join(CELLS)}")
        for name, flag in (("vocab_size", "vocab-size"), ("num_layers", "layers"),
                           ("embed_size", "embed-size"), ("hidden_size", "hidden-size")):
            _positive_int(flag, getattr(self, name))
        for name in ("dropout", "dropout_embed", "dropout_hidden", "dropout_out",
                     "dropout_words", "weight_drop"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or
                                      not isinstance(value, (int, float)) or
                                      not 0.0 <= value < 1.0):
                raise UsageError(f"--{name.replace('_', '-')} must be in [0, 1), got {value!r}")
        if not 0.0 < self.init_scale <= 10.0:             # written so that NaN fails too
            raise UsageError(f"--init-scale must be in (0, 10], got {self.init_scale}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or \
                not 0 <= self.seed < 2**63:        # as a checkpoint and PyTorch's file keep it
            raise UsageError(f"--seed must be a whole number in [0, 2^63), got {self.seed!r}")
        if self.dtype not in DTYPES:
            raise UsageError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        self._check_softmax()
        if self.tie_weights and self.embed_size != self.hidden_size:
            raise UsageError(
                f"--tie-weights needs --embed-size == --hidden-size "
                f"(got {self.embed_size} and {self.hidden_size}): make them equal or drop tying"
            )

    def _check_softmax(self):
        if self.softmax not in SOFTMAXES:
            raise UsageError(f"--softmax: unknown softmax {self.softmax!r}, choose full or adaptive")
        if self.softmax == "full":
            if self.cutoffs is not None:
                raise UsageError("--cutoffs applies to --softmax adaptive only: drop it, or "
                                 "add --softmax adaptive")
            return
        if self.cutoffs is None:
            raise UsageError("--softmax adaptive needs --cutoffs: the head's size, e.g. "
                             "--cutoffs 2000 (more clusters: --cutoffs 2000,6000)")
        cutoffs = parse_cutoffs(self.cutoffs)
        object.__setattr__(self, "cutoffs", cutoffs)    # a checkpoint's JSON gives a list
        shown = ",".join(map(str, cutoffs))
        if any(a >= b for a, b in zip((0, *cutoffs), cutoffs)):
            raise UsageError(f"--cutoffs must rise strictly from above 0, got {shown}")
        if cutoffs[-1] >= self.vocab_size:      # known once the corpus is read
            raise UsageError(f"--cutoffs must rise strictly between 0 and the vocabulary size "
                             f"{self.vocab_size}, got {shown}")
        if self.hidden_size // 4 ** len(cutoffs) < 1:
            raise UsageError(f"--cutoffs: {len(cutoffs)} tail clusters need --hidden-size of "
                             f"at least {4 ** len(cutoffs)} (each projects to a quarter of "
                             f"the one before)")
        if self.tie_weights:
            raise UsageError("--tie-weights needs --softmax full: the adaptive softmax has no "
                             "(hidden, vocabulary) matrix to share")

    def idle_settings(self):
        """Warnings for settings given that this model leaves without effect."""
        idle = []
        if self.variational and not any(self.dropout_rates):
            idle.append("--variational has no effect: no dropout rate is set")
        if self.num_layers == 1 and self.dropout_hidden:
            idle.append(f"--dropout-hidden {self.dropout_hidden} has no effect: one layer has "
                        f"no connection between layers")
        return idle

    @property
    def dropout_rates(self):
        """(embedding, between layers, before the output): each place's own rate, or --dropout."""
        return dropout_rates(vars(self))

    def to_dict(self):
        return asdict(self)


# The places of dropout, each with a rate of its own or else --dropout's.
DROPOUT_PLACES = ("dropout_embed", "dropout_hidden", "dropout_out")


def dropout_rates(settings):
    """(embedding, between layers, before the output) of settings by field name."""
    default = settings.get("dropout") or 0.0
    return tuple(default if settings.get(p) is None else settings[p] for p in DROPOUT_PLACES)


OPTIMIZERS = ("sgd", "adam")
DEFAULT_LR = {"sgd": 20.0, "adam": 0.002}


def _optional(check, name, value):
    if value is not None:
        check(name, value)


def _positive_number(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not 0 < value < float("inf"):
        raise UsageError(f"--{name} must be a positive finite number, got {value!r}")


@dataclass(frozen=True)
class TrainConfig:
    """How to read the corpus and how to train; the model's own settings are in ModelConfig.

    ``clip`` None or 0 turns clipping off. ``lr`` None means the optimizer's default (SGD 20 on the mean per-token loss, i.e. lr 1 on
    the loss summed over 20 steps; Adam 0.002). ``lr_decay`` multiplies the learning rate each
    epoch after ``decay_after`` and/or after an epoch whose validation did not improve
    (``decay_on_plateau``). ``max_time`` is seconds of training (evaluation excluded), summed
    over resumes, like ``epochs``. ``anneal`` > 0 lowers the lr linearly to zero over that last
    fraction of the budget: of ``max_time`` or of ``epochs``, whichever runs out first.
    ``average`` > 0 keeps the mean of the parameters after each step of that last fraction;
    validation and the best model use it (see optim.ParameterAverage).
    """

    level: str = setting("word", "word or char.")
    encoding: str = setting("utf-8", "Text encoding of the corpus.")
    valid_fraction: float = setting(0.05, "Share of a single file's last lines held out for "
                                          "validation.")
    max_vocab: int | None = setting(None, "Keep at most this many types (with specials).",
                                    shown="all")
    min_count: int = setting(1, "Drop types seen fewer times.")
    optimizer: str = setting("sgd", "sgd or adam.")
    lr: float | None = setting(None, "Learning rate (SGD's on the mean per-token loss).",
                               shown="20 for sgd, 0.002 for adam")
    lr_decay: float = setting(0.5, "Factor applied to the lr when it decays.")
    decay_after: int | None = setting(None, "Decay the lr after each epoch from this one.",
                                      shown="off")
    decay_on_plateau: bool = setting(True, "Decay the lr when validation does not improve.")
    anneal: float = setting(0.0, "Lower the lr linearly to 0 over this last fraction of the "
                                 "budget (--max-time or --epochs, whichever ends first).",
                            shown="0, off")
    average: float = setting(0.0, "Validate and save the running average of the parameters "
                                  "over this last fraction of the budget (averaged SGD, "
                                  "Polyak & Juditsky 1992; as for --anneal).", shown="0, off")
    clip: float | None = setting(0.25, "Clip gradients to this global norm; 0 turns clipping "
                                       "off.")
    batch_size: int = setting(20, "Parallel streams.")
    bptt: int = setting(35, "Steps per chunk (truncated BPTT).")
    random_bptt: bool = setting(False, "Chunk lengths drawn afresh each epoch around --bptt, "
                                       "each step's lr scaled by its length / --bptt "
                                       "(Merity et al. 2017).")
    epochs: int = setting(10, "Epochs in total, over all resumes.")
    max_time: float | None = setting(None, "Training time budget over all resumes: 90s, 30m, "
                                           "1.5h.", shown="no limit", parse=parse_duration)
    patience: int | None = setting(None, "Stop after this many epochs without improvement.",
                                   shown="off")
    eval_every: int | None = setting(None, "Also validate every N steps.", shown="each epoch")
    eval_batch_size: int = 10
    log_every: int = setting(200, "Steps between step events (--json, plain lines).")

    def __post_init__(self):
        _as_python(self)
        if self.level not in ("word", "char"):
            raise UsageError(f"--level must be 'word' or 'char', got {self.level!r}")
        if not 0.0 <= self.valid_fraction < 1.0:
            raise UsageError(f"--valid-fraction must be in [0, 1), got {self.valid_fraction}")
        if self.optimizer not in OPTIMIZERS:
            raise UsageError(f"--optimizer: unknown optimizer {self.optimizer!r}, choose sgd or adam")
        _optional(_positive_number, "lr", self.lr)
        if not 0.0 < self.lr_decay <= 1.0:
            raise UsageError(f"--lr-decay must be in (0, 1], got {self.lr_decay}")
        for name in ("anneal", "average"):
            value = getattr(self, name)
            if isinstance(value, bool) or not (isinstance(value, (int, float))
                                               and 0.0 <= value <= 1.0):
                raise UsageError(f"--{name} must be a fraction in [0, 1], got {value!r}")
        if self.clip is not None and not (isinstance(self.clip, (int, float))
                                          and not isinstance(self.clip, bool) and self.clip >= 0):
            raise UsageError(f"--clip must be a number >= 0 (0 turns clipping off), "
                             f"got {self.clip!r}")
        if isinstance(self.max_time, str):      # "30m", as the flag and a config file take it
            object.__setattr__(self, "max_time", parse_duration(self.max_time))
        _optional(_positive_number, "max-time", self.max_time)
        for name in ("min_count", "batch_size", "bptt", "epochs", "eval_batch_size", "log_every"):
            _positive_int(name.replace("_", "-"), getattr(self, name))
        for name in ("max_vocab", "patience", "eval_every"):
            _optional(_positive_int, name.replace("_", "-"), getattr(self, name))
        if self.decay_after is not None and (isinstance(self.decay_after, bool) or
                                             not isinstance(self.decay_after, int) or
                                             self.decay_after < 0):
            raise UsageError(f"--decay-after must be a whole number >= 0, got {self.decay_after!r}")

    @property
    def learning_rate(self):
        return DEFAULT_LR[self.optimizer] if self.lr is None else float(self.lr)

    def to_dict(self):
        return asdict(self)


@dataclass(frozen=True)
class Setting:
    """One user setting, as declared by its field: see ``setting``."""

    key: str            # canonical: the flag without dashes, the --config key, the runs log's
    name: str           # the field, and the API's keyword
    section: str        # "model" or "train": the part of a checkpoint's config it belongs to
    type: type          # bool, int, float or str; a value may also be None where the field allows
    optional: bool
    default: object
    help: str
    shown: str          # the default as --help shows it
    parse: object       # text -> value, or None


def _declared(cls, section):
    for f in fields(cls):
        if "help" not in f.metadata:
            continue
        kinds = [t for t in getattr(f.type, "__args__", (f.type,)) if t is not type(None)]
        optional = isinstance(f.type, types.UnionType)
        m = f.metadata
        shown = m["shown"] or ({True: "on", False: "off"}.get(f.default, None) if
                               isinstance(f.default, bool) else str(f.default))
        yield Setting(m["key"] or f.name.replace("_", "-"), f.name, section, kinds[0],
                      optional, f.default, m["help"], shown, m["parse"])


# key -> Setting, in the order the fields are declared: the model's, then training's.
SETTINGS = {s.key: s for s in (*_declared(ModelConfig, "model"), *_declared(TrainConfig, "train"))}
SETTINGS_BY_NAME = {s.name: s for s in SETTINGS.values()}


def split_settings(settings):
    """Settings by field name -> (model settings, train settings); an unknown name is an error."""
    unknown = sorted(set(settings) - set(SETTINGS_BY_NAME))
    if unknown:
        raise UsageError(f"unknown setting {unknown[0]!r}")
    model = {k: v for k, v in settings.items() if SETTINGS_BY_NAME[k].section == "model"}
    return model, {k: v for k, v in settings.items() if SETTINGS_BY_NAME[k].section == "train"}


def canonical_settings(config):
    """A checkpoint's config ({"model": {...}, "train": {...}}, field names) -> every setting by
    its canonical key, resolved: a missing one takes its default, and the lr its optimizer's.
    A section the checkpoint does not have (no "train" in a model saved outside ``train`` or
    imported) gives no settings: its defaults would describe a training that never was."""
    out = {}
    for s in SETTINGS.values():
        if config.get(s.section):
            out[s.key] = config[s.section].get(s.name, s.default)
    if out.get("optimizer") is not None and out["lr"] is None:
        out["lr"] = DEFAULT_LR.get(out["optimizer"])
    return out


def _typed(s, value, where):
    """A value read from a --config file, checked against its setting's type."""
    if s.parse is not None and (isinstance(value, str) or s.type not in (int, float, str)):
        return s.parse(value)
    fits = (isinstance(value, bool) if s.type is bool else
            isinstance(value, s.type) and not isinstance(value, bool) if s.type in (int, str)
            else isinstance(value, (int, float)) and not isinstance(value, bool))
    if not fits:
        example = {bool: "true", int: "2", float: "0.5", str: '"..."'}.get(s.type, "")
        raise UsageError(f"{where}: '{s.key}' must be {s.type.__name__}, got {value!r}"
                         + (f"; write it as TOML's {s.type.__name__}, like {s.key} = {example}"
                            if example else ""))
    return float(value) if s.type is float else value


def read_config_file(path):
    """Settings from a TOML file of canonical keys (``embed-size = 200``) -> {field name: value}."""
    try:
        with Path(path).open("rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise DataError(f"config file '{path}' does not exist") from None
    except UnicodeDecodeError as e:
        raise DataError(f"config file '{path}' is not UTF-8 text (byte {e.start}), as TOML "
                        f"must be: save it as UTF-8") from None
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise DataError(f"cannot read config file '{path}': {e}") from None
    settings = {}
    for key, value in raw.items():
        s = SETTINGS.get(key)
        if s is None:
            near = SETTINGS.get(key.replace("_", "-")) or SETTINGS_BY_NAME.get(key.replace("-", "_"))
            hint = f" (the key is '{near.key}')" if near else \
                f"; known keys: {', '.join(SETTINGS)}"
            raise UsageError(f"config file '{path}': unknown setting '{key}'{hint}")
        settings[s.name] = _typed(s, value, f"config file '{path}'")
    return settings
