"""Engine speed: rnnlm against PyTorch on the CPU, each engine in its own fresh process.

    python -m benchmarks.speed                         # all configs, LSTM and GRU (~15 min)
    python -m benchmarks.speed --configs small --rounds 9
    python -m benchmarks.speed --softmax adaptive --cutoffs 2000     # both engines adaptive
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m benchmarks.speed   # if a VM sets them

Method. For every config, cell and round, a fresh process per engine builds the model, warms
it up, then measures training tokens/s (forward + backward + clipping by global norm + SGD
step, state carried) and evaluation tokens/s (forward + loss, nothing kept for a backward),
each for at least ``--seconds``. The two engines never share a process or run at once; they
alternate, and which of them goes first alternates by round, so a machine whose speed drifts
(shared hosts swing 15-30% within a minute) hits both alike. Reported per row: the median
tokens/s of each engine over the rounds, and the median and the spread (min-max) of the
per-round ratio rnnlm / PyTorch. A ratio is only as good as its spread.

PyTorch gets its best ordinary settings: threads = cores, time-major input (its native LSTM
and GRU layout), ``zero_grad(set_to_none=True)``, its own (foreach) clipping and SGD, and
``inference_mode`` for evaluation. rnnlm's row also gives the output layer's three matrix
products alone (forward, weight gradient, input gradient; numpy, the engine's layouts) as
tokens/s, and all the products of a training step and of an evaluation step alone, the time
loop's included: the most that rnnlm could train and evaluate at if everything else were free.
Where PyTorch's speed times the ratio aimed at lies above those, the aim is out of reach of
any change but faster products.

With ``--softmax adaptive`` both engines replace the output layer and loss by the adaptive
softmax over ``--cutoffs`` (rnnlm's ``--softmax adaptive``, PyTorch's
``nn.AdaptiveLogSoftmaxWithLoss`` with ``div_value=4, head_bias=True``: the same function),
untied, and the targets follow Zipf's law (p(rank r) ~ 1/r), so that the head's 2,000 most
frequent types cover 84% of the tokens (of PTB's training text: 87%): a cluster costs what it
costs on text. The products-alone columns are the full softmax's and are left empty.

The header names the CPU, the cores, numpy's BLAS and its kernel (threadpoolctl), PyTorch's
BLAS, and the 2048^3 float32 GEMM ceiling of each, measured in this run. PyTorch is optional
(``pip install torch==2.13.0 threadpoolctl``); without it rnnlm is measured alone.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

VOCAB = 10_000
# name: (embed, hidden, layers, batch, bptt, tied)
CONFIGS = {
    "small": (200, 200, 2, 20, 20, False),
    "dlfs2": (100, 100, 1, 20, 35, False),
    "medium": (650, 650, 2, 20, 35, True),
    "record": (400, 400, 2, 20, 35, True),      # the PTB 60-minute record's model
}
BLOCKS = {"rnn": 1, "lstm": 4, "gru": 3}
ENGINES = ("rnnlm", "torch")


def cores():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def cpu_description():
    """'AMD EPYC (family 25, model 17), 2 cores (avx2, avx512f)' from /proc/cpuinfo: a VM's
    model name is often bare, and the family and model tell its generation (25/17 a Zen 4)."""
    seen = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "cpu family", "model", "flags") and key not in seen:
                    seen[key] = value.strip()
    except OSError:
        pass
    name = seen.get("model name", "unknown CPU")
    if "cpu family" in seen and "model" in seen:
        name += f" (family {seen['cpu family']}, model {seen['model']})"
    flags = set(seen.get("flags", "").split())
    units = [f for f in ("avx2", "avx512f", "amx_tile") if f in flags]
    return f"{name}, {cores()} cores" + (f" ({', '.join(units)})" if units else "")


def blas_description():
    """(threads, 'openblas 0.3.31 kernel Haswell, 2 threads') of numpy's BLAS (threadpoolctl)."""
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


def gemm_ceiling(matmul, a, repeats=3):
    """Best GFLOP/s of a square product ``matmul(a, a)``: the ceiling for our big products."""
    matmul(a, a)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a, a)
        best = min(best, time.perf_counter() - start)
    return 2 * a.shape[0] ** 3 / best / 1e9


def train_flops_per_token(cell, embed, hidden, layers):
    """Matrix-product FLOPs per token of one training step: forward x 3 (two products back)."""
    g = BLOCKS[cell] * hidden
    forward = sum(2 * ((embed if l == 0 else hidden) * g + hidden * g) for l in range(layers))
    forward += 2 * hidden * VOCAB
    return 3 * forward


