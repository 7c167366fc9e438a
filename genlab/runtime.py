"""Seeding, deterministic kernels and the device, set once at the start of a stage."""

from __future__ import annotations

import ctypes
import os
import random
import sys

import numpy as np
import torch

from genlab.errors import GenlabError

# cuBLAS is deterministic only with a fixed workspace, set before its first call (PyTorch's
# reproducibility notes); harmless on the CPU.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def cpu_bf16() -> str:
    """How this CPU multiplies bf16: ``amx`` (matrix tiles), ``avx512-bf16`` (vector dot products),
    else ``no-bf16`` (emulated: slower than float32)."""
    if torch.cpu._is_amx_tile_supported():
        return "amx"
    return "avx512-bf16" if torch.cpu._is_avx512_bf16_supported() else "no-bf16"


def skip_compiler_imports() -> None:
    """PyTorch wraps some functions a stage calls (an optimiser's ``zero_grad``, ``add_param_group``,
    ``state_dict``, ``load_state_dict``; the FLOP counter's ``__torch_dispatch__``) in
    ``torch._disable_dynamo``, which on the first call imports the compiler (torch._dynamo, about a
    second of the stage's start) only to mark the function as one not to compile. genlab compiles
    nothing, so the mark is set here beforehand (the function itself, which the wrapper then calls
    as it is) and the import never happens. Where PyTorch's wrapping differs, nothing changes."""
    from torch.utils.flop_counter import _FlopCounterMode

    wrapper = torch._disable_dynamo(lambda: None).__code__
    for owner in (torch.optim.Optimizer, _FlopCounterMode):
        for attr in vars(owner).values():
            raw = getattr(attr, "__wrapped__", None)
            if getattr(attr, "__code__", None) is wrapper and callable(raw) and not hasattr(raw, "__dynamo_disable"):
                raw.__dynamo_disable = raw


def deterministic() -> None:
    """``torch.use_deterministic_algorithms(True)`` without the import of the compiler (torch._inductor,
    over a second of every stage's start) that the public function makes to set the compiler's own
    switch: genlab compiles nothing, so the switch in torch's core is set, and the compiler's too
    where something has imported it already."""
    if "torch._inductor.config" in sys.modules or not hasattr(torch._C, "_set_deterministic_algorithms"):
        torch.use_deterministic_algorithms(True, warn_only=False)
    else:
        torch._C._set_deterministic_algorithms(True, warn_only=False)


def setup(device: str, seed: int, precision: str = "highest") -> torch.device:
    """Seed every generator (the CPU's and every CUDA device's), ask for deterministic
    algorithms, set the float32 precision of CUDA matmuls and convolutions (``highest``: IEEE
    float32; ``high``: TF32, faster on Ampere and later, about 10 significant bits), and return
    the device to use. The CPU path is untouched by ``precision``."""
    set_threads()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # seeds CUDA's default generators too
    deterministic()
    skip_compiler_imports()
    keep_freed_memory()
    resolved = torch.device(resolve_device(device))
    if resolved.type == "cuda":
        set_cuda_precision(precision)
    return resolved


def set_threads() -> int:
    """PyTorch's CPU threads from ``GENLAB_THREADS`` when it is set (so that jobs run side by side,
    `dvc queue start -j 2` say, share the cores instead of each taking all of them); returns the
    count in use. Results on the CPU do not depend on it."""
    value = os.environ.get("GENLAB_THREADS", "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise GenlabError(f"GENLAB_THREADS={value!r}: give a whole number of threads, at least 1")
        torch.set_num_threads(int(value))
    return torch.get_num_threads()


def set_cuda_precision(precision: str) -> None:
    """TF32 or not for CUDA's float32 matmuls, cuDNN convolutions and RNNs (PyTorch's fp32_precision
    API; cuDNN convolutions default to TF32, so ``highest`` turns that off too)."""
    mode = {"highest": "ieee", "high": "tf32"}[precision]
    torch.backends.cuda.matmul.fp32_precision = mode
    torch.backends.cudnn.conv.fp32_precision = mode
    torch.backends.cudnn.rnn.fp32_precision = mode
    torch.backends.cudnn.benchmark = False  # its algorithm choice varies run to run


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed blocks below 32 MiB for reuse instead of handing them
    back to the system: a training step or an IWAE chunk allocates the same tensors of a few
    MiB every time, and re-mapping them costs page faults that measured a third of an IWAE
    chunk here (30 -> 21 ms). Returns whether it applied (glibc only; it changes no result)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        return bool(libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 1 << 30))
    except (OSError, AttributeError):
        return False


def generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def resolve_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise GenlabError("device: 'cuda' was asked for but no CUDA device is available")
    return name


def world() -> tuple[int, int]:
    """(rank, world size): (0, 1) outside a process group."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def all_sum(t: torch.Tensor) -> torch.Tensor:
    """The sum over ranks (``t`` itself in one process)."""
    if world()[1] == 1:
        return t
    import torch.distributed as dist

    t = t.clone()
    dist.all_reduce(t)
    return t
