"""Corpora -> vocabulary -> int32 token ids -> (x, t) chunks for truncated BPTT.

A corpus PATH is one text file, whose last `valid_fraction` of lines become the validation
split, or a directory holding files named like *train*.txt, *valid*.txt, *test*.txt (valid and
test optional; .tokens and .raw, WikiText's names, are read as .txt is).

Tokens
  word: whitespace-separated words, and "<eos>" after every non-blank line. A blank line emits
        nothing (PTB has none; an "<eos>" per blank line would only teach runs of "<eos>").
  char: every Unicode character, "\\n" included; no newline translation ("\\r\\n" is two).
A UTF-8 byte-order mark at the start of a file is dropped; it is not text.

PATH "-" is stdin (for `load_corpus` and `encode_file`): it is first copied, 1 MiB at a time, to
a temporary file, because every file is read three times; the file is removed once read. Messages
and stats call it "-", as `wc` and `sha256sum` do; a corpus read from stdin is named "stdin".

Files are read in binary and decoded incrementally, 1 MiB at a time, in three streaming passes:
check (NUL bytes, undecodable bytes with their offset, emptiness, line count, SHA-256), count (a
Counter of types per split) and encode (into a preallocated int32 array). A 50 MB corpus thus
never exists as millions of Python strings at once; only a file without newlines is one line.
"""

from __future__ import annotations

import codecs
import hashlib
import itertools
import os
import re
import shutil
import sys
import tempfile
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from rnnlm.errors import CheckpointError, DataError, UsageError

UNK, EOS = "<unk>", "<eos>"
LEVELS = ("word", "char")
SPECIALS = {"word": (UNK, EOS), "char": (UNK,)}  # always ids 0, 1, ... in this order
_CHUNK = 1 << 20  # bytes read per step
_BATCH_LINES = 4096  # lines counted or encoded per step
STDIN = "-"  # the PATH that means stdin


def _check_level(level: str) -> None:
    if level not in LEVELS:
        raise UsageError(f"--level must be 'word' or 'char', got '{level}'")


def _check_encoding(encoding: str) -> str:
    """Return the codec's canonical name; an unknown or non-text codec is a usage error."""
    try:
        info = codecs.lookup(encoding)
    except (LookupError, TypeError):
        raise UsageError(f"--encoding: unknown encoding '{encoding}' (try utf-8 or latin-1)") from None
    if not getattr(info, "_is_text_encoding", True):  # hex, base64, zlib: bytes -> bytes
        raise UsageError(f"--encoding: '{encoding}' is not a text encoding (try utf-8 or latin-1)")
    return info.name


def _check_limits(level: str, max_vocab: int | None, min_count: int) -> None:
    least = len(SPECIALS[level]) + 1
    if max_vocab is not None and max_vocab < least:
        raise UsageError(f"--max-vocab must be at least {least} at {level} level (specials + 1)")
    if min_count < 1:
        raise UsageError(f"--min-count must be at least 1, got {min_count}")


def unknown_message(tokens, vocab) -> str | None:
    """The warning for the tokens the vocabulary lacks, or None: the first 10 distinct ones in
    order, each cut to 30 characters, and how many more (a seed of a whole book stays one
    short line)."""
    names = list(dict.fromkeys(t for t in tokens if t not in vocab))
    if not names:
        return None
    shown = ", ".join(repr(t if len(t) <= 30 else t[:30] + "...") for t in names[:10])
    more = f" and {len(names) - 10:,} more" if len(names) > 10 else ""
    what = "words" if vocab.level == "word" else "characters"
    return f"{what} unknown to the model, read as <unk>: {shown}{more}"


def tokenize(text: str, level: str) -> list[str]:
    """Tokens of a text given to a model (a seed, a text to inspect or to measure): its
    characters, or its words with "<eos>" after each non-blank line that a newline ends, as
    a corpus is read; a last line without a newline stays open (a seed goes on from it)."""
    _check_level(level)
    if level == "char":
        return list(text)
    *ended, last = text.split("\n")
    return [t for line in ended for t in line.split() + [EOS] * bool(line.split())] + \
        last.split()


