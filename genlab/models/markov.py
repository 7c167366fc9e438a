"""A Markov chain over pixels in raster order: the article's state transition matrix.

With ``context: previous`` the state is the previous pixel in raster order, and the model
is p(x) = prod_t P_t[x_{t-1}, x_t], one transition matrix p_ij = P(X_t = j | X_{t-1} = i)
per position (the first pixel's state is a "start" state). With ``context: left_up`` the
state is the pair (left neighbour, upper neighbour), a border state standing in outside the
image. Counts are smoothed additively; the likelihood is exact.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from genlab.errors import GenlabError
from genlab.models.base import GenerativeModel
from genlab.discrete import draw, smoothed_log_probs
from genlab.schema import Section


class Markov(GenerativeModel):
    modalities = ("images",)
    trains_by_gradient = False
    MAX_ENTRIES = 2**28  # 2 GiB of float64: 8-bit 28x28 images with `previous` need 52 M

    class Params(Section):
        context: Literal["previous", "left_up"] = Field(
            "previous", description="the state: `previous` pixel in raster order, or the `left_up` neighbours"
        )
        smoothing: float = Field(0.5, gt=0, description="pseudo-count added to every transition count")

    def __init__(self, params: "Markov.Params", shape, n_levels):
        super().__init__(params, shape, n_levels)
        L = self.n_levels
        self.n_states = L + 1 if params.context == "previous" else (L + 1) ** 2
        entries = self.dim * self.n_states * L
        if entries > self.MAX_ENTRIES:
            raise GenlabError(
                f"markov.context: {params.context!r} at {L} levels needs a table of {entries:,} probabilities "
                f"({entries * 8 / 2**30:.0f} GiB); use " + ("'previous' or " if params.context != "previous" else "") + "fewer levels"
            )
        self.register_buffer("log_probs", torch.zeros(self.dim, self.n_states, L, dtype=torch.float64))

    def states(self, x: torch.Tensor) -> torch.Tensor:
        """The state of every pixel, (N, D) int64, from images (N, C, H, W); border/start = L."""
        x = x.long()
        L = self.n_levels
        if self.params.context == "previous":
            flat = x.flatten(1)
            start = torch.full_like(flat[:, :1], L)
            return torch.cat([start, flat[:, :-1]], dim=1)
        left = torch.nn.functional.pad(x[..., :, :-1], (1, 0), value=L)
        up = torch.nn.functional.pad(x[..., :-1, :], (0, 0, 1, 0), value=L)
        return (left * (L + 1) + up).flatten(1)

    def fit(self, train: torch.Tensor, val: torch.Tensor) -> dict:
        S, L = self.n_states, self.n_levels
        pos = torch.arange(self.dim).expand(len(train), -1)
        index = (pos * S + self.states(train)) * L + train.flatten(1).long()
        counts = torch.bincount(index.reshape(-1), minlength=self.dim * S * L)
        self.log_probs.copy_(smoothed_log_probs(counts.reshape(self.dim, S, L), self.params.smoothing))
        return {}

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(self.dim, device=x.device).expand(len(x), -1)
        return self.log_probs[pos, self.states(x), x.flatten(1).long()].sum(-1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, sampler: str | None = None) -> torch.Tensor:
        x = torch.zeros(n, *self.shape, dtype=torch.long, device=self.log_probs.device)
        flat = x.view(n, -1)
        for t in range(self.dim):  # pixel by pixel: each state needs the pixels drawn before it
            state = self.states(x)[:, t]
            flat[:, t] = draw(self.log_probs[t, state], generator)
        return x.to(torch.uint8)


MODEL = Markov
