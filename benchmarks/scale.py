"""Scale: time to the first training step and peak memory on a large generated corpus.

    python -m benchmarks.scale              # a ~50 MB corpus (about 10M tokens)
    python -m benchmarks.scale --mb 5       # a quicker look

Generates the corpus with corpora/generate.py into a temporary directory, then trains in a
fresh process that stops itself right after the first step (so the figure covers reading,
counting, encoding, building the model and one step, and nothing after). Peak memory is the
process's maximum resident set size; the aim is 4 bytes per token (the int32 ids) plus the
model plus 300 MB.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BYTES_PER_SENTENCE = 73.7           # measured on corpora/jenny/jenny.train.txt

CHILD = r"""
import json, os, resource, signal, sys, time
import rnnlm
from rnnlm.training import TrainingInterrupted

start = time.perf_counter()
facts = {}

def on_event(e):
    if e["event"] == "start":
        facts.update(tokens=e["stats"]["train"]["tokens"] + (e["stats"]["valid"] or {}).get("tokens", 0),
                      params=e["params"], read_s=time.perf_counter() - start)
    elif e["event"] == "progress" and "first_step_s" not in facts:
        facts["first_step_s"] = time.perf_counter() - start
        facts["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        os.kill(os.getpid(), signal.SIGINT)        # stop: save, and leave

try:
    rnnlm.train(sys.argv[1], out=sys.argv[2], progress=False, callback=on_event, epochs=1)
except TrainingInterrupted:
    pass
print(json.dumps(facts))
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=50.0, help="training text size in MB")
    args = parser.parse_args(argv)
    sentences = int(args.mb * 1e6 / BYTES_PER_SENTENCE)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "big"
        start = time.perf_counter()
        subprocess.run([sys.executable, str(REPO / "corpora" / "generate.py"), "--out",
                        str(corpus), "--train-sentences", str(sentences),
                        "--valid-sentences", str(sentences // 20), "--test-sentences", "100",
                        "--probe-sentences", "10"], check=True, capture_output=True)
        generated = time.perf_counter() - start
        size = sum(p.stat().st_size for p in corpus.glob("*.txt"))
        run = subprocess.run([sys.executable, "-c", CHILD, str(corpus), str(Path(tmp) / "m.npz")],
                             capture_output=True, text=True, cwd=tmp,
                             env=dict(os.environ, PYTHONPATH=str(REPO)))
        if run.returncode != 0:
            sys.exit(f"the training process failed:\n{run.stderr}")
        facts = json.loads(run.stdout.strip().splitlines()[-1])
    model_mb = facts["params"] * 4 / 2**20
    bound = 4 * facts["tokens"] / 2**20 + model_mb + 300
    print(f"corpus: {size / 1e6:.1f} MB of text ({sentences:,} training sentences), generated "
          f"in {generated:.1f} s; {facts['tokens']:,} tokens (train + valid)")
    print(f"corpus read, counted and encoded in {facts['read_s']:.1f} s; first training step "
          f"done {facts['first_step_s']:.1f} s after start")
    print(f"peak memory {facts['peak_rss_mb']:.0f} MB; aim 4 B x tokens + model "
          f"({model_mb:.1f} MB) + 300 MB = {bound:.0f} MB "
          f"({'met' if facts['peak_rss_mb'] <= bound else 'missed'})")


if __name__ == "__main__":
    main()