class Vocabulary:
    """Token <-> id map.

    Ids: the specials first ("<unk>" = 0, and "<eos>" = 1 at word level), then the training
    types by descending count, ties by first appearance in the training text. A literal "<unk>"
    in the text (as in PTB) is the same token as the unknown token, never a second entry.
    """

    def __init__(self, tokens: Iterable[str], level: str):
        _check_level(level)
        self.level = level
        self.tokens: tuple[str, ...] = tuple(tokens)
        problem = _vocab_problem(self.tokens, level)
        if problem:
            raise DataError(f"bad vocabulary: {problem}")
        self._index = {t: i for i, t in enumerate(self.tokens)}
        self.unk_id = 0
        self.eos_id = 1 if level == "word" else None
        self._codepoints: tuple[np.ndarray, np.ndarray] | None = None  # char level, lazy

    @classmethod
    def from_counts(cls, counts: Counter, level: str, max_vocab: int | None = None,
                    min_count: int = 1) -> Vocabulary:
        """Keep the `max_vocab` (specials included) most frequent types seen >= min_count times."""
        _check_limits(level, max_vocab, min_count)
        specials = SPECIALS[level]
        # sorted() is stable and a Counter keeps insertion order: ties stay in first-seen order
        ranked = [t for t, c in sorted(counts.items(), key=lambda tc: -tc[1])
                  if c >= min_count and t not in specials]
        if max_vocab is not None:
            ranked = ranked[: max_vocab - len(specials)]
        return cls(specials + tuple(ranked), level)

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self._index

    def __eq__(self, other: object) -> bool:
        same = isinstance(other, Vocabulary) and other.level == self.level
        return same and other.tokens == self.tokens

    def id(self, token: str) -> int:
        """The token's id, or unk_id for a token outside the vocabulary."""
        return self._index.get(token, self.unk_id)

    def encode(self, tokens: Iterable[str]) -> np.ndarray:
        """tokens (n,) -> ids int32 (n,); unknown tokens -> unk_id. A str encodes its characters."""
        ids = map(self._index.get, tokens, itertools.repeat(self.unk_id))
        return np.fromiter(ids, dtype=np.int32)

    def decode(self, ids: Iterable[int] | np.ndarray) -> list[str]:
        """ids (n,) -> tokens (n,)."""
        ids = np.asarray(ids, dtype=np.int64).ravel()
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            bad = ids[(ids < 0) | (ids >= len(self))][0]
            raise DataError(f"token id {bad} is outside the vocabulary (size {len(self)})")
        return [self.tokens[i] for i in ids.tolist()]

    def to_array(self) -> np.ndarray:
        """The tokens in id order as a numpy unicode array (V,), storable in .npz without pickle."""
        return np.array(self.tokens, dtype=np.str_)

    @classmethod
    def from_array(cls, arr: np.ndarray, level: str) -> Vocabulary:
        """Inverse of to_array; a malformed array is a CheckpointError."""
        if not isinstance(arr, np.ndarray) or arr.ndim != 1 or arr.dtype.kind != "U":
            raise CheckpointError("checkpoint vocabulary is not a 1-D unicode array")
        _check_level(level)
        tokens = tuple(arr.tolist())
        problem = _vocab_problem(tokens, level)
        if problem:
            raise CheckpointError(f"checkpoint vocabulary is malformed: {problem}")
        return cls(tokens, level)

    def _encode_lines(self, lines: list[str], unknown_id: int | None = None) -> np.ndarray:
        """Corpus lines -> ids int32, with the corpus conventions ("<eos>" per non-blank line);
        tokens outside the vocabulary -> ``unknown_id`` (default unk_id)."""
        unk = self.unk_id if unknown_id is None else unknown_id
        if self.level == "char":
            # one vectorised lookup per batch instead of one dict lookup per character
            cps = np.frombuffer("".join(lines).encode("utf-32-le"), dtype="<u4")
            return self._map_codepoints(cps, unk)
        get, ids = self._index.get, []
        for line in lines:
            words = line.split()
            if words:
                ids.extend(map(get, words, itertools.repeat(unk)))
                ids.append(self.eos_id)
        return np.array(ids, dtype=np.int32)

    def _map_codepoints(self, cps: np.ndarray, unknown_id: int) -> np.ndarray:
        if self._codepoints is None:
            pairs = sorted((ord(t), i) for i, t in enumerate(self.tokens) if len(t) == 1)
            self._codepoints = (np.array([c for c, _ in pairs], dtype=np.uint32),
                                np.array([i for _, i in pairs], dtype=np.int32))
        keys, ids = self._codepoints
        if keys.size == 0:
            return np.full(cps.shape, unknown_id, dtype=np.int32)
        pos = np.minimum(np.searchsorted(keys, cps), keys.size - 1)
        return np.where(keys[pos] == cps, ids[pos], unknown_id).astype(np.int32)


