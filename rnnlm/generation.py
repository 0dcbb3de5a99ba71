"""Text generation (the API's ``generate``): seed priming, sampling, greedy decoding, beam search.

Priming: the model is put in its start-of-sentence state (``start_of_sentence``: after the end
token, "<eos>" at word level or "\\n" at char level, that closes a sentence of its own), then
reads the seed tokens. An empty seed thus starts a sentence.

The end token ("<eos>" at word level, "\\n" at char level): with ``stop_at_eos`` a stream ends
at the first one it emits. That token is the last of the returned ``tokens`` and is counted in
``logprob`` (the model chose to end there), but it is not part of ``text``. Without
``stop_at_eos`` it is an ordinary token: word models render "<eos>" as a newline. By default
word models stop and character models go on to ``length``: to them a newline is text (a line
of verse, a speaker's name before a speech), and a sample ending at the first one is often the
seed alone.

``logprob`` is always the natural-log probability of ``tokens`` under the model's own
distribution (log-softmax of the raw logits: no temperature, no truncation), summed in float64.

Sampling shapes the distribution in a fixed order: logits / temperature -> keep the top_k
largest -> keep the smallest prefix (by probability) reaching top_p, at least one token ->
renormalize -> draw. ``num_samples`` streams run as the rows of one batch: one ``step_logits``
call per token for all of them.
"""

import math
from numbers import Integral

import numpy as np

from .checkpoint import model_and_vocab
from .data import EOS, tokenize, unknown_message
from .errors import CheckpointError, DataError, RnnlmError, UsageError
from .model import memory_limit

# Tokens one call generates at most: hours of generation, its (samples, length) ids in memory.
MAX_LENGTH = 10_000_000


def generate(checkpoint_or_model, seed="", *, vocab=None, length=50, temperature=1.0, top_k=None,
             top_p=None, greedy=False, beam=None, num_samples=1, random_seed=None,
             stop_at_eos=None, strict=False, on_text=None, on_warning=None) -> list[dict]:
    """Continue ``seed`` with the model; returns one dict per sample (or per beam, best first).

    ``checkpoint_or_model``: a checkpoint path, a loaded Checkpoint, or a LanguageModel (then
    ``vocab`` is required). Each result is {"seed", "text", "tokens", "logprob"}: "tokens" are
    the generated tokens (not the seed; a stopping end token is the last of them), "text" their
    rendering (no seed, no leading space), "logprob" their untempered log-probability.
    Seed words unknown to the model are read as "<unk>", reported once through
    ``on_warning(message)``, or refused with ``strict``. ``on_text(piece)`` receives the text as
    it is produced (one sampled or greedy stream only; the pieces join to "text").
    ``stop_at_eos`` ends a sample at its first end token; None (the default): word models do,
    character models go on to ``length`` (see the module's docstring).

    ``greedy`` takes the most probable token; ``beam=W`` returns the W best continuations found
    by beam search (untempered, no length normalisation: the model's own preference for ending
    early stands). Both are deterministic: ``random_seed`` only matters for sampling. Refused
    combinations (one-line UsageError): beam or greedy with sampling options or several samples.
    The model's training flag is restored afterwards; its carried state is generation's (reset at
    the start, left as the last step made it).
    """
    switches = {"--greedy": greedy, "--strict": strict}
    if stop_at_eos is not None:                 # None: by the model's level (below)
        switches["--stop-at-eos"] = stop_at_eos
    for option, value in switches.items():
        if not isinstance(value, (bool, np.bool_)):       # "no" would read as true
            raise UsageError(f"{option} is on or off (True or False), got {value!r}")
    _check_options(length, temperature, top_k, top_p, greedy, beam, num_samples, random_seed)
    model, vocab = model_and_vocab(checkpoint_or_model, vocab)
    _check_memory(beam or num_samples, len(vocab))
    seed_ids = _seed_ids(seed, vocab, strict, on_warning)
    end_id = _end_id(vocab) if stops_at_eos(vocab, stop_at_eos) else None
    # the state is generation's: not restored; numpy's warnings (huge weights, a tiny
    # temperature) are not the user's concern: non-finite logits stop in _normalize
    with model.evaluating(), np.errstate(all="ignore"):
        logits = _prime(model, vocab, seed_ids)
        if beam is not None:
            found = _beam_search(model, logits, beam, length, end_id)
        else:
            pick = _picker(greedy, temperature, top_k, top_p, np.random.default_rng(random_seed))
            stream = on_text if num_samples == 1 else None
            found = _sample(model, logits, pick, num_samples, length, end_id, vocab, stream)
    return [{"seed": seed, "text": _text(vocab, ids, end_id), "tokens": vocab.decode(ids),
             "logprob": logprob} for ids, logprob in found]


