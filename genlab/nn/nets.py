"""Network pieces built from the data's shape: nothing here is hard-wired to an image size.

An encoder maps images (N, C, H, W) to vectors (N, out); a decoder maps vectors (N, in) to
(N, C, H, W, K): K numbers per pixel (the parameters of an observation model, or K = 1 value). The
convolutional ones halve the resolution with stride-2 3x3 convolutions (ceil(H/2), so odd
sizes work) until it is at most 4, and the decoder doubles it back and crops to H x W.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

Wrap = Callable[[nn.Module], nn.Module]


def _identity(m: nn.Module) -> nn.Module:
    return m


class SpectralNormLinear(nn.Linear):
    """A linear layer with spectral normalisation (Miyato et al. 2018): y = x W^T / sigma + b, sigma
    the largest singular value of W, estimated by one power iteration per training forward (15 at
    the start; v then u, where ``torch.nn.utils.parametrizations.spectral_norm`` updates u then
    v), with sigma = u^T W v differentiated through W only, as torch does. Dividing the output
    (batch x out) rather than W (out x in) is the same function and, for a wide W, a quarter
    less time per GAN step on 28x28 images."""

    def __init__(self, linear: nn.Linear):
        super().__init__(linear.in_features, linear.out_features, bias=linear.bias is not None)
        with torch.no_grad():
            self.weight.copy_(linear.weight)
            if self.bias is not None:
                self.bias.copy_(linear.bias)
            u = F.normalize(self.weight.new_empty(self.out_features).normal_(), dim=0)
            self.register_buffer("u", u)
            self.register_buffer("v", torch.zeros(self.in_features))
            for _ in range(15):
                self._power_iteration()

    @torch.no_grad()
    def _power_iteration(self) -> None:
        self.v.copy_(F.normalize(self.weight.t() @ self.u, dim=0))
        self.u.copy_(F.normalize(self.weight @ self.v, dim=0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u, v = self.u, self.v
        if self.training:
            self._power_iteration()
            u, v = self.u.clone(), self.v.clone()  # the next forward's iteration must not touch saved ones
        sigma = torch.dot(u, torch.mv(self.weight, v))
        out = F.linear(x, self.weight) / sigma
        return out if self.bias is None else out + self.bias


def spectral_norm(module: nn.Module) -> nn.Module:
    """Spectral normalisation of a linear (``SpectralNormLinear``) or convolutional layer."""
    if isinstance(module, nn.Linear):
        return SpectralNormLinear(module)
    return nn.utils.parametrizations.spectral_norm(module)


def mlp(sizes: list[int], act: Callable[[], nn.Module] = nn.ReLU, wrap: Wrap = _identity) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(wrap(nn.Linear(a, b)))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


def downsampled(h: int, w: int, smallest: int = 4) -> tuple[int, int, int]:
    """How many stride-2 steps bring (h, w) to at most ``smallest`` a side, and the size then."""
    n = 0
    while max(h, w) > smallest:
        h, w, n = math.ceil(h / 2), math.ceil(w / 2), n + 1
    return n, h, w


class MLPEncoder(nn.Module):
    def __init__(self, shape, out_dim: int, hidden: list[int], act=nn.ReLU, wrap: Wrap = _identity):
        super().__init__()
        self.net = mlp([math.prod(shape), *hidden, out_dim], act, wrap)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


class MLPDecoder(nn.Module):
    def __init__(self, in_dim: int, shape, per_pixel: int, hidden: list[int], act=nn.ReLU):
        super().__init__()
        self.shape, self.per_pixel = tuple(shape), per_pixel
        self.net = mlp([in_dim, *hidden, math.prod(shape) * per_pixel], act)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).reshape(len(z), *self.shape, self.per_pixel)


class ConvEncoder(nn.Module):
    def __init__(self, shape, out_dim: int, width: int, act=nn.ReLU, wrap: Wrap = _identity):
        super().__init__()
        c, h, w = shape
        n, hs, ws = downsampled(h, w)
        layers: list[nn.Module] = [wrap(nn.Conv2d(c, width, 3, padding=1)), act()]
        ch = width
        for i in range(n):
            nxt = width * 2 ** min(i + 1, 3)
            layers += [wrap(nn.Conv2d(ch, nxt, 3, stride=2, padding=1)), act()]
            ch = nxt
        self.conv = nn.Sequential(*layers)
        self.head = wrap(nn.Linear(ch * hs * ws, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x).flatten(1))


class ConvDecoder(nn.Module):
    def __init__(self, in_dim: int, shape, per_pixel: int, width: int, act=nn.ReLU):
        super().__init__()
        self.shape, self.per_pixel = tuple(shape), per_pixel
        c, h, w = shape
        n, hs, ws = downsampled(h, w)
        ch = width * 2 ** min(n, 3)
        self.start = (ch, hs, ws)
        self.head = nn.Linear(in_dim, ch * hs * ws)
        layers: list[nn.Module] = [act()]
        for i in reversed(range(n)):
            nxt = width * 2 ** min(i, 3)
            layers += [nn.ConvTranspose2d(ch, nxt, 4, stride=2, padding=1), act()]
            ch = nxt
        self.up = nn.Sequential(*layers)
        self.out = nn.Conv2d(ch, c * per_pixel, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        c, h, w = self.shape
        y = self.up(self.head(z).reshape(len(z), *self.start))[:, :, :h, :w]
        y = self.out(y).reshape(len(z), c, self.per_pixel, h, w)
        return y.permute(0, 1, 3, 4, 2)  # (N, C, H, W, K)


def encoder(arch: str, shape, out_dim: int, hidden: list[int], width: int, act=nn.ReLU, wrap: Wrap = _identity):
    if arch == "conv":
        return ConvEncoder(shape, out_dim, width, act, wrap)
    return MLPEncoder(shape, out_dim, hidden, act, wrap)


def decoder(arch: str, in_dim: int, shape, per_pixel: int, hidden: list[int], width: int, act=nn.ReLU):
    if arch == "conv":
        return ConvDecoder(in_dim, shape, per_pixel, width, act)
    return MLPDecoder(in_dim, shape, per_pixel, list(reversed(hidden)), act)
