"""What every model trained by gradient steps uses from the optimiser's side: Adam with the
section's settings, and the check that stops a step whose loss is not finite."""

from __future__ import annotations

import torch

from genlab.runtime import world


class NonFinite(Exception):
    """Raised by a training step whose loss is NaN or infinite, before any weight moves."""


def check_finite(loss: torch.Tensor, name: str = "loss") -> torch.Tensor:
    """Stop before the step on the CPU, where the check is free. On a GPU the check would wait
    for the device every step, and with several processes one rank stopping alone would leave
    the others waiting: there the loop checks the epoch's summed losses instead (a NaN or
    infinity carries into the sum; every rank sees the same sum) and stops at the epoch's end,
    saving nothing either way."""
    if loss.device.type == "cpu" and world()[1] == 1 and not torch.isfinite(loss):
        raise NonFinite(f"the {name} became {loss.item()}")
    return loss


def make_adam(params, p, betas=(0.9, 0.999), decoupled: bool = False) -> torch.optim.Adam:
    """Adam with the section's lr and weight decay (``decoupled``: AdamW's); the fused kernel
    (one pass over all parameters, CPU and CUDA) where this PyTorch has it. ``params`` may be
    parameter groups, each with its own weight decay."""
    params, cls = list(params), torch.optim.AdamW if decoupled else torch.optim.Adam
    try:
        return cls(params, lr=p.lr, betas=betas, weight_decay=p.weight_decay, fused=True)
    except (RuntimeError, TypeError):
        return cls(params, lr=p.lr, betas=betas, weight_decay=p.weight_decay)