def _vocab_problem(tokens: tuple[str, ...], level: str) -> str | None:
    specials = SPECIALS[level]
    if tokens[: len(specials)] != specials:
        return f"it must start with {', '.join(specials)}"
    return token_problem(tokens, level)


def token_problem(tokens, level: str) -> str | None:
    """What keeps tokens in id order from being a vocabulary (the specials' places aside),
    naming the token and its id, or None. The checks run at C speed; only a failing list is
    searched for its culprit (a checkpoint's vocabulary is checked at every load)."""
    specials = SPECIALS[level]
    if len(set(tokens)) != len(tokens):
        seen: dict[str, int] = {}
        for i, t in enumerate(tokens):
            if t in seen:
                return f"token {t!r} is listed twice (ids {seen[t]} and {i})"
            seen[t] = i
    # "" and NUL cannot survive a numpy unicode array (trailing NULs are stripped)
    if not all(tokens) or "\x00" in "".join(tokens):
        i = next(i for i, t in enumerate(tokens) if not t or "\x00" in t)
        return f"token {i} is empty or holds a NUL character"
    if level == "word" and _WHITESPACE.search("".join(tokens)):
        i, t = next((i, t) for i, t in enumerate(tokens) if _WHITESPACE.search(t))
        return f"token {t!r} (id {i}) holds whitespace, which no word has"
    if level == "char" and any(len(t) != 1 for t in tokens if t not in specials):
        i, t = next((i, t) for i, t in enumerate(tokens) if len(t) != 1 and t not in specials)
        return f"token {t!r} (id {i}) is not one character, at character level"
    return None


_WHITESPACE = re.compile(r"\s")      # what str.split splits on (and a word never holds)


# --- reading: every pass streams the file through _chunks --------------------------------------

def is_stdin(path: str | Path) -> bool:
    """Whether PATH is "-", which stands for stdin."""
    return str(path) == STDIN


@contextmanager
def _spooled_stdin() -> Iterator[Path]:
    """Copy stdin to a temporary file 1 MiB at a time and yield its path; remove it afterwards.

    The passes read a file three times and stdin can be read once; spooling keeps at most one
    chunk in memory. The file goes away however the reading ends: done, an error, or Ctrl-C.
    """
    source = getattr(sys.stdin, "buffer", None)  # None when stdin is closed (`<&-`)
    if source is None:
        raise DataError("cannot read stdin: it is closed")
    try:
        spool = tempfile.NamedTemporaryFile(prefix="rnnlm-stdin-", suffix=".txt", delete=False)
    except OSError as e:
        raise DataError(f"cannot create a temporary file for stdin: {e.strerror or e}") from None
    try:
        try:
            with spool:
                shutil.copyfileobj(source, spool, _CHUNK)
        except OSError as e:  # a full disk, or a stdin that fails to read
            raise DataError(f"cannot copy stdin to '{spool.name}': {e.strerror or e}") from None
        yield Path(spool.name)
    finally:
        try:
            os.unlink(spool.name)
        except FileNotFoundError:
            pass


@contextmanager
def _opened(path: str | Path) -> Iterator[tuple[Path, str]]:
    """(the file to read, its name in messages and stats): stdin is spooled first."""
    if not is_stdin(path):
        yield Path(path), str(path)
        return
    with _spooled_stdin() as spool:
        yield spool, STDIN


