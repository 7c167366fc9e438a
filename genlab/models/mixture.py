"""A mixture of per-pixel categoricals, fitted by expectation-maximisation.

p(x) = sum_k pi_k prod_d theta_kd[x_d]. EM starts from a seeded random soft assignment
and stops when the mean training log-likelihood improves by less than ``tol`` nats;
``smoothing`` is a Dirichlet pseudo-count (a MAP estimate), so no level has zero mass. Completion is exact: the posterior over components given the visible
pixels, p(k | x_v) ∝ pi_k p(x_v | k), then the hidden pixels from the component drawn.
"""

from __future__ import annotations

import math

import torch
from pydantic import Field

from genlab.config.schema import Section
from genlab.models.base import GenerativeModel
from genlab.nn.discrete import draw, smoothed_log_probs


class Mixture(GenerativeModel):
    modalities = ("images",)
    trains_by_gradient = False

    class Params(Section):
        seed: int = Field(0, ge=0, description="seed of the random start")
        n_components: int = Field(10, ge=1, le=Section.MAX_COMPONENTS, description="mixture components")
        max_iter: int = Field(200, ge=1, description="most EM iterations")
        tol: float = Field(1e-4, ge=0, description="stop when the mean train log-likelihood gains less (nats)")
        smoothing: float = Field(0.5, gt=0, le=1e6, description="pseudo-count added to every (component, pixel, level)")
        conditional: bool = Field(
            False, description="labelled images: one model per class on that class's training images, p(y) the classes' "
            "frequencies: p(x | class) and p(x) = sum_y p(y) p(x | y) exact; samples are drawn for the class asked for"
        )

    def __init__(self, params: "Mixture.Params", shape, n_levels):
        super().__init__(params, shape, n_levels)
        K = params.n_components
        self.register_buffer("log_weights", torch.full((K,), -math.log(K), dtype=torch.float64))
        self.register_buffer("log_probs", torch.zeros(K, self.dim, self.n_levels, dtype=torch.float64))

    CHUNK = 4096  # examples at a time: the (K, chunk, D) gathers stay a few hundred MB at most

    def _joint(self, x: torch.Tensor) -> torch.Tensor:
        """log pi_k + log p(x | k), (N, K), for levels x (N, D): a gather per pixel, no one-hot."""
        K, D = self.params.n_components, self.dim
        x = x.to(self.log_probs.device)
        if self.n_levels == 2:  # binary pixels: sum_d lp0 + x_d (lp1 - lp0), one matrix product
            lp0, lp1 = self.log_probs.unbind(-1)
            return x.flatten(1).double() @ (lp1 - lp0).T + lp0.sum(1) + self.log_weights
        parts = []
        for chunk in x.flatten(1).long().split(self.CHUNK):
            index = chunk.T.unsqueeze(0).expand(K, D, len(chunk))  # (K, D, n)
            parts.append(self.log_probs.gather(2, index).sum(1).T)
        return torch.cat(parts) + self.log_weights

    def _counts(self, x: torch.Tensor, resp: torch.Tensor) -> torch.Tensor:
        """Expected counts sum_n resp[n, k] [x_nd = l], (K, D, L)."""
        K, D, L = self.params.n_components, self.dim, self.n_levels
        if L == 2:  # binary pixels: the counts of ones are one matrix product, of zeros the rest
            ones = resp.T @ x.flatten(1).double()  # (K, D)
            return torch.stack([resp.sum(0)[:, None] - ones, ones], -1)
        counts = torch.zeros(K, D * L, dtype=torch.float64, device=x.device)
        cells = torch.arange(D, device=x.device) * L
        for chunk, r in zip(x.flatten(1).long().split(self.CHUNK), resp.split(self.CHUNK)):
            index = (chunk + cells).flatten()  # (n * D,)
            counts.index_add_(1, index, r.T.repeat_interleave(D, dim=1))
        return counts.reshape(K, D, L)

    def fit(self, train: torch.Tensor, val: torch.Tensor) -> dict:
        p, K = self.params, self.params.n_components
        X = train.flatten(1).to(self.log_probs.device)  # the data where the model is (the GPU, say)
        gen = torch.Generator().manual_seed(p.seed)
        resp = -torch.log(torch.rand(len(X), K, generator=gen, dtype=torch.float64))  # a seeded Dirichlet(1)
        resp = (resp / resp.sum(1, keepdim=True)).to(X.device)
        previous, ll, it = -math.inf, -math.inf, 0
        for it in range(1, p.max_iter + 1):
            # M-step
            nk = resp.sum(0)
            self.log_weights.copy_((nk + 1e-12).log() - math.log(len(X)))
            self.log_probs.copy_(smoothed_log_probs(self._counts(X, resp), p.smoothing))
            # E-step
            joint = self._joint(X)
            norm = torch.logsumexp(joint, 1, keepdim=True)
            resp = (joint - norm).exp()
            ll = norm.mean().item()
            if ll - previous < p.tol:
                break
            previous = ll
        self.__dict__["_em_iterations"] = it  # for the cost (uncounted_flop), not saved
        return {"em_iterations": it, "train_log_likelihood": ll}

    def uncounted_flop(self, what: str, n: int) -> int:
        """One operation per (component, pixel) looked up or counted: E and M steps in every EM
        iteration, one pass to score; binary pixels use matrix products instead, which the
        counter sees. A sample: a draw over the components, then one over the levels per pixel."""
        K, D, L = self.params.n_components, self.dim, self.n_levels
        if what == "sample":
            return n * (K + D * L)
        per = 0 if L == 2 else K * D
        return n * per if what == "nll" else 2 * self.__dict__.get("_em_iterations", 1) * n * per

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return torch.logsumexp(self._joint(x), 1)

    def _split_joint(self, x: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(log pi_k + log p(x_visible | k), log p(x_hidden | k)), each (N, K): per-pixel terms
        gathered a few images at a time, then summed under the mask."""
        K, D = self.params.n_components, self.dim
        x, hidden = x.to(self.log_probs.device), hidden.to(self.log_probs.device)
        visible, hid = [], []
        step = max(1, self.CHUNK * 64 // (K * D))
        for chunk, h in zip(x.flatten(1).long().split(step), hidden.split(step)):
            index = chunk.T.unsqueeze(0).expand(K, D, len(chunk))
            terms = self.log_probs.gather(2, index).permute(2, 0, 1)  # (n, K, D)
            hid.append(terms.masked_fill(~h[:, None], 0).sum(-1))
            visible.append(terms.masked_fill(h[:, None], 0).sum(-1))
        return torch.cat(visible) + self.log_weights, torch.cat(hid)

    def completion_log_prob(self, x, hidden, k=0, generator=None, batch_size=64, steps=0):
        """Exact: log sum_k pi_k p(x_v|k) p(x_h|k) - log sum_k pi_k p(x_v|k)."""
        visible, hid = self._split_joint(x, hidden)
        return torch.logsumexp(visible + hid, 1) - torch.logsumexp(visible, 1), "exact"

    @torch.no_grad()
    def complete(self, x, hidden, generator, steps=0):
        """Exact: a component from its posterior given the visible pixels, then the hidden pixels from it."""
        visible, _ = self._split_joint(x, hidden)
        k = draw(visible - visible.logsumexp(1, keepdim=True), generator)  # normalised: no underflow
        drawn = draw(self.log_probs[k], generator).reshape(x.shape).to(x.dtype)
        return torch.where(hidden.view_as(x).to(drawn.device), drawn, x.to(drawn.device))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, sampler: str | None = None) -> torch.Tensor:
        k = draw(self.log_weights.expand(n, -1), generator)
        return draw(self.log_probs[k], generator).reshape(n, *self.shape).to(torch.uint8)


MODEL = Mixture
