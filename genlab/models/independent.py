"""Independent symbols: one categorical distribution per pixel, the simplest model of the data.

Images: p(x) = prod_d theta_d[x_d]; text: p(x) = prod_t theta[x_t], one categorical over
characters at every position; music: p(frame) = prod_k q_k^x_k (1 - q_k)^(1 - x_k), a
Bernoulli per key, the same at every frame. Fitted by counting with additive smoothing; the
exact likelihood is on the same discrete scale as every other model. Completing an image
(hidden pixels given the visible ones) is exact: the visible pixels say nothing of the others.
"""

from __future__ import annotations

import torch
from pydantic import Field

from genlab.config.schema import Section
from genlab.data.music import bernoulli_fit, bernoulli_log_prob
from genlab.models.base import GenerativeModel, MusicModel, SequenceModel
from genlab.nn.discrete import draw, smoothed_log_probs


class Independent(GenerativeModel):
    modalities = ("images",)
    trains_by_gradient = False

    class Params(Section):
        smoothing: float = Field(0.5, gt=0, le=1e6, description="pseudo-count added to every (pixel, level) count")
        conditional: bool = Field(
            False, description="labelled images: one model per class on that class's training images, p(y) the classes' "
            "frequencies: p(x | class) and p(x) = sum_y p(y) p(x | y) exact; samples are drawn for the class asked for"
        )

    def __init__(self, params: "Independent.Params", shape, n_levels):
        super().__init__(params, shape, n_levels)
        self.register_buffer("log_probs", torch.zeros(self.dim, self.n_levels, dtype=torch.float64))

    def fit(self, train: torch.Tensor, val: torch.Tensor) -> dict:
        L = self.n_levels
        cells = torch.arange(self.dim) * L + train.flatten(1).long()  # (N, D): pixel d at level x
        counts = torch.bincount(cells.flatten(), minlength=self.dim * L).reshape(self.dim, L)
        self.log_probs.copy_(smoothed_log_probs(counts, self.params.smoothing))
        return {}

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        idx = x.flatten(1).long().unsqueeze(-1)
        return self.log_probs.expand(len(x), -1, -1).gather(-1, idx).squeeze(-1).sum(-1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, sampler: str | None = None) -> torch.Tensor:
        return draw(self.log_probs.expand(n, -1, -1), generator).reshape(n, *self.shape).to(torch.uint8)

    def completion_log_prob(self, x, hidden, k=0, generator=None, batch_size=64, steps=0):
        """Exact: the hidden pixels' own log-probabilities (every pixel is independent of the others)."""
        idx = x.flatten(1).long().unsqueeze(-1)
        terms = self.log_probs.expand(len(x), -1, -1).gather(-1, idx).squeeze(-1)
        return terms.masked_fill(~hidden, 0).sum(-1), "exact"

    @torch.no_grad()
    def complete(self, x, hidden, generator, steps=0):
        """Exact: the hidden pixels drawn from their own distributions."""
        return torch.where(hidden.view_as(x), self.sample(len(x), generator), x)


class IndependentText(SequenceModel):
    """Text: one categorical over the vocabulary (the unknown symbol included), the same at every position."""

    trains_by_gradient = False
    Params = Independent.Params

    def __init__(self, params: "Independent.Params", shape, n_levels):
        super().__init__(params, shape, n_levels)
        self.register_buffer("log_probs", torch.zeros(self.n_levels, dtype=torch.float64))

    def fit(self, train: torch.Tensor, val: torch.Tensor) -> dict:
        counts = torch.bincount(train.long(), minlength=self.n_levels)
        self.log_probs.copy_(smoothed_log_probs(counts, self.params.smoothing))
        return {}

    def next_log_probs(self, context: torch.Tensor) -> torch.Tensor:
        return self.log_probs.expand(len(context), -1)


class IndependentMusic(MusicModel):
    """Music: a Bernoulli per key, the same at every frame (pseudo-count ``smoothing`` per key and state)."""

    trains_by_gradient = False
    Params = Independent.Params

    def __init__(self, params: "Independent.Params", shape, n_levels, n_chords: int = 0):
        super().__init__(params, shape, n_levels, n_chords)
        self.register_buffer("log_on", torch.zeros(self.keys, dtype=torch.float64))
        self.register_buffer("log_off", torch.zeros(self.keys, dtype=torch.float64))

    def fit(self, train: tuple, val: tuple) -> dict:
        log_on, log_off = bernoulli_fit(train[0], self.params.smoothing)
        self.log_on.copy_(log_on)  # into the buffers, wherever the model is
        self.log_off.copy_(log_off)
        return {}

    def frame_log_probs(self, x, codes=None, lengths=None) -> torch.Tensor:
        return bernoulli_log_prob(x, self.log_on, self.log_off)

    @torch.no_grad()
    def sample_pieces(self, n, length, generator, temperature: float = 1.0, primer=None) -> torch.Tensor:
        """Every frame on its own: a primer changes nothing."""
        q = torch.sigmoid((self.log_on - self.log_off) / temperature)
        u = torch.rand(n, length, self.keys, generator=generator, device=q.device, dtype=torch.float64)
        return (u < q).to(torch.uint8)


MODEL = (Independent, IndependentText, IndependentMusic)
