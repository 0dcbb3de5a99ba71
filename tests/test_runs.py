"""The runs log through the real CLI: what `train` records, `rnnlm runs` and its subcommands,
and a log that never breaks a run (locked, read-only, corrupt, full, newer, killed, crowded)."""

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import shutil
import sys

import pytest

from conftest import REPO, TINY, cli_env, run_cli
from rnnlm.config import SETTINGS
from rnnlm.runs import RunsLog

QUICK = [*TINY, "--epochs", "1"]


def lines(stdout):
    return [json.loads(line) for line in stdout.splitlines()]


@pytest.fixture
def home(tmp_path):
    """A runs log of this test's own: {"RNNLM_HOME": ...} for run_cli's env."""
    return {"RNNLM_HOME": tmp_path / "home"}


@pytest.fixture
def tiny_corpus(tmp_path, small_corpus):
    """300 sentences: a training epoch in well under a second."""
    path = tmp_path / "tiny.txt"
    path.write_text("\n".join(small_corpus.read_text().splitlines()[:300]) + "\n")
    return path


def runs_json(cwd, env, *args):
    return lines(run_cli("runs", *args, "--json", cwd=cwd, env=env).stdout)


def train(corpus, cwd, env, *args, out="m.npz", check=True):
    return run_cli("train", corpus, *QUICK, "--out", cwd / out, "--json", *args, cwd=cwd,
                   env=env, check=check)


# --- what a training records -------------------------------------------------------------------

def test_runs_json_metrics_and_events_are_exactly_those_the_training_printed(tmp_path, home,
                                                                          small_corpus):
    proc = train(small_corpus, tmp_path, home, "--epochs", "2", "--eval-every", "30")
    printed = lines(proc.stdout)
    done = printed[-1]
    [run] = runs_json(tmp_path, home)
    assert run["id"] == done["run_id"]
    assert (run["kind"], run["status"]) == ("train", "done")
    assert run["metrics"] == {"valid_ppl": done["valid_ppl"], "tokens": done["tokens"],
                              "elapsed_s": done["elapsed_s"]}          # the same floats
    assert run["out"] == str(tmp_path / "m.npz") and run["last"] == str(tmp_path / "m.last.npz")
    assert set(run["settings"]) == set(SETTINGS)                     # every setting, resolved
    assert run["settings"]["hidden-size"] == 24 and run["settings"]["lr"] == 20.0
    assert run["settings"]["epochs"] == 2 and run["settings"]["dropout"] == 0.0
    assert run["corpus"]["files"] == [{"path": str(small_corpus),
                                       "bytes": small_corpus.stat().st_size,
                                       "sha256": hashlib.sha256(small_corpus.read_bytes())
                                       .hexdigest()}]
    assert run["command"][:2] == ["rnnlm", "train"] and "--eval-every" in run["command"]
    assert run["machine"]["cores"] == os.cpu_count() and run["machine"]["numpy"]
    assert run["started"].endswith("Z") and run["ended"] >= run["started"]
    replayed = lines(run_cli("runs", "events", run["id"][:4], cwd=tmp_path, env=home).stdout)
    assert replayed == printed                                       # every step, epoch, done
    assert {e["run_id"] for e in printed} == {run["id"]}             # on every object
    assert any("valid_ppl" in e for e in printed if e["event"] == "step")


def test_plain_mode_names_the_run_and_no_log_records_nothing(tmp_path, home, small_corpus):
    proc = run_cli("train", small_corpus, *QUICK, "--out", tmp_path / "a.npz", cwd=tmp_path,
                   env=home)
    [run] = runs_json(tmp_path, home)
    assert f"rnnlm: run {run['id']}\n" in proc.stderr
    run_cli("train", small_corpus, *QUICK, "--out", tmp_path / "b.npz", "--no-log",
            cwd=tmp_path, env=home)
    run_cli("train", small_corpus, *QUICK, "--out", tmp_path / "c.npz", cwd=tmp_path,
            env={**home, "RNNLM_NO_LOG": "1"})
    assert [r["id"] for r in runs_json(tmp_path, home)] == [run["id"]]


def test_bad_input_gets_one_line_and_logs_nothing(tmp_path, home):
    proc = run_cli("train", tmp_path / "missing.txt", cwd=tmp_path, env=home, check=False)
    assert proc.returncode == 1 and len(proc.stderr.splitlines()) == 1
    proc = run_cli("train", tmp_path, "--cell", "tree", cwd=tmp_path, env=home, check=False)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1
    assert runs_json(tmp_path, home) == []


