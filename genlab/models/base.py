"""What every genlab model provides: the one interface the training loop and the stages call.

A model is a module ``genlab/models/<name>.py`` whose ``MODEL`` is a subclass of
``GenerativeModel`` (or a tuple of them, one per kind of data) with its params section as
the nested class ``Params``. Every hook below has a documented default, so a model writes
only what it does differently:

- training: either by gradient steps through the shared loop (``trains_by_gradient = True``,
  the ``genlab.train.Trainable`` hooks: ``loss``, or ``make_optimizers`` + ``train_step``,
  ``validation_score``, ``snapshot``, ``begin_fit``, ``finish_fit``), or in closed form
  (``trains_by_gradient = False`` and ``fit``);
- sampling: ``sample`` (every model), ``samplers`` (alternative ways, each scored);
- likelihood: ``log_prob`` (exact) or ``likelihood_metrics`` (a bound), on the data's scale;
  ``has_likelihood = False`` for a model without one (a GAN);
- pictures: ``reconstruct`` and ``interpolation_strip`` (None: the model has none);
- ``needs_classifier``: the training stage attaches the frozen feature classifier
  (``attach_classifier``) before fitting.

Data arrive as tensors: uint8 images (N, C, H, W) with ``n_levels`` levels, or float64
values (N, F) with ``n_levels == 0``.
"""

from __future__ import annotations

import itertools
import math
from typing import ClassVar

import torch

from genlab.schema import Section
from genlab.train import Trainable


class GenerativeModel(Trainable):
    Params: ClassVar[type[Section]]
    modalities: ClassVar[tuple[str, ...]] = ()  # kinds of data it models ("images", "continuous", ...)
    trains_by_gradient: ClassVar[bool] = True  # False: closed-form ``fit``
    has_likelihood: ClassVar[bool] = True
    samplers: ClassVar[tuple[str, ...]] = ()  # alternative ways to sample, each scored on its own
    needs_classifier: ClassVar[bool] = False

    def __init__(self, params: Section, shape: tuple[int, ...], n_levels: int):
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
    def fit(self, train: torch.Tensor, val: torch.Tensor) -> dict:
        """Closed-form fit on the training data (``trains_by_gradient = False``); returns what to log."""
        raise NotImplementedError(f"{type(self).__name__} trains by gradient steps, not in closed form")

    def attach_classifier(self, classifier) -> None:
        """The frozen feature classifier (``needs_classifier``), kept out of the state dict."""
        self.__dict__["classifier"] = classifier

    # -- sampling ---------------------------------------------------------------
    def sample(self, n: int, generator: torch.Generator, sampler: str | None = None) -> torch.Tensor:
        """``n`` draws from the model, shaped like the data (with ``sampler``, one of ``samplers``)."""
        raise NotImplementedError

    @property
    def default_sampler(self) -> str | None:
        """The entry of ``samplers`` that ``sample`` uses when given none (None: no alternatives)."""
        return None

    # -- likelihood -------------------------------------------------------------
    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log-likelihood per example (float64, nats)."""
        raise NotImplementedError

    def likelihood_metrics(self, x: torch.Tensor, params, generator: torch.Generator) -> dict:
        """Test-set likelihood metrics (``params``: the evaluate section); default: the exact ``log_prob``."""
        nll = -self.log_prob(x).double()
        return nll_summary(nll, self.dim, discrete=self.n_levels > 0)

    # -- pictures ----------------------------------------------------------------
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor | None:
        """Reconstructions of x in levels (floats allowed), or None: the model has none."""
        return None

    def interpolation_strip(self, test: torch.Tensor, rows: int, steps: int, generator) -> torch.Tensor | None:
        """(rows, steps, *shape) images along straight lines in a latent space, or None."""
        return None


def nll_summary(nll: torch.Tensor, dim: int, discrete: bool = True) -> dict:
    """Mean NLL (nats per example), its standard error, and (on a discrete scale) bits per dimension."""
    n = nll.numel()
    mean = nll.mean().item()
    out = {"nll": mean, "nll_stderr": nll.std(unbiased=True).item() / math.sqrt(n) if n > 1 else float("nan")}
    if discrete:
        out["bits_per_dim"] = mean / (dim * math.log(2))
    out["n_test"] = n
    return out
