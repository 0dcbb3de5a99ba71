"""Generation speed: tokens/s of ``rnnlm.generation.generate`` on a PTB-size model.

    python -m benchmarks.generation_speed            # about a minute
    python -m benchmarks.generation_speed --length 100 --rounds 3

An untrained 2x200 LSTM over a vocabulary of 10,000 made-up words (the speed does not depend
on what the weights say; ``stop_at_eos=False`` keeps every run at full length). For each
strategy it prints generated tokens/s (all rows of a batch counted; for beam search, tokens of
one continuation, i.e. search steps/s) and, for comparison, the bare ``step_logits`` calls at
the same batch size: what is left is the per-token cost of choosing tokens. Each run first
puts the model at the start of a sentence (generation.start_of_sentence: greedy steps up to
its own end of sentence, which an untrained model never reaches, so 50 steps here); that time
is included, and it weighs on the short runs. The cases take turns within each round, and the
last column divides a one-stream case's time by greedy decoding's in the same round: the cost
of choosing a token beside the model step, as a median (min-max) over the rounds.
"""

import argparse
import statistics
import time

import numpy as np

from benchmarks.speed import blas_description, cpu_description
from rnnlm import LanguageModel, Vocabulary
from rnnlm.generation import generate

GEN_VOCAB, GEN_SIZE, GEN_LAYERS = 10_000, 200, 2
# name: (options, batch rows, tokens counted per step)
GEN_CASES = {
    "sample, 1 stream": ({}, 1, 1),
    "greedy, 1 stream": ({"greedy": True}, 1, 1),
    "top-k 40, 1 stream": ({"top_k": 40}, 1, 1),
    "top-p 0.9, 1 stream": ({"top_p": 0.9}, 1, 1),
    "sample, 32 streams": ({"num_samples": 32}, 32, 32),
    "beam 5": ({"beam": 5}, 5, 1),
}


def _seconds(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def generation_main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=200, help="tokens per run")
    parser.add_argument("--rounds", type=int, default=7, help="runs per case (median)")
    args = parser.parse_args(argv)

    model = LanguageModel(GEN_VOCAB, cell="lstm", num_layers=GEN_LAYERS, embed_size=GEN_SIZE,
                          hidden_size=GEN_SIZE, seed=0).eval()
    vocab = Vocabulary(["<unk>", "<eos>"] + [f"w{i}" for i in range(GEN_VOCAB - 2)], "word")
    _, blas = blas_description()
    print(f"CPU: {cpu_description()}")
    print(f"numpy {np.__version__}, {blas}")
    print(f"model: LSTM {GEN_LAYERS}x{GEN_SIZE}, V={GEN_VOCAB:,}, float32; "
          f"{args.length} tokens per run; {args.rounds} rounds, the cases in turn within each")
    print()
    print("| case | rows | generate tok/s | step_logits alone tok/s | choosing share | "
          "time per token / greedy's |")
    print("|---|---:|---:|---:|---:|---|")
    runs, bare = {}, {}
    for name, (options, rows, _) in GEN_CASES.items():
        runs[name] = lambda options=options: generate(
            model, "w1 w2 w3", vocab=vocab, length=args.length, stop_at_eos=False,
            random_seed=0, **options)
        ids = np.zeros(rows, dtype=np.int64)
        bare[name] = lambda ids=ids: [model.step_logits(ids) for _ in range(args.length)]
        runs[name]()                                            # warm up buffers and caches
    times = {name: [] for name in GEN_CASES}
    bare_times = {name: [] for name in GEN_CASES}
    names = list(GEN_CASES)
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:   # a drift hits all
            times[name].append(_seconds(runs[name]))
            bare_times[name].append(_seconds(bare[name]))
    greedy = times["greedy, 1 stream"]
    for name, (_, rows, counted) in GEN_CASES.items():
        seconds, alone = statistics.median(times[name]), statistics.median(bare_times[name])
        share = max(0.0, 1 - alone / seconds)
        relative = "-"
        if rows == 1:
            ratios = [t / g for t, g in zip(times[name], greedy)]   # the same round's greedy
            relative = (f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-"
                        f"{max(ratios):.2f})")
        print(f"| {name} | {rows} | {counted * args.length / seconds:,.0f} | "
              f"{counted * args.length / alone:,.0f} | {share:.0%} | {relative} |")


if __name__ == "__main__":
    generation_main()
