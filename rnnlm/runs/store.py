"""The runs log's database: where it is, its schema and migrations, writing one run
(``Recorder``) and reading them back (``RunsLog``).

Two tables (schema version in ``PRAGMA user_version``, upgraded by MIGRATIONS):
    runs    one row per run: id, kind, status, started/ended (ISO 8601 UTC), the command line,
            settings (canonical keys, resolved), corpus (path, files with bytes and SHA-256),
            out/last, machine, rnnlm version, metrics, results, and the pid/host that runs it
    events  the run's events in order, each the JSON object `--json` prints
"""

import json
import math
import os
import re
import secrets
import socket
import sqlite3
import sys
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

from .. import __version__
from ..errors import RnnlmError, UsageError
from .facts import machine

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
    """An open connection to the log, its schema brought up to date. ``create``: a writer's,
    making the directory and the file as needed; else a reader's: None while there is no log
    (no file, or an empty one). Any problem -> LogError."""
    path = Path(path) if path is not None else db_path()
    if path.parent.exists() and not path.parent.is_dir():
        raise LogError(f"runs log '{path}': '{path.parent}' is a file, not a directory; "
                       f"point RNNLM_HOME at a directory")
    if not create and not path.exists():
        return None
    conn = None
    try:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        # a reader never creates the file (mode=rw), should it vanish after the check above;
        # one that may not write reads it as it stands (a log made read-only, or another
        # user's: WAL needs its -shm file, which only a writer can make)
        modes = ["rwc"] if create else ["rw", "ro", "ro&immutable=1"]
        for mode in modes:
            try:
                conn = _open(path, mode)
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                break
            except sqlite3.OperationalError as e:
                if conn is not None:
                    conn.close()
                    conn = None
                if mode == modes[-1] or "locked" in str(e):     # busy: not a read-only log
                    raise
        conn.execute("PRAGMA foreign_keys = ON")
        if version > SCHEMA:
            raise LogError(f"runs log '{path}' has schema {version}, written by a newer rnnlm "
                           f"(this one reads {SCHEMA}): upgrade rnnlm")
        if version == 0 and not create:
            conn.close()
            return None
        if create:
            _journal(conn)
        if version < SCHEMA:
            _migrate(conn)
        return conn
    except (sqlite3.Error, OSError) as e:
        if conn is not None:
            conn.close()
        raise LogError(_problem(path, e)) from None
    except LogError:
        conn.close()
        raise


def _open(path, mode):
    # autocommit (isolation_level None): every write says BEGIN IMMEDIATE itself; the path's
    # own bytes go into the URI (a directory's name need not be UTF-8)
    return sqlite3.connect(f"file:{quote(os.fsencode(path))}?mode={mode}", uri=True,
                           timeout=BUSY_TIMEOUT_S, isolation_level=None)


def _journal(conn):
    """WAL lets readers and one writer work at once; a network file system may refuse it, and
    the rollback journal then stays. Without WAL every commit is synced (FULL), as SQLite's
    safety for that journal needs."""
    try:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    except sqlite3.OperationalError:        # another process is setting it up right now
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    conn.execute(f"PRAGMA synchronous = {'NORMAL' if mode == 'wal' else 'FULL'}")


def _migrate(conn):
    """Apply MIGRATIONS from the file's schema to ours, in one transaction."""
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
    if pid is None or host != _host():
        return True                         # another machine's process: cannot tell
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass                                # alive, someone else's
    return pid_start is None or _process_start(pid) in (None, pid_start)


# --- writing: one run ------------------------------------------------------------------------

def _host():
    """This machine's name as the log keeps it (see _text)."""
    return _text(socket.gethostname())


def _json(value):
    """JSON text for a column: non-ASCII as itself (so a search finds 'données'), NaN and
    infinities as null (JSON has none)."""
    return json.dumps(_storable(value), ensure_ascii=False)


def _storable(value):
    """value as the log keeps it: text as valid UTF-8 (see _text), NaN and infinities as None,
    dicts and lists item by item (keys too: a file's path may be one)."""
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_storable(v) for v in value]
    return value


def _text(s):
    """s as valid UTF-8 (SQLite takes nothing else): a file name, an argument or a directory
    that is not UTF-8 comes as surrogate escapes ('\\udce9'), kept as '\\xe9'."""
    try:
        return s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:          # a lone surrogate no decoding made: '\ud800'
        return s.encode("utf-8", "backslashreplace").decode("utf-8")