# --- options, model, seed ---------------------------------------------------------------------

def _check_options(length, temperature, top_k, top_p, greedy, beam, num_samples, random_seed):
    """Each bad value or combination -> one-line UsageError naming the CLI option."""
    if not 0 < temperature < math.inf:          # written so that NaN fails too
        raise UsageError(f"--temperature must be > 0, got {temperature}")
    if top_p is not None and not 0 < top_p <= 1:
        raise UsageError(f"--top-p must be in (0, 1], got {top_p}")
    for option, value, least in (("--top-k", top_k, 1), ("--length", length, 0),
                                 ("--num-samples", num_samples, 1), ("--beam", beam, 1),
                                 ("--random-seed", random_seed, 0)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, Integral)
                                  or value < least):
            raise UsageError(f"{option} must be an integer >= {least}, got {value}")
    if length > MAX_LENGTH:
        raise UsageError(f"--length must be at most {MAX_LENGTH:,} tokens, got {length}")
    shaping = temperature != 1 or top_k is not None or top_p is not None
    if beam is not None and (num_samples > 1 or shaping or greedy):
        other = "--num-samples" if num_samples > 1 else "--greedy" if greedy else \
            "--temperature/--top-k/--top-p"
        raise UsageError(f"--beam does not combine with {other}: beam search is deterministic "
                         "and returns the --beam best continuations")
    # Refused rather than ignored: greedy decoding would silently drop these settings.
    if greedy and (num_samples > 1 or shaping):
        other = "--num-samples" if num_samples > 1 else "--temperature/--top-k/--top-p"
        raise UsageError(f"--greedy does not combine with {other}: greedy decoding always "
                         "takes the most probable token, so every sample would be the same")


_STEP_ARRAYS = 5     # (rows, V) float64 arrays a step holds at once: logits, weights, scores


def _check_memory(rows, V):
    """Sampling num_samples rows or keeping a beam of that width costs (rows, V) arrays each
    step: past the memory this process may use, one RnnlmError instead of the kernel's kill."""
    need = _STEP_ARRAYS * 8 * rows * V
    limit, where = memory_limit()
    if limit is not None and need > limit:
        raise RnnlmError(f"{rows:,} rows of {V:,} tokens need about {need / 2**30:,.1f} GiB a "
                         f"step, more than {where} ({limit / 2**30:,.1f} GiB): ask for a "
                         f"narrower --beam or fewer --num-samples")


def _seed_ids(seed, vocab, strict, on_warning):
    tokens = tokenize(seed, vocab.level)
    message = unknown_message(tokens, vocab)
    if message is not None:
        message = "seed " + message
        if strict:                      # the seed is data: the error is the text's
            raise DataError(message)
        if on_warning is not None:
            on_warning(message)
    return vocab.encode(tokens).tolist()


def stops_at_eos(vocab, stop_at_eos=None):
    """Whether a sample ends at its first end token: as ``stop_at_eos`` says, or by default
    for a word model and not for a character model (see the module's docstring)."""
    return vocab.level == "word" if stop_at_eos is None else bool(stop_at_eos)


def _end_id(vocab):
    """The token that ends a sentence, or None (a char vocabulary without a newline)."""
    if vocab.level == "word":
        return vocab.eos_id
    return vocab.id("\n") if "\n" in vocab else None


def start_of_sentence(model, vocab, limit=50):
    """Put the model (batch of one) in the state it has at the start of a sentence.

    A zero state followed by "<eos>" is not that state: the model met a zero state only at the
    start of each training stream, and predicts poorly from it (it begins mid-sentence). So
    the model first reads a sentence of its own, greedy from there, up to the end token that
    closes it; after that token the state is a typical sentence start. Returns the logits
    (1, V) of the first token, or None for a character model without a newline.
    """
    end = _end_id(vocab)
    model.reset_state()
    if end is None:
        return None
    logits = model.step_logits([end])
    for _ in range(limit):
        token = int(np.argmax(logits[0]))
        logits = model.step_logits([token])
        if token == end:
            break
    return logits


