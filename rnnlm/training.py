"""The training loop (the API's ``train``). It knows nothing about terminals: it reports what
happens as event dicts passed to a callback (the CLI draws them, or prints them as JSON).

Events: "start" (corpus and model facts), "progress" (every step), "step" (every
``log_every`` steps, and after a mid-epoch validation), "epoch", "warning", "done".
"""

import fcntl
import math
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import checkpoint
from .config import ModelConfig, TrainConfig, split_settings
from .data import BatchStream, Corpus, load_corpus
from .errors import CheckpointError, RnnlmError, UsageError
from .evaluation import evaluate_ids
from .model import LanguageModel
from .optim import SGD, Adam, clip_grad_norm

# Settings a resumed run may change: the budget, the reporting and the step size (to go on
# after a divergence with a lower lr). Any other one given with --resume must equal the
# checkpoint's.
RESUMABLE_CHANGES = {"epochs", "max_time", "anneal", "patience", "eval_every", "log_every",
                     "lr", "clip"}
MAX_BAD_STEPS = 5           # non-finite steps in a row before training gives up


class TrainingInterrupted(RnnlmError):
    """SIGINT or SIGTERM: the last checkpoint was saved; exit 128 + signal number."""

    def __init__(self, signum, last):
        super().__init__(f"interrupted by {signal.Signals(signum).name}; "
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


def default_out(corpus_name, cell):
    return Path("models") / f"{corpus_name}-{cell}.npz"


def last_path(out):
    """X.npz -> X.last.npz: the latest full state beside the best model."""
    out = Path(out)
    return out.with_name(out.name[: -len(".npz")] + ".last.npz") if out.name.endswith(".npz") \
        else out.with_name(out.name + ".last.npz")


def _out_for_resume(resume):
    name = Path(resume).name
    return Path(resume).with_name(name.replace(".last.npz", ".npz")) \
        if name.endswith(".last.npz") else Path(resume)


def train(corpus, *, out=None, resume=None, force=False, callback=None, progress=True,
          **settings):
    """Train a language model on ``corpus`` (a path, or a data.Corpus) and return a TrainResult.

    ``settings`` are the fields of ModelConfig (cell, num_layers, embed_size, hidden_size,
    dropout, variational, tie_weights, init_scale, seed) and of TrainConfig. The best model by
    validation perplexity is saved to ``out`` (default models/<corpus>-<cell>.npz), the latest
    full state to <out>.last.npz; ``resume`` continues from such a checkpoint, with ``epochs``
    and ``max_time`` counted over all resumes. ``callback(event)`` receives every event;
    ``progress`` shows a tqdm bar on stderr.
    """
    trainer = Trainer(corpus, out, resume, force, callback, progress, settings)
    return trainer.run()


class Trainer:
    def __init__(self, corpus, out, resume, force, callback, progress, settings):
        self.callback, self.progress = callback, progress
        model_settings, train_settings = split_settings(settings)
        ckpt = checkpoint.load(resume) if resume is not None else None
        lr_given = "lr" in train_settings
        if ckpt is not None:
            model_settings, train_settings = self._merge_resumed(ckpt, model_settings,
                                                                 train_settings)
        self.cfg = TrainConfig(**train_settings)
        ModelConfig(vocab_size=2, **model_settings)     # bad settings fail before any reading
        self.corpus = self._load_corpus(corpus, ckpt)
        model_cfg = ModelConfig(vocab_size=len(self.corpus.vocab), **model_settings)
        self.out = Path(out) if out is not None else (
            _out_for_resume(resume) if resume is not None
            else default_out(self.corpus.name, model_cfg.cell))
        self.last = last_path(self.out)
        self.stream = BatchStream(self.corpus.train, self.cfg.batch_size, self.cfg.bptt,
                                  name=f"training data of '{self.corpus.name}'")
        self._check_outputs(force, resume)
        self.model = ckpt.model if ckpt is not None else LanguageModel.from_config(model_cfg)
        self.opt = (SGD(self.cfg.learning_rate) if self.cfg.optimizer == "sgd"
                    else Adam(self.cfg.learning_rate))
        # Everything that changes as training goes on, saved in every checkpoint.
        self.st = {"epoch": 0, "position": 0, "step": 0, "tokens": 0, "train_time": 0.0,
                   "lr": self.cfg.learning_rate, "history": [], "best_valid_ppl": None,
                   "bad_epochs": 0, "epoch_loss": 0.0, "epoch_tokens": 0}
        if ckpt is not None:
            self._restore(ckpt, resume)
            if lr_given:                            # a new lr replaces the decayed one
                self.st["lr"] = self.cfg.learning_rate
        self.resumed = resume

    # --- setting up ------------------------------------------------------------------------
    def _restore(self, ckpt, path):
        """Training state, optimizer state and dropout RNG from a checkpoint of ours."""
        try:
            state = ckpt.meta["train_state"]
            if set(state) != set(self.st):
                raise KeyError("train_state")
            self.st.update(state)
            self.opt.load_state_dict(ckpt.optimizer_state)
            self.model.rng.bit_generator.state = ckpt.meta["rng"]
        except (KeyError, TypeError, ValueError):
            raise CheckpointError(f"checkpoint '{path}' holds no usable training state; resume "
                                  f"from the X.last.npz that rnnlm train wrote") from None

    @staticmethod
    def _merge_resumed(ckpt, model_settings, train_settings):
        saved_model = {k: v for k, v in ckpt.config["model"].items()
                       if k not in ("vocab_size", "dtype")}
        saved_train = ckpt.config["train"]
        for saved, given in ((saved_model, model_settings), (saved_train, train_settings)):
            for key, value in given.items():
                if key not in RESUMABLE_CHANGES and key in saved and saved[key] != value:
                    raise UsageError(f"--{key.replace('_', '-')} {value} contradicts the "
                                     f"checkpoint's {saved[key]}; drop it to resume")
        return ({**saved_model, **model_settings}, {**saved_train, **train_settings})

    def _load_corpus(self, corpus, ckpt):
        if not isinstance(corpus, Corpus):
            c = self.cfg
            corpus = load_corpus(corpus, c.level, c.encoding, c.valid_fraction, c.max_vocab,
                                 c.min_count)
        if ckpt is not None:
            saved = ckpt.meta.get("corpus", {})
            if corpus.vocab != ckpt.vocab or saved.get("sha256") not in (None, corpus.sha256):
                raise UsageError(f"corpus '{corpus.name}' is not the one the checkpoint was "
                                 f"trained on ('{saved.get('name')}'); resume on that corpus")
        return corpus

    def _check_outputs(self, force, resume):
        """Fail now, not after an epoch, if the checkpoints could not be written."""
        directory = self.out.parent
        if not directory.is_dir():
            if directory == Path("models") and not directory.exists():
                directory.mkdir()                   # the default place is ours to create
            else:
                raise RnnlmError(f"output directory '{directory}' does not exist: create it "
                                 f"or choose another --out")
        try:                                        # os.access says yes to root everywhere
            tempfile.TemporaryFile(dir=directory).close()
        except OSError as e:
            raise RnnlmError(f"cannot write in output directory '{directory}' "
                             f"({e.strerror}): choose another --out") from None
        resuming_this = resume is not None and _out_for_resume(resume) == self.out
        if self.out.exists() and not force and not resuming_this:
            raise RnnlmError(f"'{self.out}' exists: pass --force to overwrite it, or "
                             f"--resume {self.last} to continue it")

    def _lock(self):
        """Hold a lock on the output for the whole run: a second training on it refuses."""
        path = self.out.with_name(f".{self.out.name}.lock")
        self._lock_file = open(path, "w")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            raise RnnlmError(f"another training is writing '{self.out}' right now; "
                             f"choose another --out or wait for it") from None

    def _unlock(self):
        # Remove the lock file while still holding the lock, so none is left lying around.
        Path(self._lock_file.name).unlink(missing_ok=True)
        self._lock_file.close()

    # --- events and checkpoints ------------------------------------------------------------
    def emit(self, event, **fields):
        if self.callback is not None:
            self.callback({"event": event, **fields})

    def _save(self, path):
        meta = {"train_state": self.st, "rng": self.model.rng.bit_generator.state,
                "corpus": {"name": self.corpus.name, "sha256": self.corpus.sha256,
                           "level": self.corpus.level},
                "best_valid_ppl": self.st["best_valid_ppl"]}
        checkpoint.save(path, self.model, self.corpus.vocab, meta=meta, optimizer=self.opt,
                        train_config=self.cfg.to_dict())

    def _validate(self):
        if self.corpus.valid is None:
            return None
        return evaluate_ids(self.model, self.corpus.valid, self.cfg.eval_batch_size,
                            name=f"validation data of '{self.corpus.name}'")["ppl"]

    def _budget_left(self):
        """The share of the budget still to run, in [0, 1]: of max_time or of epochs,
        whichever runs out first."""
        st, cfg = self.st, self.cfg
        left = 1.0 - (st["epoch"] + st["position"] / len(self.stream)) / cfg.epochs
        if cfg.max_time is not None:
            left = min(left, 1.0 - st["train_time"] / cfg.max_time)
        return min(max(left, 0.0), 1.0)

    def _step_lr(self):
        """The lr of the next step: the epoch's lr, annealed over the budget's last stretch."""
        lr = self.st["lr"]
        if self.cfg.anneal > 0:
            lr *= min(1.0, self._budget_left() / self.cfg.anneal)
        return lr

    # --- the loop --------------------------------------------------------------------------
    def run(self):
        self._lock()
        handlers = self._catch_signals()
        try:
            self.emit("start", corpus=self.corpus.name, notes=list(self.corpus.notes),
                      stats=self.corpus.stats, vocab_size=len(self.corpus.vocab),
                      params=self.model.num_params(), model=self.model.config.to_dict(),
                      train=self.cfg.to_dict(), out=str(self.out), resumed=self.resumed,
                      chunks=len(self.stream), epochs=self.cfg.epochs, epoch=self.st["epoch"])
            if self.stream.warning:
                self.emit("warning", message=self.stream.warning)
            with np.errstate(all="ignore"):     # overflow is caught as a non-finite loss
                reason = self._loop()
            self._save(self.last)
            self.emit("done", epoch=self.st["epoch"], step=self.st["step"],
                      tokens=self.st["tokens"], valid_ppl=self.st["best_valid_ppl"],
                      elapsed_s=self.st["train_time"], out=str(self.out), last=str(self.last),
                      reason=reason)
            return TrainResult(self.model, self.corpus.vocab, self.out, self.last,
                               self.st["history"], self.st["best_valid_ppl"], reason)
        finally:
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
            self._unlock()

    def _catch_signals(self):
        """SIGINT/SIGTERM set a flag checked between steps (only the main thread can listen)."""
        self._signal = None
        if threading.current_thread() is not threading.main_thread():
            return {}

        def note(signum, frame):
            self._signal = signum
        return {s: signal.signal(s, note) for s in (signal.SIGINT, signal.SIGTERM)}

    def _out_of_time(self):
        return self.cfg.max_time is not None and self.st["train_time"] >= self.cfg.max_time

    def _loop(self):
        st, cfg = self.st, self.cfg
        while st["epoch"] < cfg.epochs:
            if self._out_of_time():
                return "max_time"
            finished = self._run_epoch()
            if self._signal is not None:
                self._save(self.last)
                raise TrainingInterrupted(self._signal, self.last)
            if not finished:                 # out of time in the middle of the epoch
                self._end_of_epoch(partial=True)
                return "max_time"
            if self._end_of_epoch(partial=False):
                return "patience"
        return "epochs"

    def _run_epoch(self):
        """Steps through the rest of the epoch; False if the time budget ran out first."""
        st, cfg, model = self.st, self.cfg, self.model
        model.train()
        if st["position"] == 0:
            model.reset_state()
            st["epoch_loss"], st["epoch_tokens"] = 0.0, 0
        bar = self._progress_bar()
        window = {"loss": 0.0, "tokens": 0, "time": 0.0}
        bad_steps = 0
        try:                        # the bar goes, however the epoch ends
            for x, t in self.stream.chunks(st["position"]):
                start = time.perf_counter()
                self.opt.lr = self._step_lr()
                loss = model.forward(x, t)
                model.backward()
                norm = clip_grad_norm(model.grads, cfg.clip or math.inf)
                if math.isfinite(loss) and math.isfinite(norm):
                    self.opt.step(model.params, model.grads)
                    bad_steps = 0
                else:
                    bad_steps = self._skip_bad_step(bad_steps + 1, loss, norm)
                elapsed = time.perf_counter() - start
                st["position"] += 1
                st["step"] += 1
                st["tokens"] += x.size
                st["train_time"] += elapsed
                if math.isfinite(loss):
                    st["epoch_loss"] += loss * x.size
                    st["epoch_tokens"] += x.size
                    window["loss"] += loss * x.size
                    window["tokens"] += x.size
                window["time"] += elapsed
                self._report_step(window, norm, bar)
                if self._signal is not None:
                    return True
                if self._out_of_time():
                    return False
        finally:
            if bar is not None:
                bar.close()
        st["position"] = 0
        st["epoch"] += 1
        return True

    def _progress_bar(self):
        if not self.progress:
            return None
        from tqdm import tqdm
        return tqdm(total=len(self.stream), initial=self.st["position"], unit="chunk",
                    desc=f"epoch {self.st['epoch'] + 1}/{self.cfg.epochs}", leave=False)

    def _skip_bad_step(self, bad_steps, loss, norm):
        """A non-finite loss or gradient never reaches the parameters: skip, lower the lr."""
        self.st["lr"] *= 0.5
        what = "loss" if not math.isfinite(loss) else "gradient norm"
        if bad_steps >= MAX_BAD_STEPS:
            # The parameters are finite, but whatever led here is no state to save over the
            # last good checkpoint.
            kept = (f"the last good checkpoint is '{self.last}'" if self.last.exists()
                    else "no checkpoint was written")
            raise TrainingDiverged(
                f"training diverged: {bad_steps} steps in a row with a non-finite {what} "
                f"(skipped, lr lowered to {self.st['lr']:.3g}); {kept}; lower --lr or --clip",
                self.model)
        self.emit("warning", message=f"step {self.st['step'] + 1}: non-finite {what}, "
                                     f"step skipped, lr lowered to {self.st['lr']:.4g}")
        return bad_steps

    def _report_step(self, window, norm, bar):
        st, cfg = self.st, self.cfg
        train_ppl = (math.exp(min(window["loss"] / window["tokens"], 700.0))
                     if window["tokens"] else None)
        tokens_per_s = window["tokens"] / window["time"] if window["time"] else 0.0
        fields = dict(epoch=st["epoch"] + 1, step=st["step"], tokens=st["tokens"],
                      train_ppl=train_ppl, lr=self.opt.lr, grad_norm=norm,
                      tokens_per_s=tokens_per_s, elapsed_s=st["train_time"])
        self.emit("progress", position=st["position"], chunks=len(self.stream), **fields)
        if bar is not None:
            bar.update(1)
            if train_ppl is not None:
                bar.set_postfix(ppl=f"{train_ppl:.1f}", lr=f"{self.opt.lr:.3g}", refresh=False)
        validate = cfg.eval_every is not None and st["step"] % cfg.eval_every == 0
        if st["step"] % cfg.log_every == 0 or validate:
            if validate:
                fields["valid_ppl"] = self._note_validation(self._validate())
            self.emit("step", **fields)
            window.update(loss=0.0, tokens=0, time=0.0)

    def _note_validation(self, valid_ppl):
        """Keep the best model by validation perplexity; True if this one is the best so far."""
        st = self.st
        best = st["best_valid_ppl"]
        if valid_ppl is None or best is None or valid_ppl < best:
            st["best_valid_ppl"] = valid_ppl
            self._save(self.out)
        return valid_ppl

    def _end_of_epoch(self, partial):
        """Validate, save, decay the lr; True if patience has run out."""
        st, cfg = self.st, self.cfg
        before = st["best_valid_ppl"]
        valid_ppl = self._note_validation(self._validate())
        improved = valid_ppl is None or before is None or valid_ppl < before
        st["bad_epochs"] = 0 if improved else st["bad_epochs"] + 1
        train_ppl = (math.exp(min(st["epoch_loss"] / st["epoch_tokens"], 700.0))
                     if st["epoch_tokens"] else None)
        record = {"epoch": st["epoch"] + (1 if partial else 0), "step": st["step"],
                  "tokens": st["tokens"], "train_ppl": train_ppl, "valid_ppl": valid_ppl,
                  "lr": self.opt.lr, "elapsed_s": st["train_time"], "best": improved}
        st["history"].append(record)
        if not partial:
            decay = cfg.decay_after is not None and st["epoch"] >= cfg.decay_after
            decay = decay or (cfg.decay_on_plateau and not improved)
            if decay:
                st["lr"] *= cfg.lr_decay
        self._save(self.last)
        epoch_time = record["elapsed_s"] - (st["history"][-2]["elapsed_s"]
                                            if len(st["history"]) > 1 else 0.0)
        self.emit("epoch", **record, tokens_per_s=(st["epoch_tokens"] / epoch_time
                                                   if epoch_time > 0 else 0.0))
        return cfg.patience is not None and st["bad_epochs"] >= cfg.patience
