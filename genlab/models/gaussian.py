"""A fitted Gaussian: the multivariate normal distribution, for continuous values (tables, 1-D data).

Maximum-likelihood mean and covariance of the training values (with a small ridge on the
diagonal so the covariance stays positive definite); the test log-density is exact.
"""

from __future__ import annotations

import torch
from pydantic import Field

from genlab.config.schema import Section
from genlab.models.base import GenerativeModel


class Gaussian(GenerativeModel):
    modalities = ("continuous",)
    trains_by_gradient = False

    class Params(Section):
        ridge: float = Field(1e-6, ge=0, le=1e6, description="added to the covariance's diagonal, times each variance")

    def __init__(self, params: "Gaussian.Params", shape, n_levels):
        super().__init__(params, shape, n_levels)
        d = self.dim
        self.register_buffer("mean", torch.zeros(d, dtype=torch.float64))
        self.register_buffer("scale_tril", torch.eye(d, dtype=torch.float64))

    def fit(self, train: torch.Tensor, val) -> dict:
        x = train.flatten(1).double()
        mean = x.mean(0)
        cov = torch.atleast_2d(torch.cov(x.T, correction=0))
        cov = cov + self.params.ridge * torch.diag(cov.diagonal().clamp_min(1e-12))
        self.mean.copy_(mean)
        self.scale_tril.copy_(torch.linalg.cholesky(cov))
        return {}

    def _dist(self) -> torch.distributions.MultivariateNormal:
        return torch.distributions.MultivariateNormal(self.mean, scale_tril=self.scale_tril)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return self._dist().log_prob(x.flatten(1).double())

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, sampler: str | None = None) -> torch.Tensor:
        eps = torch.randn((n, self.dim), generator=generator, device=generator.device, dtype=torch.float64).to(self.mean.device)
        return (self.mean + eps @ self.scale_tril.T).reshape(n, *self.shape)


MODEL = Gaussian