def test_compare_names_exactly_the_settings_that_differ(tmp_path, home, tiny_corpus):
    train(tiny_corpus, tmp_path, home, out="a.npz")
    train(tiny_corpus, tmp_path, home, "--cell", "gru", "--dropout", "0.2", out="b.npz")
    train(tiny_corpus, tmp_path, home, "--cell", "rnn", "--lr", "2", out="c.npz")
    c, b, a = runs_json(tmp_path, home)
    result = json.loads(run_cli("runs", "compare", a["id"], b["id"], "--json", cwd=tmp_path,
                                env=home).stdout)
    assert result == {"differ": {"cell": ["lstm", "gru"], "dropout": [0.0, 0.2]},
                      "metrics": [a["metrics"], b["metrics"]]}
    result = json.loads(run_cli("runs", "compare", a["id"], b["id"], "last", "--json",
                                cwd=tmp_path, env=home).stdout)
    assert result["differ"] == {"cell": ["lstm", "gru", "rnn"], "dropout": [0.0, 0.2, 0.0],
                                "lr": [20.0, 20.0, 2.0]}
    table = run_cli("runs", "compare", a["id"], b["id"], cwd=tmp_path, env=home).stdout
    assert "dropout" in table and "hidden-size" not in table


def test_listing_filters_and_ids(tmp_path, home, tiny_corpus):
    train(tiny_corpus, tmp_path, home, out="a.npz")
    other = tmp_path / "other.txt"
    other.write_text(tiny_corpus.read_text())
    train(other, tmp_path, home, "--cell", "gru", out="b.npz")
    newest, oldest = runs_json(tmp_path, home)
    assert newest["settings"]["cell"] == "gru"                           # newest first
    assert [r["id"] for r in runs_json(tmp_path, home, "--corpus", "OTHER")] == [newest["id"]]
    log = RunsLog(home["RNNLM_HOME"] / "runs.db")      # the filters, as the options pass them
    for other_field in ("sha256", "name", "bytes", newest["corpus"]["files"][0]["sha256"][:6]):
        assert log.runs(corpus=other_field) == []                         # path and name only
    assert [r["id"] for r in log.runs(limit=1)] == [newest["id"]]
    assert log.runs(kind="eval") == [] and len(log.runs(status="done", limit=0)) == 2
    assert [r["id"] for r in runs_json(tmp_path, home, "--kind", "train", "--status", "done",
                                       "--limit", "1")] == [newest["id"]]
    table = run_cli("runs", cwd=tmp_path, env=home).stdout
    assert newest["id"] in table and "gru 1x24" in table and "lstm 1x24" in table
    shown = json.loads(run_cli("runs", "show", "last", "--json", cwd=tmp_path, env=home).stdout)
    assert shown["id"] == newest["id"] and len(shown["epochs"]) == 1
    assert oldest["id"] in run_cli("runs", "show", oldest["id"][:5], cwd=tmp_path,
                                   env=home).stdout
    bad = run_cli("runs", "show", "zzzzzzzzz", cwd=tmp_path, env=home, check=False)
    assert bad.returncode == 1 and bad.stderr.startswith("rnnlm: error: no run 'zzzzzzzzz'")
    bad = run_cli("runs", "show", "", cwd=tmp_path, env=home, check=False)
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1
    bad = run_cli("runs", "--json", "show", "last", cwd=tmp_path, env=home, check=False)
    assert bad.returncode == 2 and "belong to the list" in bad.stderr       # not ignored
    bad = run_cli("runs", "--kind", "nap", cwd=tmp_path, env=home, check=False)
    assert bad.returncode == 2 and "--kind must be one of" in bad.stderr
    run_cli("runs", "delete", oldest["id"], cwd=tmp_path, env=home)
    assert [r["id"] for r in runs_json(tmp_path, home)] == [newest["id"]]
    assert (tmp_path / "a.npz").exists()                            # never a checkpoint


def test_an_ambiguous_prefix_is_refused(tmp_path, home):
    from rnnlm.runs import Recorder
    for run_id in ("abc11111", "abc22222"):
        Recorder("eval", run_id=run_id, path=home["RNNLM_HOME"] / "runs.db").start({})
    proc = run_cli("runs", "show", "abc", cwd=tmp_path, env=home, check=False)
    assert proc.returncode == 2 and "ambiguous" in proc.stderr
    assert json.loads(run_cli("runs", "show", "abc2", "--json", cwd=tmp_path,
                              env=home).stdout)["id"] == "abc22222"


