"""Continue training an rnnlm model in PyTorch on any number of processes or GPUs, with
DistributedDataParallel, then hand it back to rnnlm.

    rnnlm export models/jenny-lstm.npz jenny-lstm.safetensors
    torchrun --standalone --nproc-per-node 2 examples/continue_in_pytorch.py \
        jenny-lstm.safetensors corpora/jenny/jenny.train.txt jenny-lstm-more.safetensors
    rnnlm import jenny-lstm-more.safetensors models/jenny-lstm-more.npz
    rnnlm eval models/jenny-lstm-more.npz corpora/jenny/jenny.valid.txt

Run without torchrun it trains in one process. On CPUs the processes talk over gloo, on GPUs
over NCCL (one GPU per process). The corpus is read as rnnlm reads it (every line ends in
<eos>) and cut into one contiguous share per process, each laid out as ``--batch-size``
parallel streams: truncated backpropagation through time over ``--bptt`` steps with the state
carried, clipping by global norm and plain SGD, as `rnnlm train` does. DDP averages the
gradients of the processes at every step, so N processes take steps of N x batch-size streams.
"""

import argparse
import math
import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from rnnlm import Vocabulary
from rnnlm.data import encode_file
from rnnlm.torch import RNNLM


def streams(ids, batch_size, rank, world):
    """This process's share of the ids as (T, batch_size) time-major streams."""
    share = len(ids) // world
    ids = ids[rank * share:(rank + 1) * share]
    T = len(ids) // batch_size
    return torch.as_tensor(ids[:T * batch_size], dtype=torch.long).view(batch_size, T).t()


def detach(state):
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a .safetensors file written by `rnnlm export`")
    parser.add_argument("corpus", help="a training text, read as rnnlm reads one")
    parser.add_argument("out", help="the .safetensors file to write, for `rnnlm import`")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=20, help="streams per process")
    parser.add_argument("--bptt", type=int, default=35)
    parser.add_argument("--lr", type=float, default=1.0)
    parser.add_argument("--clip", type=float, default=0.25)
    args = parser.parse_args(argv)

    distributed = "WORLD_SIZE" in os.environ            # started by torchrun
    cuda = torch.cuda.is_available()
    if distributed:
        dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if cuda else "cpu")
    torch.manual_seed(rank)

    model = RNNLM.from_safetensors(args.model).to(device)
    ids, _ = encode_file(args.corpus, Vocabulary(model.vocab, model.level))
    data = streams(ids, args.batch_size, rank, world).to(device)
    if len(data) < args.bptt + 1:
        raise SystemExit(f"continue_in_pytorch: error: each of the {world} processes gets "
                         f"{len(data)} steps of {args.batch_size} streams, fewer than --bptt "
                         f"{args.bptt} + 1: use a longer corpus, fewer streams or a smaller "
                         "--bptt")
    net = DistributedDataParallel(model, device_ids=[device.index] if cuda else None) \
        if distributed else model
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)
    state, position, total = None, 0, 0.0
    for step in range(1, args.steps + 1):
        if position + args.bptt + 1 > len(data):        # the end of the share: start again
            state, position = None, 0
        x = data[position:position + args.bptt]
        y = data[position + 1:position + 1 + args.bptt]
        position += args.bptt
        logits, state = net(x, None if state is None else detach(state))
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                 y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        optimizer.step()
        total += loss.item()
        if rank == 0 and (step % 50 == 0 or step == args.steps):
            mean = total / (50 if step % 50 == 0 else step % 50)
            print(f"step {step}: training perplexity {math.exp(mean):.2f} "
                  f"({world} process{'es' * (world > 1)})", flush=True)
            total = 0.0
    if distributed:
        dist.barrier()                      # all done training; rank 0 alone writes
        dist.destroy_process_group()
    if rank == 0:
        model.save_safetensors(args.out)
        print(f"wrote {args.out}", flush=True)


if __name__ == "__main__":
    main()
