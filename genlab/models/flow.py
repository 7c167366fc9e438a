"""A normalising flow: RealNVP (Dinh et al. 2017) with Glow's steps (Kingma and Dhariwal 2018).

Images: the levels x are dequantised, y = (x + u) / L with u in (0, 1)^D, and mapped to
z = f(y) by a logit (``preprocess: logit``, z0 = logit(a + (1 - 2a) y), a = 0.05) or an affine
map (2y - 1), then by invertible steps at several scales: at each, ``checker_steps`` affine
couplings with alternating checkerboard masks, a squeeze (2x2 pixels into 4 channels), then
``depth`` Glow steps (actnorm, an invertible 1x1 convolution in LU form, an affine coupling
over half the channels); between scales half the channels are factored out (z ~ N(0, I)).
A scale needs an even height and width: an odd size keeps the scales it has (none: the
checkerboard couplings alone). Every log-determinant is counted. The noise u is uniform
(``dequantization: uniform``) or drawn from q(u|x), u = sigmoid(m + s e), e ~ N(0, I), with
(m, log s) from a small conv net of x trained with the flow (``variational``, after Flow++,
Ho et al. 2019, with a diagonal logistic-normal q instead of a conditional flow). Either way

    -log P(x) <= E_q[-log p_flow((x + u) / L) + log q(u|x)] + D log L

(Theis et al. 2016; log q = 0 for uniform noise): the training loss (one draw), and with
``eval_draws`` = K draws per image the reported ``nll``, the importance-weighted form
-log (1/K) sum_k p_flow((x + u_k) / L) / q(u_k|x) + D log L: still a bound, tighter in K.
Sampling inverts z ~ N(0, T^2 I) (T: ``temperature``) and floors y * L to a level.

Continuous values (N, F): standardised with the training split's mean and std (its log-det
counted), then ``depth`` steps of actnorm, an invertible F x F linear map and an affine coupling
MLP (F > 1), and an elementwise mixture-of-logistics CDF followed by a logit (Flow++;
``mixture_components``; for F = 1 the steps that give the flow its shape), then an actnorm:
the exact density. Actnorms are initialised from the data in ``begin_fit``; their state is in
the state_dict, so a resumed run keeps it.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from genlab.config.schema import GradientParams
from genlab.errors import GenlabError
from genlab.models.base import GenerativeModel, nll_summary
from genlab.nn.optim import check_finite

LOG_2PI = math.log(2 * math.pi)
LOGIT_ALPHA = 0.05  # RealNVP's: y is squeezed into [a, 1 - a] before the logit


def _sum_per_example(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).sum(1)


class ActNorm(torch.nn.Module):
    """y = (x + loc) * exp(log_scale) per channel; initialised from the first batch it sees
    after ``pending`` is set (the data's per-channel mean 0 and std 1)."""

    def __init__(self, channels: int, image: bool):
        super().__init__()
        self.image = image
        self.loc = torch.nn.Parameter(torch.zeros(channels))
        self.log_scale = torch.nn.Parameter(torch.zeros(channels))
        self.register_buffer("initialized", torch.tensor(False))
        self.pending = False

    def _v(self, t):
        return t.view(1, -1, 1, 1) if self.image else t.view(1, -1)

    def forward(self, x):
        if self.pending:
            with torch.no_grad():
                dims = [0, 2, 3] if self.image else [0]
                mean = x.mean(dims)
                std = x.std(dims, correction=0) if len(x) > 1 or self.image else torch.ones_like(mean)
                self.loc.copy_(-mean)
                self.log_scale.copy_(-std.clamp_min(1e-3).log())
                self.initialized.fill_(True)
            self.pending = False
        y = (x + self._v(self.loc)) * self._v(self.log_scale).exp()
        spatial = x.shape[2] * x.shape[3] if self.image else 1
        return y, (self.log_scale.sum() * spatial).expand(len(x))

    def inverse(self, y):
        return y * self._v(-self.log_scale).exp() - self._v(self.loc)


class InvLinear(torch.nn.Module):
    """An invertible c x c matrix W = P L (U + diag(sign(s) exp(log|s|))) (Glow's LU form), applied
    per pixel (a 1x1 convolution) or to vectors; log|det| = sum log|s| per pixel. Starts as a
    seeded random rotation."""

    def __init__(self, channels: int, image: bool, generator: torch.Generator):
        super().__init__()
        self.image = image
        w = torch.linalg.qr(torch.randn(channels, channels, generator=generator, dtype=torch.float64))[0]
        p, lower, upper = torch.linalg.lu(w)
        s = upper.diagonal()
        self.register_buffer("perm", p.float())
        self.register_buffer("sign_s", s.sign().float())
        self.register_buffer("lower_mask", torch.tril(torch.ones(channels, channels), -1))
        self.register_buffer("eye", torch.eye(channels))
        self.lower = torch.nn.Parameter(lower.float())
        self.upper = torch.nn.Parameter(torch.triu(upper, 1).float())
        self.log_s = torch.nn.Parameter(s.abs().log().float())

    def weight(self):
        lower = self.lower * self.lower_mask + self.eye
        upper = self.upper * self.lower_mask.T + torch.diag(self.sign_s * self.log_s.exp())
        return self.perm @ lower @ upper

    def _mul(self, w, x):
        return torch.einsum("ij,bjhw->bihw", w, x) if self.image else x @ w.T

    def forward(self, x):
        spatial = x.shape[2] * x.shape[3] if self.image else 1
        return self._mul(self.weight(), x), (self.log_s.sum() * spatial).expand(len(x))

    def inverse(self, y):
        return self._mul(torch.linalg.inv(self.weight()), y)


class Coupling(torch.nn.Module):
    """An affine coupling: the transformed part becomes x * exp(log_s) + t, with (log_s, t) from a
    network of the kept part; log_s = rescale * tanh(raw). Masks: ``checker`` (images; kept:
    the pixels of one parity, all channels), ``channel`` (images: the first half of the
    channels kept) or ``vector`` (values: the first half kept, an MLP). The network's last
    layer starts at zero: the coupling starts as the identity."""

    def __init__(self, kind: str, channels: int, width: int, parity: int = 0, size: tuple[int, int] = (1, 1)):
        super().__init__()
        self.kind = kind
        if kind == "checker":
            h, w = size
            mask = ((torch.arange(h)[:, None] + torch.arange(w)[None, :]) % 2 == parity).float()
            self.register_buffer("mask", mask.view(1, 1, h, w), persistent=False)
            cin, self.n_out = channels + 1, channels
        else:
            self.n_keep = channels // 2
            cin, self.n_out = self.n_keep, channels - self.n_keep
        if kind == "vector":
            self.net = torch.nn.Sequential(
                torch.nn.Linear(cin, width), torch.nn.ReLU(), torch.nn.Linear(width, width), torch.nn.ReLU(),
                torch.nn.Linear(width, 2 * self.n_out),
            )
        else:
            self.net = torch.nn.Sequential(
                torch.nn.Conv2d(cin, width, 3, padding=1), torch.nn.ReLU(),
                torch.nn.Conv2d(width, width, 1), torch.nn.ReLU(),
                torch.nn.Conv2d(width, 2 * self.n_out, 3, padding=1),
            )
        torch.nn.init.zeros_(self.net[-1].weight)
        torch.nn.init.zeros_(self.net[-1].bias)
        self.rescale = torch.nn.Parameter(torch.ones(self.n_out))

    def _scale_shift(self, kept):
        raw_s, t = self.net(kept).chunk(2, dim=1)
        r = self.rescale.view(1, -1, 1, 1) if self.kind != "vector" else self.rescale.view(1, -1)
        return r * torch.tanh(raw_s), t

    def forward(self, x):
        if self.kind == "checker":
            m = self.mask.to(x.dtype)
            log_s, t = self._scale_shift(torch.cat([x * m, m.expand(len(x), 1, *m.shape[2:])], 1))
            log_s = log_s * (1 - m)
            return x * m + (1 - m) * (x * log_s.exp() + t), _sum_per_example(log_s)
        xa, xb = x[:, : self.n_keep], x[:, self.n_keep :]
        log_s, t = self._scale_shift(xa)
        return torch.cat([xa, xb * log_s.exp() + t], 1), _sum_per_example(log_s)

    def inverse(self, y):
        if self.kind == "checker":
            m = self.mask.to(y.dtype)
            log_s, t = self._scale_shift(torch.cat([y * m, m.expand(len(y), 1, *m.shape[2:])], 1))
            return y * m + (1 - m) * ((y - t) * (-log_s).exp())
        ya, yb = y[:, : self.n_keep], y[:, self.n_keep :]
        log_s, t = self._scale_shift(ya)
        return torch.cat([ya, (yb - t) * (-log_s).exp()], 1)


class MixtureCDF(torch.nn.Module):
    """Elementwise y = logit(sum_k pi_k sigmoid((x - mu_k) / s_k)) (Flow++'s mixture of logistics
    CDF, then a logit), computed in log space; monotone, inverted by bisection."""

    def __init__(self, features: int, components: int):
        super().__init__()
        self.logits = torch.nn.Parameter(torch.zeros(features, components))
        self.means = torch.nn.Parameter(torch.linspace(-1, 1, components).repeat(features, 1) if components > 1 else torch.zeros(features, 1))
        self.log_scales = torch.nn.Parameter(torch.zeros(features, components))

    def forward(self, x):
        a = (x.unsqueeze(-1) - self.means) * (-self.log_scales).exp()
        log_pi = torch.log_softmax(self.logits, -1)
        log_u = torch.logsumexp(log_pi + F.logsigmoid(a), -1)
        log_1mu = torch.logsumexp(log_pi + F.logsigmoid(-a), -1)
        log_pdf = torch.logsumexp(log_pi + F.logsigmoid(a) + F.logsigmoid(-a) - self.log_scales, -1)
        return log_u - log_1mu, (log_pdf - log_u - log_1mu).sum(-1)

    def inverse(self, y, iterations: int = 80):
        # At x = max mu + max s (|y| + 1) every a_k >= |y| + 1, so logit(CDF) > y there; likewise below.
        s_max = self.log_scales.exp().max(-1).values
        reach = s_max * (y.abs() + 1)
        lo = self.means.min(-1).values - reach
        hi = self.means.max(-1).values + reach
        for _ in range(iterations):
            mid = (lo + hi) / 2
            above = self.forward(mid)[0] > y
            hi = torch.where(above, mid, hi)
            lo = torch.where(above, lo, mid)
        return (lo + hi) / 2


class Squeeze(torch.nn.Module):
    """(N, C, H, W) -> (N, 4C, H/2, W/2): each 2x2 block of pixels into channels; log-det 0."""

    def forward(self, x):
        n, c, h, w = x.shape
        y = x.reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4).reshape(n, 4 * c, h // 2, w // 2)
        return y, x.new_zeros(n)

    def inverse(self, y):
        n, c4, h, w = y.shape
        c = c4 // 4
        return y.reshape(n, c, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3).reshape(n, c, 2 * h, 2 * w)


class Split(torch.nn.Module):
    """Factor out the second half of the channels (they are latents, z ~ N(0, I))."""


class Flow(GenerativeModel):
    modalities = ("images", "continuous")

    class Params(GradientParams):
        lr: float = Field(1e-3, gt=0, description="Adam learning rate")
        epochs: int = Field(30, ge=1, description="most epochs")
        max_steps: int | None = Field(600, ge=1, description="most optimisation steps in all (null: no cap): 30 epochs of the digits; bounds the cost on larger data (about 0.4 s a step at 32x32x3, batch 64, on 2 CPU cores)")
        lr_schedule: Literal["constant", "cosine"] = Field("cosine", description="cosine: the lr falls along a half cosine to lr_final * lr over `epochs`")
        patience: int = Field(15, ge=1, description="epochs without a better validation loss before stopping")
        width: int = Field(64, ge=1, le=GradientParams.MAX_CONV_WIDTH, description="channels of the coupling networks' hidden layers (images), units of the coupling MLPs (values)")
        depth: int = Field(6, ge=1, le=100, description="Glow steps (actnorm, invertible 1x1 convolution, channel coupling) per scale; for values, the steps of the flow")
        checker_steps: int = Field(3, ge=0, le=100, description="checkerboard couplings at each scale before its squeeze (images)")
        scales: int = Field(2, ge=0, le=10, description="most squeezes (2x2 pixels into channels, half factored out between scales); fewer where a size is odd")
        preprocess: Literal["logit", "affine"] = Field("logit", description="images: `logit` (logit(0.05 + 0.9 y) of the dequantised y in [0, 1)) or `affine` (2y - 1); its log-det is counted")
        mixture_components: int = Field(8, ge=0, le=GradientParams.MAX_COMPONENTS, description="values: logistic components of the elementwise mixture-CDF layer in every step (0: none; then a 1-column flow is affine)")
        max_grad_norm: float = Field(100.0, ge=0, le=1e12, description="gradient norm clipped to this at each step (0: no clipping)")
        temperature: float = Field(1.0, gt=0, le=100, description="sampling: z ~ N(0, T^2 I); below 1 sharper, less varied samples")
        dequantization: Literal["uniform", "variational"] = Field("variational", description="images: `uniform` (u ~ U(0, 1)) or `variational` (u = sigmoid(m + s e), e ~ N(0, I), with m, s from a conv net of x, trained with the flow: a tighter bound, Flow++-like)")
        eval_draws: int = Field(16, ge=1, le=1000, description="dequantisation draws per test image in the likelihood bound (importance-weighted: tighter with more)")

    def __init__(self, params: "Flow.Params", shape, n_levels):
        super().__init__(params, shape, n_levels)
        p = params
        gen = torch.Generator().manual_seed(p.seed)
        self.ops = torch.nn.ModuleList()
        if self.n_levels == 1:
            raise GenlabError("flow: the data have one level only (a constant); a flow needs at least 2")
        if self.n_levels > 0:
            if len(self.shape) != 3:
                raise GenlabError(f"flow: images must be shaped (C, H, W); these are {list(self.shape)}")
            self._build_image(gen)
        else:
            if len(self.shape) != 1:
                raise GenlabError(f"flow: values must be a table (N, F); these are shaped {list(self.shape)}")
            self._build_values(gen)
        if self.n_levels > 0 and p.dequantization == "variational":
            c = self.shape[0]
            self.dequantizer = torch.nn.Sequential(
                torch.nn.Conv2d(c, p.width, 3, padding=1), torch.nn.ReLU(),
                torch.nn.Conv2d(p.width, p.width, 3, padding=1), torch.nn.ReLU(),
                torch.nn.Conv2d(p.width, 2 * c, 3, padding=1),
            )
            torch.nn.init.zeros_(self.dequantizer[-1].weight)
            torch.nn.init.zeros_(self.dequantizer[-1].bias)
        else:
            self.dequantizer = None
        self.register_buffer("loc", torch.zeros(self.dim, dtype=torch.float64))
        self.register_buffer("scale", torch.ones(self.dim, dtype=torch.float64))

    # -- architecture -------------------------------------------------------------
    def _build_image(self, gen):
        p = self.params
        c, h, w = self.shape
        n_squeeze = 0
        hh, ww = h, w
        while n_squeeze < p.scales and hh % 2 == 0 and ww % 2 == 0 and hh >= 2 and ww >= 2:
            n_squeeze, hh, ww = n_squeeze + 1, hh // 2, ww // 2
        self.n_squeeze = n_squeeze
        self.latent_shapes: list[tuple[int, int, int]] = []  # factored-out parts, in order, then the last
        ops = self.ops

        def checker(c, h, w, steps):
            for j in range(steps):
                ops.append(ActNorm(c, True))
                ops.append(Coupling("checker", c, p.width, parity=j % 2, size=(h, w)))

        def glow(c, steps):
            for _ in range(steps):
                ops.append(ActNorm(c, True))
                ops.append(InvLinear(c, True, gen))
                ops.append(Coupling("channel", c, p.width))

        for i in range(n_squeeze):
            checker(c, h, w, p.checker_steps if h * w > 1 else 0)
            ops.append(Squeeze())
            c, h, w = 4 * c, h // 2, w // 2
            glow(c, p.depth)
            if i < n_squeeze - 1:
                ops.append(Split())
                self.latent_shapes.append((c - c // 2, h, w))
                c = c // 2
        if n_squeeze == 0:  # no squeeze fits: checkerboard couplings at full size (and channel steps)
            checker(c, h, w, max(p.checker_steps, 2))
            if c > 1:
                glow(c, p.depth)
        self.latent_shapes.append((c, h, w))

    def _build_values(self, gen):
        p = self.params
        f = self.dim
        for _ in range(p.depth):
            self.ops.append(ActNorm(f, False))
            if f > 1:
                self.ops.append(InvLinear(f, False, gen))
                self.ops.append(Coupling("vector", f, p.width))
            if p.mixture_components > 0:
                self.ops.append(MixtureCDF(f, p.mixture_components))
        self.ops.append(ActNorm(f, False))

    @property
    def _dtype(self):
        return self.ops[0].loc.dtype

    # -- the flow -----------------------------------------------------------------
    def _preprocess(self, y):
        """Images: y in [0, 1) -> z0, with log|dz0/dy| per example."""
        if self.params.preprocess == "affine":
            return 2 * y - 1, y.new_full((len(y),), self.dim * math.log(2))
        q = LOGIT_ALPHA + (1 - 2 * LOGIT_ALPHA) * y
        log_q, log_1mq = q.log(), torch.log1p(-q)
        return log_q - log_1mq, _sum_per_example(math.log(1 - 2 * LOGIT_ALPHA) - log_q - log_1mq)

    def _unpreprocess(self, z0):
        if self.params.preprocess == "affine":
            return (z0 + 1) / 2
        return (torch.sigmoid(z0) - LOGIT_ALPHA) / (1 - 2 * LOGIT_ALPHA)

    def transform(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole map on the flow's input (images: y in [0, 1), (N, C, H, W); values: the
        standardised values (N, F)) to z (N, D), every factored part in order, and log|det dz/dv|."""
        if self.n_levels > 0:
            h, logdet = self._preprocess(v)
        else:
            h, logdet = v, v.new_zeros(len(v))
        zs = []
        for op in self.ops:
            if isinstance(op, Split):
                keep = h.shape[1] // 2
                zs.append(h[:, keep:].flatten(1))
                h = h[:, :keep]
                continue
            h, ld = op(h)
            logdet = logdet + ld
        zs.append(h.flatten(1))
        return torch.cat(zs, 1), logdet

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        """The flow's input for z (N, D) (``transform`` undone)."""
        if self.n_levels == 0:
            h = z
        else:
            sizes = [math.prod(s) for s in self.latent_shapes]
            parts = list(z.split(sizes, 1))
            h = parts.pop().reshape(len(z), *self.latent_shapes[-1])
            shapes = list(self.latent_shapes[:-1])
        for op in reversed(self.ops):
            if isinstance(op, Split):
                h = torch.cat([h, parts.pop().reshape(len(z), *shapes.pop())], 1)
            else:
                h = op.inverse(h)
        return self._unpreprocess(h) if self.n_levels > 0 else h

    def log_density(self, v: torch.Tensor) -> torch.Tensor:
        """log p_flow(v) per example, in v's dtype: the flow's input as ``transform`` takes it."""
        z, logdet = self.transform(v)
        return -0.5 * (z.pow(2) + LOG_2PI).sum(1) + logdet

    def _standardised(self, x):
        return ((x.flatten(1).double() - self.loc) / self.scale).to(self._dtype)

    def _values_nll(self, x) -> torch.Tensor:
        """Exact -log p(x) per row of values (N, F), the standardisation's Jacobian included."""
        return -self.log_density(self._standardised(x)).double() + self.scale.log().sum()

    def _dequantised(self, x, generator=None) -> tuple[torch.Tensor, torch.Tensor]:
        """y = (x + u) / L for one draw u per value, and log q(u|x) per example (0: uniform)."""
        dev = x.device if generator is None else generator.device
        xf = x.to(self._dtype)
        if self.dequantizer is None:
            u = torch.rand(x.shape, generator=generator, device=dev, dtype=self._dtype).to(x.device)
            return (xf + u) / self.n_levels, xf.new_zeros(len(x))
        eps = torch.randn(x.shape, generator=generator, device=dev, dtype=self._dtype).to(x.device)
        m, log_s = self.dequantizer(2 * xf / (self.n_levels - 1) - 1).chunk(2, dim=1)
        a = m + log_s.exp() * eps
        u = torch.sigmoid(a)
        log_q = -0.5 * (eps.pow(2) + LOG_2PI) - log_s - F.logsigmoid(a) - F.logsigmoid(-a)
        return (xf + u) / self.n_levels, _sum_per_example(log_q)

    def _log_weight(self, x, generator=None) -> torch.Tensor:
        """log p_flow((x + u) / L) - log q(u|x) - D log L for one draw u ~ q(u|x) per image: its mean
        over u bounds log P(x) from below."""
        y, log_q = self._dequantised(x, generator)
        return self.log_density(y) - log_q - self.dim * math.log(self.n_levels)

    # -- training -----------------------------------------------------------------
    @torch.no_grad()
    def begin_fit(self, train: torch.Tensor) -> None:
        """Values: the standardisation; then every actnorm from (up to 512) seeded training examples."""
        gen = torch.Generator().manual_seed(self.params.seed)
        take = torch.randperm(len(train), generator=gen)[:512]
        x = train[take].to(self.device)
        if self.n_levels == 0:
            flat = train.flatten(1).double()
            self.loc.copy_(flat.mean(0).to(self.loc.device))
            self.scale.copy_((flat.std(0, correction=0) if len(flat) > 1 else torch.ones_like(flat[0])).clamp_min(1e-6).to(self.loc.device))
            v = self._standardised(x)
        else:
            v = self._dequantised(x, gen)[0]  # drawn on the CPU, moved to the model's device
        for m in self.modules():
            if isinstance(m, ActNorm):
                m.pending = True
        self.transform(v)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """Mean over the batch of -log p_flow((x + u) / L) + D log L (one draw u each), or of the exact
        -log p(x) for values: nats per example."""
        if self.n_levels == 0:
            return self._values_nll(x).float().mean()
        return -self._log_weight(x).mean()

    def train_step(self, batch: tuple, optimizers: list) -> dict[str, torch.Tensor]:
        (opt,) = optimizers
        loss = check_finite(self.objective(*batch))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.params.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.parameters(), self.params.max_grad_norm)
        opt.step()
        return {"loss": loss.detach()}

    # -- sampling -----------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, sampler: str | None = None) -> torch.Tensor:
        z = torch.randn((n, self.dim), generator=generator, device=generator.device, dtype=self._dtype).to(self.device)
        v = self.inverse(self.params.temperature * z)
        if self.n_levels == 0:
            return (v.double() * self.scale + self.loc).reshape(n, *self.shape)
        levels = torch.floor(v * self.n_levels).clamp(0, self.n_levels - 1)
        return levels.to(torch.uint8).reshape(n, *self.shape)

    # -- likelihood ---------------------------------------------------------------
    CHUNK = 256  # test images per pass

    @torch.no_grad()
    def likelihood_metrics(self, x: torch.Tensor, params, generator: torch.Generator) -> dict:
        """Values: the exact nll. Images: ``nll`` = the importance-weighted dequantisation bound with
        K = ``eval_draws`` draws per image, -log (1/K) sum_k p_flow((x + u_k) / L) / q(u_k|x) + D log L;
        ``dequant_bound`` = the plain bound E_q[-log p_flow((x + u) / L) + log q(u|x)] + D log L (the
        mean over the same K draws: what training minimises); both >= -log P(x). The generator
        (the evaluate section's seed) draws every u."""
        if self.n_levels == 0:
            return nll_summary(torch.cat([self._values_nll(b.to(self.device)) for b in x.split(4096)]), self.dim, discrete=False)
        k = self.params.eval_draws
        iw, plain = [], []
        for batch in x.split(self.CHUNK):
            batch = batch.to(self.device)
            log_w = torch.stack([self._log_weight(batch, generator).double() for _ in range(k)])
            iw.append(-(torch.logsumexp(log_w, 0) - math.log(k)))
            plain.append(-log_w.mean(0))
        out = nll_summary(torch.cat(iw), self.dim)
        out.update(dequant_bound=torch.cat(plain).mean().item(), dequant_draws=k)
        return out


MODEL = Flow