def _chunks(path: Path, encoding: str, shown: str | None = None) -> Iterator[tuple[bytes, str]]:
    """Yield (raw bytes, decoded text) ~1 MiB at a time; NUL or undecodable bytes -> DataError.

    `shown` names the file in messages (default: the path): "-" for stdin spooled to a file.
    """
    shown = shown or str(path)
    info = codecs.lookup(encoding)
    wide = b"\x00" in "a".encode(info.name)  # UTF-16/32: NUL bytes are part of ordinary text
    decoder = info.incrementaldecoder()
    offset, first = 0, True
    try:
        with open(path, "rb") as f:
            while True:
                raw = f.read(_CHUNK)
                if not wide and (p := raw.find(b"\x00")) >= 0:
                    raise DataError(f"file '{shown}' looks binary (NUL byte at offset "
                                    f"{offset + p}); give a plain text file")
                pending = len(decoder.getstate()[0])  # bytes held back from the previous chunk
                try:
                    text = decoder.decode(raw, final=not raw)
                except UnicodeDecodeError as e:
                    # e.start counts from the held-back bytes, not from this chunk
                    raise DataError(
                        f"file '{shown}' is not valid {encoding}: bad byte at offset "
                        f"{offset - pending + e.start}; pass --encoding (e.g. latin-1)") from None
                except UnicodeError as e:         # e.g. UTF-16 without its byte-order mark
                    hint = "; if it is UTF-16 without a byte-order mark, pass --encoding " \
                        "utf-16-le or utf-16-be" if "16" in encoding else ""
                    raise DataError(f"file '{shown}' is not valid {encoding} ({e}){hint}") \
                        from None
                if wide and "\x00" in text:
                    raise DataError(f"file '{shown}' looks binary (it contains NUL characters)")
                if first and text:
                    if info.name == "utf-8" and text.startswith("\ufeff"):
                        text = text[1:]
                    first = False
                yield raw, text
                if not raw:
                    return
                offset += len(raw)
    except OSError as e:
        raise DataError(f"cannot read '{shown}': {e.strerror or e}") from None


