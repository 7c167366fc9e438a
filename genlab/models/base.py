"""What every genlab model provides.

A model works on uint8 images of shape (N, C, H, W) with ``n_levels`` grey levels.
It either trains by gradient steps (``trains_by_gradient = True``: it supplies
``loss`` and the shared loop in ``genlab.train`` does the rest) or fits in closed
form (``fit``). Every model samples; a model with a likelihood reports it on the
same discrete scale (nats per image) through ``likelihood_metrics``.
"""

from __future__ import annotations

import itertools
import math
from typing import ClassVar

import torch
from torch import nn

from genlab.errors import GenlabError
from genlab.schema import Section


class GenerativeModel(nn.Module):
    Params: ClassVar[type[Section]]
    trains_by_gradient: ClassVar[bool] = False
    has_likelihood: ClassVar[bool] = True

    def __init__(self, params: Section, shape: tuple[int, int, int], n_levels: int):
        super().__init__()
        self.params = params
        self.shape = tuple(int(s) for s in shape)
        self.n_levels = int(n_levels)

    @property
    def device(self) -> torch.device:
        for t in itertools.chain(self.parameters(), self.buffers()):
            return t.device
        return torch.device("cpu")

    @property
    def dim(self) -> int:
        return math.prod(self.shape)

    # -- training -------------------------------------------------------------
    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """Mean training objective per example (nats) of a uint8 batch."""
        raise NotImplementedError

    def fit(self, train: torch.Tensor, val: torch.Tensor) -> dict:
        """Closed-form fit on uint8 training images; returns what to log."""
        raise NotImplementedError

    def begin_fit(self, train: torch.Tensor) -> None:
        """Anything taken from the training data before the first step (a standardisation, say)."""

    def finish_fit(self, train: torch.Tensor) -> dict:
        """Anything fitted after the weights (a latent sampler, say); returns what to log."""
        return {}

    # -- sampling ---------------------------------------------------------------
    samplers: ClassVar[tuple[str, ...]] = ()  # alternative ways to sample, each scored on its own

    def sample(self, n: int, generator: torch.Generator, sampler: str | None = None) -> torch.Tensor:
        """``n`` uint8 images drawn from the model (with ``sampler``, one of ``samplers``)."""
        raise NotImplementedError

    # -- likelihood -------------------------------------------------------------
    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log-likelihood per image (float64, nats)."""
        raise NotImplementedError

    def likelihood_metrics(self, x: torch.Tensor, params, generator: torch.Generator) -> dict:
        """Test-set likelihood metrics; the default uses the exact ``log_prob``."""
        nll = -self.log_prob(x).double()
        return nll_summary(nll, self.dim, discrete=self.n_levels > 0)


def nll_summary(nll: torch.Tensor, dim: int, discrete: bool = True) -> dict:
    """Mean NLL (nats per example), its standard error, and (on a discrete scale) bits per dimension."""
    n = nll.numel()
    mean = nll.mean().item()
    out = {"nll": mean, "nll_stderr": nll.std(unbiased=True).item() / math.sqrt(n) if n > 1 else float("nan")}
    if discrete:
        out["bits_per_dim"] = mean / (dim * math.log(2))
    out["n_test"] = n
    return out


def needs_images(model: "GenerativeModel", name: str) -> None:
    """Stop with one line when a model of discrete images is asked to model continuous values."""
    if model.n_levels == 0:
        raise GenlabError(f"{name}: models discrete images, but this data is continuous (use vae or gaussian)")
