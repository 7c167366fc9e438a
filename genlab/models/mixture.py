"""A mixture of per-pixel categoricals, fitted by expectation-maximisation.

p(x) = sum_k pi_k prod_d theta_kd[x_d]. EM starts from a seeded random soft assignment
and stops when the mean training log-likelihood improves by less than ``tol`` nats;
``smoothing`` is a Dirichlet pseudo-count (a MAP estimate), so no level has zero mass.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pydantic import Field

from genlab.models.base import GenerativeModel, needs_images
from genlab.models.discrete import draw, smoothed_log_probs
from genlab.schema import Section


class Mixture(GenerativeModel):
    class Params(Section):
        seed: int = Field(0, ge=0)
        n_components: int = Field(10, ge=1)
        max_iter: int = Field(200, ge=1)
        tol: float = Field(1e-4, ge=0, description="stop when the mean train log-likelihood gains less (nats)")
        smoothing: float = Field(0.5, gt=0, description="pseudo-count added to every (component, pixel, level)")

    def __init__(self, params: "Mixture.Params", shape, n_levels):
        super().__init__(params, shape, n_levels)
        needs_images(self, "mixture")
        K = params.n_components
        self.register_buffer("log_weights", torch.full((K,), -math.log(K), dtype=torch.float64))
        self.register_buffer("log_probs", torch.zeros(K, self.dim, self.n_levels, dtype=torch.float64))

    def _onehot(self, x: torch.Tensor) -> torch.Tensor:
        return F.one_hot(x.flatten(1).long(), self.n_levels).flatten(1).double()  # (N, D*L)

    def _joint(self, onehot: torch.Tensor) -> torch.Tensor:
        """log pi_k + log p(x | k), (N, K)."""
        return onehot @ self.log_probs.flatten(1).T + self.log_weights

    def fit(self, train: torch.Tensor, val: torch.Tensor) -> dict:
        p, K = self.params, self.params.n_components
        X = self._onehot(train)
        gen = torch.Generator().manual_seed(p.seed)
        resp = -torch.log(torch.rand(len(X), K, generator=gen, dtype=torch.float64))  # a seeded Dirichlet(1)
        resp = resp / resp.sum(1, keepdim=True)
        previous, ll, it = -math.inf, -math.inf, 0
        for it in range(1, p.max_iter + 1):
            # M-step
            nk = resp.sum(0)
            self.log_weights.copy_((nk + 1e-12).log() - math.log(len(X)))
            counts = (resp.T @ X).reshape(K, self.dim, self.n_levels)
            self.log_probs.copy_(smoothed_log_probs(counts, p.smoothing))
            # E-step
            joint = self._joint(X)
            norm = torch.logsumexp(joint, 1, keepdim=True)
            resp = (joint - norm).exp()
            ll = norm.mean().item()
            if ll - previous < p.tol:
                break
            previous = ll
        return {"em_iterations": it, "train_log_likelihood": ll}

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return torch.logsumexp(self._joint(self._onehot(x)), 1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, sampler: str | None = None) -> torch.Tensor:
        k = draw(self.log_weights.expand(n, -1), generator)
        return draw(self.log_probs[k], generator).reshape(n, *self.shape).to(torch.uint8)
