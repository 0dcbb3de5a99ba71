"""The training loop (the API's ``train``). It knows nothing about terminals: it reports what
happens as event dicts passed to its listeners (the CLI draws them, or prints them as JSON; a
runs log keeps them).

Events, in order: "start" (corpus and model facts), "progress" (every step), "step"
(every ``log_every`` steps, and after a mid-epoch validation), "epoch", "warning", and one
that ends the run: "done", or, just before the exception, "interrupted"
(TrainingInterrupted) or "diverged" (TrainingDiverged). In these three, "epoch" is the number
of epochs completed, as in the checkpoint's train_state; "progress" and "step" give the
running one (from 1). Every event carries the run's "run_id" (None when it has none).

Beside it: the lr schedule and the budget in schedule.py, the output paths and their lock in
outputs.py; the state saved in every checkpoint is TrainingState, below.
"""

import math
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from . import checkpoint
from .config import (DROPOUT_PLACES, SETTINGS_BY_NAME, ModelConfig, TrainConfig, dropout_rates,
                     split_settings)
from .data import BatchStream, Corpus, load_corpus
from .errors import CheckpointError, RnnlmError, UsageError
from .evaluation import evaluate_ids
from .model import LanguageModel, check_fits_memory
from .optim import SGD, Adam, ParameterAverage, clip_grad_norm
from .outputs import OutputSlot, default_out, last_path, out_for_resume  # noqa: F401
from .schedule import Schedule

# Settings a resumed run may change: the budget, the reporting and the step size (to go on
# after a divergence with a lower lr). Any other one given with --resume must equal the
# checkpoint's.
RESUMABLE_CHANGES = {"epochs", "max_time", "anneal", "patience", "eval_every", "log_every",
                     "lr", "clip"}
MAX_BAD_STEPS = 5           # non-finite steps in a row before training gives up


class TrainingInterrupted(RnnlmError):
    """SIGINT or SIGTERM, or SIGPIPE for a listener whose pipe was closed (``rnnlm train
    --json | head``): the last checkpoint was saved; exit 128 + signal number."""

    def __init__(self, signum, last):
        cause = " (the reader of its output went away)" if signum == signal.SIGPIPE else ""
        super().__init__(f"interrupted by {signal.Signals(signum).name}{cause}; "
                         f"saved '{last}' (continue with --resume {last})")
        self.exit_code = 128 + signum
        self.last = last


class TrainingDiverged(RnnlmError):
    """The loss or the gradient stayed non-finite for MAX_BAD_STEPS steps in a row.

    ``model`` is the model as it was: no non-finite step ever reached its parameters.
    """

    def __init__(self, message, model):
        super().__init__(message)
        self.model = model


@dataclass
class TrainResult:
    model: LanguageModel
    vocab: object
    out: Path
    last: Path
    history: list = field(default_factory=list)
    best_valid_ppl: float | None = None
    reason: str = "epochs"
    run_id: str | None = None


@dataclass
class TrainingState:
    """Everything that changes as training goes on: saved in every checkpoint's meta as
    "train_state" (to_dict), read back on resume (from_dict)."""

    epoch: int = 0                  # epochs completed
    position: int = 0               # chunks done in the current epoch
    step: int = 0                   # steps over all epochs and resumes
    tokens: int = 0
    train_time: float = 0.0         # seconds spent in steps, over all resumes (max_time)
    lr: float = 0.0                 # the epoch lr, before annealing (see schedule.py)
    history: list = field(default_factory=list)    # one record per epoch, as its event
    best_valid_ppl: float | None = None
    bad_epochs: int = 0             # epochs in a row without improvement (patience)
    epoch_loss: float = 0.0         # loss * tokens summed over the epoch's finite steps
    epoch_tokens: int = 0
    # the steps since the last step event: the next one's train_ppl and tokens/s, whether or
    # not a resume falls between
    window_loss: float = 0.0
    window_tokens: int = 0
    window_time: float = 0.0

    WINDOW = ("window_loss", "window_tokens", "window_time")   # not in checkpoints before them

    def to_dict(self):
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, state):
        """The state a checkpoint saved; KeyError unless it has exactly our keys (the
        window's may be missing: a checkpoint from before them resumes with an empty one)."""
        names = {f.name for f in fields(cls)}
        if not isinstance(state, dict) or not names - set(cls.WINDOW) <= set(state) <= names:
            raise KeyError("train_state")
        return cls(**state)

    def reset_window(self):
        self.window_loss, self.window_tokens, self.window_time = 0.0, 0, 0.0