def test_a_resumed_training_continues_its_run(tmp_path, home, tiny_corpus):
    first = lines(train(tiny_corpus, tmp_path, home).stdout)[-1]
    again = run_cli("train", tiny_corpus, "--resume", tmp_path / "m.last.npz", "--epochs", "2",
                    "--json", cwd=tmp_path, env=home)
    assert lines(again.stdout)[-1]["run_id"] == first["run_id"]
    [run] = runs_json(tmp_path, home)
    assert run["status"] == "done" and run["metrics"]["tokens"] == lines(again.stdout)[-1]["tokens"]
    assert run["settings"]["epochs"] == 2 and "--resume" in run["command"]   # this session's
    branch = run_cli("train", tiny_corpus, "--resume", tmp_path / "m.last.npz", "--epochs", "3",
                     "--out", tmp_path / "b.npz", "--json", cwd=tmp_path, env=home)
    assert lines(branch.stdout)[-1]["run_id"] != first["run_id"]       # another --out: a new run
    events = lines(run_cli("runs", "events", first["run_id"], cwd=tmp_path, env=home).stdout)
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [1, 2]
    # resumed once more, after the branch: the newest run again, and then a new one after it
    run_cli("train", tiny_corpus, "--resume", tmp_path / "m.last.npz", "--epochs", "3",
            cwd=tmp_path, env=home)
    assert runs_json(tmp_path, home, "show", "last")[0]["id"] == first["run_id"]
    assert [r["id"] for r in runs_json(tmp_path, home)] == \
        [first["run_id"], lines(branch.stdout)[-1]["run_id"]]
    newest = lines(train(tiny_corpus, tmp_path, home, out="c.npz").stdout)[-1]["run_id"]
    assert [r["id"] for r in runs_json(tmp_path, home)][:2] == [newest, first["run_id"]]


def test_interruption_and_divergence_are_recorded(tmp_path, home, small_corpus):
    proc = subprocess.Popen([sys.executable, "-m", "rnnlm", "train", str(small_corpus), *TINY,
                             "--epochs", "100", "--log-every", "1", "--json", "--out",
                             str(tmp_path / "i.npz")], cwd=tmp_path, env=cli_env(**home),
                            stdout=subprocess.PIPE, text=True)
    proc.stdout.readline()                                           # training now
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    train(small_corpus, tmp_path, home, "--optimizer", "adam", "--lr", "1e38", out="d.npz",
          check=False)                          # overflows after its first step, on any CPU
    diverged, interrupted = runs_json(tmp_path, home)
    assert interrupted["status"] == "interrupted" and interrupted["ended"]
    assert diverged["status"] == "diverged" and "diverged" in diverged["error"]


def test_eval_and_generate_record_their_results(tmp_path, home):
    from conftest import REPO
    model, test = REPO / "models/default.npz", REPO / "corpora/jenny/jenny.test.txt"
    proc = run_cli("eval", model, test, "--json", "--batch-size", "20", cwd=tmp_path, env=home)
    [printed] = lines(proc.stdout)
    samples = lines(run_cli("generate", "--seed", "Jenny has", "--num-samples", "2",
                            "--random-seed", "3", "--json", cwd=tmp_path, env=home).stdout)
    generated, evaluated = runs_json(tmp_path, home)
    assert printed["run_id"] == evaluated["id"] and evaluated["kind"] == "eval"
    assert evaluated["metrics"]["ppl"] == {str(test): printed["ppl"]}
    assert evaluated["settings"] == {"model": str(model), "batch-size": 20, "encoding": "utf-8"}
    assert evaluated["corpus"]["files"][0]["sha256"] == \
        hashlib.sha256(test.read_bytes()).hexdigest()
    assert lines(run_cli("runs", "events", evaluated["id"], cwd=tmp_path,
                         env=home).stdout) == [printed]
    assert {s["run_id"] for s in samples} == {generated["id"]}
    # texts and log-probabilities; the seed, the same in each, once, with the settings
    assert generated["results"]["samples"] == [{k: v for k, v in s.items() if k != "seed"}
                                               for s in samples]
    assert {s["seed"] for s in samples} == {generated["settings"]["seed"]} == {"Jenny has"}
    assert lines(run_cli("runs", "events", generated["id"], cwd=tmp_path,
                         env=home).stdout) == generated["results"]["samples"]
    shown = run_cli("runs", "show", generated["id"], cwd=tmp_path, env=home).stdout
    assert all(f"Jenny has|{s['text']}" in shown for s in samples)
    assert generated["settings"]["random-seed"] == 3
    plain = run_cli("generate", "--seed", "Jenny has", "--greedy", cwd=tmp_path, env=home)
    assert plain.stderr == f"rnnlm: run {runs_json(tmp_path, home)[0]['id']}\n"
    quiet = run_cli("eval", model, test, "--json", "--no-log", cwd=tmp_path, env=home)
    assert "run_id" not in json.loads(quiet.stdout)
    assert len(runs_json(tmp_path, home)) == 3


