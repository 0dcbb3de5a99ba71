"""The runs log: every `train`, `eval` and `generate` in a SQLite database, to find, compare
and plot experiments later.

Where: ``$RNNLM_HOME/runs.db``; RNNLM_HOME defaults to ``$XDG_DATA_HOME/rnnlm``, else
``~/.local/share/rnnlm``. ``RNNLM_NO_LOG=1`` (or a command's ``--no-log``) turns it off.

Two tables (schema version in ``PRAGMA user_version``, upgraded by MIGRATIONS):
    runs    one row per run: id, kind, status, started/ended (ISO 8601 UTC), the command line,
            settings (canonical keys, resolved), corpus (path, files with bytes and SHA-256),
            out/last, machine, rnnlm version, metrics, results, and the pid/host that runs it
    events  the run's events in order, each the JSON object `--json` prints

The log never breaks a run: ``Recorder`` turns the first failure of the database (locked,
read-only, corrupt, disk full, a newer schema) into one warning line and goes quiet; the
command goes on unlogged. Reading commands (`rnnlm runs ...`) get a LogError instead.
A ``running`` run whose process is gone reads as ``killed``.
"""

import hashlib
import json
import math
import os
import platform
import secrets
import socket
import sqlite3
import sys
from datetime import datetime, timezone
from pathlib import Path

from . import __version__
from .errors import RnnlmError, UsageError

SCHEMA = 1
# MIGRATIONS[v] takes a database from schema v - 1 to v.
MIGRATIONS = {
    1: """
        CREATE TABLE runs (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,     -- insertion order: newest is largest
            id TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            started TEXT NOT NULL,
            ended TEXT,
            command TEXT NOT NULL,                     -- JSON list: argv
            settings TEXT NOT NULL,                    -- JSON object, canonical keys
            corpus TEXT,                               -- JSON object or null
            cwd TEXT NOT NULL,                         -- out and last may be relative to it
            out TEXT,
            last TEXT,
            machine TEXT NOT NULL,                     -- JSON object
            rnnlm_version TEXT NOT NULL,
            metrics TEXT NOT NULL DEFAULT '{}',        -- JSON object
            results TEXT,                              -- JSON: per-file perplexity, samples...
            error TEXT,
            pid INTEGER,
            host TEXT,
            pid_start TEXT                             -- the process's start time: pids recur
        );
        CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            event TEXT NOT NULL                        -- JSON object, as --json printed it
        );
        CREATE INDEX events_by_run ON events(run_id, seq);
    """,
}
KINDS = ("train", "eval", "generate", "probe", "gradients")
STATUSES = ("running", "done", "interrupted", "diverged", "failed", "killed")
BUSY_TIMEOUT_S = 5.0        # how long a write waits for another process's transaction
_ID_CHARS = "0123456789abcdefghijklmnopqrstuvwxyz"


class LogError(RnnlmError):
    """The runs log cannot be read or written; the message says which file and why."""