_PRIME_CHUNK = 512      # seed tokens read per forward call: (chunk, V) logits at a time


def _prime(model, vocab, seed_ids):
    """Start a sentence, then read the seed -> next-token logits (1, V).

    A long seed is read in chunks, the state carried: only the last position's logits are
    needed, and a whole book's (T, V) logits would not fit in memory."""
    logits = start_of_sentence(model, vocab)
    for k in range(0, len(seed_ids), _PRIME_CHUNK):
        chunk = np.array([seed_ids[k : k + _PRIME_CHUNK]], dtype=np.int64)
        logits = model.forward(chunk)[:, -1].copy()       # not a view of the whole block
    if logits is None:
        raise UsageError("this character model has no newline to start from: give a seed")
    return logits


def _reorder_state(model, rows):
    """Carry the state of batch rows ``rows`` (B',) into the next step (beam parents, etc.)."""
    model.state = [None if s is None else {k: v[rows] for k, v in s.items()}
                   for s in model.state]


# --- choosing tokens -------------------------------------------------------------------------

def _normalize(logits):
    """logits (B, V) -> z float64 (B, V), row max (B, 1), exp(z - max) (B, V), log-sum-exp (B,).

    Logits that are not finite (weights finite but so large that float32 overflows) give no
    distribution to choose from: one CheckpointError."""
    z = logits.astype(np.float64)           # logprob is accumulated in float64 anyway
    m = z.max(axis=1, keepdims=True)
    e = np.exp(z - m)                       # (inf - inf warns not: generate ignores numpy's
    lse = m[:, 0] + np.log(e.sum(axis=1))   # warnings, and this check catches the result)
    if not np.isfinite(lse).all():
        raise CheckpointError("the model's outputs are not finite numbers (its weights "
                              "overflow float32 arithmetic): it cannot generate; retrain it "
                              "or use another checkpoint")
    return z, m, e, lse


def _picker(greedy, temperature, top_k, top_p, rng):
    """A function logits (B, V) -> (chosen ids (B,), their untempered log-probabilities (B,))."""
    top_p = None if top_p == 1 else top_p           # p = 1 keeps every token: no nucleus

    def pick(logits):
        z, m, e, lse = _normalize(logits)
        rows = np.arange(len(z))
        # Top-k selects on the logits as they are (float32: half the bytes to partition and
        # sort); the float64 weights are computed from them exactly.
        ids = z.argmax(axis=1) if greedy else _draw(logits, m, e, temperature, top_k, top_p,
                                                    rng)
        return ids, z[rows, ids] - lse
    return pick


_NUCLEUS_GUESS = 256        # top-p: look for the nucleus among this many most probable first
_NUCLEUS_REJECT_MIN = 0.5   # top-p from this p on: by rejection (a draw kept with prob. >= p)
_NUCLEUS_TRIES = 8          # rejected draws before a row takes the sorted nucleus instead
_BLOCK = 128                # _locate: block size of its two-level search
_TOP_K_GROUPS = 256         # _kth_largest: at least this many groups of values per row...
_TOP_K_GROUP_MIN = 8        # ...of at least this many values each, or a plain partition


def _top_k(z, k):
    """Ids (B, k) of the k largest logits of each row of z (B, V), k < V, in id order; among
    equal logits the smaller id is taken (so top_k=1 is greedy's argmax).

    Each row's k-th largest logit (``_kth_largest``: no argpartition, no partition of all V)
    is a floor: the ids at or above it are the k, unless ties at it make more.
    """
    B, V = z.shape
    floor = _kth_largest(z, k)[:, None]
    keep = z >= floor
    flat = np.flatnonzero(keep)                 # row b's ids are at b * V + id
    if len(flat) > B * k:
        extra = np.count_nonzero(keep, axis=1) - k
        for b in np.flatnonzero(extra):
            tied = np.flatnonzero(z[b] == floor[b])
            keep[b, tied[len(tied) - extra[b]:]] = False    # the largest ids among them go
        flat = np.flatnonzero(keep)
    return (flat % V).reshape(B, k)