def test_a_long_seed_is_logged_once_however_many_samples(tmp_path, home):
    seed = "Jenny has a pen . " * 4000                           # 72 kB
    run_cli("generate", "--num-samples", "25", "--length", "2", "--random-seed", "0", cwd=tmp_path,
            env=home, input=seed)
    [run] = runs_json(tmp_path, home)
    assert run["settings"]["seed"] == seed.rstrip("\n") and len(run["results"]["samples"]) == 25
    logged = sum(f.stat().st_size for f in home["RNNLM_HOME"].iterdir())
    assert logged < 4 * len(seed)           # it held the seed 51 times: in each sample, twice
    shown = run_cli("runs", "show", "last", cwd=tmp_path, env={**home, "COLUMNS": "1000"}).stdout
    assert shown.count("…" + seed.rstrip("\n")[-60:] + "|") == 25
    assert "… (72,000 characters; --json has them all)" in shown and len(shown) < 10_000


def test_names_that_are_not_utf8_are_logged_with_their_bytes_escaped(tmp_path, tiny_corpus):
    """Linux names are bytes: Python gives the ones that are not UTF-8 as surrogate escapes
    ('\\udce9'), which SQLite refuses; the log keeps them as '\\xe9'."""
    home = {"RNNLM_HOME": tmp_path / "h\udce9"}
    cwd = tmp_path / "c\udce9"
    cwd.mkdir()
    corpus = cwd / "d\udce9.txt"
    corpus.write_bytes(tiny_corpus.read_bytes())
    proc = train(corpus, cwd, home, out="m\udce9.npz")
    assert proc.stderr == ""                                          # no warning: logged
    run_cli("eval", cwd / "m\udce9.npz", corpus, "--json", cwd=cwd, env=home)
    evaluated, trained = runs_json(cwd, home)
    assert trained["cwd"] == str(tmp_path / "c\\xe9") and trained["out"].endswith("m\\xe9.npz")
    assert trained["corpus"]["name"] == "d\\xe9.txt" and trained["command"][2].endswith("xe9.txt")
    assert list(evaluated["metrics"]["ppl"]) == [str(tmp_path / "c\\xe9" / "d\\xe9.txt")]
    assert lines(run_cli("runs", "events", evaluated["id"], cwd=cwd, env=home).stdout)
    for text in ("\udce9", "d\\xe9"):                              # as given, or as shown
        assert len(runs_json(cwd, home, "--corpus", text)) == 2
    assert runs_json(cwd, home, "--corpus", "\udcff") == []
    # rnnlm models, from anywhere, finds the model by the path the log keeps
    listed = lines(run_cli("models", "--json", cwd=tmp_path, env=home).stdout)
    assert str(cwd / "m\udce9.npz") in [m["path"] for m in listed]


# --- a log that never breaks a run ---------------------------------------------------------------

def _read_only(paths):
    """Make paths read-only even for root (chattr +i; chmod binds only other users); ->
    the undo, or None where this machine cannot."""
    if os.geteuid() != 0:
        for p in paths:
            p.chmod(0o555 if p.is_dir() else 0o444)
        return lambda: [p.chmod(0o755 if p.is_dir() else 0o644) for p in paths]
    if subprocess.run(["chattr", "+i", *map(str, paths)], capture_output=True).returncode:
        return None
    return lambda: subprocess.run(["chattr", "-i", *map(str, paths)], check=True)


def _break(how, h):
    """Break the log in home directory h; -> the undo (or None)."""
    db = h / "runs.db"
    if how == "corrupt":
        db.write_bytes(b"this is not a database " * 100)
    elif how == "newer schema":
        conn = sqlite3.connect(db)
        conn.execute("PRAGMA user_version = 99")
        conn.close()
    elif how == "full disk":
        db.symlink_to("/dev/full")                      # every write: ENOSPC
    elif how == "read-only":
        from rnnlm.runs import connect
        connect(db).close()                             # a good log, then no writes allowed
        undo = _read_only([*h.iterdir(), h])
        if undo is None:
            pytest.skip("no way to make a file read-only for root here (chattr failed)")
        return undo
    elif how == "locked":
        from rnnlm.runs import connect
        holder = connect(db)
        holder.execute("BEGIN EXCLUSIVE")               # another process holds the write lock
        return holder.close
    return None


