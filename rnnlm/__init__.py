"""rnnlm: recurrent language models (Elman RNN, LSTM, GRU) with a hand-written NumPy engine."""

import os

# After each threaded matrix product OpenBLAS keeps its worker threads spinning for 2^28 clock
# ticks (about 0.1 s) before they sleep; a spinning worker takes a core from the softmax that
# follows the output layer's product (it doubled the loss pass on a 2-core AVX2 EPYC). 2^20
# ticks (under half a millisecond) still span the gaps between the recurrence's products.
# OpenBLAS reads the setting once, when numpy loads it: import rnnlm before numpy for it to
# count (the command line does); a value set by the user is kept.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "20")

# The one place the version is written: pyproject.toml reads it from here, and a command need
# not load importlib.metadata (about 30 ms of a 0.5 s start) to print or record it.
__version__ = "0.1.0"

# Below the version: submodules (checkpoints) record it.
from .checkpoint import Checkpoint, load, save  # noqa: E402
from .config import ModelConfig, TrainConfig  # noqa: E402
from .data import Corpus, Vocabulary, load_corpus  # noqa: E402
from .errors import CheckpointError, DataError, RnnlmError, UsageError  # noqa: E402
from .evaluation import evaluate  # noqa: E402
from .generation import generate  # noqa: E402
from .gradients import gradient_flow  # noqa: E402
from .interop import export_torch, import_torch  # noqa: E402
from .model import LanguageModel  # noqa: E402
from .optim import SGD, Adam, clip_grad_norm  # noqa: E402
from .probe import probe  # noqa: E402
from .training import TrainResult, train  # noqa: E402

__all__ = [
    "LanguageModel", "ModelConfig", "TrainConfig", "SGD", "Adam", "clip_grad_norm",
    "Vocabulary", "Corpus", "load_corpus", "train", "TrainResult", "evaluate", "generate",
    "probe", "gradient_flow", "export_torch", "import_torch", "Checkpoint", "load", "save",
    "RnnlmError", "UsageError", "DataError", "CheckpointError", "__version__",
]