def home():
    """The directory of rnnlm's own data (the runs log)."""
    if os.environ.get("RNNLM_HOME"):
        return Path(os.environ["RNNLM_HOME"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "rnnlm"


def db_path():
    return home() / "runs.db"


def enabled(no_log=False):
    """False with --no-log or RNNLM_NO_LOG set (to anything but '' or 0)."""
    return not no_log and os.environ.get("RNNLM_NO_LOG", "").strip() in ("", "0")


def new_id():
    """8 characters of [0-9a-z]: 2.8e12 ids, short to type, abbreviable to a unique prefix."""
    return "".join(secrets.choice(_ID_CHARS) for _ in range(8))


def now():
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


# --- the database ------------------------------------------------------------------------------

def _problem(path, e):
    text = str(e) or type(e).__name__
    return f"runs log '{path}': {getattr(e, 'strerror', None) or text}"


def connect(path=None, create=True):
    """An open, migrated connection to the log, or None when ``create`` is False and there is
    no log yet. Any problem -> LogError."""
    path = Path(path) if path is not None else db_path()
    if not create and not path.exists():
        return None
    conn = None
    try:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        # autocommit (isolation_level None): every write says BEGIN IMMEDIATE itself
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")    # in WAL: no fsync per commit, still safe
        _migrate(conn, path, create)
        return conn
    except (sqlite3.Error, OSError) as e:
        if conn is not None:
            conn.close()
        raise LogError(_problem(path, e)) from None
    except LogError:
        conn.close()
        raise


def _migrate(conn, path, create):
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA:
        raise LogError(f"runs log '{path}' has schema {version}, written by a newer rnnlm "
                       f"(this one reads {SCHEMA}): upgrade rnnlm")
    if version == SCHEMA or not create:
        if version < SCHEMA and not create:
            raise LogError(f"runs log '{path}' has schema {version}: run any logged command "
                           f"once to upgrade it")
        return
    try:
        # WAL lets readers and one writer work at once; a network file system may refuse it,
        # and the default rollback journal then stays. The mode is stored in the file.
        conn.execute("PRAGMA journal_mode = WAL")
    except sqlite3.OperationalError:
        pass                    # locked by another process setting it up: it will be WAL too
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]    # another may have won
        for v in range(version + 1, SCHEMA + 1):
            for statement in MIGRATIONS[v].split(";"):
                if statement.strip():
                    conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:             # a failed COMMIT may have ended it already
            conn.execute("ROLLBACK")
        raise


# --- what a run records about its world ------------------------------------------------------

def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine():
    """CPU model, cores, Python, numpy and the BLAS it was built with."""
    import numpy as np
    blas = {}
    try:
        found = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = {"name": found.get("name"), "version": found.get("version")}
    except Exception:           # numpy's build info is informative, never required
        pass
    return {"cpu": _cpu_model(), "cores": os.cpu_count(), "host": socket.gethostname(),
            "python": platform.python_version(), "numpy": np.__version__, "blas": blas}


def file_fingerprint(path):
    """{"path", "bytes", "sha256"} of one file, read in 1 MiB pieces."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while piece := f.read(1 << 20):
            digest.update(piece)
            size += len(piece)
    return {"path": str(path), "bytes": size, "sha256": digest.hexdigest()}


def _process_start(pid):
    """When process pid started (clock ticks since boot), or None off Linux: with the pid, it
    names one process, since pids are reused."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid, host, pid_start):
    """False when the process that runs a run is certainly gone; True when it may be alive."""
    if pid is None or host != socket.gethostname():
        return True                         # another machine's process: cannot tell
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass                                # alive, someone else's
    return pid_start is None or _process_start(pid) in (None, pid_start)


# --- writing: one run ------------------------------------------------------------------------

class Recorder:
    """Writes one run to the log, from its start to its end.

    Any failure of the database becomes one ``on_warning`` line, and the recorder stops
    writing: the run goes on unlogged, and nothing else the command does changes.
    """

    def __init__(self, kind, run_id=None, argv=None, on_warning=None, path=None):
        self.kind, self.id = kind, run_id or new_id()
        # argv[0] is wherever the script lives (or __main__.py): the command is "rnnlm"
        self.argv = ["rnnlm", *sys.argv[1:]] if argv is None else list(argv)
        self.on_warning = on_warning
        self.path = Path(path) if path is not None else db_path()
        self.conn = None
        self.failed = False

    @property
    def active(self):
        return self.conn is not None and not self.failed

    def _guard(self, write):
        """Run write(conn); the first failure warns once and silences the recorder."""
        if self.failed:
            return False
        try:
            if self.conn is None:
                self.conn = connect(self.path)
            write(self.conn)
            return True
        except (LogError, sqlite3.Error, OSError) as e:
            self.failed = True
            message = str(e) if isinstance(e, LogError) else _problem(self.path, e)
            if self.on_warning is not None:
                self.on_warning(f"{message}; this run is not logged")
            self.close()
            return False

    def start(self, settings, corpus=None, out=None, last=None, started=None):
        """Record the run as running (or, for a resumed training whose id is already in the log,
        as running again, its events continuing). True if it was recorded."""
        pid, status = os.getpid(), "running"
        row = {"id": self.id, "kind": self.kind, "status": status, "started": started or now(),
               "command": json.dumps(self.argv), "cwd": os.getcwd(), "settings": json.dumps(settings),
               "corpus": json.dumps(corpus), "out": None if out is None else str(out),
               "last": None if last is None else str(last), "machine": json.dumps(machine()),
               "rnnlm_version": __version__, "pid": pid, "host": socket.gethostname(),
               "pid_start": _process_start(pid)}

        def write(conn):
            with _transaction(conn):
                if conn.execute("SELECT 1 FROM runs WHERE id = ?", (self.id,)).fetchone():
                    conn.execute("UPDATE runs SET status = ?, ended = NULL, pid = ?, host = ?, "
                                 "pid_start = ?, error = NULL WHERE id = ?",
                                 (status, row["pid"], row["host"], row["pid_start"], self.id))
                else:
                    conn.execute(f"INSERT INTO runs ({', '.join(row)}) VALUES "
                                 f"({', '.join('?' * len(row))})", tuple(row.values()))
        return self._guard(write)

    def event(self, record, metrics=None):
        """Append one event (the object --json prints); ``metrics`` updates the run's too."""
        def write(conn):
            with _transaction(conn):
                conn.execute("INSERT INTO events (run_id, event) VALUES (?, ?)",
                             (self.id, json.dumps(record)))
                if metrics is not None:
                    conn.execute("UPDATE runs SET metrics = ? WHERE id = ?",
                                 (json.dumps(metrics), self.id))
        self._guard(write)

    def finish(self, status, metrics=None, results=None, error=None):
        """Record how the run ended: done, interrupted, diverged or failed."""
        def write(conn):
            sets = {"status": status, "ended": now(), "error": error}
            if metrics is not None:
                sets["metrics"] = json.dumps(metrics)
            if results is not None:
                sets["results"] = json.dumps(results)
            conn.execute(f"UPDATE runs SET {', '.join(f'{k} = ?' for k in sets)} WHERE id = ?",
                         (*sets.values(), self.id))
        self._guard(write)
        self.close()

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on any error): takes the write lock up front, so a
    busy database waits in one place (the busy timeout) instead of failing half-way."""

    def __init__(self, conn):
        self.conn = conn

    def __enter__(self):
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind, value, tb):
        if kind is None:
            self.conn.execute("COMMIT")
        elif self.conn.in_transaction:     # a failed COMMIT may have ended it already
            self.conn.execute("ROLLBACK")


def record_finished(kind, settings, printed, *, started, corpus=None, metrics=None,
                    results=None, run_id=None, on_warning=None):
    """Log a run that has done its work already (eval, generate: short, and nothing to log
    until their results exist), with the objects its --json printed as its events."""
    recorder = Recorder(kind, run_id=run_id, on_warning=on_warning)
    if recorder.start(settings, corpus, started=started):
        for record in printed:
            recorder.event(record)
        recorder.finish("done", metrics, results)


# --- reading ---------------------------------------------------------------------------------

_JSON_COLUMNS = ("command", "settings", "corpus", "machine", "metrics", "results")


def _run(row):
    """A row of runs -> the run as a dict (JSON columns decoded, a dead running run killed)."""
    run = dict(row)
    for key in _JSON_COLUMNS:
        run[key] = json.loads(run[key]) if run[key] is not None else None
    if run["status"] == "running" and not _alive(run["pid"], run["host"], run["pid_start"]):
        run["status"] = "killed"
    for key in ("seq", "pid", "host", "pid_start"):
        del run[key]
    run["metrics"] = run["metrics"] or {}
    return run


class RunsLog:
    """Read access to the log (and deletion) for `rnnlm runs`; a missing log reads as empty."""

    def __init__(self, path=None):
        self.path = Path(path) if path is not None else db_path()
        self.conn = connect(self.path, create=False)
        if self.conn is not None:
            self.conn.row_factory = sqlite3.Row

    def _query(self, sql, args=()):
        if self.conn is None:
            return []
        try:
            return self.conn.execute(sql, args).fetchall()
        except sqlite3.Error as e:
            raise LogError(_problem(self.path, e)) from None

    def runs(self, kind=None, status=None, corpus=None, limit=20):
        """Runs newest first, filtered; ``corpus`` matches any part of the corpus's path or name;
        ``limit`` 0 means all."""
        where, args = [], []
        if kind is not None:
            where.append("kind = ?")
            args.append(kind)
        if corpus is not None:
            where.append("instr(lower(coalesce(corpus, '')), lower(?)) > 0")
            args.append(corpus)
        sql = "SELECT * FROM runs" + (f" WHERE {' AND '.join(where)}" if where else "")
        found = (_run(r) for r in self._query(sql + " ORDER BY seq DESC", args))
        found = [r for r in found if status is None or r["status"] == status]
        return found[:limit] if limit else found

    def resolve(self, ref):
        """A run id, a unique prefix of one, or 'last' (the newest run) -> the full id."""
        if ref == "last":
            rows = self._query("SELECT id FROM runs ORDER BY seq DESC LIMIT 1")
            if not rows:
                raise LogError(f"no runs logged yet in '{self.path}'")
            return rows[0]["id"]
        if not ref or any(c not in _ID_CHARS for c in ref):
            raise UsageError(f"'{ref}' is not a run id: ids are like 3kq9v1xa; "
                             f"'rnnlm runs' lists them")
        rows = self._query("SELECT id FROM runs WHERE id >= ? AND id < ? ORDER BY id",
                           (ref, ref + "~"))      # '~' sorts after every id character
        if not rows:
            raise LogError(f"no run '{ref}' in the runs log ('rnnlm runs' lists them)")
        if len(rows) > 1:
            shown = ", ".join(r["id"] for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
            raise UsageError(f"run '{ref}' is ambiguous: it begins {len(rows)} ids ({shown}); "
                             f"give more characters")
        return rows[0]["id"]

    def get(self, ref):
        run_id = self.resolve(ref)
        return _run(self._query("SELECT * FROM runs WHERE id = ?", (run_id,))[0])

    def events(self, ref):
        run_id = self.resolve(ref)
        rows = self._query("SELECT event FROM events WHERE run_id = ? ORDER BY seq", (run_id,))
        return [json.loads(r["event"]) for r in rows]

    def delete(self, refs):
        """Remove runs and their events from the log (never a checkpoint) -> their ids."""
        ids = list(dict.fromkeys(self.resolve(r) for r in refs))
        try:
            with _transaction(self.conn):
                for run_id in ids:
                    self.conn.execute("DELETE FROM events WHERE run_id = ?", (run_id,))
                    self.conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        except sqlite3.Error as e:
            raise LogError(_problem(self.path, e)) from None
        return ids

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def logged_outputs():
    """The ``out`` paths of logged training runs (newest first, each once); [] without a log."""
    try:
        log = RunsLog()
        try:
            paths = [Path(r["cwd"], r["out"]) for r in log.runs(kind="train", limit=0)
                     if r["out"]]
        finally:
            log.close()
    except LogError:
        return []
    return list(dict.fromkeys(paths))


def corpus_record(path, name=None):
    """What a training read: a corpus file, or a directory's *train*/*valid*/*test* files as
    training reads them (see read_record)."""
    from .data import _discover
    path = Path(path)
    files = [p for p in _discover(path).values() if p is not None] if path.is_dir() else [path]
    return read_record(files, str(path), name or path.name)


def read_record(files, path=None, name=None):
    """What a run read -> {"path", "name", "bytes", "files": [{"path", "bytes", "sha256"}]}.

    stdin ("-"), a pipe (<(zcat ...)) or a file gone since was read once: it is listed by its
    path alone, without a fingerprint.
    """
    found = []
    for f in files:
        try:
            found.append(file_fingerprint(f) if Path(f).is_file() else {"path": str(f)})
        except OSError:
            found.append({"path": str(f)})
    return {"path": path or " ".join(map(str, files)),
            "name": name or ", ".join(Path(f).name or "-" for f in files),
            "bytes": sum(f.get("bytes", 0) for f in found), "files": found}


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
        from .config import canonical_settings
        from .events import to_json
        from .training import last_path
        kind = e["event"]
        if kind == "progress":                      # every step: not a logged event
            return
        if kind == "start":
            self.recorder.id = e.get("run_id") or self.recorder.id    # a resume continues its run
            settings = canonical_settings({"model": e["model"], "train": e["train"]})
            try:
                corpus = corpus_record(self.corpus, e["corpus"])
            except OSError:                         # read a moment ago; gone now: still log
                corpus = {"path": str(self.corpus), "name": e["corpus"], "files": []}
            last = e.get("last") or str(last_path(e["out"]))
            if self.recorder.start(settings, corpus, e["out"], last) and self.on_start:
                self.on_start(self.recorder.id)
        elif kind == "done":
            self.ended = True
            metrics = {"valid_ppl": e["valid_ppl"], "tokens": e["tokens"],
                       "elapsed_s": e["elapsed_s"]}
            self.recorder.event(to_json(e))
            self.recorder.finish("done", metrics)
        elif kind in ("interrupted", "diverged"):
            self.ended = True
            self.recorder.finish(kind, error=e.get("message"))
        elif (record := to_json(e)) is not None:
            if record.get("valid_ppl") is not None:
                self.best = min(self.best or math.inf, record["valid_ppl"])
            metrics = {"valid_ppl": self.best, "tokens": e["tokens"], "elapsed_s": e["elapsed_s"]} \
                if kind == "epoch" else None
            self.recorder.event(record, metrics)

    def failed(self, error):
        """The command ended with an exception the trainer did not report as an event."""
        if not self.ended:
            self.ended = True
            if self.recorder.active:
                status = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
                self.recorder.finish(status, error=str(error) or type(error).__name__)


def compare(runs):
    """{"differ": {key: [value per run]}, "metrics": [metrics per run]}: ``differ`` holds exactly
    the settings whose values are not all equal (one a run lacks counts as None)."""
    keys = dict.fromkeys(k for r in runs for k in r["settings"])
    values = {k: [r["settings"].get(k) for r in runs] for k in keys}
    differ = {k: v for k, v in values.items() if len({json.dumps(x) for x in v}) > 1}
    return {"differ": differ, "metrics": [r["metrics"] for r in runs]}


# --- curves ----------------------------------------------------------------------------------

CURVE_METRICS = ("valid_ppl", "train_ppl", "lr", "grad_norm")
CURVE_AXES = ("tokens", "time", "epoch")


def curve(events, metric="valid_ppl", x="tokens"):
    """A training's learning curve from its logged events -> (xs, ys).

    valid_ppl: every validation (epoch ends and --eval-every steps). train_ppl, lr: the step
    events (each over the steps since the one before), or the epoch events when the run logged
    no steps; grad_norm: the step events. x: training tokens, training seconds, or epochs
    (fractional for step events: tokens over the tokens of one epoch).
    """
    if metric not in CURVE_METRICS:
        raise UsageError(f"--metric must be one of {', '.join(CURVE_METRICS)}, got {metric!r}")
    if x not in CURVE_AXES:
        raise UsageError(f"--x must be one of {', '.join(CURVE_AXES)}, got {x!r}")
    kinds = {"step", "epoch"}
    if metric in ("train_ppl", "lr", "grad_norm") and any(e.get("event") == "step"
                                                          for e in events):
        kinds = {"step"}
    whole = next((e for e in events if e.get("event") == "epoch" and e.get("epoch")), None)
    per_epoch = whole["tokens"] / whole["epoch"] if whole else None
    xs, ys = [], []
    for e in events:
        if e.get("event") not in kinds or e.get(metric) is None:
            continue
        if x == "epoch":
            if per_epoch is None:
                continue                # no epoch has ended: epochs cannot be placed yet
            xs.append(e["tokens"] / per_epoch)
        else:
            xs.append(e["elapsed_s"] if x == "time" else e["tokens"])
        ys.append(e[metric])
    return xs, ys