# --- the engines, each measured in a process of its own ---------------------------------------

def token_ids(batch, bptt, cutoffs):
    """Inputs and targets (batch, bptt): uniform over the vocabulary for the full softmax,
    Zipfian for the adaptive one (see the module docstring)."""
    rng = np.random.default_rng(0)
    if cutoffs is None:
        return (rng.integers(0, VOCAB, (batch, bptt)).astype(np.int32) for _ in range(2))
    p = 1.0 / np.arange(1, VOCAB + 1)
    return (rng.choice(VOCAB, (batch, bptt), p=p / p.sum()).astype(np.int32) for _ in range(2))


class RnnlmRunner:
    def __init__(self, cell, embed, hidden, layers, batch, bptt, tied, cutoffs=None):
        from rnnlm import SGD, LanguageModel, clip_grad_norm

        self.clip = clip_grad_norm
        softmax = {} if cutoffs is None else {"softmax": "adaptive", "cutoffs": cutoffs}
        self.model = LanguageModel(VOCAB, cell=cell, num_layers=layers, embed_size=embed,
                                   hidden_size=hidden, tie_weights=tied, seed=0, **softmax)
        self.opt = SGD(1.0)
        self.x, self.t = token_ids(batch, bptt, cutoffs)

    def train_step(self):
        m = self.model.train()
        m.forward(self.x, self.t)
        m.backward()
        rows = m.grad_rows                  # as the trainer does: the embedding's rows only
        self.clip(m.grads, 0.25, rows)
        self.opt.step(m.params, m.grads, rows)

    def eval_step(self):
        self.model.eval().forward(self.x, self.t)

    def products_step(self, train=True):
        """The output layer's three products alone (its forward one alone without ``train``),
        in the engine's layouts (tied: the embedding matrix (V, H) read transposed)."""
        if not hasattr(self, "_prod"):
            m, rng = self.model, np.random.default_rng(1)
            n, h = self.x.size, m.config.hidden_size
            W = m.params["out.W"] if "out.W" in m.params else m.params["embed.W"].T
            self._prod = (rng.standard_normal((n, h), dtype=np.float32), W,
                          np.empty((n, VOCAB), np.float32), np.empty(W.shape, np.float32),
                          np.empty((n, h), np.float32))
        hs, W, z, dW, dh = self._prod
        np.matmul(hs, W, out=z)               # logits
        if train:
            np.matmul(hs.T, z, out=dW)        # weight gradient (z standing in for dz)
            np.matmul(z, W.T, out=dh)         # input gradient

    def all_products_step(self, train=True):
        """Every matrix product of a training step (``train``) or of an evaluation step alone,
        in the engine's shapes and layouts: the output layer's, then for each recurrent layer
        the input projection x Wx, the per-step products of the time loop (the GRU's [z, r]
        and n blocks apart, as it runs them) and, in training, the loop's products back and
        the gradients dA Wx^T, x^T dA and h^T dA."""
        if not hasattr(self, "_layers"):
            c, rng = self.model.config, np.random.default_rng(2)
            B, T = self.x.shape
            widths = {"lstm": [4], "gru": [2, 1], "rnn": [1]}[c.cell]
            f32 = lambda *shape: rng.standard_normal(shape, dtype=np.float32)
            self._layers = []
            for layer in range(c.num_layers):
                D, H = c.embed_size if layer == 0 else c.hidden_size, c.hidden_size
                G = BLOCKS[c.cell] * H
                x, A, Wx = f32(B * T, D), f32(B * T, G), f32(D, G)
                per_step = [(f32(B, H), f32(H, w * H), f32(B, w * H), f32(w * H, H), f32(B, H))
                            for w in widths]
                self._layers.append((x, A, Wx, np.empty((D, G), np.float32), f32(B * T, D),
                                     np.empty((H, G), np.float32), f32(B * T, H), per_step))
        self.products_step(train)
        T = self.x.shape[1]
        for x, A, Wx, dWx, dx, dWh, h_prev, per_step in self._layers:
            np.matmul(x, Wx, out=A)
            for h, Wh, rec, _, _ in per_step:
                for _ in range(T):
                    np.matmul(h, Wh, out=rec)
            if train:
                for _, _, rec, WhT, dh in per_step:
                    for _ in range(T):
                        np.matmul(rec, WhT, out=dh)
                np.matmul(x.T, A, out=dWx)
                np.matmul(h_prev.T, A, out=dWh)
                np.matmul(A, Wx.T, out=dx)


