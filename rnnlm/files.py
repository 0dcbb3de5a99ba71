"""Writing files whole or not at all: checkpoints, CSV, HTML pages, pictures.

A file is written to a temporary file beside it, ``.<name>.<random>.tmp`` (hidden, and no
``*.npz`` or ``*.csv`` glob sees it), flushed to disk, then renamed over the target with
``os.replace``: a reader, a crash or a full disk sees the previous file or the new one, never
half of one.
"""

import glob
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

from .errors import RnnlmError, UsageError

STALE_AFTER_S = 600     # a temporary this old belongs to no living writer (each write touches it)


def atomic_write(path, write, *, binary=False, newline=None, encoding="utf-8"):
    """Create or replace ``path`` with what ``write(f)`` writes into an open file; -> path.

    ``f`` is opened "wb" with ``binary``, else "w" with ``encoding`` and ``newline`` (as for
    open(); pass newline="" to the csv module). The temporary beside ``path`` is created with
    O_EXCL (never someone else's file), fsynced before the rename, and removed on any failure,
    KeyboardInterrupt included; stale ones of an earlier killed writer are swept first (see
    cleanup_stale_temporaries).

    Errors are not translated: an OSError (a missing directory, a full disk) or whatever
    ``write`` raises comes through as it is, after the cleanup, for the caller to turn into its
    own one-line message. The target is untouched unless the write succeeded.
    """
    path = Path(path)
    cleanup_stale_temporaries(path)
    tmp = _temporary(path)
    # O_EXCL: never write into someone else's file; 0o666 lets the umask decide as usual.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with (os.fdopen(fd, "wb") if binary else
              os.fdopen(fd, "w", encoding=encoding, newline=newline)) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())        # the data is on disk before the name points at it
        os.replace(tmp, path)
    except BaseException:               # Ctrl-C mid-write too: tidy up, let it through
        tmp.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)
    return path


def _temporary(path):
    """A fresh name for atomic_write's temporary beside ``path``: .<name>.<random>.tmp."""
    return path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"


def is_read(path, reads):
    """True when ``path`` exists and is one of the files ``reads`` (None skipped; "-" is
    stdin, which may be a file redirected into it: ``< text.txt``)."""
    try:
        target = os.stat(path)
    except (OSError, ValueError):       # missing, a name too long, a NUL in it
        return False
    for source in reads:
        if source is None:
            continue
        try:
            found = os.fstat(sys.stdin.fileno()) if str(source) == "-" else os.stat(source)
        except (OSError, ValueError, AttributeError):   # missing, or no stdin at all
            continue
        if (found.st_dev, found.st_ino) == (target.st_dev, target.st_ino):
            return True
    return False


def check_name(path, flag="--out"):
    """A file name the file system takes, with room for the temporary written beside it (see
    atomic_write), or one RnnlmError; before any work, not at the first save."""
    path = Path(path)
    try:
        limit = os.pathconf(path.parent, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):       # no such directory (said later)
        limit = 255
    size = len(os.fsencode(path.name))
    extra = len(os.fsencode(_temporary(path).name)) - size
    if size + extra > limit:
        raise RnnlmError(f"{flag} '{path}': a name of {size} bytes is too long here (at most "
                         f"{limit - extra}, with room for the temporary file written beside "
                         f"it): choose a shorter name")


def check_output(path, *, force=False, reads=(), flag="--out"):
    """Fail before any work if ``path`` could not or should not be written: it is one of the
    files the command ``reads`` (never, whatever ``force`` says: it would destroy its own
    input), it exists and ``force`` is off, its name is too long, or its directory is missing
    or not writable."""
    path = Path(path)
    if str(path) == "-":
        raise UsageError(f"{flag} '-': rnnlm writes this to a file, not to stdout; give a path")
    check_name(path, flag)
    if is_read(path, reads):
        raise UsageError(f"{flag} '{path}' is a file being read: write to another path")
    if path.exists():
        if path.is_dir():
            raise RnnlmError(f"{flag} '{path}' is a directory: give a file path")
        if not force:
            raise RnnlmError(f"'{path}' exists: pass --force to overwrite it, or choose "
                             f"another {flag}")
    check_directory(path.parent, flag)


def check_directory(directory, flag="--out"):
    """The directory an output goes to exists and takes a new file, or one RnnlmError."""
    directory = Path(directory)
    if not directory.is_dir():
        raise RnnlmError(f"output directory '{directory}' does not exist: create it or choose "
                         f"another {flag}")
    try:                                        # os.access says yes to root everywhere
        tempfile.TemporaryFile(dir=directory).close()
    except OSError as e:
        raise RnnlmError(f"cannot write in output directory '{directory}' ({e.strerror}): "
                         f"choose another {flag}") from None


def _fsync_directory(directory):
    """Make a rename in ``directory`` durable (best effort: the new file is whole either way)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def cleanup_stale_temporaries(path, max_age_s=STALE_AFTER_S):
    """Remove ``.<name>.*.tmp`` beside path older than max_age_s, left by a killed write.

    A younger one may belong to a process writing right now (each write refreshes its mtime),
    so it is left alone. Returns the paths removed.
    """
    path, removed = Path(path), []
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        try:
            if time.time() - tmp.lstat().st_mtime > max_age_s:
                tmp.unlink()
                removed.append(tmp)
        except OSError:             # gone already, or not ours to remove: not our problem
            pass
    return removed
