"""What the runs log costs a training step: the same training with and without it.

    python -m benchmarks.log_cost                      # small PTB config, 5 rounds of 30 s each way
    python -m benchmarks.log_cost --rounds 3 --seconds 10 --corpus corpora/jenny

Each round trains twice in fresh processes, alternating which goes first: once as
`rnnlm train` records itself (a TrainingLog listener writing to a runs log in a temporary
RNNLM_HOME), once without. A step's wall time is measured between consecutive "progress"
events, so it includes everything the listeners do after a step (the log's writes at the
--log-every rate and at epoch ends), and excludes the corpus loading before the first step.
Prints the median step time and its spread over rounds, each way, and the difference; and,
measured directly (free of the machine's swings), the time spent inside the log's listener
per step.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PTB = REPO.parent / "shared" / "corpora" / "ptb"

# One process: train for a fixed time budget and print the median step wall time (ms).
CHILD = """
import json, sys, time
from pathlib import Path
import rnnlm
from rnnlm.config import read_config_file
from rnnlm.runs import TrainingLog

corpus, config, seconds, logged, out = sys.argv[1:6]
marks, spent = [], [0.0]
listeners = [lambda e: marks.append(time.perf_counter()) if e["event"] == "progress" else None]
log = TrainingLog(corpus) if logged == "1" else None


def timed_log(e):                       # the log's own time, every event included
    start = time.perf_counter()
    log(e)
    spent[0] += time.perf_counter() - start


if log is not None:
    listeners.append(timed_log)
settings = {**read_config_file(config), "max_time": float(seconds), "log_every": 50}
rnnlm.train(corpus, out=out, force=True, progress=False, callback=listeners,
            run_id=None if log is None else log.id, **settings)
steps = [b - a for a, b in zip(marks, marks[1:])]
steps.sort()
print(json.dumps({"median_ms": 1e3 * steps[len(steps) // 2],
                  "mean_ms": 1e3 * sum(steps) / len(steps), "steps": len(steps),
                  "log_ms": 1e3 * spent[0], "logged": log is not None and not log.recorder.failed}))
"""


def one(corpus, config, seconds, logged, home, out):
    env = dict(os.environ, RNNLM_HOME=str(home), PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", CHILD, str(corpus), str(config), str(seconds),
                           "1" if logged else "0", str(out)], env=env, capture_output=True,
                          text=True, check=True)
    return json.loads(proc.stdout.splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(PTB))
    parser.add_argument("--config", default=str(REPO / "benchmarks/ptb/zaremba-small.toml"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    if not Path(args.corpus).exists():
        sys.exit(f"corpus {args.corpus} not found (../shared absent?): pass --corpus")
    from rnnlm.runs import machine
    m = machine()
    print(f"{m['cpu']}, {m['cores']} cores, numpy {m['numpy']} with {m['blas'].get('name')} "
          f"{m['blas'].get('version')}; {Path(args.corpus).name}, {Path(args.config).name}, "
          f"{args.seconds:g} s of training per run, --log-every 50")
    results = {True: [], False: []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for logged in ((True, False) if r % 2 == 0 else (False, True)):
                got = one(args.corpus, args.config, args.seconds, logged, Path(tmp) / "home",
                          Path(tmp) / "m.npz")
                assert got["logged"] == logged, "the logged run was not logged"
                results[logged].append(got)
                inside = (f", {got['log_ms']:.1f} ms in the log in all" if logged else "")
                print(f"round {r + 1} {'with' if logged else 'without'} log: median step "
                      f"{got['median_ms']:.2f} ms, mean {got['mean_ms']:.2f} ms over "
                      f"{got['steps']} steps{inside}", flush=True)
    summary = {}
    for logged, runs in results.items():
        medians = [g["median_ms"] for g in runs]
        means = [g["mean_ms"] for g in runs]
        summary[logged] = statistics.median(means)
        print(f"{'with' if logged else 'without'} the log: step median of medians "
              f"{statistics.median(medians):.2f} ms (rounds {min(medians):.2f}-"
              f"{max(medians):.2f}), median of means {statistics.median(means):.2f} ms "
              f"(rounds {min(means):.2f}-{max(means):.2f})")
    unlogged = [g["mean_ms"] for g in results[False]]
    print(f"difference of the mean step: {summary[True] - summary[False]:+.3f} ms "
          f"({100 * (summary[True] / summary[False] - 1):+.2f}%), against a spread of the "
          f"rounds without the log of {max(unlogged) - min(unlogged):.1f} ms")
    per_step = [1e3 * g["log_ms"] / g["steps"] for g in results[True]]
    print(f"time inside the log listener: {statistics.median(per_step):.1f} us a step "
          f"(rounds {min(per_step):.1f}-{max(per_step):.1f} us), "
          f"{100 * statistics.median(per_step) / 1e3 / summary[True]:.3f}% of a step")


if __name__ == "__main__":
    main()