def train(corpus, *, out=None, resume=None, force=False, callback=None, progress=True,
          run_id=None, **settings):
    """Train a language model on ``corpus`` (a path, or a data.Corpus) and return a TrainResult.

    ``settings`` are the fields of ModelConfig (cell, num_layers, embed_size, hidden_size,
    dropout, variational, tie_weights, init_scale, seed) and of TrainConfig. The best model by
    validation perplexity is saved to ``out`` (default models/<corpus>-<cell>.npz), the latest
    full state to <out>.last.npz; ``resume`` continues from such a checkpoint, with ``epochs``
    and ``max_time`` (seconds, or "90s", "30m", "1.5h" as the flag takes it) counted over all
    resumes. ``callback`` is one listener or a list of them: each ``listener(event)`` receives
    every event dict, in order (the same dict for all: read it, do not change it).
    ``progress`` shows a tqdm bar on stderr.

    ``run_id`` (a string) names the run in every event, in every checkpoint's meta and in the
    result; a checkpoint resumed into its own output keeps its own run_id (the run goes on).
    """
    trainer = Trainer(corpus, out, resume, force, callback, progress, run_id, settings)
    return trainer.run()


def _listeners(callback):
    """None, one callable, or a list/tuple of them -> a tuple of callables."""
    if callback is None:
        return ()
    listeners = tuple(callback) if isinstance(callback, (list, tuple)) else (callback,)
    bad = next((f for f in listeners if not callable(f)), None)
    if bad is not None:
        raise UsageError(f"callback must be a callable or a list of callables, got {bad!r}")
    return listeners


TRAIN_FIELDS = {f.name for f in fields(TrainConfig)}


def _merge_resumed(ckpt, model_settings, train_settings):
    """The checkpoint's settings, overridden by the given ones that a resume may change."""
    saved_model = {k: v for k, v in ckpt.config["model"].items()
                   if k not in ("vocab_size", "dtype")}
    saved_train = ckpt.config.get("train")
    unknown = sorted(set(saved_train) - TRAIN_FIELDS) if isinstance(saved_train, dict) else None
    if unknown is None or unknown:
        what = f"settings this rnnlm does not know ({', '.join(map(str, unknown))})" if unknown \
            else "no training settings"
        raise CheckpointError(f"checkpoint '{ckpt.path}' holds {what}: resume it with the rnnlm "
                              f"that saved it (version {ckpt.meta.get('rnnlm_version', '?')})")
    for saved, given in ((saved_model, model_settings), (saved_train, train_settings)):
        for key, value in given.items():
            if key == "dropout" or key in DROPOUT_PLACES:
                continue                            # compared by the rates they give, below
            if key not in RESUMABLE_CHANGES and key in saved and saved[key] != value:
                raise UsageError(_contradiction([key], given, saved))
    merged = {**saved_model, **model_settings}
    if "dropout" in model_settings:     # it sets every place not given with it
        merged.update({k: model_settings.get(k) for k in DROPOUT_PLACES})
    places = [k for k in ("dropout", *DROPOUT_PLACES) if k in model_settings]
    if places and dropout_rates(merged) != dropout_rates(saved_model):
        raise UsageError(_contradiction(places, model_settings, saved_model))
    return merged, {**saved_train, **train_settings}


def _contradiction(keys, given, saved):
    """The message for settings of a resume that the checkpoint was trained without."""
    def said(key, value):
        flag = SETTINGS_BY_NAME[key].key if key in SETTINGS_BY_NAME else key
        if isinstance(value, bool):
            return f"--{flag}" if value else f"--no-{flag}"
        return f"no --{flag}" if value is None else f"--{flag} {value}"

    if keys[0] in ("dropout", *DROPOUT_PLACES):
        was = (f"dropout {'/'.join(map(str, dropout_rates(saved)))} (embedding/between "
               f"layers/output)")
        if keys == ["dropout"]:
            was += "; --dropout sets all three places, a --config file's too"
    else:
        was = said(keys[0], saved.get(keys[0]))
    return (f"{' '.join(said(k, given[k]) for k in keys)} contradicts the checkpoint, trained "
            f"with {was}; leave it out (flag or --config key) to resume")