@pytest.mark.parametrize("how", ["corrupt", "newer schema", "full disk", "read-only", "locked"])
def test_a_broken_log_is_one_warning_and_the_run_goes_on(tmp_path, small_corpus, how):
    h = tmp_path / "home"
    h.mkdir()
    reference = train(small_corpus, tmp_path, {"RNNLM_HOME": h}, "--no-log", out="ref.npz")
    undo = _break(how, h)
    # (read only these: closing any descriptor of a file drops the process's locks on it)
    kept = {p.name: p.read_bytes() for p in h.iterdir()} if how in ("corrupt", "newer schema") \
        else {}
    try:
        proc = train(small_corpus, tmp_path, {"RNNLM_HOME": h})
    finally:
        if undo is not None:
            undo()
    assert proc.returncode == 0, proc.stderr
    [warning] = proc.stderr.splitlines()
    assert warning.startswith("rnnlm: warning: runs log") and "not logged" in warning
    got, want = lines(proc.stdout), lines(reference.stdout)
    varying = ("elapsed_s", "tokens_per_s", "out", "last", "run_id")    # clocks, paths, ids
    assert [{k: v for k, v in e.items() if k not in varying} for e in got] == \
        [{k: v for k, v in e.items() if k not in varying} for e in want]
    assert (tmp_path / "m.npz").exists()
    assert {p.name: p.read_bytes() for p in h.iterdir() if p.name in kept} == kept  # untouched


def test_a_damaged_run_is_named_left_out_of_the_list_and_can_be_deleted(tmp_path, home):
    for length in ("3", "4", "5", "6"):
        run_cli("generate", "--seed", "Jenny has", "--length", length, "--json", cwd=tmp_path,
                env=home)
    not_json, wrong_type, bad_utf8, kept = [r["id"] for r in runs_json(tmp_path, home)]
    conn = sqlite3.connect(home["RNNLM_HOME"] / "runs.db")
    with conn:
        conn.execute("UPDATE runs SET results = '{' WHERE id = ?", (not_json,))
        conn.execute("UPDATE runs SET metrics = '[1,2]' WHERE id = ?", (wrong_type,))
        conn.execute("UPDATE runs SET cwd = CAST(X'64e9' AS TEXT) WHERE id = ?", (bad_utf8,))
    conn.close()
    for args in ([], ["--json"]):
        proc = run_cli("runs", *args, cwd=tmp_path, env=home)
        first, second = proc.stderr.splitlines()                 # one warning per damaged run
        assert f"rnnlm runs delete {not_json}" in first and "left out" in first
        assert f"rnnlm runs delete {wrong_type}" in second and "left out" in second
        assert bad_utf8 in proc.stdout and kept in proc.stdout     # the rest still listed
    assert json.loads(run_cli("runs", "show", bad_utf8, "--json", cwd=tmp_path,
                              env=home).stdout)["cwd"] == "d\\xe9"
    for args in (["show", wrong_type], ["compare", kept, wrong_type], ["show", not_json]):
        proc = run_cli("runs", *args, cwd=tmp_path, env=home, check=False)
        assert proc.returncode == 1 and len(proc.stderr.splitlines()) == 1
        assert proc.stderr.startswith("rnnlm: error: runs log") and "is damaged" in proc.stderr
    run_cli("runs", "delete", not_json, wrong_type, cwd=tmp_path, env=home)
    proc = run_cli("runs", "--json", cwd=tmp_path, env=home)
    assert [r["id"] for r in lines(proc.stdout)] == [bad_utf8, kept] and proc.stderr == ""


def test_a_run_of_another_host_is_deleted_with_force(tmp_path, home):
    from rnnlm.runs import Recorder
    for run_id in ("here1111", "away2222"):     # this (live) process's runs, left running
        recorder = Recorder("eval", run_id=run_id, path=home["RNNLM_HOME"] / "runs.db")
        recorder.start({})
        recorder.close()
    conn = sqlite3.connect(home["RNNLM_HOME"] / "runs.db")
    with conn:
        conn.execute("UPDATE runs SET host = 'elsewhere' WHERE id = 'away2222'")
    conn.close()
    proc = run_cli("runs", "delete", "away", cwd=tmp_path, env=home, check=False)
    assert proc.returncode == 2
    assert proc.stderr == "rnnlm: error: run away2222 is running on host 'elsewhere', which " \
        "rnnlm cannot check from here: if it has stopped, delete it with --force\n"
    proc = run_cli("runs", "delete", "here", cwd=tmp_path, env=home, check=False)
    assert proc.returncode == 1 and "still running: stop it first" in proc.stderr
    assert len(runs_json(tmp_path, home, "--status", "running")) == 2
    run_cli("runs", "delete", "--force", "away", "here", cwd=tmp_path, env=home)
    assert runs_json(tmp_path, home) == []


