"""Shared fixtures: a small real corpus in tmp_path and a way to run the real CLI."""

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

# The runs log of every command run by a test goes to a temporary home, never the user's:
# set before any test runs, inherited by every subprocess. A test needing a log of its own
# sets RNNLM_HOME again (monkeypatch / env=).
os.environ["RNNLM_HOME"] = tempfile.mkdtemp(prefix="rnnlm-test-home-")
os.environ.pop("RNNLM_NO_LOG", None)
atexit.register(shutil.rmtree, os.environ["RNNLM_HOME"], ignore_errors=True)


def cli_env(**extra):
    """The environment of a CLI run: this checkout first on the path, a fixed terminal width,
    and ``extra`` variables (a value None removes the variable)."""
    env = dict(os.environ, PYTHONPATH=str(REPO), COLUMNS="120")
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = str(value)
    return env


def run_cli(*args, cwd, check=True, timeout=300, env=None, **kw):
    """Run `python -m rnnlm ARGS` in a subprocess, as a user would; returns CompletedProcess.
    ``env``: variables to add (see cli_env)."""
    env = cli_env(**(env or {}))
    proc = subprocess.run([sys.executable, "-m", "rnnlm", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"rnnlm {' '.join(map(str, args))} exited {proc.returncode}:\n"
                             f"{proc.stderr}")
    return proc


@pytest.fixture
def small_corpus(tmp_path):
    """The first 1,500 sentences of the bundled corpus, as one file (split 95/5 by lines)."""
    lines = (REPO / "corpora/jenny/jenny.train.txt").read_text().splitlines()[:1500]
    path = tmp_path / "small.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


# Tiny settings that still learn: a run takes about a second an epoch.
TINY = ["--hidden-size", "24", "--embed-size", "24", "--layers", "1", "--bptt", "10",
        "--batch-size", "8", "--log-every", "20"]
