"""Seeding, deterministic kernels and the device, set once at the start of a stage."""

from __future__ import annotations

import random

import numpy as np
import torch

from genlab.params import resolve_device


def setup(device: str, seed: int) -> torch.device:
    """Seed every generator, ask for deterministic algorithms, and return the device to use."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=False)
    return torch.device(resolve_device(device))


def generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)