class TorchRunner:
    """The same model in PyTorch with its best ordinary settings (see the module docstring)."""

    def __init__(self, cell, embed, hidden, layers, batch, bptt, tied, cutoffs=None):
        import torch

        torch.set_num_threads(cores())
        nn = torch.nn
        self.torch, self.cell = torch, cell
        torch.manual_seed(0)
        rnn_class = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell]
        self.embed = nn.Embedding(VOCAB, embed)
        self.rnn = rnn_class(embed, hidden, layers)          # time-major: (T, B, features)
        self.adaptive = cutoffs is not None
        if self.adaptive:
            self.out = nn.AdaptiveLogSoftmaxWithLoss(hidden, VOCAB, list(cutoffs),
                                                     div_value=4.0, head_bias=True)
        else:
            self.out = nn.Linear(hidden, VOCAB)
            if tied:
                self.out.weight = self.embed.weight
        self.params = list({id(p): p for m in (self.embed, self.rnn, self.out)
                            for p in m.parameters()}.values())
        self.opt = torch.optim.SGD(self.params, lr=1.0)
        x, t = token_ids(batch, bptt, cutoffs)
        self.x, self.t = (torch.from_numpy(a.T.astype(np.int64)).contiguous() for a in (x, t))
        self.state = None

    def _loss(self):
        state = self.state
        if state is not None:   # truncated BPTT: carry the values, not the graph
            state = tuple(s.detach() for s in state) if self.cell == "lstm" else state.detach()
        h, self.state = self.rnn(self.embed(self.x), state)
        if self.adaptive:
            return self.out(h.view(-1, h.shape[-1]), self.t.view(-1)).loss
        logits = self.out(h).view(-1, VOCAB)
        return self.torch.nn.functional.cross_entropy(logits, self.t.view(-1))

    def train_step(self):
        self.opt.zero_grad(set_to_none=True)
        self._loss().backward()
        self.torch.nn.utils.clip_grad_norm_(self.params, 0.25)
        self.opt.step()

    def eval_step(self):
        with self.torch.inference_mode():
            self._loss()


def tokens_per_second(step, tokens, seconds, warmup=2):
    """Run ``step`` for at least ``seconds`` (and 3 steps) after ``warmup`` steps."""
    for _ in range(warmup):
        step()
    steps, start = 0, time.perf_counter()
    while True:
        step()
        steps += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and steps >= 3:
            return tokens * steps / elapsed


def worker(engine, config, cell, seconds, softmax="full"):
    """One engine's measurement in this process: a JSON line on stdout. ``softmax``: "full",
    or "adaptive:2000,6000" (untied)."""
    embed, hidden, layers, batch, bptt, tied = CONFIGS[config]
    cutoffs = None
    if softmax != "full":
        cutoffs, tied = tuple(int(c) for c in softmax.split(":")[1].split(",")), False
    runner = (RnnlmRunner if engine == "rnnlm" else TorchRunner)(
        cell, embed, hidden, layers, batch, bptt, tied, cutoffs)
    tokens = batch * bptt
    result = {"train": tokens_per_second(runner.train_step, tokens, seconds),
              "eval": tokens_per_second(runner.eval_step, tokens, seconds)}
    if engine == "rnnlm" and cutoffs is None:
        result["products"] = tokens_per_second(runner.products_step, tokens, seconds / 2)
        result["all_train"] = tokens_per_second(runner.all_products_step, tokens, seconds / 2)
        result["all_eval"] = tokens_per_second(lambda: runner.all_products_step(False), tokens,
                                               seconds / 2)
    print(json.dumps(result), flush=True)


def torch_info():
    """PyTorch's version, threads, BLAS and GEMM ceiling, as a JSON line (a process of its own)."""
    import torch

    torch.set_num_threads(cores())
    shown = torch.__config__.show()
    blas = next((part.split("=", 1)[1] for part in shown.replace(",", "\n").split()
                 if part.startswith("BLAS_INFO=")), "unknown")
    capability = next((line.split(":", 1)[1].strip() for line in shown.splitlines()
                       if "CPU capability" in line), "unknown")
    a = torch.randn(2048, 2048)
    print(json.dumps({"version": torch.__version__, "threads": torch.get_num_threads(),
                      "blas": blas, "capability": capability,
                      "ceiling": gemm_ceiling(torch.mm, a)}), flush=True)


