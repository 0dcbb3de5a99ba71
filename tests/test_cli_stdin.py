"""stdin as a source of text, through the real CLI: `generate` without --seed, and "-" as the
file of `eval`, `inspect-gates` and `train`."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

from conftest import REPO, TINY, cli_env, run_cli
from rnnlm import load

TEST = REPO / "corpora/jenny/jenny.test.txt"
JENNY = "Jenny , who met Peter near the old mill , has her pen ."


def one_line_error(proc, code):
    assert proc.returncode == code
    assert proc.stderr.startswith("rnnlm: error:") and proc.stderr.count("\n") == 1


def test_a_piped_seed_generates_what_the_same_seed_option_does(tmp_path):
    piped = run_cli("generate", "--greedy", cwd=tmp_path, input="Jenny has\n").stdout
    given = run_cli("generate", "--seed", "Jenny has", "--greedy", cwd=tmp_path,
                    stdin=subprocess.DEVNULL).stdout
    assert piped == given and piped.startswith("Jenny has ")
    sample = json.loads(run_cli("generate", "--greedy", "--json", cwd=tmp_path,
                                input="Jenny has\n").stdout)
    assert sample["seed"] == "Jenny has"          # one trailing newline removed, no more


def test_a_byte_order_mark_and_a_crlf_line_end_are_not_part_of_a_piped_seed(tmp_path):
    # as a corpus file is read: the mark is not text; "\r\n" is the one trailing line end
    given = run_cli("generate", "--seed", "Jenny has", "--greedy", "--json", "--no-log",
                    cwd=tmp_path, stdin=subprocess.DEVNULL).stdout
    proc = subprocess.run([sys.executable, "-m", "rnnlm", "generate", "--greedy", "--json",
                           "--no-log"],
                          input=b"\xef\xbb\xbfJenny has\r\n", capture_output=True,
                          cwd=tmp_path, env=cli_env())
    assert proc.returncode == 0 and proc.stderr == b"" and proc.stdout.decode() == given
    assert json.loads(given)["seed"] == "Jenny has"
    proc = subprocess.run([sys.executable, "-m", "rnnlm", "inspect-gates", "-", "--json"],
                          input=("\ufeff" + JENNY + "\r\n").encode(), capture_output=True,
                          cwd=tmp_path, env=cli_env())
    assert proc.returncode == 0 and json.loads(proc.stdout)["tokens"] == JENNY.split()


def test_a_seed_that_ends_its_line_is_continued_on_the_next(tmp_path):
    # its <eos> ended the sentence: the printed text starts a new line there, as the model did
    ended = run_cli("generate", "--seed", "Jenny has a pen .\n", "--greedy", "--no-log",
                    cwd=tmp_path, stdin=subprocess.DEVNULL).stdout
    first, rest = ended.split("\n", 1)
    assert first == "Jenny has a pen ." and rest.strip()
    two = run_cli("generate", "--seed", "Jenny has a pen .\nTom", "--greedy", "--no-log",
                  cwd=tmp_path, stdin=subprocess.DEVNULL).stdout
    assert two.startswith("Jenny has a pen .\nTom ")


def test_an_empty_stdin_means_no_seed(tmp_path):
    empty = run_cli("generate", "--greedy", cwd=tmp_path, input="").stdout
    no_seed = run_cli("generate", "--seed", "", "--greedy", cwd=tmp_path,
                      stdin=subprocess.DEVNULL).stdout
    assert empty == no_seed and len(empty.split()) > 2


def test_a_given_seed_leaves_stdin_to_the_while_read_loop(tmp_path):
    # Were stdin read despite --seed, the first generate would eat "Tom has" and the loop end.
    loop = f'while read -r s; do "{sys.executable}" -m rnnlm generate --seed "$s" --greedy; done'
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(["sh", "-c", loop], input="Jenny has\nTom has\n", cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0 and len(lines) == 2
    assert lines[0].startswith("Jenny has ") and lines[1].startswith("Tom has ")


def test_eval_of_stdin_gives_the_perplexity_of_the_same_file(tmp_path):
    model, text = REPO / "models/default.npz", tmp_path / "test.txt"
    text.write_text("".join(TEST.read_text().splitlines(keepends=True)[:300]))
    with text.open() as f:
        piped = json.loads(run_cli("eval", model, "-", "--json", cwd=tmp_path, stdin=f).stdout)
    named = json.loads(run_cli("eval", model, text, "--json", cwd=tmp_path).stdout)
    assert piped["file"] == "-" and named["file"] == str(text)
    assert piped["tokens"] == named["tokens"] and piped["ppl"] == named["ppl"]


def test_stdin_can_be_named_once_per_eval(tmp_path):
    proc = run_cli("eval", REPO / "models/default.npz", "-", "-", cwd=tmp_path, check=False,
                   input="Jenny has her pen .\n")
    one_line_error(proc, 2)
    assert "once" in proc.stderr


def test_an_empty_stdin_is_refused_as_an_empty_file_is(tmp_path):
    (tmp_path / "empty.txt").write_text("")
    model = REPO / "models/default.npz"
    piped = run_cli("eval", model, "-", cwd=tmp_path, check=False, input="")
    named = run_cli("eval", model, "empty.txt", cwd=tmp_path, check=False)
    one_line_error(piped, 1)
    assert piped.stderr == named.stderr.replace("empty.txt", "-")
    trained = run_cli("train", "-", *TINY, cwd=tmp_path, check=False, input="")
    one_line_error(trained, 1)
    assert trained.stderr == piped.stderr
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def test_inspect_gates_reads_its_text_from_stdin(tmp_path):
    piped = run_cli("inspect-gates", "-", "--json", cwd=tmp_path, input=JENNY + "\n").stdout
    given = run_cli("inspect-gates", JENNY, "--json", cwd=tmp_path,
                    stdin=subprocess.DEVNULL).stdout
    assert piped == given and json.loads(piped)["tokens"] == JENNY.split()


def test_a_binary_or_non_utf8_stdin_is_refused_as_such_a_file_is(tmp_path):
    for args in (["generate"], ["inspect-gates", "-"]):
        for data, words in ((b"caf\xe9 ok\n", "offset 3"), (b"ab\x00cd", "binary")):
            proc = subprocess.run([sys.executable, "-m", "rnnlm", *args], input=data,
                                  capture_output=True, cwd=tmp_path, env=cli_env())
            err = proc.stderr.decode()
            assert proc.returncode == 1 and proc.stdout == b"", err
            assert err.startswith("rnnlm: error: stdin") and words in err and err.count("\n") == 1


def test_train_on_stdin_names_the_corpus_stdin_and_validates_on_its_tail(tmp_path, small_corpus):
    proc = run_cli("train", "-", *TINY, "--epochs", "1", cwd=tmp_path,
                   input=small_corpus.read_text())
    out = tmp_path / "models/stdin-lstm.npz"
    said = proc.stdout + proc.stderr            # the human view, wherever it goes
    assert out.exists() and "models/stdin-lstm.npz" in said
    assert "last 5% of lines of stdin (75 of 1,500 lines)" in said
    saved = load(out).meta["corpus"]
    assert saved["name"] == "stdin"
    assert saved["sha256"] == hashlib.sha256(small_corpus.read_bytes()).hexdigest()


def test_ctrl_c_while_stdin_is_spooled_removes_the_temporary_file(tmp_path):
    spool_dir = tmp_path / "tmp"
    spool_dir.mkdir()
    env = dict(os.environ, PYTHONPATH=str(REPO), TMPDIR=str(spool_dir))
    proc = subprocess.Popen([sys.executable, "-m", "rnnlm", "train", "-"], cwd=tmp_path, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        proc.stdin.write(b"the cat sat .\n" * 1000)
        proc.stdin.flush()                       # stdin stays open: still spooling
        deadline = time.monotonic() + 60
        while not list(spool_dir.glob("rnnlm-stdin-*")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(spool_dir.glob("rnnlm-stdin-*")), "stdin was never spooled"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert list(spool_dir.iterdir()) == []
