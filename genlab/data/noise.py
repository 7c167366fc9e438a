"""The seeded noise that turns data into what a model is fitted on: one implementation each,
used by preprocess (one draw for the validation and test splits), the training loop (a fresh
draw every batch) and the GAN's discriminator.

- binarization: Bernoulli pixels with probability grey / (levels - 1);
- dequantization: x + u, u ~ U(0, 1), so a density on the result bounds the discrete
  likelihood (-log P(x) <= E_u[-log p(x + u)]).

Every draw comes from the ``torch.Generator`` passed in, on that generator's device.
"""

from __future__ import annotations

import torch


def uniform(shape, generator: torch.Generator, dtype=torch.float32) -> torch.Tensor:
    return torch.rand(shape, generator=generator, device=generator.device, dtype=dtype)


def binarize(grey: torch.Tensor, levels: int, generator: torch.Generator) -> torch.Tensor:
    """Bernoulli pixels, uint8 0/1, from grey levels 0..levels-1."""
    u = uniform(grey.shape, generator).to(grey.device)
    return (u < grey.float() / (levels - 1)).to(torch.uint8)


def dequantize(x: torch.Tensor, columns: list[int], generator: torch.Generator) -> torch.Tensor:
    """x + u, u ~ U(0, 1), in the given columns of a (N, F) table (float64); other columns as given."""
    out = x.double().clone()
    out[:, columns] += uniform((len(x), len(columns)), generator, torch.float64).to(x.device)
    return out


def dequantize_levels(x: torch.Tensor, levels: int, generator: torch.Generator) -> torch.Tensor:
    """Discrete levels 0..levels-1 spread uniformly over [0, 1): (x + u) / levels, float32."""
    return (x.float() + uniform(x.shape, generator).to(x.device)) / levels
