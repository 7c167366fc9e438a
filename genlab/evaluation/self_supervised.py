"""The self-supervised feature network: the sample metrics' feature space where images have no labels.

SimCLR (Chen et al. 2020): every training image is drawn twice, each view augmented on its own
(a random crop and shift, brightness and contrast, for colour images colour and grey-scale
changes, pixel noise), and a small convolutional encoder learns to tell the two views of one
image from the views of every other image in the batch (the NT-Xent loss on a projection head).
Its encoder's output, not the head's, is the feature space, as in SimCLR. No label is read;
it is trained by the shared loop on the train split, early-stopped on the validation split's
loss (the same seeded augmentations every epoch), frozen, and a versioned pipeline output like
the classifier. Numbers are comparable only between runs in the same features.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from genlab.config.sections import SelfSupervisedParams
from genlab.io import building_from, load_checkpoint, save_checkpoint
from genlab.models.base import Trainable

MAX_SIDE = 16  # the first convolution strides images larger than this down to it (or less)


def encoder(channels: int, height: int, width: int, base: int, feature_dim: int) -> nn.Sequential:
    """3x3 convolutions, halving the image (and doubling the channels) down to 4 pixels a side or
    less, then one linear layer to ``feature_dim``. The first one strides a side over ``MAX_SIDE``
    down to at most that, so a step costs about the same from 16x16 images up (a CPU budget)."""
    stride = max(1, math.ceil(max(height, width) / MAX_SIDE))
    layers: list[nn.Module] = [nn.Conv2d(channels, base, 3, stride=stride, padding=1), nn.ReLU()]
    c, h, w = base, (height - 1) // stride + 1, (width - 1) // stride + 1
    while max(h, w) > 4:
        layers += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(2 * c, 2 * c, 3, padding=1), nn.ReLU()]
        c, h, w = 2 * c, (h + 1) // 2, (w + 1) // 2
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * h * w, feature_dim))


def augment(x: torch.Tensor) -> torch.Tensor:
    """One random view of each image in ``x`` (float, (N, C, H, W), values in [0, 1]), drawn from
    the global random stream: a crop of 70-100 % of the side, shifted by up to an eighth of it and
    resized back; brightness and contrast; for colour images saturation and, one time in five,
    grey; Gaussian pixel noise. No flips: a flipped digit is another digit."""
    n, c, h, w = x.shape
    dev = x.device
    scale = 0.7 + 0.3 * torch.rand(n, device=dev)
    shift = (torch.rand(n, 2, device=dev) * 2 - 1) * 0.25  # in grid units ([-1, 1] spans the image)
    theta = torch.zeros(n, 2, 3, device=dev)
    theta[:, 0, 0], theta[:, 1, 1] = scale, scale
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, (n, c, h, w), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    mean = x.mean((1, 2, 3), keepdim=True)
    contrast = 0.6 + 0.8 * torch.rand(n, 1, 1, 1, device=dev)
    brightness = (torch.rand(n, 1, 1, 1, device=dev) * 2 - 1) * 0.2
    x = (x - mean) * contrast + mean + brightness
    if c == 3:
        grey = x.mean(1, keepdim=True)
        saturation = 0.5 + torch.rand(n, 1, 1, 1, device=dev)
        saturation = torch.where(torch.rand(n, 1, 1, 1, device=dev) < 0.2, torch.zeros_like(saturation), saturation)
        x = grey + (x - grey) * saturation
    x = x + 0.05 * torch.randn_like(x)
    return x.clamp(0, 1)


class SelfSupervised(Trainable):
    def __init__(self, params: SelfSupervisedParams, shape, n_levels: int):
        super().__init__()
        self.params = params
        self.shape, self.n_levels = tuple(int(s) for s in shape), int(n_levels)
        self.encoder = encoder(*self.shape, params.width, params.feature_dim)
        d = params.feature_dim
        self.head = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, d))

    def _inputs(self, x: torch.Tensor) -> torch.Tensor:
        return x.float() / (self.n_levels - 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's output for uint8 images, (N, feature_dim)."""
        return self.encoder(self._inputs(x))

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """NT-Xent: each view's cross-entropy of picking its partner among the 2N - 1 other views,
        by cosine similarity over the temperature."""
        v = self._inputs(x)
        z = F.normalize(self.head(self.encoder(torch.cat([augment(v), augment(v)]))), dim=1)
        n = len(x)
        sim = (z @ z.T) / self.params.temperature
        sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=x.device), float("-inf"))
        partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(x.device)
        return F.cross_entropy(sim, partner)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 4096) -> tuple[torch.Tensor, None]:
        """(features, None) of many images, in eval mode and in batches: no class predictions."""
        self.eval()
        device = next(self.parameters()).device
        return torch.cat([self.features(b.to(device)) for b in x.split(batch_size)]).cpu(), None

    def save(self, path: str | Path, meta: dict) -> None:
        save_checkpoint({"params": self.params.model_dump(), "meta": meta, "state_dict": self.state_dict()}, path)

    @classmethod
    def load(cls, path: str | Path, device="cpu") -> "SelfSupervised":
        ckpt = load_checkpoint(path, "self-supervised feature network", "self_supervised", device)
        with building_from(path, "self-supervised feature network", "self_supervised"):
            model = cls(SelfSupervisedParams.model_validate(ckpt["params"]), ckpt["meta"]["shape"], ckpt["meta"]["n_levels"])
            model.load_state_dict(ckpt["state_dict"])
        return model.to(device).eval()

