"""Engine speed: rnnlm against PyTorch on the CPU, measured interleaved in the same run.

    python -m benchmarks.speed            # all configs, LSTM and GRU (a few minutes)
    python -m benchmarks.speed --quick    # the small config only, a few seconds

For each config and cell it prints training tokens/s (forward + backward + clipping + SGD
step), evaluation tokens/s (forward + loss), the same for PyTorch with the same sizes and
thread count, the ratio rnnlm / PyTorch, the FLOPs per training token and the fraction of the
GEMM ceiling (a 2048^3 float32 product measured in this run). Rounds alternate between the
two engines so that drifting machine speed hits both alike; the medians are reported.
PyTorch is optional (`pip install torch==2.13.0`); without it that column says so.
"""

import argparse
import os
import statistics
import time

import numpy as np

from rnnlm import SGD, LanguageModel, clip_grad_norm

VOCAB = 10_000
# name: (embed, hidden, layers, batch, bptt, tied)
CONFIGS = {
    "small": (200, 200, 2, 20, 20, False),
    "dlfs2": (100, 100, 1, 20, 35, False),
    "medium": (650, 650, 2, 20, 35, True),
    "record": (400, 400, 2, 20, 35, True),      # the PTB 60-minute record's model
}
BLOCKS = {"rnn": 1, "lstm": 4, "gru": 3}