class Recorder:
    """Writes one run to the log, from its start to its end.

    Any failure of the log (its database, its directory, the facts gathered for it) becomes
    one ``on_warning`` line, and the recorder stops writing: the run goes on unlogged.
    """

    def __init__(self, kind, run_id=None, argv=None, on_warning=None, path=None):
        self.kind, self.id = kind, run_id or new_id()
        # argv[0] is wherever the script lives (or __main__.py): the command is "rnnlm"
        self.argv = ["rnnlm", *sys.argv[1:]] if argv is None else list(argv)
        self.on_warning = on_warning
        self.path = path                # None: db_path(), found when first needed
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
                self.path = Path(self.path) if self.path is not None else db_path()
                self.conn = connect(self.path)
            write(self.conn)
            return True
        except Exception as e:          # whatever it is, the log must not stop the command
            self.abandon(e)
            return False

    def abandon(self, error):
        """Stop logging this run after ``error``: one warning line, then silence."""
        if self.failed:
            return
        self.failed = True
        message = str(error) if isinstance(error, LogError) else _problem(self.path or "?", error)
        if self.on_warning is not None:
            self.on_warning(f"{message}; this run is not logged")
        self.close()

    def start(self, settings, corpus=None, out=None, last=None, started=None):
        """Record the run as running. A resumed training whose id is in the log already runs
        again under it: its settings, command and machine are this session's, its events go
        on. True if it was recorded."""
        def write(conn):
            pid = os.getpid()
            row = {"id": self.id, "kind": self.kind, "status": "running",
                   "started": started or now(), "ended": None, "error": None,
                   "command": _json(self.argv), "cwd": os.getcwd(),
                   "settings": _json(settings), "corpus": _json(corpus),
                   "out": None if out is None else str(out),
                   "last": None if last is None else str(last), "machine": _json(machine()),
                   "rnnlm_version": __version__, "pid": pid, "host": _host(),
                   "pid_start": _process_start(pid)}
            row = {k: _storable(v) for k, v in row.items()}
            with _transaction(conn):
                if conn.execute("SELECT 1 FROM runs WHERE id = ?", (self.id,)).fetchone():
                    del row["id"], row["started"]       # it started when it first did
                    # but it is the newest run again: first in the list, and 'last'
                    row["seq"] = _next_seq(conn)
                    conn.execute(f"UPDATE runs SET {', '.join(f'{k} = ?' for k in row)} "
                                 f"WHERE id = ?", (*row.values(), self.id))
                else:
                    conn.execute(f"INSERT INTO runs ({', '.join(row)}) VALUES "
                                 f"({', '.join('?' * len(row))})", tuple(row.values()))
        return self._guard(write)

    def event(self, record, metrics=None):
        """Append one event (the object --json prints); ``metrics`` updates the run's too."""
        def write(conn):
            with _transaction(conn):
                conn.execute("INSERT INTO events (run_id, event) VALUES (?, ?)",
                             (self.id, _json(record)))
                if metrics is not None:
                    conn.execute("UPDATE runs SET metrics = ? WHERE id = ?",
                                 (_json(metrics), self.id))
        self._guard(write)

    def finish(self, status, metrics=None, results=None, error=None):
        """Record how the run ended: done, interrupted, diverged or failed."""
        def write(conn):
            sets = {"status": status, "ended": now(), "error": _storable(error)}
            if metrics is not None:
                sets["metrics"] = _json(metrics)
            if results is not None:
                sets["results"] = _json(results)
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


# --- reading ---------------------------------------------------------------------------------

# each JSON column's types: what every reader of a run relies on finding there
_JSON_COLUMNS = {"command": (list,), "settings": (dict,), "corpus": (dict, type(None)),
                 "machine": (dict,), "metrics": (dict,), "results": (dict, list, type(None))}


def _decode(text, path, run_id, what="one of its events", types=(dict,)):
    """A JSON column's text -> its value; text that is not JSON, or JSON of another type than
    ``types``, is a damaged run (LogError naming it)."""
    try:
        value = json.loads(text) if text is not None else None
    except ValueError:
        value = ...                     # not JSON: no type takes it
    if not isinstance(value, types):
        raise LogError(f"runs log '{path}' is damaged (run {run_id}: {what} is not what rnnlm "
                       f"writes): remove the run with 'rnnlm runs delete {run_id}', or the file")
    return value


def _status(row):
    """A row's status, "killed" for a running run whose process is gone."""
    dead = row["status"] == "running" and not _alive(row["pid"], row["host"], row["pid_start"])
    return "killed" if dead else row["status"]


def _run(row, path):
    """A row of runs -> the run as a dict (JSON columns decoded, a dead running run killed)."""
    run = dict(row)
    for key, types in _JSON_COLUMNS.items():
        run[key] = _decode(run[key], path, run["id"], f"its {key} column", types)
    run["status"] = _status(row)
    for key in ("seq", "pid", "host", "pid_start"):
        del run[key]
    return run


def _next_seq(conn):
    """A run's place after every other's, taken as an insert would take it: AUTOINCREMENT's
    counter moves on too, so no later run is given the same place."""
    [(seq,)] = conn.execute("SELECT coalesce(max(seq), 0) + 1 FROM sqlite_sequence "
                            "WHERE name = 'runs'").fetchall()
    conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'runs'", (seq,))
    return seq