def _kth_largest(z, k):
    """The k-th largest value of each row of z (B, V) -> (B,), as np.partition(z, V - k,
    axis=1)[:, V - k] gives it, at a fifth of its cost for V = 10,000 and small k.

    Each row is split into G >= 2k groups (every G-th value: one vectorised reduction gives
    their maxima). The k-th largest of the maxima has at least k values at or above it (its
    group's maximum and the k - 1 larger ones), so it is a floor for the answer, and
    partitioning the values at or above it, usually a few more than k, finds it exactly.
    """
    B, V = z.shape
    groups = max(_TOP_K_GROUPS, 2 * k)
    size = V // groups
    if size < _TOP_K_GROUP_MIN:                 # few values per group: the floor saves little
        return np.partition(z, V - k, axis=1)[:, V - k]
    maxima = z[:, : size * groups].reshape(B, size, groups).max(axis=1)
    floors = np.partition(maxima, groups - k, axis=1)[:, groups - k]
    out = np.empty(B, z.dtype)
    for b in range(B):
        row = z[b]
        above = row[row >= floors[b]]
        if len(above) < k:                      # only with NaNs in the row: what numpy does
            above = row
        out[b] = np.partition(above, len(above) - k)[len(above) - k]
    return out


def _block_cums(w):
    """Running sums of w (1-D) at the end of each block of _BLOCK entries: one reduceat pass
    gives the blocks' sums, the last block's too if it is shorter (a cumulative sum of all of
    w is a sequential pass: 35 us for V = 10,000 on a Zen 4 EPYC, against 5 for this)."""
    return np.cumsum(np.add.reduceat(w, np.arange(0, len(w), _BLOCK)))


def _locate(w, cums, x, side="right"):
    """(j, running sum of w at j): the first index j of w (1-D weights >= 0) whose running
    sum exceeds x (side "right") or reaches it ("left"), as np.searchsorted(np.cumsum(w), x,
    side) finds it up to rounding; (len(w), total) if none does. ``cums`` is _block_cums(w):
    only the block holding the answer gets a cumulative sum of its own. A "right" answer
    always has w[j] > 0 (a zeroed token is never drawn)."""
    k = int(np.searchsorted(cums, x, side))
    if k == len(cums):
        return len(w), cums[-1]
    lo = k * _BLOCK
    block = w[lo : lo + _BLOCK]
    cum = np.cumsum(block)
    if k:
        cum += cums[k - 1]
    j = int(np.searchsorted(cum, x, side))
    if j == len(cum):           # the block sums placed x here, its running sum rounded below
        j = int(np.flatnonzero(block)[-1])
    return lo + j, cum[j]


def _sample_index(w, cums, r, total=None):
    """The index drawn from weights w (1-D, ``cums`` = _block_cums(w)) by the uniform number
    r in [0, 1): the first whose running sum exceeds r times the total (of all w, or of the
    prefix whose running sum is ``total``), the candidates taken in their order in w."""
    total = cums[-1] if total is None else total
    return _locate(w, cums, min(r * total, np.nextafter(total, 0)))[0]    # never past the end


def _tempered(z, m, temperature):
    """float64 weights exp((z - m) / temperature) of logits z (exact from float32)."""
    return np.exp((z.astype(np.float64) - m) / temperature)


