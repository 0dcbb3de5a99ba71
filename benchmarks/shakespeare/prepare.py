"""Split tiny Shakespeare as nanoGPT's ``shakespeare_char`` does: the first 90% of the
characters train, the last 10% validate.

    python -m benchmarks.shakespeare.prepare [OUTDIR]

writes OUTDIR/shakespeare.train.txt and OUTDIR/shakespeare.valid.txt (OUTDIR defaults to
``rnnlm-shakespeare`` in the system's temporary directory; never inside this repository, as
the text is not ours) and prints OUTDIR, the directory ``rnnlm train`` takes. The split is
by characters, so it may cut a line in two, as nanoGPT's does.
"""

import sys
import tempfile
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpora" / "tinyshakespeare" / "input.txt"


def prepare(outdir):
    if not SOURCE.is_file():
        sys.exit(f"prepare: error: '{SOURCE}' not found: put the shared corpora beside this "
                 f"repository")
    text = SOURCE.read_text(encoding="utf-8")
    cut = int(len(text) * 0.9)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    for name, part in (("train", text[:cut]), ("valid", text[cut:])):
        # newline="" keeps the text's own line ends: rnnlm counts "\n" as a character.
        (outdir / f"shakespeare.{name}.txt").write_text(part, encoding="utf-8", newline="")
    return outdir


if __name__ == "__main__":
    default = Path(tempfile.gettempdir()) / "rnnlm-shakespeare"
    print(prepare(sys.argv[1] if len(sys.argv) > 1 else default))