def blas_description():
    """Which BLAS numpy runs and with how many threads (threadpoolctl if installed)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None, "BLAS unknown (pip install threadpoolctl to see it)"
    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            desc = (f"{pool['internal_api']} {pool.get('version')} "
                    f"kernel {pool.get('architecture')}, {pool['num_threads']} threads")
            return pool["num_threads"], desc
    return None, "no BLAS found by threadpoolctl"


def gemm_ceiling(size=2048, repeats=3):
    """Best float32 GFLOP/s of a size^3 matrix product: the ceiling for our big products."""
    a = np.random.default_rng(0).standard_normal((size, size), dtype=np.float32)
    out = np.empty_like(a)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        np.matmul(a, a, out=out)
        best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 / best / 1e9


def train_flops_per_token(cell, embed, hidden, layers):
    """Matrix-product FLOPs per token of one training step: forward x 3 (two products back)."""
    g = BLOCKS[cell] * hidden
    forward = sum(2 * ((embed if l == 0 else hidden) * g + hidden * g) for l in range(layers))
    forward += 2 * hidden * VOCAB
    return 3 * forward


class RnnlmRunner:
    def __init__(self, cell, embed, hidden, layers, batch, bptt, tied):
        self.model = LanguageModel(VOCAB, cell=cell, num_layers=layers, embed_size=embed,
                                   hidden_size=hidden, tie_weights=tied, seed=0)
        self.opt = SGD(1.0)
        rng = np.random.default_rng(0)
        self.x = rng.integers(0, VOCAB, (batch, bptt)).astype(np.int32)
        self.t = rng.integers(0, VOCAB, (batch, bptt)).astype(np.int32)

    def train_step(self):
        m = self.model.train()
        m.forward(self.x, self.t)
        m.backward()
        clip_grad_norm(m.grads, 0.25)
        self.opt.step(m.params, m.grads)

    def eval_step(self):
        self.model.eval().forward(self.x, self.t)


class TorchRunner:
    """The same model in PyTorch, given its fastest layout (time-major, fused cuDNN-style cells)."""

    def __init__(self, torch, cell, embed, hidden, layers, batch, bptt, tied):
        nn = torch.nn
        self.torch, self.cell = torch, cell
        torch.manual_seed(0)
        rnn_class = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell]
        self.embed = nn.Embedding(VOCAB, embed)
        self.rnn = rnn_class(embed, hidden, layers)
        self.out = nn.Linear(hidden, VOCAB)
        if tied:
            self.out.weight = self.embed.weight
        self.params = list({id(p): p for m in (self.embed, self.rnn, self.out)
                            for p in m.parameters()}.values())
        self.opt = torch.optim.SGD(self.params, lr=1.0)
        g = torch.Generator().manual_seed(0)
        self.x = torch.randint(0, VOCAB, (bptt, batch), generator=g)
        self.t = torch.randint(0, VOCAB, (bptt, batch), generator=g)
        self.state = None

    def _loss(self):
        state = self.state
        if state is not None:   # truncated BPTT: carry the values, not the graph
            state = tuple(s.detach() for s in state) if self.cell == "lstm" else state.detach()
        h, self.state = self.rnn(self.embed(self.x), state)
        logits = self.out(h).view(-1, VOCAB)
        return self.torch.nn.functional.cross_entropy(logits, self.t.view(-1))

    def train_step(self):
        self.opt.zero_grad(set_to_none=True)
        self._loss().backward()
        self.torch.nn.utils.clip_grad_norm_(self.params, 0.25)
        self.opt.step()

    def eval_step(self):
        with self.torch.no_grad():
            self._loss()


def tokens_per_second(step, tokens, steps):
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return tokens * steps / (time.perf_counter() - start)


def measure(runners, tokens, steps, rounds):
    """Median tokens/s of train and eval for each runner, rounds interleaved across runners."""
    for r in runners.values():          # warm up: buffers, caches, lazy initialisation
        r.train_step()
        r.eval_step()
    samples = {(name, kind): [] for name in runners for kind in ("train", "eval")}
    for _ in range(rounds):
        for name, r in runners.items():
            samples[name, "train"].append(tokens_per_second(r.train_step, tokens, steps))
            samples[name, "eval"].append(tokens_per_second(r.eval_step, tokens, steps))
    return {key: statistics.median(v) for key, v in samples.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small config, few steps")
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--cells", nargs="+", choices=list(BLOCKS), default=["lstm", "gru"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-torch", action="store_true", help="measure rnnlm alone")
    args = parser.parse_args(argv)
    if args.quick:
        args.configs, args.rounds = ["small"], 2

    threads, blas = blas_description()
    try:
        if args.no_torch:
            raise ImportError("--no-torch")
        import torch
        if threads:
            torch.set_num_threads(threads)
        peer = f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads"
    except ImportError:
        torch, peer = None, "PyTorch not installed: its column is skipped (pip install torch==2.13.0)"
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    ceiling = gemm_ceiling()
    print(f"numpy {np.__version__}, {blas}; {peer}")
    print(f"OpenBLAS environment: {env or 'unset'}; GEMM ceiling (2048^3 float32): "
          f"{ceiling:.0f} GFLOP/s")
    print()
    print("| config | cell | rnnlm train tok/s | PyTorch train tok/s | ratio | "
          "rnnlm eval tok/s | PyTorch eval tok/s | ratio | eval/train | GFLOP/token | "
          "GEMM ceiling |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in args.configs:
        embed, hidden, layers, batch, bptt, tied = CONFIGS[name]
        tokens = batch * bptt
        for cell in args.cells:
            runners = {"rnnlm": RnnlmRunner(cell, *CONFIGS[name])}
            if torch is not None:
                runners["torch"] = TorchRunner(torch, cell, *CONFIGS[name])
            steps = 3 if args.quick else max(3, int(4000 / tokens / (1 + hidden / 200)))
            r = measure(runners, tokens, steps, args.rounds)
            flops = train_flops_per_token(cell, embed, hidden, layers)
            frac = flops * r["rnnlm", "train"] / (ceiling * 1e9)
            if torch is not None:
                peer_train, peer_eval = r["torch", "train"], r["torch", "eval"]
                cols = (f"{peer_train:,.0f} | {r['rnnlm', 'train'] / peer_train:.2f} | "
                        f"{r['rnnlm', 'eval']:,.0f} | {peer_eval:,.0f} | "
                        f"{r['rnnlm', 'eval'] / peer_eval:.2f}")
            else:
                cols = f"- | - | {r['rnnlm', 'eval']:,.0f} | - | -"
            print(f"| {name} | {cell} | {r['rnnlm', 'train']:,.0f} | {cols} | "
                  f"{r['rnnlm', 'eval'] / r['rnnlm', 'train']:.1f} | {flops / 1e9:.4f} | "
                  f"{frac:.0%} |", flush=True)


if __name__ == "__main__":
    main()
