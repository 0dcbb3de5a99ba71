"""Perplexity over a file or an id array (the API's ``evaluate``).

The text is laid out as ``batch_size`` parallel streams (as in training) and the hidden state
is carried through each stream from its first token to its last, so the figure does not
depend on the chunk length; ``batch_size=1`` gives the strict one-stream figure. The trainer's
validation calls ``evaluate_ids`` with the same default, so the two numbers agree.
"""

import math
import time

import numpy as np

from .checkpoint import model_and_vocab
from .data import BatchStream, encode_file
from .errors import CheckpointError

EVAL_BATCH_SIZE = 10
EVAL_BPTT = 50          # longer chunks than training: fewer Python steps, same result


def evaluate_ids(model, ids, batch_size=EVAL_BATCH_SIZE, bptt=EVAL_BPTT, name="text"):
    """Mean loss over token ids (N,) -> {"tokens", "nll", "ppl", "warning"}.

    The model's mode and carried state are restored afterwards, so validation in the middle
    of an epoch does not disturb training.
    """
    # The state is carried through each stream, so the chunk length does not change the figure:
    # a short text gets shorter chunks, and the streams asked for as long as it has the tokens.
    bptt = max(1, min(bptt, (len(ids) - 1) // max(batch_size, 1)))
    stream = BatchStream(ids, batch_size, bptt, name=name)
    total = 0.0
    with model.evaluating(restore_state=True):
        model.reset_state()
        for x, t in stream:
            total += model.forward(x, t) * x.size
    nll = total / stream.n_targets
    return {"tokens": stream.n_targets, "nll": nll, "ppl": math.exp(min(nll, 700.0)),
            "warning": stream.warning}


def evaluate(checkpoint_or_model, path, vocab=None, batch_size=EVAL_BATCH_SIZE, encoding="utf-8"):
    """Perplexity of a model on a text file.

    ``checkpoint_or_model``: a checkpoint path, a loaded Checkpoint, or a LanguageModel (then
    ``vocab`` is required). Returns {"file", "tokens", "ppl", "bpc" (char level), "unk",
    "unk_rate", "tokens_per_s", "warning"}: "tokens" are the tokens predicted, and "unk" counts
    those of them unknown to the model (read as "<unk>"; a literal "<unk>" the vocabulary
    holds is not unknown), "unk_rate" being unk / tokens.
    """
    model, vocab = model_and_vocab(checkpoint_or_model, vocab)
    ids, _ = encode_file(path, vocab, vocab.level, encoding, unknown_id=-1)
    unknown = ids < 0
    ids[unknown] = vocab.unk_id
    start = time.perf_counter()
    with np.errstate(all="ignore"):         # a non-finite loss is refused just below
        result = evaluate_ids(model, ids, batch_size, name=str(path))
    seconds = time.perf_counter() - start
    if not math.isfinite(result["nll"]):
        raise CheckpointError(f"the model's loss on '{path}' is not a finite number (its "
                              f"weights overflow float32 arithmetic): retrain it or use "
                              f"another checkpoint")
    report = {"file": str(path), "tokens": result["tokens"], "ppl": result["ppl"]}
    if vocab.level == "char":
        report["bpc"] = result["nll"] / math.log(2)
    # Of the tokens the figure counts: the predicted ones, ids[1 : 1 + tokens] (BatchStream's
    # targets); the first token and a few trailing ones are read but never predicted.
    report["unk"] = int(np.count_nonzero(unknown[1 : 1 + result["tokens"]]))
    report["unk_rate"] = report["unk"] / max(result["tokens"], 1)
    report["tokens_per_s"] = result["tokens"] / max(seconds, 1e-9)
    report["warning"] = result["warning"]
    return report
