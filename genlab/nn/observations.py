"""Observation models p(x|z) for the VAE's decoder: one object, chosen once by ``choose``.

The decoder outputs ``out`` of shape (..., D, K): K = ``per_value`` numbers for each of the D
values (pixels x channels, in the order of x.flatten(1)). Every model answers four questions
about it: the log-likelihood of data x summed over the values, the expected value, one draw,
and what the encoder sees of x. Discrete data are uint8 levels 0..L-1 and every discrete model
is a proper distribution over those levels, so each bound is in nats on the same discrete scale.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from genlab.nn.kernels import BernoulliLogLik

LOG_2PI = math.log(2 * math.pi)

# Above this many levels "auto" takes the discretised logistic instead of the L-way categorical.
# Measured (docs/data.md, "8-bit images"): at 17 levels the logistic bound is lower (digits: test 83.1
# against 91.8 nats; Fashion-MNIST quantized to 17 levels: 1.95 against 1.97 bits/dim on
# validation) and a training step 3.7 times faster; at 256 levels the categorical is 45 times
# slower. Below 17 levels nothing was measured, and the categorical, which assumes no order of
# the levels, stays.
AUTO_LOGISTIC_ABOVE = 16


class Observation(nn.Module):
    """p(x|z) for each of D values, independent given the decoder's output.

    ``per_value``: K, the decoder's outputs per value. ``n_levels``: L, or 0 for continuous data."""

    per_value: int
    n_levels: int

    def log_prob(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x|z) summed over the D values, shape (...), in out's dtype. out: (..., D, K);
        x: (..., D) (uint8 levels, or float64 values) broadcastable against out.shape[:-1]."""
        raise NotImplementedError

    def log_prob_values(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x_d|z) of every value, (..., D): what ``log_prob`` sums (a completion scores the hidden ones)."""
        raise NotImplementedError(f"{type(self).__name__} scores values only together")

    def mean(self, out: torch.Tensor) -> torch.Tensor:
        """E[x|z] per value, (..., D): a level in [0, L-1], or a value in the data's units."""
        raise NotImplementedError

    def sample(self, out: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """One draw per value, (..., D): uint8 levels (float64 values for continuous data),
        from ``generator`` on out's device."""
        raise NotImplementedError

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """What the encoder sees of x (..., D), float32: here levels / (L - 1), in [0, 1]."""
        return x.float() / (self.n_levels - 1)

    def initial_bias(self) -> torch.Tensor | None:
        """The K numbers the decoder's last layer should start at for every value, or None (as built)."""
        return None


class Categorical(Observation):
    """One L-way categorical per value: K = L logits, p(x = l) = softmax(logits)_l."""

    def __init__(self, n_levels: int):
        super().__init__()
        self.n_levels = self.per_value = int(n_levels)

    def log_prob(self, out, x):
        """sum_d log_softmax(out_d)[x_d]."""
        return self.log_prob_values(out, x).sum(-1)

    def log_prob_values(self, out, x):
        logp = torch.log_softmax(out, dim=-1)
        shape = torch.broadcast_shapes(logp.shape[:-1], x.shape)
        index = x.long().expand(shape).unsqueeze(-1)
        return logp.expand(*shape, logp.shape[-1]).gather(-1, index).squeeze(-1)

    def mean(self, out):
        """softmax(out) @ (0, 1, ..., L-1)."""
        return torch.softmax(out, dim=-1) @ torch.arange(self.n_levels, device=out.device, dtype=out.dtype)

    def sample(self, out, generator):
        probs = torch.softmax(out, dim=-1).reshape(-1, self.n_levels)
        draws = torch.multinomial(probs, 1, generator=generator)
        return draws.reshape(out.shape[:-1]).to(torch.uint8)


class Bernoulli(Observation):
    """Binary values: K = 1 logit l per value (the 2-way categorical with logits (0, l)),
    log p(x) = x l - softplus(l), through the hand-written kernel ``BernoulliLogLik``."""

    n_levels = 2
    per_value = 1

    def log_prob(self, out, x):
        """sum_d x_d l_d - softplus(l_d)."""
        return BernoulliLogLik.apply(out[..., 0], x.to(out.dtype))

    def log_prob_values(self, out, x):
        """x_d l_d - softplus(l_d), per value."""
        logit = out[..., 0]
        return x.to(out.dtype) * logit - torch.nn.functional.softplus(logit)

    def mean(self, out):
        """sigmoid(l)."""
        return torch.sigmoid(out[..., 0])

    def sample(self, out, generator):
        """1 where u < sigmoid(l), u ~ U[0, 1)."""
        p = torch.sigmoid(out[..., 0])
        u = torch.rand(p.shape, generator=generator, device=p.device, dtype=p.dtype)
        return (u < p).to(torch.uint8)


class Gaussian(Observation):
    """Continuous values: a normal per value on the standardised scale xs = (x - loc) / scale.

    K = 2: the mean m and a raw r, std s = softplus(r) + 1e-4. The density is that of the
    original value: log N(xs; m, s^2) - log scale (the Jacobian of the standardisation)."""

    n_levels = 0
    per_value = 2

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("loc", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(dim))

    def initial_bias(self) -> torch.Tensor:
        """Mean 0 and std 1 on the standardised scale, the data's own spread, rather than
        softplus(0) = 0.69: a decoder trained briefly (a small table stops early) keeps most of
        its initial scale, and its samples came out a third too narrow."""
        return torch.tensor([0.0, math.log(math.expm1(1 - 1e-4))])

    def fit_standardisation(self, train: torch.Tensor) -> None:
        """loc, scale = the training values' mean and std (clamped at 1e-6), computed in float64."""
        flat = train.flatten(1).double()
        self.loc.copy_(flat.mean(0))
        self.scale.copy_(flat.std(0).clamp_min(1e-6))

    def _mean_std(self, out):
        return out[..., 0], F.softplus(out[..., 1]) + 1e-4

    def log_prob(self, out, x):
        """sum_d -((xs - m) / s)^2 / 2 - log s - log(2 pi) / 2 - log scale."""
        loc, scale = self.loc.to(out.dtype), self.scale.to(out.dtype)
        m, s = self._mean_std(out)
        xs = (x.to(out.dtype) - loc) / scale
        return (-0.5 * ((xs - m) / s).pow(2) - s.log() - 0.5 * LOG_2PI - scale.log()).sum(-1)

    def mean(self, out):
        """loc + scale * m."""
        return self.loc.to(out.dtype) + self.scale.to(out.dtype) * out[..., 0]

    def sample(self, out, generator):
        """loc + scale * (m + s eps), eps ~ N(0, 1), as float64."""
        m, s = self._mean_std(out)
        eps = torch.randn(m.shape, generator=generator, device=out.device, dtype=out.dtype)
        return (self.loc + self.scale * (m + s * eps)).double()

    def inputs(self, x):
        """The standardised values (x - loc) / scale."""
        return ((x.to(self.loc.dtype) - self.loc) / self.scale).float()


class DiscretizedLogistic(Observation):
    """The discretised logistic mixture of Salimans et al. 2017 (PixelCNN++), one per value.

    K = 3M for M components: mixture logits out[..., :M], means mu out[..., M:2M] and log-scales
    out[..., 2M:] (clamped to [-7, 20]: below as PixelCNN++ does, above so that 1/s stays > 0). Level x sits at the centre c = 2x / (L-1) - 1 of a bin of
    half-width h = 1 / (L-1) in [-1, 1]; the first bin extends to -inf and the last to +inf, so
    the L probabilities sum to one exactly. With a = (c + h - mu) / s and b = (c - h - mu) / s,
        P(x) = sigma(a) - sigma(b) = sigma(a) sigma(-b) (1 - e^(b-a)),
        log P(x) = -softplus(-a) - softplus(b) + log(-expm1(-(a - b))),   a - b = 2h / s,
    stable in float32 however small P is (no pdf fallback). For x = 0 the b terms drop
    (P = sigma(a)); for x = L-1 the a terms drop (P = sigma(-b)). The mixture:
    log p(x) = logsumexp_m(log_softmax(logits)_m + log P_m(x))."""

    def __init__(self, n_levels: int, components: int):
        super().__init__()
        if n_levels < 2 or components < 1:
            raise ValueError(f"need n_levels >= 2 and components >= 1 (got {n_levels}, {components})")
        self.n_levels, self.components = int(n_levels), int(components)
        self.per_value = 3 * self.components

    def _parts(self, out):
        """mixture logits, means, inverse scales 1/s: each (..., D, M)."""
        logits, mu, log_s = out.unflatten(-1, (3, self.components)).unbind(-2)
        return logits, mu, log_s.clamp(-7, 20).neg().exp()  # above 20 (s > 5e8): every bin alike anyway

    def log_prob(self, out, x):
        """sum_d logsumexp_m(logits_m + log P_m(x_d)) - logsumexp_m(logits_m), where
        log P = logsigmoid(a) + logsigmoid(-b) + log(1 - e^-w), w = a - b = 2h / s, and
        log(1 - e^-w) = log(2t / (1 + t)) with t = tanh(w / 2): no cancellation for small w."""
        return self.log_prob_values(out, x).sum(-1)

    def log_prob_values(self, out, x):
        logits, mu, inv_s = self._parts(out)
        h = 1.0 / (self.n_levels - 1)
        x = x.unsqueeze(-1)
        has_upper, has_lower = (x != self.n_levels - 1).to(out.dtype), (x != 0).to(out.dtype)  # 0/1 masks
        a = (x.to(out.dtype) * (2 * h) - (1 - h) - mu) * inv_s  # (c + h - mu) / s
        w = (2 * h) * inv_s
        t = torch.tanh(w / 2)
        log_p = (
            has_upper * _log_sigmoid(a)
            + has_lower * _log_sigmoid(w - a)
            + (has_upper * has_lower) * torch.log(2 * t / (1 + t))
        )
        if self.components == 1:
            return log_p.squeeze(-1)
        return torch.logsumexp(log_p + logits, -1) - torch.logsumexp(logits, -1)

    def mean(self, out):
        """E[x] = sum_{l=1}^{L-1} P(x >= l) = sum_m w_m sum_l sigma((mu_m - e_l) / s_m),
        e_l = c_l - h the lower edge of level l's bin (one component at a time: memory)."""
        logits, mu, inv_s = self._parts(out)
        L = self.n_levels
        edges = torch.arange(1, L, device=out.device, dtype=out.dtype) * (2 / (L - 1)) - 1 - 1 / (L - 1)
        w = torch.softmax(logits, -1)
        total = 0
        for m in range(self.components):
            above = torch.sigmoid((mu[..., m, None] - edges) * inv_s[..., m, None]).sum(-1)
            total = total + w[..., m] * above
        return total

    def sample(self, out, generator):
        """A component m ~ softmax(logits), y = mu_m + s_m (log u - log(1 - u)) with u ~ U[0, 1)
        (a logistic by inverse CDF), then the nearest level round((y + 1)(L - 1) / 2) in [0, L-1]."""
        logits, mu, inv_s = self._parts(out)
        M, lead = self.components, out.shape[:-1]
        m = torch.multinomial(torch.softmax(logits, -1).reshape(-1, M), 1, generator=generator)
        mu, inv_s = mu.reshape(-1, M).gather(-1, m).view(lead), inv_s.reshape(-1, M).gather(-1, m).view(lead)
        u = torch.rand(lead, generator=generator, device=out.device, dtype=out.dtype)
        y = mu + (u.log() - (-u).log1p()) / inv_s
        return ((y + 1) * ((self.n_levels - 1) / 2)).round().clamp(0, self.n_levels - 1).to(torch.uint8)


def _log_sigmoid(v: torch.Tensor) -> torch.Tensor:
    """log sigmoid(v) = min(v, 0) - log(1 + e^-|v|). On CPU exp and log are vectorised, the log1p
    of F.logsigmoid is not (four times slower); the difference, below e^-|v| < 6e-8 when
    1 + e^-|v| rounds to 1 in float32, is under float32's resolution of log P near 0."""
    return v.clamp_max(0) - v.abs().neg().exp().add(1).log()


def choose(n_levels: int, shape_dim: int, kind: str, components: int) -> Observation:
    """The observation model for data with ``n_levels`` levels (0: continuous) and ``shape_dim``
    values per example. kind: "auto" (binary -> Bernoulli, up to AUTO_LOGISTIC_ABOVE levels ->
    Categorical, more -> DiscretizedLogistic), "categorical" or "discretized_logistic"."""
    if kind not in ("auto", "categorical", "discretized_logistic"):
        raise ValueError(f"unknown observation kind {kind!r}")
    if n_levels == 0:
        if kind != "auto":
            raise ValueError(f"observation {kind!r} needs discrete levels; continuous data take a Gaussian ('auto')")
        return Gaussian(shape_dim)
    if kind == "auto":
        kind = "bernoulli" if n_levels == 2 else "categorical" if n_levels <= AUTO_LOGISTIC_ABOVE else "discretized_logistic"
    if kind == "bernoulli":
        return Bernoulli()
    if kind == "categorical":
        return Categorical(n_levels)
    return DiscretizedLogistic(n_levels, components)
