"""Settings as frozen dataclasses; every check of a value lives here, with a one-line message."""

import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import DataError, UsageError

CELLS = ("rnn", "lstm", "gru")
DTYPES = ("float32", "float64")


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"--{name} must be a positive whole number, got {value!r}")


@dataclass(frozen=True)
class ModelConfig:
    """The architecture of a LanguageModel: everything needed to rebuild it from a checkpoint."""

    vocab_size: int
    cell: str = "lstm"
    num_layers: int = 2
    embed_size: int = 200
    hidden_size: int = 200
    dropout: float = 0.0
    variational: bool = False
    tie_weights: bool = False
    init_scale: float = 0.1
    dtype: str = "float32"
    seed: int = 0

    def __post_init__(self):
        if self.cell not in CELLS:
            raise UsageError(f"--cell: unknown cell {self.cell!r}, choose one of {', '.join(CELLS)}")
        for name, flag in (("vocab_size", "vocab-size"), ("num_layers", "layers"),
                           ("embed_size", "embed-size"), ("hidden_size", "hidden-size")):
            _positive_int(flag, getattr(self, name))
        if not 0.0 <= self.dropout < 1.0:
            raise UsageError(f"--dropout must be in [0, 1), got {self.dropout}")
        if not self.init_scale > 0.0:
            raise UsageError(f"--init-scale must be positive, got {self.init_scale}")
        if self.dtype not in DTYPES:
            raise UsageError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.tie_weights and self.embed_size != self.hidden_size:
            raise UsageError(
                f"--tie-weights needs --embed-size == --hidden-size "
                f"(got {self.embed_size} and {self.hidden_size}): make them equal or drop tying"
            )

    def to_dict(self):
        return asdict(self)


OPTIMIZERS = ("sgd", "adam")
DEFAULT_LR = {"sgd": 20.0, "adam": 0.002}
MODEL_KEYS = ("cell", "num_layers", "embed_size", "hidden_size", "dropout", "variational",
              "tie_weights", "init_scale", "seed")


def _optional(check, name, value):
    if value is not None:
        check(name, value)


def _positive_number(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise UsageError(f"--{name} must be a positive number, got {value!r}")


@dataclass(frozen=True)
class TrainConfig:
    """How to read the corpus and how to train; the model's own settings are in ModelConfig.

    ``clip`` None or 0 turns clipping off. ``lr`` None means the optimizer's default (SGD 20 on the mean per-token loss, i.e. lr 1 on
    the loss summed over 20 steps; Adam 0.002). ``lr_decay`` multiplies the learning rate each
    epoch after ``decay_after`` and/or after an epoch whose validation did not improve
    (``decay_on_plateau``). ``max_time`` is seconds of training (evaluation excluded), summed
    over resumes, like ``epochs``. ``anneal`` > 0 lowers the lr linearly to zero over that last
    fraction of the budget: of ``max_time`` or of ``epochs``, whichever runs out first.
    """

    level: str = "word"
    encoding: str = "utf-8"
    valid_fraction: float = 0.05
    max_vocab: int | None = None
    min_count: int = 1
    optimizer: str = "sgd"
    lr: float | None = None
    lr_decay: float = 0.5
    decay_after: int | None = None
    decay_on_plateau: bool = True
    anneal: float = 0.0
    clip: float | None = 0.25
    batch_size: int = 20
    bptt: int = 35
    epochs: int = 10
    max_time: float | None = None
    patience: int | None = None
    eval_every: int | None = None
    eval_batch_size: int = 10
    log_every: int = 200

    def __post_init__(self):
        if self.level not in ("word", "char"):
            raise UsageError(f"--level must be 'word' or 'char', got {self.level!r}")
        if not 0.0 <= self.valid_fraction < 1.0:
            raise UsageError(f"--valid-fraction must be in [0, 1), got {self.valid_fraction}")
        if self.optimizer not in OPTIMIZERS:
            raise UsageError(f"--optimizer: unknown optimizer {self.optimizer!r}, choose sgd or adam")
        _optional(_positive_number, "lr", self.lr)
        if not 0.0 < self.lr_decay <= 1.0:
            raise UsageError(f"--lr-decay must be in (0, 1], got {self.lr_decay}")
        if isinstance(self.anneal, bool) or not (isinstance(self.anneal, (int, float))
                                                 and 0.0 <= self.anneal <= 1.0):
            raise UsageError(f"--anneal must be a fraction in [0, 1], got {self.anneal!r}")
        if self.clip is not None and not (isinstance(self.clip, (int, float))
                                          and not isinstance(self.clip, bool) and self.clip >= 0):
            raise UsageError(f"--clip must be a number >= 0 (0 turns clipping off), "
                             f"got {self.clip!r}")
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


def split_settings(settings):
    """Settings by name -> (model settings, train settings); an unknown name is an error."""
    train_keys = set(TrainConfig.__dataclass_fields__)
    unknown = sorted(set(settings) - train_keys - set(MODEL_KEYS))
    if unknown:
        raise UsageError(f"unknown setting {unknown[0]!r}")
    model = {k: v for k, v in settings.items() if k in MODEL_KEYS}
    return model, {k: v for k, v in settings.items() if k in train_keys}


def read_config_file(path):
    """Settings from a TOML file (flat keys, named as the API's settings or the CLI's flags)."""
    try:
        with Path(path).open("rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise DataError(f"config file '{path}' does not exist") from None
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise DataError(f"cannot read config file '{path}': {e}") from None
    aliases = {"layers": "num_layers"}
    return {aliases.get(k.replace("-", "_"), k.replace("-", "_")): v for k, v in raw.items()}
