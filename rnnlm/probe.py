"""Agreement probes (the API's ``probe``): does a model prefer the grammatical word of a minimal
pair, and how does that hold up as the controlling word recedes?

A pairs file has one pair a line, tab-separated: ``prefix``, ``good``, ``bad``, ``distance``
(tokens from the controlling word to the scored one) and optionally ``attractors`` (nouns of the
other number or gender in between). The bundled jenny probes are the default.

Each model reads the prefix as the start of a sentence (the state ``generate`` starts a seed
from); a pair is right when log p(good) > log p(bad), a tie being wrong. A good or bad of
several tokens scores the sum of its tokens' log-probabilities, teacher-forced.

Speed: the start-of-sentence state is found once per model and repeated over the rows of a
batch; rows of equal length run together, one ``forward`` per chunk. A pair whose good and bad
are single tokens needs one row (the prefix: both words are read from its last position), other
pairs two (prefix + good, prefix + bad).
"""

from collections import defaultdict
from pathlib import Path

import numpy as np

from .checkpoint import Checkpoint, default_model_path, load
from .data import read_text, tokenize
from .errors import CheckpointError, DataError, UsageError
from .functions import log_softmax

# (lowest, highest or None, label): the distance buckets of the results, in order
BUCKETS = ((1, 1, "1"), (2, 3, "2-3"), (4, 6, "4-6"), (7, 10, "7-10"), (11, 15, "11-15"),
           (16, None, "16+"))
CHUNK_ROWS = 512           # rows per forward at most,
CHUNK_VALUES = 8_000_000   # and at most this many log-probabilities (rows x (T+1) x V, 64 MB)


def pairs_path(pairs=None):
    """The pairs file to read: ``pairs``, or the bundled jenny probes."""
    if pairs is not None:
        return Path(pairs)
    from .bundled import JENNY_PROBES, bundled_path
    return bundled_path(JENNY_PROBES, "jenny probe file", "pass --pairs FILE")