def test_eight_trainings_at_once_all_appear_with_all_their_epochs(tmp_path, home, tiny_corpus):
    from rnnlm.runs import RunsLog
    procs = [subprocess.Popen([sys.executable, "-m", "rnnlm", "train", str(tiny_corpus), *TINY,
                               "--epochs", "2", "--log-every", "5", "--json", "--out",
                               str(tmp_path / f"m{i}.npz")], cwd=tmp_path,
                              env=cli_env(**home), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(8)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    assert all(err == "" for _, err in outputs)                       # no warning: all logged
    found = runs_json(tmp_path, home, "--limit", "0")
    assert sorted(r["id"] for r in found) == sorted(lines(out)[-1]["run_id"] for out, _ in outputs)
    log = RunsLog(home["RNNLM_HOME"] / "runs.db")          # what `runs events` reads
    for run, (out, _) in zip(sorted(found, key=lambda r: r["id"]),
                             sorted(outputs, key=lambda o: lines(o[0])[-1]["run_id"])):
        assert run["status"] == "done"
        events = log.events(run["id"])
        assert events == lines(out)
        assert [e["epoch"] for e in events if e["event"] == "epoch"] == [1, 2]
    log.close()


def test_a_training_killed_with_sigkill_shows_as_killed(tmp_path, home, small_corpus):
    proc = subprocess.Popen([sys.executable, "-m", "rnnlm", "train", str(small_corpus), *TINY,
                             "--epochs", "100", "--json", "--out", str(tmp_path / "m.npz")],
                            cwd=tmp_path, env=cli_env(**home), stdout=subprocess.PIPE, text=True)
    try:
        while json.loads(proc.stdout.readline())["event"] != "epoch":
            pass
        [run] = runs_json(tmp_path, home)
        assert run["status"] == "running"
    finally:
        proc.kill()
        proc.communicate(timeout=60)
    [run] = runs_json(tmp_path, home, "--status", "killed")
    assert run["metrics"]["valid_ppl"] > 1
    assert run["id"] in run_cli("runs", "show", run["id"], cwd=tmp_path, env=home).stdout
    assert lines(run_cli("runs", "events", run["id"], cwd=tmp_path, env=home).stdout)
    conn = sqlite3.connect(home["RNNLM_HOME"] / "runs.db")
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()


def test_an_empty_log_file_reads_as_no_runs_and_is_set_up_by_a_writer(tmp_path, home):
    home["RNNLM_HOME"].mkdir()
    (home["RNNLM_HOME"] / "runs.db").write_bytes(b"")                   # schema 0: empty
    assert runs_json(tmp_path, home) == []
    from rnnlm.runs import SCHEMA, RunsLog, connect
    connect(home["RNNLM_HOME"] / "runs.db").close()
    conn = sqlite3.connect(home["RNNLM_HOME"] / "runs.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    assert RunsLog(home["RNNLM_HOME"] / "runs.db").runs() == []


def test_a_log_failing_in_the_middle_of_a_run_is_one_warning(tmp_path, home, small_corpus):
    proc = subprocess.Popen([sys.executable, "-m", "rnnlm", "train", str(small_corpus), *TINY,
                             "--epochs", "3", "--log-every", "5", "--json", "--out",
                             str(tmp_path / "m.npz")], cwd=tmp_path, env=cli_env(**home),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = json.loads(proc.stdout.readline())
    conn = sqlite3.connect(home["RNNLM_HOME"] / "runs.db")             # the row goes: every
    conn.execute("DELETE FROM runs WHERE id = ?", (first["run_id"],))  # later write fails
    conn.commit()
    conn.close()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0
    [warning] = err.splitlines()
    assert warning.startswith("rnnlm: warning: runs log") and "not logged" in warning
    assert [e["epoch"] for e in lines(out) if e["event"] == "epoch"] == [1, 2, 3]


def test_show_and_plot_take_any_kind_of_run(tmp_path, home, tiny_corpus):
    run_cli("train", "-", *QUICK, "--out", tmp_path / "s.npz", cwd=tmp_path, env=home,
            input=tiny_corpus.read_text())
    shown = run_cli("runs", "show", "last", cwd=tmp_path, env=home).stdout
    assert "(read once, not fingerprinted)" in shown
    run_cli("eval", tmp_path / "s.npz", tiny_corpus, cwd=tmp_path, env=home)
    assert "ppl" in run_cli("runs", "show", "last", cwd=tmp_path, env=home).stdout
    alone = run_cli("runs", "plot", "last", cwd=tmp_path, env=home, check=False)
    assert alone.returncode == 2 and len(alone.stderr.splitlines()) == 1
    both = run_cli("runs", "plot", "last", runs_json(tmp_path, home)[1]["id"], cwd=tmp_path,
                   env=home)
    assert both.stderr.startswith("rnnlm: warning: run ") and "left out" in both.stderr
    assert "lstm 1x24" in both.stdout


def test_a_huge_perplexity_is_listed_short_and_plotted_at_a_ceiling(tmp_path, home, tiny_corpus):
    train(tiny_corpus, tmp_path, home, "--epochs", "2", "--lr", "1e6", "--clip", "0")
    [run] = runs_json(tmp_path, home)
    assert run["status"] == "done" and run["metrics"]["valid_ppl"] > 1e300   # finite, huge
    table = run_cli("runs", cwd=tmp_path, env=home).stdout
    assert " 1.01e+304 " in table and max(map(len, table.splitlines())) < 120
    assert "1.01e+304" in run_cli("runs", "show", "last", cwd=tmp_path, env=home).stdout
    chart = run_cli("runs", "plot", "last", cwd=tmp_path, env=home).stdout
    assert "(values past 1e+12 drawn at it)" in chart and run["id"] in chart


def test_plot_against_epochs_of_a_run_that_ended_none_is_a_data_error(tmp_path, home,
                                                                       small_corpus):
    proc = subprocess.Popen([sys.executable, "-m", "rnnlm", "train", str(small_corpus), *TINY,
                             "--eval-every", "3", "--log-every", "1", "--json", "--out",
                             str(tmp_path / "m.npz")], cwd=tmp_path, env=cli_env(**home),
                            stdout=subprocess.PIPE, text=True)
    while "valid_ppl" not in json.loads(proc.stdout.readline()):      # validated once
        pass
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    [run] = runs_json(tmp_path, home)
    assert run["status"] == "interrupted"
    proc = run_cli("runs", "plot", "last", "--x", "epoch", cwd=tmp_path, env=home, check=False)
    assert proc.returncode == 1
    assert proc.stderr == f"rnnlm: error: run {run['id']} has completed no epoch to place its " \
        f"valid_ppl on: plot it against tokens (the default --x) or time\n"
    assert run["id"] in run_cli("runs", "plot", "last", cwd=tmp_path, env=home).stdout


# --- plots ---------------------------------------------------------------------------------------

def test_plot_draws_every_run_in_one_chart(tmp_path, home, tiny_corpus):
    train(tiny_corpus, tmp_path, home, "--epochs", "3", out="a.npz")
    train(tiny_corpus, tmp_path, home, "--epochs", "3", "--cell", "gru", out="b.npz")
    b, a = runs_json(tmp_path, home)
    chart = run_cli("runs", "plot", a["id"], b["id"], cwd=tmp_path, env=home).stdout
    assert f"{a['id']} lstm 1x24" in chart and f"{b['id']} gru 1x24" in chart
    assert "validation perplexity" in chart and "\x1b[" not in chart  # a pipe gets no colour
    chart = run_cli("runs", "plot", "last", "--metric", "lr", "--x", "epoch", cwd=tmp_path,
                    env=home).stdout
    assert "learning rate" in chart and "epoch" in chart
    bad = run_cli("runs", "plot", "last", "--metric", "loss", cwd=tmp_path, env=home,
                  check=False)
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1


@pytest.mark.parametrize("log_y", [True, False])
@pytest.mark.parametrize("height", [12, 20, 30])
def test_the_legend_never_hides_a_point(log_y, height):
    # plotext draws the legend over the top-left corner, where a learning curve starts: a run
    # validated once, at the fewest tokens and the highest perplexity, stood right there
    from rnnlm.plot import Chart, terminal_chart

    series = [("first", [40_000.0], [90.0]), ("second", [400_000.0], [11.5]),
              ("third", [40_000.0, 100_000.0, 400_000.0], [50.0, 30.0, 12.0])]
    chart = terminal_chart(series, Chart("validation perplexity", "training tokens", log_y),
                           width=80, height=height, colour=False)
    rows = chart.splitlines()
    entries = [f"{marker} {label}" for marker in ("xx", "••") for label, _, _ in series]
    legend = [i for i, row in enumerate(rows) if any(entry in row for entry in entries)]
    assert len(legend) == 3
    # the lone points: their two markers each, in the legend, and one more each in the plot
    assert chart.count("x") == 2 * 2 + 2
    # the third run's first point, leftmost and highest of its line, below the legend
    assert any(row.split("┤" if "┤" in row else "│", 1)[-1].startswith("•")
               for row in rows[max(legend) + 1:])


def test_plot_writes_a_picture_or_names_the_extra(tmp_path, home, tiny_corpus):
    train(tiny_corpus, tmp_path, home, "--epochs", "2")
    no_matplotlib = tmp_path / "blocked"
    (no_matplotlib / "matplotlib").mkdir(parents=True)
    (no_matplotlib / "matplotlib" / "__init__.py").write_text("raise ImportError('blocked')\n")
    env = {**home, "PYTHONPATH": f"{no_matplotlib}{os.pathsep}{cli_env()['PYTHONPATH']}"}
    proc = run_cli("runs", "plot", "last", "--out", tmp_path / "c.png", cwd=tmp_path, env=env,
                   check=False)
    assert proc.returncode == 1
    assert proc.stderr == "rnnlm: error: writing a picture needs matplotlib: " \
                          "pip install 'rnnlm[plot]'\n"
    pytest.importorskip("matplotlib")
    run_cli("runs", "plot", "last", "--out", tmp_path / "c.svg", cwd=tmp_path, env=home)
    assert (tmp_path / "c.svg").read_text().lstrip().startswith("<?xml")
    (tmp_path / "c.svg").write_text("mine")                     # replaced only with --force
    again = run_cli("runs", "plot", "last", "--out", tmp_path / "c.svg", cwd=tmp_path, env=home,
                    check=False)
    assert again.returncode == 1 and (tmp_path / "c.svg").read_text() == "mine"
    run_cli("runs", "plot", "last", "--out", tmp_path / "c.svg", "--force", cwd=tmp_path,
            env=home)
    assert (tmp_path / "c.svg").read_text().lstrip().startswith("<?xml")
    run_cli("runs", "plot", "last", "--out", tmp_path / "c.png", cwd=tmp_path, env=home)
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_read_only_log_can_still_be_read(tmp_path, small_corpus):
    """A log the user may not write (made read-only, or another user's) lists and shows its
    runs; deleting from it is one line, exit 1; a training beside it warns once and goes on."""
    h = tmp_path / "home"
    train(small_corpus, tmp_path, {"RNNLM_HOME": h})
    [run] = runs_json(tmp_path, {"RNNLM_HOME": h})
    undo = _read_only([*h.iterdir(), h])
    if undo is None:
        pytest.skip("no way to make a file read-only for root here (chattr failed)")
    try:
        assert runs_json(tmp_path, {"RNNLM_HOME": h}) == [run]
        shown = run_cli("runs", "show", "last", "--json", cwd=tmp_path, env={"RNNLM_HOME": h})
        assert json.loads(shown.stdout)["id"] == run["id"]
        proc = run_cli("runs", "delete", run["id"], cwd=tmp_path, env={"RNNLM_HOME": h},
                       check=False)
        assert proc.returncode == 1 and proc.stderr.startswith("rnnlm: error: runs log")
        assert len(proc.stderr.splitlines()) == 1
        proc = train(small_corpus, tmp_path, {"RNNLM_HOME": h}, out="n.npz")
        [warning] = proc.stderr.splitlines()
        assert "not logged" in warning and (tmp_path / "n.npz").exists()
    finally:
        undo()
    assert runs_json(tmp_path, {"RNNLM_HOME": h}) == [run]


def test_a_home_that_is_a_file_is_named(tmp_path):
    home = tmp_path / "home"
    home.write_text("not a directory\n")
    proc = run_cli("runs", cwd=tmp_path, env={"RNNLM_HOME": home}, check=False)
    assert proc.returncode == 1
    assert proc.stderr == f"rnnlm: error: runs log '{home}/runs.db': '{home}' is a file, not " \
        f"a directory; point RNNLM_HOME at a directory\n"
    proc = run_cli("generate", "--seed", "Jenny has", "--length", "3", cwd=tmp_path,
                   env={"RNNLM_HOME": home})
    assert proc.stdout and "is a file, not a directory" in proc.stderr
    assert home.read_text() == "not a directory\n"


def test_the_list_fits_an_80_column_terminal_the_corpus_and_model_giving_way(tmp_path, home):
    model = tmp_path / "a-rather-long-model-name-for-the-runs-table.npz"
    shutil.copy(REPO / "models/default.npz", model)
    text = tmp_path / "a-rather-long-corpus-name-as-well.txt"
    shutil.copy(REPO / "corpora/jenny/jenny.valid.txt", text)
    for _ in range(2):
        run_cli("eval", model, text, cwd=tmp_path, env=home)
    ids = [r["id"] for r in runs_json(tmp_path, home)]
    lines = run_cli("runs", cwd=tmp_path, env={**home, "COLUMNS": 80}).stdout.splitlines()
    assert max(map(len, lines)) == 80
    assert [line.split()[0] for line in lines[2:]] == ids               # every id whole
    assert all(line.endswith("s") for line in lines[2:])               # the time column too
    wide = run_cli("runs", cwd=tmp_path, env={**home, "COLUMNS": None}).stdout  # no width: whole
    assert model.name in wide and text.name in wide