def run_worker(*args):
    """Run this module in a fresh process with ``args``; its JSON line, or None on failure."""
    proc = subprocess.run([sys.executable, "-m", "benchmarks.speed", *args],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def spread(values):
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--cells", nargs="+", choices=list(BLOCKS), default=["lstm", "gru"])
    parser.add_argument("--rounds", type=int, default=7, help="rounds per row (at least 7 for "
                        "a ratio worth quoting)")
    parser.add_argument("--seconds", type=float, default=2.0,
                        help="timed seconds per measurement (train, then eval)")
    parser.add_argument("--no-torch", action="store_true", help="measure rnnlm alone")
    parser.add_argument("--softmax", choices=["full", "adaptive"], default="full",
                        help="the output layer of both engines (adaptive: untied)")
    parser.add_argument("--cutoffs", default="2000",
                        help="with --softmax adaptive: the head's size and the clusters' ends")
    parser.add_argument("--worker", nargs="+", metavar="ARG", help=argparse.SUPPRESS)
    parser.add_argument("--torch-info", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        engine, config, cell, seconds, *softmax = args.worker
        return worker(engine, config, cell, float(seconds), *softmax)
    if args.torch_info:
        return torch_info()

    _, blas = blas_description()
    info = None if args.no_torch else run_worker("--torch-info")
    a = np.random.default_rng(0).standard_normal((2048, 2048), dtype=np.float32)
    ceiling = gemm_ceiling(lambda x, y: np.matmul(x, y), a)
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                      "OPENBLAS_THREAD_TIMEOUT") if k in os.environ}
    print(f"CPU: {cpu_description()}")
    print(f"numpy {np.__version__}, {blas}; OpenBLAS environment: {env or 'unset'}; "
          f"GEMM ceiling (2048^3 float32) {ceiling:.0f} GFLOP/s")
    if info is None:
        print("PyTorch: not measured (--no-torch, or not installed: pip install torch==2.13.0)")
    else:
        print(f"PyTorch {info['version']}, BLAS {info['blas']}, CPU capability "
              f"{info['capability']}, {info['threads']} threads; GEMM ceiling "
              f"{info['ceiling']:.0f} GFLOP/s")
    softmax = "full" if args.softmax == "full" else f"adaptive:{args.cutoffs}"
    print(f"{args.rounds} rounds, each engine in a fresh process, alternating; medians, and "
          f"the per-round ratio as median (min-max); softmax {softmax}")
    print()
    print("| config | cell | rnnlm train tok/s | PyTorch train tok/s | train ratio | "
          "rnnlm eval tok/s | PyTorch eval tok/s | eval ratio | output products alone tok/s |"
          " all products alone, train / eval tok/s | GEMM share |")
    print("|---|---|---:|---:|---|---:|---:|---|---:|---:|---:|")
    engines = ("rnnlm",) if info is None else ENGINES
    for name in args.configs:
        embed, hidden, layers, *_ = CONFIGS[name]
        for cell in args.cells:
            rounds = []
            for r in range(args.rounds):
                order = engines if r % 2 == 0 else engines[::-1]
                got = {e: run_worker("--worker", e, name, cell, str(args.seconds), softmax)
                       for e in order}
                if all(got.values()):
                    rounds.append(got)
            if not rounds:
                print(f"| {name} | {cell} | failed |", flush=True)
                continue
            med = {(e, k): statistics.median(g[e][k] for g in rounds)
                   for e in engines for k in ("train", "eval")}
            if softmax == "full":
                products, all_train, all_eval = (
                    f"{statistics.median(g['rnnlm'][k] for g in rounds):,.0f}"
                    for k in ("products", "all_train", "all_eval"))
                flops = train_flops_per_token(cell, embed, hidden, layers)
                share = f"{flops * med['rnnlm', 'train'] / (ceiling * 1e9):.0%}"
            else:
                products = all_train = all_eval = share = "-"
            if info is None:
                peer = "- | - | " + f"{med['rnnlm', 'eval']:,.0f} | - | -"
            else:
                ratios = {k: [g["rnnlm"][k] / g["torch"][k] for g in rounds]
                          for k in ("train", "eval")}
                peer = (f"{med['torch', 'train']:,.0f} | {spread(ratios['train'])} | "
                        f"{med['rnnlm', 'eval']:,.0f} | {med['torch', 'eval']:,.0f} | "
                        f"{spread(ratios['eval'])}")
            print(f"| {name} | {cell} | {med['rnnlm', 'train']:,.0f} | {peer} | "
                  f"{products} | {all_train} / {all_eval} | {share} |", flush=True)


if __name__ == "__main__":
    main()
