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

Modules: ``store`` (the database, Recorder, RunsLog), ``facts`` (machine, file fingerprints),
``recording`` (TrainingLog, record_finished), ``analysis`` (compare, curve).
"""

from .analysis import CURVE_AXES, CURVE_METRICS, compare, curve
from .facts import corpus_record, file_fingerprint, machine, read_record
from .recording import TrainingLog, record_finished
from .store import (KINDS, SCHEMA, STATUSES, LogError, Recorder, RunsLog, connect, db_path,
                    enabled, home, logged_outputs, new_id, now)

__all__ = ["CURVE_AXES", "CURVE_METRICS", "KINDS", "SCHEMA", "STATUSES", "LogError", "Recorder",
           "RunsLog", "TrainingLog", "compare", "connect", "corpus_record", "curve", "db_path",
           "enabled", "file_fingerprint", "home", "logged_outputs", "machine", "new_id", "now",
           "read_record", "record_finished"]