def _draw(z, m, e, temperature, top_k, top_p, rng):
    """One token per row of logits z (B, V), from the tempered, truncated distribution.

    ``m`` (B, 1) is the row max and ``e`` exp(z - m) in float64 (the untempered weights),
    both as ``_normalize`` computes them. The candidates are all V tokens or the k most
    probable (top-k), in id order (sampling needs no order), or the nucleus (top-p): the most
    probable tokens, largest first (ties by id), kept while the mass before them is below p.
    One uniform number per row is then located in the cumulative weights of the candidates.
    """
    B, V = z.shape

    def weights(ids):       # tempered float64 exp(z - max) of all tokens (None) or of ids (B, C)
        if temperature == 1:
            return e if ids is None else np.take_along_axis(e, ids, axis=1)
        zs = z if ids is None else np.take_along_axis(z, ids, axis=1)
        return _tempered(zs, m, temperature)

    k = V if top_k is None else min(top_k, V)
    if top_p is not None and k == V:
        return _draw_nucleus(weights(None), top_p, rng)
    if k == V:
        w, r = weights(None), rng.random(B)
        return np.array([_sample_index(w[b], _block_cums(w[b]), r[b]) for b in range(B)],
                        dtype=np.intp)
    cand = _top_k(z, k)
    if top_p is not None:                   # the nucleus of the k: sorted, largest first
        order = np.argsort(-np.take_along_axis(z, cand, axis=1), axis=1, kind="stable")
        cand = np.take_along_axis(cand, order, axis=1)
    w = weights(cand)
    cum = np.cumsum(w, axis=1)
    if top_p is not None:
        # Keep a token while the mass before it is below p: the first one always stays.
        w = np.where(cum - w < top_p * cum[:, -1:], w, 0.0)
        cum = np.cumsum(w, axis=1)
    total = cum[:, -1]
    u = np.minimum(rng.random(B) * total, np.nextafter(total, 0))  # u < total: never past the end
    j = (cum <= u[:, None]).sum(axis=1)     # the first index whose cumulative weight exceeds u
    return cand[np.arange(B), j]


def _draw_nucleus(w, top_p, rng):
    """Top-p over the tempered weights w (B, V) = exp((z - max) / temperature): a token per row.

    A token drawn from the whole distribution and kept only if it lies in the nucleus is a
    draw from the nucleus (the distribution restricted to it and renormalised), and since the
    nucleus holds at least p of the mass, each draw is kept with probability >= p. So for
    p >= _NUCLEUS_REJECT_MIN a row first tries up to _NUCLEUS_TRIES draws, each costing a
    sampling step and two passes over V, no sort; a row that fails them all (rarer than
    (1 - p) ** _NUCLEUS_TRIES) draws from the sorted nucleus instead, which gives the same
    distribution.
    """
    B, V = w.shape
    target = top_p * w.sum(axis=1)          # the nucleus's mass reaches this
    tries = _NUCLEUS_TRIES if top_p >= _NUCLEUS_REJECT_MIN else 0
    ids = np.empty(B, dtype=np.intp)
    for b in range(B):
        wb = w[b]
        cums = _block_cums(wb) if tries else None
        for _ in range(tries):
            i = _sample_index(wb, cums, rng.random())
            if _mass_before(wb, i) < target[b]:
                ids[b] = i
                break
        else:
            ids[b] = _draw_sorted_nucleus(wb, target[b], rng.random())
    return ids


def _mass_before(w, i):
    """The weight of the tokens ranked before token i (weights w (V,) largest first, ties by
    id): token i is in the nucleus if this is below its target mass."""
    wi = w[i]
    before = np.dot(w, w > wi)              # a masked sum; sum(where=) is 4 times slower
    return before + np.count_nonzero(w[:i] == wi) * wi     # and the equal ones of smaller id


def _draw_sorted_nucleus(w, target, r):
    """The nucleus of weights w (V,) with mass ``target``, drawn by the uniform number r in
    [0, 1) over its tokens largest first (ties by id), without an argsort of V: the weights
    are sorted as values (a vectorised sort), only the few hundred largest when they hold the
    nucleus, and the rank drawn is mapped back to its token. This is the token a stable
    argsort of the logits gives, exp being increasing."""
    V, top = len(w), w
    # The largest weight is exp(0) = 1, so _NUCLEUS_GUESS tokens hold at most that much.
    if V > _NUCLEUS_GUESS and target <= _NUCLEUS_GUESS:
        guess = np.partition(w, V - _NUCLEUS_GUESS)[V - _NUCLEUS_GUESS:]
        if guess.sum() >= target:
            top = guess
    ranked = np.sort(top)[::-1]                          # (C,) largest first
    cums = _block_cums(ranked)
    # The first rank whose running mass reaches the target is the last one kept.
    kept = _locate(ranked, cums, target, "left")[1]
    j = _sample_index(ranked, cums, r, total=kept)       # within the kept ranks
    value = ranked[j]
    tied = np.flatnonzero(w == value)
    return tied[0] if len(tied) == 1 else tied[j - np.count_nonzero(ranked[:j] > value)]