def read_pairs(path):
    """A pairs file -> list of {"prefix", "good", "bad", "distance", "attractors" (or None)}.

    Blank lines are skipped. A problem is one DataError naming the file and the line.
    """
    path = Path(path)
    text = read_text(path, "pairs file")
    pairs, columns = [], None
    # Lines end at "\n" ("\r\n" too), as a corpus's do: not at the other breaks of
    # str.splitlines (U+2028, form feed), which a prefix may hold.
    for number, line in enumerate(text.split("\n"), 1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        fields = line.split("\t")
        where = f"'{path}' line {number}"
        if len(fields) not in (4, 5):
            raise DataError(f"{where}: {len(fields)} tab-separated columns, expected 4 (prefix, "
                            "good, bad, distance) or 5 (+ attractors)")
        # One file, one shape: a missing attractors column on some lines is a broken file.
        columns = columns or len(fields)
        if len(fields) != columns:
            raise DataError(f"{where}: {len(fields)} columns where the first pair has {columns}")
        prefix, good, bad = fields[:3]
        if not good.strip() or not bad.strip():
            raise DataError(f"{where}: the good and bad words must not be empty")
        if good.split() == bad.split():       # a tie, and a tie counts as wrong: never a probe
            raise DataError(f"{where}: the good and bad words are the same ({good.strip()!r})")
        distance = _count(fields[3], where, "distance", least=1)
        attractors = _count(fields[4], where, "attractors", least=0) if columns == 5 else None
        pairs.append({"prefix": prefix, "good": good, "bad": bad, "distance": distance,
                      "attractors": attractors})
    if not pairs:
        raise DataError(f"pairs file '{path}' holds no pairs")
    return pairs


def _count(field, where, name, least):
    try:
        value = int(field.strip())
    except ValueError:
        raise DataError(f"{where}: {name} must be a whole number, got {field!r}") from None
    if value < least:
        raise DataError(f"{where}: {name} must be >= {least}, got {value}")
    return value


def bucket(distance):
    """The label of the distance bucket holding ``distance``."""
    return next(label for lo, hi, label in BUCKETS if distance >= lo and (hi is None
                                                                          or distance <= hi))


def probe(models=None, pairs=None, *, on_warning=None) -> list[dict]:
    """Agreement accuracy of each model on a pairs file; one dict per model.

    ``models``: checkpoint paths or loaded Checkpoints (one or a list); none gives the shipped
    default model. ``pairs``: a pairs file, or the bundled jenny probes. Each result is
    {"model", "pairs", "skipped", "accuracy", "by_distance": {label: {"pairs", "accuracy"}},
    "by_attractors": {count: {...}}} ("by_attractors" is empty when the file has no such
    column; "accuracy" is None with no pair scored). Pairs with a token outside a model's
    vocabulary are skipped and counted, with one warning per model through ``on_warning``.
    A loaded Checkpoint's model keeps its mode and carried state.
    """
    if models is None or isinstance(models, (str, Path, Checkpoint)):
        models = [] if models is None else [models]
    rows = read_pairs(pairs_path(pairs))
    models = models or [default_model_path()]
    # Every model is read before the first is scored: a bad last file fails at once.
    checkpoints = [m if isinstance(m, Checkpoint) else load(m) for m in models]
    results = []
    for model, checkpoint in zip(models, checkpoints):
        name = str(checkpoint.path if isinstance(model, Checkpoint) else model)
        try:
            right, skipped, first_unknown = _score(checkpoint.model, checkpoint.vocab, rows)
        except CheckpointError as e:
            raise CheckpointError(f"'{name}': {e}") from None
        if skipped and on_warning is not None:
            on_warning(f"{Path(name).name}: {skipped:,} of {len(rows):,} pairs skipped, their "
                       f"words unknown to the model (first: {first_unknown!r})")
        results.append(_summary(name, rows, right, skipped))
    return results


def _summary(name, rows, right, skipped):
    """Accuracy overall, by distance bucket and by attractor count (None = skipped pair)."""
    scored = [(row, ok) for row, ok in zip(rows, right) if ok is not None]

    def tally(key):
        groups = defaultdict(list)
        for row, ok in scored:
            groups[key(row)].append(ok)
        return groups

    by_distance = tally(lambda r: bucket(r["distance"]))
    by_attractors = tally(lambda r: r["attractors"]) if rows[0]["attractors"] is not None else {}
    return {"model": name, "pairs": len(scored), "skipped": skipped,
            "accuracy": _accuracy([ok for _, ok in scored]),
            "by_distance": {label: _cell(by_distance[label]) for *_, label in BUCKETS
                            if by_distance[label]},
            "by_attractors": {str(n): _cell(by_attractors[n]) for n in sorted(by_attractors)}}


def _accuracy(flags):
    return sum(flags) / len(flags) if flags else None


def _cell(flags):
    return {"pairs": len(flags), "accuracy": _accuracy(flags)}


# --- scoring ----------------------------------------------------------------------------------

def _tokens(row, vocab):
    """(prefix, good, bad) token lists; at character level the prefix ends with its space."""
    prefix = row["prefix"].strip()
    if vocab.level == "char" and prefix:
        prefix += " "
    return [tokenize(text, vocab.level) for text in (prefix, row["good"].strip(),
                                                       row["bad"].strip())]


def _score(model, vocab, rows):
    """-> (right: True/False, None for a skipped pair; skipped count; first unknown token)."""
    # jobs by row length: (row ids, [(pair, sign, position, token), ...]); the log-probability
    # at position j is the next token's after reading j row tokens (0: the sentence start)
    jobs = defaultdict(list)
    scored, skipped, first_unknown = [], 0, None
    for i, row in enumerate(rows):
        prefix, good, bad = _tokens(row, vocab)
        unknown = [t for t in prefix + good + bad if t not in vocab]
        if unknown:
            skipped += 1
            first_unknown = first_unknown or unknown[0]
            continue
        scored.append(i)
        p, good_ids, bad_ids = len(prefix), vocab.encode(good), vocab.encode(bad)
        ids = vocab.encode(prefix).tolist()
        if len(good) == len(bad) == 1:        # both words read from the prefix's last position
            jobs[p].append((ids, [(i, 1, p, good_ids[0]), (i, -1, p, bad_ids[0])]))
            continue
        for sign, word in ((1, good_ids), (-1, bad_ids)):
            read = ids + word[:-1].tolist()   # the last word token is scored, never read
            jobs[len(read)].append((read, [(i, sign, p + j, t) for j, t in enumerate(word)]))
    margin = np.zeros(len(rows))              # log p(good) - log p(bad)
    if jobs:
        # the caller's model keeps its carried state; non-finite margins are refused below
        with model.evaluating(restore_state=True), np.errstate(all="ignore"):
            start = _start(model, vocab, 0 in jobs)
            for length, group in jobs.items():
                chunk = max(1, min(CHUNK_ROWS, CHUNK_VALUES // ((length + 1) * len(vocab))))
                for k in range(0, len(group), chunk):
                    _run(model, start, group[k:k + chunk], length, margin)
    if not np.isfinite(margin).all():
        raise CheckpointError("the model's log-probabilities are not finite numbers (its "
                              "weights overflow float32 arithmetic): retrain it or use another "
                              "checkpoint")
    right = [None] * len(rows)
    for i in scored:
        right[i] = bool(margin[i] > 0)        # a tie is wrong
    return right, skipped, first_unknown


def _start(model, vocab, empty_prefix):
    """(state, first-token log-probabilities (1, V)) of a sentence start, found once."""
    from .generation import start_of_sentence

    first = start_of_sentence(model, vocab)
    if first is None and empty_prefix:
        raise UsageError("this character model has no newline to start a sentence from: give "
                         "every pair a prefix")
    return model.state, None if first is None else log_softmax(first.astype(np.float64))


def _run(model, start, group, length, margin):
    """One forward over equal-length rows from the start state; adds their scores to margin."""
    state, first = start
    b = len(group)
    model.state = [None if s is None else {k: np.repeat(v, b, axis=0) for k, v in s.items()}
                   for s in state]
    logp = np.empty((b, length + 1, model.config.vocab_size))
    if first is not None:
        logp[:, 0] = first
    if length:
        logp[:, 1:] = log_softmax(model.forward(np.array([ids for ids, _ in group],
                                                          dtype=np.int64)).astype(np.float64))
    reads = [(r, *read) for r, (_, scored) in enumerate(group) for read in scored]
    r, pair, sign, pos, tok = (np.array(column) for column in zip(*reads))
    np.add.at(margin, pair, sign * logp[r, pos, tok])


def accuracy_chart(results):
    """(series, Chart) of accuracy against distance: one line per model (its file name), one
    point per distance bucket, at the bucket's index and named by it. A model with no pair
    scored has no line; no line at all gives ([], None)."""
    from .plot import Chart

    order = [label for *_, label in BUCKETS]
    present = [b for b in order if any(b in r["by_distance"] for r in results)]
    # evenly spaced buckets: midpoints would crowd 1, 2-3 and 4-6 into the left fifth
    at = {label: i for i, label in enumerate(present)}
    series = [(Path(r["model"]).name, [at[b] for b in r["by_distance"]],
               [c["accuracy"] for c in r["by_distance"].values()])
              for r in results if r["by_distance"]]
    if not series:
        return [], None
    return series, Chart("agreement accuracy", "distance (tokens from the controlling word)",
                         x_ticks=tuple((i, label) for label, i in at.items()))