class Trainer:
    """One run of ``train``: builds everything in __init__ (every check before any step),
    then ``run`` loops over epochs and steps."""

    def __init__(self, corpus, out, resume, force, callback, progress, run_id, settings):
        self.listeners, self.progress = _listeners(callback), progress
        if run_id is not None and not isinstance(run_id, str):
            raise UsageError(f"run_id must be a string, got {run_id!r}")
        model_settings, train_settings = split_settings(settings)
        ckpt = checkpoint.load(resume) if resume is not None else None
        lr_given = "lr" in train_settings
        if ckpt is not None:
            model_settings, train_settings = _merge_resumed(ckpt, model_settings,
                                                            train_settings)
        self.cfg = TrainConfig(**train_settings)
        # Bad settings fail before any reading; the vocabulary's own checks (--cutoffs) after.
        ModelConfig(vocab_size=sys.maxsize, **model_settings)
        self.corpus = self._load_corpus(corpus, ckpt)
        model_cfg = ModelConfig(vocab_size=len(self.corpus.vocab), **model_settings)
        check_fits_memory(model_cfg)                # before anything is written
        self.slot = OutputSlot.choose(out, resume, self.corpus.name, model_cfg.cell)
        self.out, self.last = self.slot.out, self.slot.last
        self.stream = BatchStream(self.corpus.train, self.cfg.batch_size, self.cfg.bptt,
                                  name=f"training data of '{self.corpus.name}'")
        self.slot.check(force, reads=[(self.corpus.stats[split] or {}).get("file")
                                      for split in ("train", "valid", "test")])
        self.schedule = Schedule(self.cfg, self.stream)
        self.model = ckpt.model if ckpt is not None else LanguageModel.from_config(model_cfg)
        self.opt = (SGD(self.cfg.learning_rate) if self.cfg.optimizer == "sgd"
                    else Adam(self.cfg.learning_rate))
        self.average = ParameterAverage()
        self.state = TrainingState(lr=self.cfg.learning_rate)
        self.warnings = model_cfg.idle_settings()  # emitted once the run starts
        if ckpt is not None:
            self._restore(ckpt, resume)
            if lr_given:                            # a new lr replaces the decayed one
                self.state.lr = self.cfg.learning_rate
            self._check_average(ckpt, resume)
            if not self.slot.resumes_itself:
                self._check_budget_left(resume)     # a branch that would write no model
        self.lr = self.opt.lr           # the schedule's lr of the last step, as events report it
        # A training resumed into its own output goes on under its id; a branch (another
        # --out) or a checkpoint without an id is a run of its own.
        saved_id = ckpt.meta.get("run_id") if ckpt is not None else None
        self.run_id = saved_id if saved_id is not None and self.slot.resumes_itself else run_id
        self.resumed = resume

    # --- setting up ------------------------------------------------------------------------
    def _restore(self, ckpt, path):
        """Training state, optimizer state and dropout RNG from a checkpoint of ours."""
        try:
            self.state = TrainingState.from_dict(ckpt.meta["train_state"])
            self.opt.load_state_dict(ckpt.optimizer_state)
            self.average.load_state_dict(ckpt.optimizer_state)
            self.model.rng.bit_generator.state = ckpt.meta["rng"]
        except (KeyError, TypeError, ValueError):
            raise CheckpointError(f"checkpoint '{path}' holds no usable training state; resume "
                                  f"from the X.last.npz that rnnlm train wrote") from None

    def _check_average(self, ckpt, resume):
        """An average taken over another budget's last fraction is forgotten: a longer budget's
        window starts later (at the resume, or after it). And a best model X.npz of an
        --average run holds the mean, not the last step's parameters: say so."""
        saved = ckpt.config["train"]
        if self.average.count and any(saved.get(k) != getattr(self.cfg, k)
                                      for k in ("epochs", "max_time")):
            self.average.reset()
        steps = ckpt.meta.get("averaged_steps")
        if isinstance(steps, int) and steps > 0:
            self.warnings.append(
                f"'{resume}' holds the mean of the parameters over {steps:,} steps (--average), "
                f"so training goes on from that mean; resume its .last.npz to go on from the "
                f"last step's parameters")

    def _check_budget_left(self, resume):
        """A branch (another --out) of a run with nothing left to train would write no model:
        say so instead. Resumed into its own output, such a run just ends, as a rerun of a
        script's resume should."""
        st, cfg = self.state, self.cfg
        if st.epoch >= cfg.epochs:
            raise UsageError(f"'{resume}' has trained its {st.epoch} epoch(s) already: raise "
                             f"--epochs to train on")
        if self.schedule.out_of_time(st):
            raise UsageError(f"'{resume}' has spent its --max-time already "
                             f"({st.train_time:,.0f} s of training): raise --max-time to train on")

    def _load_corpus(self, corpus, ckpt):
        if not isinstance(corpus, Corpus):
            c = self.cfg
            corpus = load_corpus(corpus, c.level, c.encoding, c.valid_fraction, c.max_vocab,
                                 c.min_count)
        if ckpt is not None:
            saved = ckpt.meta.get("corpus", {})
            if not isinstance(saved, dict):
                raise CheckpointError(f"checkpoint '{ckpt.path}' describes its corpus "
                                      f"as {saved!r}, not as rnnlm does: it cannot be resumed")
            if corpus.vocab != ckpt.vocab or saved.get("sha256") not in (None, corpus.sha256):
                # the names may agree ("stdin", "ptb"): say what differs
                what = "vocabulary" if corpus.vocab != ckpt.vocab else "text (SHA-256)"
                raise UsageError(f"corpus '{corpus.name}' is not the one the checkpoint was "
                                 f"trained on ('{saved.get('name')}'): its {what} differs; "
                                 f"resume on that corpus")
        return corpus

    # --- events and checkpoints ------------------------------------------------------------
    def emit(self, event, **fields):
        """Every listener gets every event, each with the run's id (None when unnamed).

        A listener whose pipe was closed (BrokenPipeError) hears no more, and the run stops
        after this step as it does on a signal, its state saved: SIGPIPE would have killed the
        process with the work of the epoch unsaved."""
        record = {"event": event, **fields, "run_id": self.run_id}
        for listener in self.listeners:
            try:
                listener(record)
            except BrokenPipeError:
                self.listeners = tuple(f for f in self.listeners if f is not listener)
                if self._signal is None:
                    self._signal = signal.SIGPIPE

    def _where(self):
        """The position fields of the events that end a run."""
        st = self.state
        return dict(epoch=st.epoch, step=st.step, tokens=st.tokens, elapsed_s=st.train_time)

    def _save(self, path, averaged=False):
        """A checkpoint of the run; ``averaged``: the parameters are the --average mean (the
        best model), and its meta says over how many steps."""
        meta = {"train_state": self.state.to_dict(), "rng": self.model.rng.bit_generator.state,
                "corpus": {"name": self.corpus.name, "sha256": self.corpus.sha256,
                           "level": self.corpus.level},
                "best_valid_ppl": self.state.best_valid_ppl}
        if averaged and self.average.count:
            meta["averaged_steps"] = self.average.count
        if self.run_id is not None:
            meta["run_id"] = self.run_id
        checkpoint.save(path, self.model, self.corpus.vocab, meta=meta,
                        optimizer={**self.opt.state_dict(), **self.average.state_dict()},
                        train_config=self.cfg.to_dict())

    def _validate(self):
        if self.corpus.valid is None:
            return None
        return evaluate_ids(self.model, self.corpus.valid, self.cfg.eval_batch_size,
                            name=f"validation data of '{self.corpus.name}'")["ppl"]

    # --- the loop --------------------------------------------------------------------------
    def run(self):
        with self.slot, self._catching_signals():
            st = self.state
            self.emit("start", corpus=self.corpus.name, notes=list(self.corpus.notes),
                      stats=self.corpus.stats, vocab_size=len(self.corpus.vocab),
                      params=self.model.num_params(), model=self.model.config.to_dict(),
                      train=self.cfg.to_dict(), out=str(self.out), resumed=self.resumed,
                      last=str(self.last), chunks=len(self.stream), epochs=self.cfg.epochs,
                      epoch=st.epoch, best_valid_ppl=st.best_valid_ppl)
            for message in [self.stream.warning, *self.warnings]:
                if message:
                    self.emit("warning", message=message)
            with np.errstate(all="ignore"):     # overflow is caught as a non-finite loss
                reason = self._loop()
            self._save(self.last)
            self.emit("done", epoch=st.epoch, step=st.step, tokens=st.tokens,
                      valid_ppl=st.best_valid_ppl, elapsed_s=st.train_time, out=str(self.out),
                      last=str(self.last), reason=reason)
            return TrainResult(self.model, self.corpus.vocab, self.out, self.last, st.history,
                               st.best_valid_ppl, reason, self.run_id)

    @contextmanager
    def _catching_signals(self):
        """SIGINT/SIGTERM set a flag checked between steps (only the main thread can listen);
        the previous handlers come back afterwards."""
        self._signal = None
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def note(signum, frame):
            self._signal = signum
        handlers = {s: signal.signal(s, note) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for signum, handler in handlers.items():
                signal.signal(signum, handler)

    def _loop(self):
        st, cfg = self.state, self.cfg
        while st.epoch < cfg.epochs:
            if self.schedule.out_of_time(st):
                return "max_time"
            finished = self._run_epoch()
            if self._signal is not None:
                self._save(self.last)
                self.emit("interrupted", signal=signal.Signals(self._signal).name,
                          last=str(self.last), **self._where())
                raise TrainingInterrupted(self._signal, self.last)
            if not finished:                 # out of time in the middle of the epoch
                self._end_of_epoch(partial=True)
                return "max_time"
            if self._end_of_epoch(partial=False):
                return "patience"
        return "epochs"

    def _run_epoch(self):
        """Steps through the rest of the epoch; False if the time budget ran out first."""
        st, cfg, model = self.state, self.cfg, self.model
        model.train()
        if cfg.random_bptt:
            # The epoch's cuts from the seed and the epoch's number alone: a resume in the
            # middle of the epoch finds its chunks where they were.
            self.stream.draw_lengths(np.random.default_rng((model.config.seed, st.epoch)))
        if st.position == 0:
            model.reset_state()
            st.epoch_loss, st.epoch_tokens = 0.0, 0
            st.reset_window()
        bar = self._progress_bar()
        bad_steps = 0
        try:                        # the bar goes, however the epoch ends
            for x, t in self.stream.chunks(st.position):
                start = time.perf_counter()
                self.lr = self.schedule.step_lr(st)
                self.opt.lr = self.lr * self.schedule.length_scale(x.shape[1])
                loss = model.forward(x, t)
                model.backward()
                rows = model.grad_rows
                norm = clip_grad_norm(model.grads, cfg.clip or math.inf, rows)
                if math.isfinite(loss) and math.isfinite(norm):
                    self.opt.step(model.params, model.grads, rows)
                    if self.schedule.averaging(st):
                        self.average.update(model.params)
                    elif self.average.count:        # a resume lengthened the budget
                        self.average.reset()
                    bad_steps = 0
                else:
                    bad_steps = self._skip_bad_step(bad_steps + 1, loss, norm)
                elapsed = time.perf_counter() - start
                st.position += 1
                st.step += 1
                st.tokens += x.size
                st.train_time += elapsed
                if math.isfinite(loss):
                    st.epoch_loss += loss * x.size
                    st.epoch_tokens += x.size
                    st.window_loss += loss * x.size
                    st.window_tokens += x.size
                st.window_time += elapsed
                # the epoch's end validates this step's parameters anyway: once is enough, and
                # a second look at them would count as no improvement (halving the lr)
                out_of_time = self.schedule.out_of_time(st)
                ends = out_of_time or st.position == len(self.stream)
                self._report_step(norm, bar, validate=not ends)
                if self._signal is not None:
                    return True
                if out_of_time:
                    return False
        finally:
            if bar is not None:
                bar.close()
        st.position = 0
        st.epoch += 1
        return True

    def _progress_bar(self):
        if not self.progress:
            return None
        from tqdm import tqdm
        return tqdm(total=len(self.stream), initial=self.state.position, unit="chunk",
                    desc=f"epoch {self.state.epoch + 1}/{self.cfg.epochs}", leave=False)

    def _skip_bad_step(self, bad_steps, loss, norm):
        """A non-finite loss or gradient never reaches the parameters: skip, lower the lr."""
        st = self.state
        self.schedule.bad_step(st)
        what = "loss" if not math.isfinite(loss) else "gradient norm"
        if bad_steps >= MAX_BAD_STEPS:
            # The parameters are finite, but whatever led here is no state to save over the
            # last good checkpoint.
            kept = (f"the last good checkpoint is '{self.last}'" if self.last.exists()
                    else "no checkpoint was written")
            error = TrainingDiverged(
                f"training diverged: {bad_steps} steps in a row with a non-finite {what} "
                f"(skipped, lr lowered to {st.lr:.3g}); {kept}; lower --lr or --clip",
                self.model)
            self.emit("diverged", message=str(error), **self._where())
            raise error
        self.emit("warning", message=f"step {st.step + 1}: non-finite {what}, "
                                     f"step skipped, lr lowered to {st.lr:.4g}")
        return bad_steps

    def _report_step(self, norm, bar, validate=True):
        """The step's events, and its validation every --eval-every steps (unless
        ``validate`` is off: the epoch or the budget ends at this step, and validates it)."""
        st, cfg = self.state, self.cfg
        train_ppl = (math.exp(min(st.window_loss / st.window_tokens, 700.0))
                     if st.window_tokens else None)
        tokens_per_s = st.window_tokens / st.window_time if st.window_time else 0.0
        fields = dict(epoch=st.epoch + 1, step=st.step, tokens=st.tokens,
                      train_ppl=train_ppl, lr=self.lr, grad_norm=norm,
                      tokens_per_s=tokens_per_s, elapsed_s=st.train_time)
        self.emit("progress", position=st.position, chunks=len(self.stream), **fields)
        if bar is not None:
            bar.update(1)
            if train_ppl is not None:
                bar.set_postfix(ppl=f"{train_ppl:.1f}", lr=f"{self.lr:.3g}", refresh=False)
        validate = validate and cfg.eval_every is not None and st.step % cfg.eval_every == 0
        if st.step % cfg.log_every == 0 or validate:
            if validate:
                fields["valid_ppl"] = self._validate_and_keep()
                fields.update(self._averaged())
            self.emit("step", **fields)
            st.reset_window()

    def _validate_and_keep(self):
        """Validate, and keep the best model by validation perplexity: save it to ``out`` when
        it is the best so far (or when there is no validation data). Once averaging has begun
        (--average), both use the average of the parameters. Returns valid_ppl."""
        st = self.state
        with self.average.applied(self.model.params):
            valid_ppl = self._validate()
            best = st.best_valid_ppl
            if valid_ppl is None or best is None or valid_ppl < best:
                st.best_valid_ppl = valid_ppl
                self._save(self.out, averaged=True)
        return valid_ppl

    def _averaged(self):
        """The field of a validation's event with --average: the steps in the average that
        validation used (0 before averaging begins); nothing without --average."""
        return {"averaged_steps": self.average.count} if self.cfg.average > 0 else {}

    def _end_of_epoch(self, partial):
        """Validate, save, decay the lr; True if patience has run out."""
        st, cfg = self.state, self.cfg
        before = st.best_valid_ppl
        valid_ppl = self._validate_and_keep()
        improved = valid_ppl is None or before is None or valid_ppl < before
        st.bad_epochs = 0 if improved else st.bad_epochs + 1
        train_ppl = (math.exp(min(st.epoch_loss / st.epoch_tokens, 700.0))
                     if st.epoch_tokens else None)
        record = {"epoch": st.epoch + (1 if partial else 0), "step": st.step,
                  "tokens": st.tokens, "train_ppl": train_ppl, "valid_ppl": valid_ppl,
                  "lr": self.lr, "elapsed_s": st.train_time, "best": improved,
                  **self._averaged()}
        st.history.append(record)
        if not partial:
            self.schedule.end_of_epoch(st, improved)
        self._save(self.last)
        # since the record before (a time budget's cut may have split this epoch): its tokens
        # over its time, not the whole epoch's tokens over the time since the cut
        previous = st.history[-2] if len(st.history) > 1 else {"tokens": 0, "elapsed_s": 0.0}
        seconds = record["elapsed_s"] - previous["elapsed_s"]
        self.emit("epoch", **record, tokens_per_s=((record["tokens"] - previous["tokens"]) /
                                                   seconds if seconds > 0 else 0.0))
        return cfg.patience is not None and st.bad_epochs >= cfg.patience
