"""Helpers shared by the exact discrete baselines: additive smoothing and per-pixel draws."""

from __future__ import annotations

import torch


def smoothed_log_probs(counts: torch.Tensor, smoothing: float) -> torch.Tensor:
    """log((n + a) / sum(n + a)) over the last axis, in float64."""
    counts = counts.double() + smoothing
    return counts.log() - counts.sum(-1, keepdim=True).log()


def draw(log_probs: torch.Tensor, generator: torch.Generator, temperature: float = 1.0) -> torch.Tensor:
    """One categorical draw per row of log_probs (..., L); returns int64 of shape (...). With a
    temperature, from p^(1/temperature) renormalised (multinomial takes unnormalised weights)."""
    flat = log_probs.reshape(-1, log_probs.shape[-1])
    if temperature != 1.0:
        flat = flat / temperature
        flat = flat - flat.amax(-1, keepdim=True)
    flat = flat.exp()
    return torch.multinomial(flat, 1, replacement=True, generator=generator).reshape(log_probs.shape[:-1])