def check_readable(path: str | Path) -> None:
    """A text file that exists, is not a directory and opens, or one DataError: a command
    given several files checks them all before its work on the first."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"file '{path}' does not exist: check the path")
    if path.is_dir():
        raise DataError(f"'{path}' is a directory, expected a text file")
    if path.is_file():                  # (opening a named pipe would wait for its writer)
        try:
            open(path, "rb").close()
        except OSError as e:
            raise DataError(f"cannot read '{path}': {e.strerror or e}") from None


def decode_text(data: bytes, shown: str) -> str:
    """Bytes of a short text read whole (a seed, a pairs file) -> str, as a corpus file is
    read: NUL bytes and bad UTF-8 -> DataError naming `shown` ("stdin", "pairs file 'p.tsv'"),
    a leading byte-order mark dropped, line ends left as they are."""
    if (nul := data.find(b"\x00")) >= 0:
        raise DataError(f"{shown} looks binary (NUL byte at offset {nul}): give plain text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{shown} is not valid UTF-8: bad byte at offset {e.start}") from None
    return text.removeprefix("\ufeff")


def read_text(path: str | Path, what: str = "text file") -> str:
    """A short UTF-8 file read whole by decode_text; `what` names it in messages."""
    shown = f"{what} '{path}'"
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise DataError(f"{shown} does not exist: check the path") from None
    except IsADirectoryError:
        raise DataError(f"{shown} is a directory, expected a text file") from None
    except OSError as e:
        raise DataError(f"cannot read {shown}: {e.strerror or e}") from None
    return decode_text(data, shown)


def _scan(path: Path, encoding: str, shown: str | None = None) -> dict:
    """Checking pass: {"bytes", "lines", "sha256"}; missing, empty or blank files -> DataError."""
    shown = shown or str(path)
    check_readable(path)
    digest, size, newlines, last, blank = hashlib.sha256(), 0, 0, "", True
    for raw, text in _chunks(path, encoding, shown):
        digest.update(raw)
        size += len(raw)
        newlines += text.count("\n")
        last = text[-1] if text else last
        blank = blank and not text.strip()
    if size == 0:
        raise DataError(f"file '{shown}' is empty: give a file with some text")
    if blank:
        raise DataError(f"file '{shown}' contains only whitespace: give a file with some text")
    return {"bytes": size, "lines": newlines + (last != "\n"), "sha256": digest.hexdigest()}


def _lines(path: Path, encoding: str, shown: str | None = None) -> Iterator[str]:
    """The decoded lines, each ending in "\\n" except perhaps the last."""
    carry = ""
    for _, text in _chunks(path, encoding, shown):
        *lines, carry = (carry + text).split("\n")
        yield from (line + "\n" for line in lines)
    if carry:
        yield carry


def _batches(path: Path, encoding: str, split_line: int | None,
             shown: str | None = None) -> Iterator[tuple[int, list[str]]]:
    """Yield (part, lines): part 0 before line index `split_line`, part 1 from it on."""
    part, batch = 0, []
    for i, line in enumerate(_lines(path, encoding, shown)):
        if i == split_line or len(batch) == _BATCH_LINES:
            if batch:
                yield part, batch
            part, batch = part + (i == split_line), []
        batch.append(line)
    if batch:
        yield part, batch


def _count(path: Path, encoding: str, level: str, split_line: int | None = None,
           shown: str | None = None) -> list[dict]:
    """Counting pass: per part {"counts": Counter of types (no <eos>), "tokens", "lines"}."""
    parts = [{"counts": Counter(), "tokens": 0, "lines": 0} for _ in range(2)]
    for k, batch in _batches(path, encoding, split_line, shown):
        p = parts[k]
        p["lines"] += len(batch)
        if level == "char":
            text = "".join(batch)
            p["counts"].update(text)
            p["tokens"] += len(text)
            continue
        for line in batch:
            words = line.split()
            if words:
                p["counts"].update(words)
                p["tokens"] += len(words) + 1  # + <eos>
    return parts


def _encode(path: Path, encoding: str, vocab: Vocabulary, sizes: list[int],
            split_line: int | None = None, shown: str | None = None,
            unknown_id: int | None = None) -> list[np.ndarray]:
    """Encoding pass: fill one preallocated int32 array per part (sizes from _count)."""
    shown = shown or str(path)
    outs = [np.empty(n, dtype=np.int32) for n in sizes]
    pos = [0] * len(sizes)
    for k, batch in _batches(path, encoding, split_line, shown):
        ids = vocab._encode_lines(batch, unknown_id)
        if pos[k] + ids.size > sizes[k]:
            raise DataError(f"file '{shown}' changed while being read")
        outs[k][pos[k]: pos[k] + ids.size] = ids
        pos[k] += ids.size
    if pos != list(sizes):
        raise DataError(f"file '{shown}' changed while being read")
    return outs


def _split_stats(part: dict, vocab: Vocabulary, path: Path | str) -> dict:
    """Token and <unk> statistics of one split, from its Counter."""
    counts, n = part["counts"], part["tokens"]
    literal = counts.get(UNK, 0) if vocab.level == "word" else 0  # a char is never "<unk>"
    oov = sum(c for t, c in counts.items() if t not in vocab)  # "<unk>" is in, so not counted
    has_eos = vocab.level == "word" and n > 0 and EOS not in counts
    return {"file": str(path), "lines": part["lines"], "tokens": n, "types": len(counts) + has_eos,
            "unk": oov + literal, "literal_unk": literal, "oov": oov,
            "oov_rate": oov / n if n else 0.0}


def encode_file(path: str | Path, vocab: Vocabulary, level: str | None = None,
                encoding: str = "utf-8", unknown_id: int | None = None) -> tuple[np.ndarray, dict]:
    """An evaluation file -> (ids int32 (N,), stats); stats as Corpus.stats["valid"].

    Tokens outside the vocabulary get ``unknown_id`` (default the vocabulary's <unk>; another
    value, such as -1, tells them apart from a literal "<unk>" of the text). PATH "-" reads
    stdin; messages and stats["file"] then call it "-".
    """
    level = level or vocab.level
    if level != vocab.level:
        raise UsageError(f"level '{level}' does not match the {vocab.level}-level vocabulary")
    encoding = _check_encoding(encoding)
    with _opened(path) as (source, shown):
        _scan(source, encoding, shown)
        part = _count(source, encoding, level, shown=shown)[0]
        if part["tokens"] == 0:
            raise DataError(f"file '{shown}' has no tokens")
        (ids,) = _encode(source, encoding, vocab, [part["tokens"]], shown=shown,
                         unknown_id=unknown_id)
    return ids, _split_stats(part, vocab, shown)


@dataclass
class Corpus:
    """A loaded corpus: token ids int32 (N,) per split (None when absent) and provenance."""

    name: str
    level: str
    vocab: Vocabulary
    train: np.ndarray
    valid: np.ndarray | None
    test: np.ndarray | None
    stats: dict  # vocab_size, level, encoding, valid_source, and train/valid/test split stats
    sha256: str  # of the training file's bytes (the whole file when it is split)
    notes: list[str] = field(default_factory=list)  # one-line messages for the user


def load_corpus(path: str | Path, level: str = "word", encoding: str = "utf-8",
                valid_fraction: float = 0.05, max_vocab: int | None = None,
                min_count: int = 1) -> Corpus:
    """Read a corpus file or directory; the vocabulary comes from the training split only.

    PATH "-" reads stdin as one file (its last lines validate, as for any file); the corpus is
    then named "stdin".
    """
    _check_level(level)
    encoding = _check_encoding(encoding)
    _check_limits(level, max_vocab, min_count)
    if not 0 <= valid_fraction < 1:
        raise UsageError(f"--valid-fraction must be in [0, 1), got {valid_fraction}")
    if is_stdin(path):
        with _spooled_stdin() as spool:
            return _read_corpus(spool, STDIN, "stdin", level, encoding, valid_fraction,
                                max_vocab, min_count)
    path = Path(path)
    if not path.exists():
        raise DataError(f"corpus '{path}' does not exist: give a text file or a directory")
    return _read_corpus(path, str(path), path.resolve().name, level, encoding, valid_fraction,
                        max_vocab, min_count)


def _read_corpus(path: Path, shown: str, name: str, level: str, encoding: str,
                 valid_fraction: float, max_vocab: int | None, min_count: int) -> Corpus:
    """load_corpus on an existing `path`, its settings checked; `shown` names it in messages."""
    is_dir = path.is_dir()
    files = _discover(path) if is_dir else {"train": path, "valid": None, "test": None}
    train_shown = str(files["train"]) if is_dir else shown
    label = name if shown == STDIN else path.name  # the file in notes: "stdin", not "-"
    scan = _scan(files["train"], encoding, train_shown)
    n_lines, n_valid = scan["lines"], 0
    if not is_dir and valid_fraction > 0 and n_lines >= 2:  # a single file: hold out its tail
        n_valid = min(max(int(n_lines * valid_fraction), 1), n_lines - 1)
    split_line = n_lines - n_valid if n_valid else None
    part, vpart = _count(files["train"], encoding, level, split_line, train_shown)
    if part["tokens"] == 0:
        raise DataError(f"file '{shown}' has no tokens before its validation lines")
    vocab = Vocabulary.from_counts(part["counts"], level, max_vocab, min_count)
    train, valid = _encode(files["train"], encoding, vocab, [part["tokens"], vpart["tokens"]],
                           split_line, train_shown)
    stats = {"level": level, "encoding": encoding, "vocab_size": len(vocab), "valid_source": None,
             "train": _split_stats(part, vocab, train_shown), "valid": None, "test": None}
    arrays: dict[str, np.ndarray | None] = {"valid": None, "test": None}
    notes = []
    if vpart["tokens"]:
        arrays["valid"], stats["valid"] = valid, _split_stats(vpart, vocab, shown)
        stats["valid_source"] = "split"
        notes.append(f"validation: last {valid_fraction * 100:g}% of lines of {label} "
                     f"({n_valid:,} of {n_lines:,} lines)")
    for split in ("valid", "test"):
        if files[split]:
            arrays[split], stats[split] = encode_file(files[split], vocab, level, encoding)
            stats["valid_source"] = "file" if split == "valid" else stats["valid_source"]
    if stats["valid"] is None:
        why = (f"no *valid* file in '{path}'" if is_dir else
               "valid_fraction is 0" if valid_fraction == 0 else
               f"{label} has only {n_lines} line(s)" if not n_valid else
               f"the last {n_valid:,} line(s) of {label} are blank")
        notes.append(f"no validation data: {why}")
    kept, seen = len(vocab) - len(SPECIALS[level]), len(set(part["counts"]) - set(SPECIALS[level]))
    if kept < seen:
        notes.append(f"vocabulary: kept {kept:,} of {seen:,} training types; "
                     f"{stats['train']['oov_rate']:.2%} of training tokens become {UNK}")
    return Corpus(name=name, level=level, vocab=vocab, train=train,
                  valid=arrays["valid"], test=arrays["test"], stats=stats,
                  sha256=scan["sha256"], notes=notes)


# Files a corpus directory's splits may be: text, and WikiText's word and raw files
# (wiki.train.tokens, wiki.train.raw), so that its directories read as they are.
CORPUS_SUFFIXES = (".txt", ".tokens", ".raw")


def _discover(directory: Path) -> dict[str, Path | None]:
    """{"train", "valid", "test"} -> the one *<split>* file in the directory (or None), among
    the files with a name ending in one of CORPUS_SUFFIXES."""
    found: dict[str, list[Path]] = {"train": [], "valid": [], "test": []}
    try:
        entries = sorted(directory.iterdir())
    except OSError as e:
        raise DataError(f"cannot list corpus directory '{directory}': {e.strerror or e}") from None
    for p in entries:
        name = p.name.lower()
        hits = [s for s in found if s in name] if name.endswith(CORPUS_SUFFIXES) else []
        if hits and not p.is_file():        # never skipped quietly: a split would go missing
            raise DataError(f"corpus entry '{p}' is named like a *{hits[0]}* file but is "
                            f"not a readable file (a directory, or a broken link): fix or "
                            f"rename it")
        if len(hits) > 1:
            raise DataError(f"corpus file '{p}' matches both *{hits[0]}* and *{hits[1]}*")
        for s in hits:
            found[s].append(p)
    for s, paths in found.items():
        if len(paths) > 1:
            raise DataError(f"corpus directory '{directory}' has {len(paths)} *{s}* files: "
                            + ", ".join(p.name for p in paths))
    if not found["train"]:
        raise DataError(f"corpus directory '{directory}' has no training file: name one "
                        f"*train*.txt (or *train*.tokens, *train*.raw)")
    return {s: paths[0] if paths else None for s, paths in found.items()}


# --- batches for truncated BPTT ----------------------------------------------------------------

def fit_batch_shape(n_tokens: int, batch_size: int, bptt: int,
                    name: str = "corpus") -> tuple[int, int, str | None]:
    """(B, T) that give every stream one full chunk (B*T <= N-1), and a warning if they shrank.

    T is kept when possible (it shapes what the model learns) and B lowered first; only a corpus
    of fewer than T+1 tokens lowers T too. Fewer than 2 tokens is a DataError.
    """
    if batch_size < 1 or bptt < 1:
        raise UsageError(f"batch size and bptt must be at least 1, got {batch_size} and {bptt}")
    if n_tokens < 2:
        raise DataError(f"{name} has {n_tokens} token(s); at least 2 are needed "
                        "(one input and one target)")
    usable = n_tokens - 1  # the first token is never a target
    if batch_size * bptt <= usable:
        return batch_size, bptt, None
    b, t = max(1, usable // bptt), min(bptt, usable)
    shrunk = [f"{what} {given} -> {now}" for what, given, now in
              (("batch size", batch_size, b), ("bptt", bptt, t)) if now != given]
    return b, t, f"{name} has only {n_tokens:,} tokens: " + ", ".join(shrunk)


def random_chunk_lengths(total: int, bptt: int, rng: np.random.Generator) -> np.ndarray:
    """Chunk lengths summing to ``total``, drawn as AWD-LSTM draws them (Merity et al. 2017,
    section 4.1): T with probability 0.95, else T/2, plus normal noise of spread 5, truncated
    to a whole number and kept within [min(5, T), 2T]; the last length is what remains.

    Cuts that move from epoch to epoch let every token be learnt from at every depth of the
    truncated gradient, instead of at the same place in the same chunk each epoch.
    """
    lengths, done = [], 0
    low, high = min(5, bptt), 2 * bptt
    while done < total:
        base = bptt if rng.random() < 0.95 else bptt / 2
        length = min(max(int(rng.normal(base, 5.0)), low), high, total - done)
        lengths.append(length)
        done += length
    return np.array(lengths, dtype=np.int64)


class BatchStream:
    """Token ids (N,) laid out as B parallel contiguous streams, cut into chunks of T steps.

    Stream b is ids[b*L : (b+1)*L + 1] with L = (N-1)//B: inputs are its first L ids, targets
    its last L, so t[b, j] == x[b, j+1] and chunk k+1 continues chunk k row by row (carry the
    hidden state across chunks). Chunk k is (x, t), both int32 (B, Tk), steps [k*T, k*T + Tk);
    Tk = T except for the last chunk, which may be shorter (>= 1). The N-1 - B*L (< B) trailing
    targets are unused. A corpus too short for (B, T) shrinks them; `warning` says how, or is None.
    ``draw_lengths`` replaces the fixed T by random lengths (see ``random_chunk_lengths``).
    """

    def __init__(self, ids: np.ndarray, batch_size: int, bptt: int, name: str = "corpus"):
        ids = np.asarray(ids, dtype=np.int32)
        if ids.ndim != 1:
            raise DataError(f"{name}: token ids must be 1-D, got shape {ids.shape}")
        b, t, self.warning = fit_batch_shape(ids.size, batch_size, bptt, name)
        self.batch_size, self.bptt, self.length = b, t, (ids.size - 1) // b
        span = b * self.length
        # views, no copy: row b of _x is ids[b*L:(b+1)*L], of _t the same shifted by one
        self._x = ids[:span].reshape(b, self.length)
        self._t = ids[1: span + 1].reshape(b, self.length)
        # chunk k is steps bounds[k]:bounds[k+1]
        self._bounds = np.append(np.arange(0, self.length, t), self.length)

    def draw_lengths(self, rng: np.random.Generator) -> None:
        """Cut the streams into chunks of random lengths from ``rng`` (the same rng state, the
        same cuts: a resumed epoch is cut as it was)."""
        lengths = random_chunk_lengths(self.length, self.bptt, rng)
        self._bounds = np.concatenate([[0], np.cumsum(lengths)])

    def __len__(self) -> int:
        return len(self._bounds) - 1

    @property
    def n_targets(self) -> int:
        """Targets per pass over the stream, B*L (the denominator of the mean loss)."""
        return self.batch_size * self.length

    def chunk(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Chunk k as fresh int32 (B, Tk) arrays: the caller may modify them."""
        if not 0 <= k < len(self):
            raise IndexError(f"chunk {k} out of range 0..{len(self) - 1}")
        steps = slice(self._bounds[k], self._bounds[k + 1])
        return self._x[:, steps].copy(), self._t[:, steps].copy()

    def chunks(self, start: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Chunks start, start+1, ... in order; start = len(self) yields nothing (epoch done)."""
        if not 0 <= start <= len(self):
            raise DataError(f"cannot start at chunk {start}: the stream has {len(self)} chunks")
        # checked above, now, rather than at the first next() of a generator
        return (self.chunk(k) for k in range(start, len(self)))

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        return self.chunks()
