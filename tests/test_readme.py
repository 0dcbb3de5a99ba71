"""The README's Python API block runs as written, on a cut-down copy of the bundled corpus with
tiny models so that it takes seconds: a reader who copies it must not meet a KeyError."""

import re

import rnnlm
from conftest import REPO

# (what the README says, what the test runs instead): only sizes and epochs change.
SHRINK = [
    ("epochs=3,", "epochs=1, hidden_size=16, embed_size=16,"),
    ("run_id=logged.id,", "run_id=logged.id, epochs=1, hidden_size=16, embed_size=16, "
                          "progress=False,"),
]


def python_api_block():
    section = (REPO / "README.md").read_text(encoding="utf-8").split("\n## Python API\n", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_python_api_block_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RNNLM_HOME", str(tmp_path / "home"))
    jenny = tmp_path / "corpora/jenny"
    jenny.mkdir(parents=True)
    for split, lines in (("train", 2000), ("valid", 300), ("test", 300)):
        text = (REPO / f"corpora/jenny/jenny.{split}.txt").read_text(encoding="utf-8")
        (jenny / f"jenny.{split}.txt").write_text("".join(text.splitlines(True)[:lines]))
    # the two models the block reads, made as "Why gates win" makes them (smaller)
    for cell, layers in (("rnn", 1), ("lstm", 2)):
        rnnlm.train("corpora/jenny", cell=cell, num_layers=layers, epochs=1, hidden_size=16,
                    embed_size=16, out=f"models/jenny-{cell}.npz", progress=False)
    code = python_api_block()
    for said, run in SHRINK:
        assert said in code, f"the README's Python API block no longer has {said!r}"
        code = code.replace(said, run)
    for _ in range(2):                  # again: every file it writes exists by then
        names = {}
        exec(compile(code, "README.md (Python API)", "exec"), names)
    assert names["record"].layers[0]["z"].shape == (len(names["record"].tokens), 16)
    assert (tmp_path / "models/back.npz").is_file() and (tmp_path / "lstm.safetensors").is_file()
    assert names["logits"].shape == (20, 35, 10_000) and names["loss"] > 0
    assert len(names["xs"]) == len(names["ys"]) > 0           # the curve of the logged run
    printed = capsys.readouterr().out.splitlines()
    assert float(printed[0]) > 1 and len(printed[1].split()) > 1     # test ppl, then a sample
