"""Data-parallel training with PyTorch's own engine: torchrun starts the processes, DDP syncs them.

A stage that trains by gradient steps (`classifier`, `train@<model>`) reads the `distributed`
params section. With more than one process (``nproc_per_node`` x ``nnodes``) and not yet inside
one, it runs itself again under ``torch.distributed.run`` (torchrun): ``--standalone`` on one
machine; across several, torchrun's static rendezvous at ``rdzv_endpoint``, the first machine
(node rank 0: the one that runs DVC, whose rank 0 writes the outputs) and the others with
``GENLAB_NODE_RANK`` = 1, 2, ... in their environment. Each worker joins the process
group (gloo on the CPU, NCCL on CUDA, one GPU per local rank), the training loop wraps what
trains in ``DistributedDataParallel``, gives each rank a disjoint share of every epoch's
permutation, sums the validation loss over the ranks, and only rank 0 writes anything.
"""

from __future__ import annotations

import os

import torch

from genlab.errors import GenlabError
from genlab.runtime import all_sum, world  # noqa: F401 (part of this module's interface)


def in_worker() -> bool:
    """Whether this process is one of torchrun's workers."""
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def is_main() -> bool:
    return world()[0] == 0


def wanted(p) -> bool:
    return p.nproc_per_node * p.nnodes > 1


def node_rank(p) -> int:
    """This machine's place among ``p.nnodes``: ``GENLAB_NODE_RANK``, 0 (the first) if unset."""
    value = os.environ.get("GENLAB_NODE_RANK", "0").strip()
    if not value.isdigit() or int(value) >= p.nnodes:
        raise GenlabError(f"GENLAB_NODE_RANK={value!r}: give this machine's number, 0 to {p.nnodes - 1} (distributed.nnodes - 1)")
    return int(value)


def torchrun_args(p, module: str, argv: list[str]) -> list[str]:
    args = ["--nproc_per_node", str(p.nproc_per_node), "--nnodes", str(p.nnodes), "--max_restarts", "0"]
    if p.nnodes == 1:
        args.append("--standalone")
    else:
        args += ["--rdzv_backend", "static", "--rdzv_endpoint", p.rdzv_endpoint, "--node_rank", str(node_rank(p))]
    return [*args, "--module", module, *argv]


def launch(p, module: str, argv: list[str]) -> None:
    """Run ``python -m module argv`` in ``p``'s processes under torchrun and wait for them."""
    import logging

    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    world_size = p.nproc_per_node * p.nnodes
    print(f"{module}: {world_size} processes ({p.nproc_per_node} per machine, {p.nnodes} machines) under torchrun", flush=True)
    # the workers share this machine's cores (torchrun would set 1 and warn); GENLAB_THREADS wins
    os.environ.setdefault("OMP_NUM_THREADS", os.environ.get("GENLAB_THREADS") or str(max(1, (os.cpu_count() or 1) // p.nproc_per_node)))
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)  # failures: one line below
    try:
        run(get_args_parser().parse_args(torchrun_args(p, module, argv)))
    except ChildFailedError as exc:
        failures = exc.failures
        codes = sorted({f.exitcode for f in failures.values()})
        raise GenlabError(f"distributed training failed: {len(failures)} of its processes exited with {codes} (their messages are above)") from None
    except Exception as exc:  # a rendezvous that times out, a port in use
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise GenlabError(f"distributed: {first}") from None


def init(device: torch.device) -> torch.device:
    """Join torchrun's process group if this is one of its workers; returns this rank's device.
    (The training loop reseeds each rank, after DDP has copied rank 0's weights everywhere.)"""
    if not in_worker():
        return device
    import torch.distributed as dist

    local_rank = int(os.environ["LOCAL_RANK"])
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def finish() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def wrap(module: torch.nn.Module) -> torch.nn.Module:
    """``module`` in DistributedDataParallel on its own device."""
    from torch.nn.parallel import DistributedDataParallel

    device = next(module.parameters()).device
    return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)


def shard(order: torch.Tensor) -> torch.Tensor:
    """This rank's disjoint share of a permutation: every rank gets as many (the last few
    examples of the permutation, fewer than the world size, wait for the next epoch)."""
    rank, size = world()
    if size == 1:
        return order
    per = len(order) // size
    return order[rank * per : (rank + 1) * per]
