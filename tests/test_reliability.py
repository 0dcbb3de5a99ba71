"""Bad input through the real CLI: one line on stderr, the right exit code, nothing written.

Exit 2 for a bad option value or combination, 1 for bad files, data, checkpoints or
resources. Each case runs in an empty working directory, which must stay empty.
"""

import json
import os
import zipfile

import numpy as np
import pytest

import rnnlm
from conftest import REPO, run_cli


class _CreatesAFile:
    """Unpickling this would create the canary file: a checkpoint must never be unpickled."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def _rewrite(src, dst, change):
    """Copy checkpoint src to dst with its members changed by change(dict of arrays)."""
    with np.load(src, allow_pickle=False) as f:
        members = {k: f[k] for k in f.files}
    change(members)
    with open(dst, "wb") as out:
        np.savez(out, **members)


def _future_version(members):
    meta = json.loads(str(members["meta"]))
    meta["version"] = 99
    members["meta"] = np.array(json.dumps(meta))


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    d = tmp_path_factory.mktemp("assets")
    lines = (REPO / "corpora/jenny/jenny.train.txt").read_text().splitlines()[:300]
    (d / "good.txt").write_text("\n".join(lines) + "\n")
    (d / "other.txt").write_text("\n".join(reversed(lines)) + "\n")
    (d / "first.txt").write_text("\n".join(lines[:3]) + "\n")        # training text: no <unk>
    (d / "empty.txt").write_bytes(b"")
    (d / "blank.txt").write_text("   \n\t\n\n")
    (d / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (d / "nul.txt").write_bytes(b"a\x00b c\n")          # valid UTF-8, NUL and all
    (d / "latin1.txt").write_bytes("the caf\u00e9 is open\n".encode("latin-1"))
    (d / "one.txt").write_text("a")
    (d / "notrain").mkdir()
    (d / "bom.toml").write_bytes(b"\xff\xfeembed-size = 8\n")        # UTF-16, not TOML's UTF-8
    (d / "cfg.toml").write_text("epochs = 1\n")
    (d / "cc.last.npz").write_text("epochs = 1\n")          # a config named like a state
    (d / "chart.svg").write_text("<svg/>")
    (d / "notrain" / "notes.txt").write_text("no corpus here\n")
    rnnlm.train(d / "good.txt", out=d / "good.npz", progress=False, num_layers=1,
                embed_size=8, hidden_size=8, epochs=1, batch_size=4, bptt=5)
    plain = rnnlm.load(d / "good.npz")
    rnnlm.save(d / "plain.npz", plain.model, plain.vocab)        # no training state in it
    good = (d / "good.npz").read_bytes()
    (d / "orphan.last.npz").write_bytes((d / "good.last.npz").read_bytes())   # interrupted early
    rnnlm.train(d / "good.txt", out=d / "timed.npz", progress=False, num_layers=1,
                embed_size=8, hidden_size=8, max_time=0.001, batch_size=4, bptt=5)
    rnnlm.export_torch(d / "good.npz", d / "good.safetensors")
    (d / "vocab.txt").write_text("\n".join(rnnlm.load(d / "good.npz").vocab.tokens) + "\n")
    (d / "dir.svg").mkdir()
    (d / "truncated.npz").write_bytes(good[: len(good) // 2])
    (d / "random.npz").write_bytes(np.random.default_rng(0).bytes(4096))
    np.savez(d / "foreign.npz", weights=np.zeros(3))
    with zipfile.ZipFile(d / "text.npz", "w") as z:
        z.writestr("readme.txt", "not a checkpoint")
    _rewrite(d / "good.npz", d / "future.npz", _future_version)
    _rewrite(d / "good.npz", d / "shape.npz",
             lambda m: m.__setitem__("param/lstm0.Wx", m["param/lstm0.Wx"].reshape(32, 8)))
    huge = rnnlm.load(d / "good.npz")
    huge.model.params["lstm0.b"][:] = 50            # every gate open: h near 1 at each unit
    for name in ("out.W", "out.b"):                 # finite weights, logits beyond float32
        huge.model.params[name][:] = 3e38
    rnnlm.save(d / "huge.npz", huge.model, huge.vocab)
    canary = d / "canary"
    evil = np.empty(1, dtype=object)
    evil[0] = _CreatesAFile(canary)
    _rewrite(d / "good.npz", d / "pickled.npz", lambda m: m.__setitem__("param/out.b", evil))
    return d


# (id, arguments with {a} for the assets directory, exit code, words the message must hold)
CASES = [
    ("missing file", "train {a}/nope.txt", 1, ["nope.txt", "does not exist"]),
    ("no training file", "train {a}/notrain", 1, ["notrain", "*train*.txt"]),
    ("empty file", "train {a}/empty.txt", 1, ["empty.txt", "empty"]),
    ("whitespace only", "train {a}/blank.txt", 1, ["blank.txt", "whitespace"]),
    ("binary file", "train {a}/binary.txt", 1, ["binary.txt", "binary", "offset 8"]),
    ("not utf-8", "train {a}/latin1.txt", 1, ["latin1.txt", "offset 7", "--encoding"]),
    ("too short", "train {a}/one.txt --level char", 1, ["one.txt", "at least 2"]),
    ("unknown encoding", "train {a}/good.txt --encoding klingon", 2, ["--encoding", "klingon"]),
    ("zero hidden size", "train {a}/good.txt --hidden-size 0", 2, ["--hidden-size"]),
    ("negative embed size", "train {a}/good.txt --embed-size -4", 2, ["--embed-size"]),
    ("zero layers", "train {a}/good.txt --layers 0", 2, ["--layers"]),
    ("zero batch size", "train {a}/good.txt --batch-size 0", 2, ["--batch-size"]),
    ("zero bptt", "train {a}/good.txt --bptt 0", 2, ["--bptt"]),
    ("zero epochs", "train {a}/good.txt --epochs 0", 2, ["--epochs"]),
    ("dropout one", "train {a}/good.txt --dropout 1", 2, ["--dropout", "[0, 1)"]),
    ("negative dropout", "train {a}/good.txt --dropout -0.1", 2, ["--dropout"]),
    ("zero lr", "train {a}/good.txt --lr 0", 2, ["--lr"]),
    ("negative lr", "train {a}/good.txt --lr -1", 2, ["--lr"]),
    ("unknown cell", "train {a}/good.txt --cell transformer", 2, ["--cell", "transformer"]),
    ("unknown optimizer", "train {a}/good.txt --optimizer rmsprop", 2, ["--optimizer"]),
    ("not a number", "train {a}/good.txt --epochs many", 2, ["--epochs"]),
    ("bad duration", "train {a}/good.txt --max-time soon", 2, ["--max-time"]),
    ("anneal above one", "train {a}/good.txt --anneal 1.5", 2, ["--anneal", "[0, 1]"]),
    ("valid fraction", "train {a}/good.txt --valid-fraction 1.5", 2, ["--valid-fraction"]),
    ("tying sizes", "train {a}/good.txt --tie-weights --embed-size 8 --hidden-size 9", 2,
     ["--tie-weights", "--embed-size"]),
    ("no output dir", "train {a}/good.txt --out {a}/missing/m.npz", 1, ["missing", "--out"]),
    ("output unwritable", "train {a}/good.txt --out /proc/m.npz", 1, ["/proc", "--out"]),
    ("output exists", "train {a}/good.txt --out {a}/good.npz", 1, ["good.npz", "--force"]),
    ("resume contradicts", "train {a}/good.txt --resume {a}/good.last.npz --hidden-size 9", 2,
     ["--hidden-size", "contradicts"]),
    ("resume other corpus", "train {a}/other.txt --resume {a}/good.last.npz", 2,
     ["other.txt", "differs", "resume"]),
    ("resume a plain save", "train {a}/good.txt --resume {a}/plain.npz", 1,
     ["plain.npz", "training state"]),
    ("checkpoint missing", "eval {a}/absent.npz {a}/good.txt", 1, ["absent.npz"]),
    ("checkpoint truncated", "eval {a}/truncated.npz {a}/good.txt", 1, ["truncated.npz"]),
    ("checkpoint random", "eval {a}/random.npz {a}/good.txt", 1, ["random.npz"]),
    ("foreign npz", "eval {a}/foreign.npz {a}/good.txt", 1, ["foreign.npz"]),
    ("zip not ours", "eval {a}/text.npz {a}/good.txt", 1, ["text.npz"]),
    ("future version", "eval {a}/future.npz {a}/good.txt", 1, ["future.npz", "newer"]),
    ("shape mismatch", "eval {a}/shape.npz {a}/good.txt", 1, ["shape.npz", "lstm0.Wx", "(32, 8)"]),
    ("pickled arrays", "eval {a}/pickled.npz {a}/good.txt", 1, ["pickled.npz", "pickle"]),
    ("eval missing text", "eval {a}/good.npz {a}/nope.txt", 1, ["nope.txt"]),
    ("eval binary text", "eval {a}/good.npz {a}/binary.txt", 1, ["binary.txt"]),
    ("eval zero batch", "eval {a}/good.npz {a}/good.txt --batch-size 0", 2, ["--batch-size"]),
    ("unknown option", "train {a}/good.txt --hiden-size 3", 2, ["--hiden-size"]),
    ("zero temperature", "generate --model {a}/good.npz --temperature 0", 2, ["--temperature"]),
    ("negative temperature", "generate --model {a}/good.npz --temperature -1", 2,
     ["--temperature"]),
    ("top-p above one", "generate --model {a}/good.npz --top-p 1.5", 2, ["--top-p"]),
    ("top-p zero", "generate --model {a}/good.npz --top-p 0", 2, ["--top-p"]),
    ("negative length", "generate --model {a}/good.npz --length -3", 2, ["--length"]),
    ("beam and samples", "generate --model {a}/good.npz --beam 2 --num-samples 2", 2,
     ["--beam"]),
    ("strict unknown seed", "generate --model {a}/good.npz --seed Zorro --strict", 1,
     ["Zorro"]),
    ("generate bad model", "generate --model {a}/random.npz", 1, ["random.npz"]),
    ("gates bad layer", "inspect-gates --model {a}/good.npz Jenny --layer 3", 2, ["--layer"]),
    ("gates bad gate", "inspect-gates --model {a}/good.npz Jenny --gate z", 2, ["--gate"]),
    ("gates bad units", "inspect-gates --model {a}/good.npz Jenny --units 5-2", 2,
     ["--units"]),
    ("gates html dir", "inspect-gates --model {a}/good.npz Jenny --html {a}/missing/g.html", 1,
     ["missing"]),
    # never over what is read, whatever --force says; over another file only with --force
    ("out is the corpus", "train {a}/good.txt --out {a}/good.txt --force", 2,
     ["good.txt", "reads"]),
    ("out is the config", "train {a}/good.txt --config {a}/cfg.toml --out {a}/cfg.toml --force",
     2, ["cfg.toml", "--config"]),
    ("csv over the model", "inspect-gates --model {a}/good.npz Jenny --csv {a}/good.npz --force",
     2, ["good.npz", "being read"]),
    ("csv exists", "inspect-gates --model {a}/good.npz Jenny --csv {a}/good.txt", 1,
     ["good.txt", "--force"]),
    ("html is the csv", "inspect-gates --model {a}/good.npz Jenny --csv {a}/x --html {a}/x", 2,
     ["--csv", "--html"]),
    ("chart exists", "gradients {a}/good.npz --out {a}/chart.svg", 1, ["chart.svg", "--force"]),
    ("probe chart exists", "probe {a}/good.npz --out {a}/chart.svg", 1, ["chart.svg", "--force"]),
    ("export to stdout", "export {a}/good.npz -", 2, ["'-'", "file"]),
    ("resume over a later state", "train {a}/good.txt --resume {a}/good.npz --epochs 2", 1,
     ["good.last.npz", "--resume", "--force"]),
    ("an interrupted run's state", "train {a}/good.txt --out {a}/orphan.npz", 1,
     ["orphan.last.npz", "--resume", "--force"]),
    ("resume a spent budget", "train {a}/good.txt --resume {a}/good.last.npz --out models/b.npz",
     2, ["good.last.npz", "--epochs"]),
    ("resume a spent time", "train {a}/good.txt --resume {a}/timed.last.npz --out {a}/t.npz", 2,
     ["timed.last.npz", "--max-time"]),
    ("import over its vocab",
     "import {a}/good.safetensors {a}/vocab.txt --vocab {a}/vocab.txt --force", 2,
     ["vocab.txt", "being read"]),
    ("runs plot over a file", "runs plot last --out {a}/chart.svg", 1, ["chart.svg", "--force"]),
    ("runs plot not a picture", "runs plot last --out {a}/good.txt", 2, ["good.txt", ".svg"]),
    ("chart onto a directory", "gradients {a}/good.npz --out {a}/dir.svg --force", 1,
     ["dir.svg", "directory"]),
    # names longer than the file system takes: refused before any work, never a traceback
    ("model name too long", "info {a}/" + "b" * 260 + ".npz", 1, ["File name too long"]),
    ("text name too long", "eval {a}/good.npz {a}/" + "b" * 260 + ".txt", 1, ["too long"]),
    ("its last state's name too long", "train {a}/good.txt --out {a}/" + "c" * 237 + ".npz", 1,
     ["--out", ".last.npz", "too long"]),
    ("csv name too long", "inspect-gates --model {a}/good.npz Jenny --csv {a}/" + "c" * 250 +
     ".csv", 1, ["--csv", "too long"]),
    # finite weights whose outputs are not: no NaN printed, no traceback, no numpy warning
    ("overflow, sampling", "generate --model {a}/huge.npz --seed Jenny --random-seed 1", 1,
     ["finite", "overflow"]),
    ("overflow, top-k", "generate --model {a}/huge.npz --seed Jenny --top-k 3", 1, ["finite"]),
    ("overflow, greedy", "generate --model {a}/huge.npz --seed Jenny --greedy --json", 1,
     ["finite"]),
    ("overflow, beam", "generate --model {a}/huge.npz --seed Jenny --beam 2", 1, ["finite"]),
    ("overflow, eval", "eval {a}/huge.npz {a}/good.txt --json", 1, ["good.txt", "finite"]),
    ("overflow, gradients", "gradients {a}/huge.npz --file {a}/first.txt --json", 1,
     ["huge.npz", "finite"]),
    ("overflow, probe", "probe {a}/huge.npz --json", 1, ["huge.npz", "finite"]),
    ("gradients binary text", "gradients {a}/good.npz --file {a}/nul.txt", 1,
     ["nul.txt", "binary", "offset 1"]),
    ("out is the resumed state",
     "train {a}/good.txt --resume {a}/good.last.npz --out {a}/good.last.npz --epochs 5 --force",
     2, ["good.last.npz", "reads"]),
    ("config is its last state", "train {a}/good.txt --config {a}/cc.last.npz --out {a}/cc.npz "
     "--force", 2, ["cc.last.npz", "--config"]),
    ("out is a directory", "train {a}/good.txt --out {a}/notrain --force", 2,
     ["notrain", "directory"]),
    ("resume contradicts, by flag", "train {a}/good.txt --resume {a}/good.last.npz --layers 2",
     2, ["--layers 2", "contradicts"]),
    ("negative seed", "train {a}/good.txt --seed -1", 2, ["--seed"]),
    ("infinite lr", "train {a}/good.txt --lr inf", 2, ["--lr", "finite"]),
    ("huge init scale", "train {a}/good.txt --init-scale 1e300", 2, ["--init-scale"]),
    ("cutoffs falling", "train {a}/good.txt --softmax adaptive --cutoffs 100,50", 2,
     ["--cutoffs", "rise"]),
    ("model beyond memory", "train {a}/good.txt --hidden-size 100000000", 1,
     ["GiB", "--hidden-size"]),
    ("layers beyond memory", "train {a}/good.txt --layers 99999999999999999999", 1,
     ["GiB", "--layers"]),
    ("config not utf-8", "train {a}/good.txt --config {a}/bom.toml", 1, ["bom.toml", "UTF-8"]),
    ("utf-16 without bom", "eval {a}/good.npz {a}/good.txt --encoding utf-16", 1,
     ["good.txt", "utf-16"]),
    ("negative random seed", "generate --model {a}/good.npz --random-seed -1", 2,
     ["--random-seed"]),
    ("endless length", "generate --model {a}/good.npz --length 99999999999999999999", 2,
     ["--length"]),
]


@pytest.mark.parametrize("name,args,code,words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_one_clear_line_and_writes_nothing(assets, tmp_path, name, args, code,
                                                           words):
    before = sorted((p.name, p.stat().st_mtime_ns) for p in assets.rglob("*"))
    proc = run_cli(*args.format(a=assets).split(), cwd=tmp_path, check=False)
    lines = proc.stderr.splitlines()
    assert proc.returncode == code, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("rnnlm: error: "), proc.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert proc.stdout == ""
    assert list(tmp_path.iterdir()) == []                  # no models/, no lock, no temp file
    assert sorted((p.name, p.stat().st_mtime_ns) for p in assets.rglob("*")) == before
    assert not (assets / "canary").exists()                # the pickle never ran


@pytest.mark.parametrize("flag", ["--csv", "--html"])
def test_an_output_over_the_file_in_stdin_is_refused(tmp_path, flag):
    """`inspect-gates - --csv in.txt --force < in.txt` would replace the text it reads."""
    text = tmp_path / "in.txt"
    text.write_text("Jenny has her pen .\n")
    with open(text) as stdin:
        proc = run_cli("inspect-gates", "-", flag, text, "--force", cwd=tmp_path, stdin=stdin,
                       check=False)
    assert proc.returncode == 2 and proc.stderr == \
        f"rnnlm: error: {flag} '{text}' is a file being read: write to another path\n"
    assert text.read_text() == "Jenny has her pen .\n"
    with open(tmp_path / "in.txt") as stdin:            # another file in stdin: written
        run_cli("inspect-gates", "-", flag, tmp_path / "out", cwd=tmp_path, stdin=stdin)
    assert (tmp_path / "out").stat().st_size > 0


def test_eval_checks_every_file_before_it_reads_the_first(assets, tmp_path):
    """A missing second file is reported at once, not after the first was evaluated (here the
    first is a pipe nobody writes to: reading it would wait for ever)."""
    os.mkfifo(tmp_path / "pipe")
    proc = run_cli("eval", assets / "good.npz", tmp_path / "pipe", tmp_path / "nope.txt",
                   cwd=tmp_path, check=False, timeout=60)
    assert proc.returncode == 1 and proc.stderr == \
        f"rnnlm: error: file '{tmp_path / 'nope.txt'}' does not exist: check the path\n"


def test_bad_settings_are_refused_before_the_corpus_is_read_or_anything_written(tmp_path,
                                                                              monkeypatch):
    # Through the API too: a bad setting is named before a missing corpus is noticed, and the
    # default output directory (models/) is not created for a run that cannot start.
    monkeypatch.chdir(tmp_path)
    for settings, option in (({"hidden_size": 0}, "--hidden-size"), ({"epochs": 0}, "--epochs")):
        with pytest.raises(rnnlm.UsageError, match=option):
            rnnlm.train(tmp_path / "absent.txt", progress=False, **settings)
    assert list(tmp_path.iterdir()) == []
