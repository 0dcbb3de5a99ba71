"""Settings as frozen dataclasses; every check of a value lives here, with a one-line message."""

from dataclasses import asdict, dataclass

from .errors import UsageError

CELLS = ("rnn", "lstm", "gru")
DTYPES = ("float32", "float64")


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"{name} must be a positive whole number, got {value!r}")


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
            raise UsageError(f"unknown cell {self.cell!r}: choose one of {', '.join(CELLS)}")
        for name in ("vocab_size", "num_layers", "embed_size", "hidden_size"):
            _positive_int(name.replace("_", "-"), getattr(self, name))
        if not 0.0 <= self.dropout < 1.0:
            raise UsageError(f"dropout must be in [0, 1), got {self.dropout}")
        if not self.init_scale > 0.0:
            raise UsageError(f"init-scale must be positive, got {self.init_scale}")
        if self.dtype not in DTYPES:
            raise UsageError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.tie_weights and self.embed_size != self.hidden_size:
            raise UsageError(
                f"tying weights needs embed-size == hidden-size "
                f"(got {self.embed_size} and {self.hidden_size}): make them equal or drop tying"
            )

    def to_dict(self):
        return asdict(self)
