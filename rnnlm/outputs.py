"""Where a training writes: the best model ``out`` (X.npz) and the latest full state ``last``
(X.last.npz) beside it, checked before training starts and locked while it runs."""

import fcntl
from pathlib import Path

from .errors import RnnlmError, UsageError
from .files import check_directory, check_name, is_read


def default_out(corpus_name, cell):
    """models/<corpus>-<cell>.npz, a corpus file named without its .txt: news.txt -> news-lstm."""
    stem = corpus_name[: -len(".txt")] if corpus_name.lower().endswith(".txt") else corpus_name
    return Path("models") / f"{stem or corpus_name}-{cell}.npz"


def last_path(out):
    """X.npz -> X.last.npz: the latest full state beside the best model."""
    out = Path(out)
    return out.with_name(out.name[: -len(".npz")] + ".last.npz") if out.name.endswith(".npz") \
        else out.with_name(out.name + ".last.npz")


def out_for_resume(resume):
    """X.last.npz -> X.npz: a resumed run goes on writing the model it started."""
    name = Path(resume).name
    return Path(resume).with_name(name.replace(".last.npz", ".npz")) \
        if name.endswith(".last.npz") else Path(resume)


class OutputSlot:
    """The pair of paths one training writes, and the lock that makes them its own.

    ``with slot:`` holds an exclusive lock (a ``.X.npz.lock`` file beside ``out``) for the
    block: a second training on the same output refuses instead of interleaving checkpoints.
    """

    def __init__(self, out, resume=None):
        self.out = Path(out)
        self.last = last_path(self.out)
        self.resume = resume
        self._lock_file = None
        self._replaces = False      # --force over another training's X.npz: removed on entry
        self._make_directory = False

    @classmethod
    def choose(cls, out, resume, corpus_name, cell):
        """``out`` as given, else the model a resume continues, else models/<corpus>-<cell>.npz."""
        if out is None:
            out = out_for_resume(resume) if resume is not None else default_out(corpus_name,
                                                                               cell)
        return cls(out, resume)

    @property
    def resumes_itself(self):
        """A resume into the output it continues (X.last.npz -> X.npz), however the paths
        are spelled; another --out is a branch."""
        return self.resume is not None and \
            Path(out_for_resume(self.resume)).resolve() == self.out.resolve()

    def check(self, force, reads=()):
        """Fail now, not after an epoch, if the checkpoints could not be written, or should
        not be: over a file the training ``reads`` (its corpus, whatever ``force`` says), over
        an existing model, or over the later state of the checkpoint it resumes, without
        ``force``."""
        for path in (self.out, self.last):
            check_name(path)
            # (an --out that is the checkpoint resumed: X.last.npz as --out; X.npz resumed
            # into itself is a resume of the best model, checked below)
            if is_read(path, reads) or (path == self.out and not self.resumes_itself
                                        and is_read(path, [self.resume])):
                raise UsageError(f"--out '{self.out}' would write over '{path}', which this "
                                 f"training reads: choose another --out")
            if path.is_dir():
                raise UsageError(f"--out '{self.out}' would write over '{path}', a directory: "
                                 f"give a file path")
        directory = self.out.parent
        # The default place is ours to create, but only once every check has passed (__enter__)
        self._make_directory = directory == Path("models") and not directory.exists()
        check_directory(Path(".") if self._make_directory else directory)
        if self.out.exists() and not force and not self.resumes_itself:
            raise RnnlmError(f"'{self.out}' exists: pass --force to overwrite it, or "
                             f"--resume {self.last} to continue it")
        self._replaces = self.out.exists() and not self.resumes_itself
        if self.last.exists() and not force and not is_read(self.last, [self.resume]):
            # e.g. resuming X.npz (the best model) would replay over the later X.last.npz
            raise RnnlmError(f"'{self.last}' exists: --resume {self.last} to continue that "
                             f"training, or pass --force to overwrite it")

    def __enter__(self):
        if self._make_directory:
            self.out.parent.mkdir(exist_ok=True)
        path = self.out.with_name(f".{self.out.name}.lock")
        self._lock_file = open(path, "w")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            raise RnnlmError(f"another training is writing '{self.out}' right now; "
                             f"choose another --out or wait for it") from None
        if self._replaces:
            # The old model goes now, not at the first validation: a run stopped before it
            # must not leave another training's X.npz beside its own X.last.npz.
            self.out.unlink(missing_ok=True)
        return self

    def __exit__(self, *exc):
        # Remove the lock file while still holding the lock, so none is left lying around.
        Path(self._lock_file.name).unlink(missing_ok=True)
        self._lock_file.close()
        self._lock_file = None
