"""rnnlm: recurrent language models (Elman RNN, LSTM, GRU) with a hand-written NumPy engine."""

from importlib.metadata import PackageNotFoundError, version

from .config import ModelConfig
from .errors import CheckpointError, DataError, RnnlmError, UsageError
from .model import LanguageModel
from .optim import SGD, Adam, clip_grad_norm

try:
    __version__ = version("rnnlm")
except PackageNotFoundError:        # running from a source tree that is not installed
    __version__ = "0.0.0+source"

__all__ = [
    "LanguageModel", "ModelConfig", "SGD", "Adam", "clip_grad_norm",
    "RnnlmError", "UsageError", "DataError", "CheckpointError", "__version__",
]