def _sample(model, logits, pick, n, length, end_id, vocab, on_text):
    """n streams as the rows of one batch -> [(ids, logprob)] per stream.

    A stream that emits the end token leaves the batch (its state row is dropped), so the
    others run on alone and the loop ends when all have stopped.
    """
    if n > 1:
        _reorder_state(model, np.zeros(n, dtype=np.intp))     # every stream starts primed
        logits = np.repeat(logits, n, axis=0)
    rows = np.arange(n)                     # the stream each batch row carries
    out = np.zeros((n, length), dtype=np.int64)
    sizes, logprob = np.zeros(n, dtype=np.intp), np.zeros(n)
    for step in range(length):
        ids, lp = pick(logits)
        out[rows, step] = ids
        sizes[rows] += 1
        logprob[rows] += lp
        if on_text is not None:
            piece = _piece(vocab, out[0, step - 1] if step else None, ids[0], end_id)
            if piece:
                on_text(piece)
        if end_id is not None and (done := ids == end_id).any():
            keep = np.flatnonzero(~done)
            if not keep.size:
                break
            rows, ids = rows[keep], ids[keep]
            _reorder_state(model, keep)
        if step + 1 < length:               # the last token needs no next distribution
            logits = model.step_logits(ids)
    return [(out[i, :sizes[i]].tolist(), float(logprob[i])) for i in range(n)]


def _beam_search(model, logits, width, length, end_id):
    """The ``width`` best continuations by total untempered logprob -> [(ids, logprob)].

    Each step ranks all extensions of the live hypotheses (B rows, B <= width) and takes the
    best 2*width: an end token among the first ``width`` ranks finishes its hypothesis (so
    width 1 is exactly greedy), and the first ``width`` others stay live. The search ends at
    ``length``, or once ``width`` hypotheses have finished and no live one scores above the
    worst of them (extending only lowers a score).
    """
    seqs, scores, finished = [[]], np.zeros(1), []      # finished: (logprob, ids), best first
    for step in range(length):
        z, _, _, lse = _normalize(logits)
        B, V = z.shape
        flat = (scores[:, None] + (z - lse[:, None])).ravel()      # (B * V,)
        n = min(2 * width, flat.size)
        # The n best of all rows score at least the n-th best of any one row: that floor
        # leaves a few dozen survivors to sort, instead of a selection over B * V.
        best_row = flat[scores.argmax() * V:][:V]
        floor = _kth_largest(best_row[None], n)[0] if n <= V else -np.inf
        top = np.flatnonzero(flat >= floor)
        top = top[np.lexsort((top, -flat[top]))][:n]    # by score, ties by index: deterministic
        parents, toks = np.divmod(top, V)
        live = []
        for rank, (p, t) in enumerate(zip(parents.tolist(), toks.tolist())):
            if t == end_id:
                if rank < width:
                    finished.append((float(flat[top[rank]]), seqs[p] + [t]))
            elif len(live) < width:
                live.append(rank)
        finished = sorted(finished, key=lambda f: -f[0])[:width]
        seqs = [seqs[parents[r]] + [int(toks[r])] for r in live]
        scores = flat[top[live]]
        if not live or (len(finished) == width and scores.max() <= finished[-1][0]):
            seqs = []                       # unfinished and beaten: not results
            break
        if step + 1 < length:
            _reorder_state(model, parents[live])
            logits = model.step_logits(toks[live])
    pool = finished + [(float(s), ids) for s, ids in zip(scores, seqs)]
    pool.sort(key=lambda f: -f[0])          # stable: a finished one wins a tie
    return [(ids, logprob) for logprob, ids in pool[:width]]


# --- text ------------------------------------------------------------------------------------

def _piece(vocab, prev, tok, end_id):
    """The text token id ``tok`` adds after ``prev`` (None at the start): "has", " her", "\\n".

    Word level: single spaces between words, "<eos>" as a newline with no space around it.
    Char level: the characters as they are. A stopping end token adds nothing.
    """
    if tok == end_id:
        return ""
    word = vocab.tokens[tok]
    if vocab.level == "char":
        return word
    if word == EOS:
        return "\n"
    return word if prev is None or vocab.tokens[prev] == EOS else " " + word


def _text(vocab, ids, end_id):
    return "".join(_piece(vocab, prev, tok, end_id)
                   for prev, tok in zip([None] + ids[:-1], ids))
