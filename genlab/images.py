"""Pictures of images: one grid, small images enlarged so a person can see them."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchvision.transforms.functional import to_pil_image
from torchvision.utils import make_grid

MIN_PIXELS = 32  # small images are enlarged (nearest neighbour) to at least this many pixels a side


def image_grid(images: torch.Tensor, n_levels: int, nrow: int = 8):
    """A PIL grid of images (N, C, H, W) with levels 0..n_levels-1 (floats allowed, e.g. means)."""
    x = images.detach().float().cpu() / (n_levels - 1)
    scale = max(1, MIN_PIXELS // x.shape[-1])
    if scale > 1:
        x = F.interpolate(x, scale_factor=scale, mode="nearest")
    return to_pil_image(make_grid(x.clamp(0, 1), nrow=nrow, padding=2, pad_value=0.5))