class RunsLog:
    """Read access to the log (and deletion) for `rnnlm runs`; a missing log reads as empty."""

    def __init__(self, path=None):
        try:
            self.path = Path(path) if path is not None else db_path()
        except RuntimeError as e:       # no HOME and no passwd entry: nowhere to look
            raise LogError(f"runs log: {e}; set RNNLM_HOME") from None
        self.conn = connect(self.path, create=False)
        if self.conn is not None:
            self.conn.row_factory = sqlite3.Row
            # text that is not UTF-8 (written by another program) reads as the log writes it
            # (see _text), not as an error that hides every run
            self.conn.text_factory = lambda b: b.decode("utf-8", "backslashreplace")

    def _query(self, sql, args=()):
        if self.conn is None:
            return []
        try:
            return self.conn.execute(sql, args).fetchall()
        except sqlite3.Error as e:
            raise LogError(_problem(self.path, e)) from None

    def runs(self, kind=None, status=None, corpus=None, limit=20, on_warning=None):
        """Runs newest first, filtered; ``corpus`` matches any part of the corpus's path or name;
        ``limit`` 0 means all. A damaged run raises LogError, or with ``on_warning`` is one
        warning line and left out."""
        where, args = [], []
        if kind is not None:
            where.append("kind = ?")
            args.append(kind)
        if corpus is not None:
            where.append("(instr(lower(coalesce(json_extract(corpus, '$.path'), '')), lower(?)) "
                         "OR instr(lower(coalesce(json_extract(corpus, '$.name'), '')), "
                         "lower(?)))")
            args += [_text(corpus)] * 2         # as the log keeps a path (see _text)
        sql = "SELECT * FROM runs" + (f" WHERE {' AND '.join(where)}" if where else "")
        found = []
        for row in self._query(sql + " ORDER BY seq DESC", args):
            try:
                run = _run(row, self.path)
            except LogError as e:
                if on_warning is None:
                    raise
                on_warning(f"{e}; the run is left out")
                continue
            if status is None or run["status"] == status:
                found.append(run)
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
        return _run(self._query("SELECT * FROM runs WHERE id = ?", (run_id,))[0], self.path)

    def events(self, ref):
        run_id = self.resolve(ref)
        rows = self._query("SELECT event FROM events WHERE run_id = ? ORDER BY seq", (run_id,))
        return [_decode(r["event"], self.path, run_id) for r in rows]

    def delete(self, refs, force=False):
        """Remove runs and their events from the log (never a checkpoint) -> their ids. A run
        still running is refused unless ``force``: rnnlm cannot check another machine's
        process, and one of this machine's would warn once and go on unlogged."""
        ids = list(dict.fromkeys(self.resolve(r) for r in refs))
        for run_id in ids:          # its columns are not decoded: a damaged run goes too
            row = self._query("SELECT status, pid, host, pid_start FROM runs WHERE id = ?",
                              (run_id,))[0]
            if force or _status(row) != "running":
                continue
            if row["host"] != _host():
                raise UsageError(f"run {run_id} is running on host '{row['host']}', which "
                                 f"rnnlm cannot check from here: if it has stopped, delete it "
                                 f"with --force")
            raise RnnlmError(f"run {run_id} is still running: stop it first (Ctrl-C, or "
                             f"kill its process), then delete it")      # a state: exit 1
        try:
            with _transaction(self.conn):
                for run_id in ids:          # its events go with it (ON DELETE CASCADE)
                    self.conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        except sqlite3.Error as e:
            raise LogError(_problem(self.path, e)) from None
        return ids

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


_ESCAPED_BYTE = re.compile(r"\\x([89a-f][0-9a-f])")


def _logged_path(text):
    """A path as the log keeps it (see _text), back as Python names the file: '\\xe9' the
    byte 0xe9 again, where that names a file and the text as it stands does not."""
    as_logged = Path(text)
    if "\\x" not in text or as_logged.exists():
        return as_logged
    restored = Path(_ESCAPED_BYTE.sub(lambda m: chr(0xDC00 + int(m[1], 16)), text))
    return restored if restored.exists() else as_logged


def logged_outputs(on_warning=None):
    """The ``out`` paths of logged training runs (newest first, each once); [] without a log,
    or (after one ``on_warning`` line) with a log that cannot be read."""
    try:
        log = RunsLog()
        try:
            paths = [_logged_path(str(Path(r["cwd"], r["out"])))
                     for r in log.runs(kind="train", limit=0, on_warning=on_warning)
                     if r["out"]]
        finally:
            log.close()
    except LogError as e:
        if on_warning is not None:
            on_warning(f"{e}; its runs' models are not listed")
        return []
    return list(dict.fromkeys(paths))
