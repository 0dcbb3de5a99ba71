"""Recording commands in the log: a training as it goes (a listener of its events), and a
command that has done its work (eval, generate) at once."""

import math

from ..config import canonical_settings
from ..events import to_json
from ..errors import RnnlmError
from .facts import corpus_record
from .store import Recorder


class TrainingLog:
    """A trainer listener that records the training: its start (settings, corpus), every
    event --json prints, and how it ended. ``on_start(run_id)`` is told once it is logged."""

    def __init__(self, corpus, on_warning=None, on_start=None, argv=None):
        self.recorder = Recorder("train", argv=argv, on_warning=on_warning)
        self.corpus, self.on_start = corpus, on_start
        self.best = None
        self.ended = False

    @property
    def id(self):
        return self.recorder.id

    def __call__(self, e):
        if e["event"] == "progress":                # every step: not a logged event
            return
        try:
            self._record(e)
        except Exception as error:                  # the log must not stop the training
            self.recorder.abandon(error)

    def _metrics(self, e):
        """The run's results so far: best validation perplexity, tokens, training time."""
        return {"valid_ppl": self.best, "tokens": e["tokens"], "elapsed_s": e["elapsed_s"]}

    def _record(self, e):
        kind = e["event"]
        if kind == "start":
            self.recorder.id = e["run_id"] or self.recorder.id    # a resume continues its run
            self.best = e.get("best_valid_ppl")                   # (and its best so far)
            settings = canonical_settings({"model": e["model"], "train": e["train"]})
            try:
                corpus = corpus_record(self.corpus, e["corpus"])
            except (OSError, RnnlmError):           # read a moment ago, gone now: still log
                corpus = {"path": str(self.corpus), "name": e["corpus"], "files": []}
            if self.recorder.start(settings, corpus, e["out"], e["last"]) and self.on_start:
                self.on_start(self.recorder.id)
        elif kind == "done":
            self.ended = True
            self.best = e["valid_ppl"]              # the done event's own floats
            self.recorder.event(to_json(e))
            self.recorder.finish("done", self._metrics(e))
        elif kind in ("interrupted", "diverged"):
            self.ended = True
            self.recorder.finish(kind, self._metrics(e), error=e.get("message"))
        elif (record := to_json(e)) is not None:
            if record.get("valid_ppl") is not None:
                self.best = min(self.best or math.inf, record["valid_ppl"])
            self.recorder.event(record, self._metrics(e) if kind == "epoch" else None)

    def failed(self, error):
        """The command ended with an exception the trainer did not report as an event."""
        if not self.ended:
            self.ended = True
            if self.recorder.active:
                status = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
                self.recorder.finish(status, error=str(error) or type(error).__name__)


def record_finished(kind, settings, printed, *, started, corpus=None, metrics=None,
                    results=None, run_id=None, on_warning=None):
    """Log a run that has done its work already (eval, generate: short, and nothing to log
    until their results exist), with the objects its --json printed as its events. True if
    it was logged (else one warning went to ``on_warning``)."""
    recorder = Recorder(kind, run_id=run_id, on_warning=on_warning)
    if recorder.start(settings, corpus, started=started):
        for record in printed:
            recorder.event(record)
        recorder.finish("done", metrics, results)
    return not recorder.failed
