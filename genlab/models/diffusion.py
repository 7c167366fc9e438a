"""A denoising diffusion probabilistic model (DDPM, Ho et al. 2020) of images.

Forward process: q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I), t = 1..T, with the data's
levels x in {0..L-1} scaled to [-1, 1] as 2x/(L-1) - 1 and a ``linear`` (Ho et al.) or
``cosine`` (Nichol and Dhariwal 2021) beta schedule. A small U-Net (sinusoidal time embedding
through an MLP; residual conv blocks with GroupNorm and SiLU; one resolution per halving the
image size allows, at most four; self-attention at the lowest resolution) predicts the noise
eps and trains on L_simple = E ||eps - eps_theta(x_t, t)||^2 (the per-value mean). An
exponential moving average (EMA) of the weights, with the warm-up decay
min(ema_decay, (1 + step) / (10 + step)), is kept in the state dict (``ema``) and is what
samples and scores when ``use_ema``.

Likelihood: the variational bound on the DISCRETE data (Ho et al. 2020, section 3.3), in nats
per image:  L_T + sum_{t=2..T} L_{t-1} + L_0, with L_T = KL(q(x_T|x_0) || N(0, I)),
L_{t-1} = KL(q(x_{t-1}|x_t, x_0) || p(x_{t-1}|x_t)) (reverse variance: the posterior variance
beta~_t, or beta_t with ``reverse_variance: beta``), and L_0 = -log p(x_0|x_1), a discretised
Gaussian over exactly the data's L levels (bins of width 2/(L-1) centred on the levels, the
edge bins open to +-infinity). Each L_{t-1} is taken at one draw x_t ~ q(x_t|x_0); the sum over
t is exact (``vlb_timesteps: null``) or an unbiased stratified estimate from that many t per
image. Sampling: the trained schedule respaced to ``sample_steps`` evenly strided steps, DDPM
ancestral (``sampler: ancestral``) or DDIM with eta = 0 (``ddim``); the final x_0 is rounded to
the nearest level.
"""

from __future__ import annotations

import copy
import math
from typing import Literal, Optional

import torch
import torch.nn.functional as F
from pydantic import Field, field_validator
from torch import nn

from genlab.config.schema import GradientParams
from genlab.errors import GenlabError
from genlab.models.base import GenerativeModel, nll_summary
from genlab.nn.optim import check_finite, make_adam

MAX_LEVELS = 4  # resolutions of the U-Net at most (32x32: 32, 16, 8, 4)
VLB_BATCH = 512  # (image, t) pairs per network pass when computing the bound


# -- closed forms -------------------------------------------------------------------------
def normal_kl(mean1, logvar1, mean2, logvar2):
    """KL(N(mean1, exp(logvar1)) || N(mean2, exp(logvar2))) elementwise, nats."""
    return 0.5 * (logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2).pow(2) * torch.exp(-logvar2) - 1.0)


def _log_bin(lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """log(Phi(hi) - Phi(lo)) for lo < hi (either may be infinite), stable in both tails."""
    flip = lo > 0  # in the upper tail use Phi(hi) - Phi(lo) = Phi(-lo) - Phi(-hi)
    a, b = torch.where(flip, -hi, lo), torch.where(flip, -lo, hi)
    la, lb = torch.special.log_ndtr(a), torch.special.log_ndtr(b)
    return lb + torch.log1p(-torch.exp(la - lb).clamp(max=1 - 1e-300 if la.dtype == torch.float64 else 1 - 1e-7))


def discretized_gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor, n_levels: int) -> torch.Tensor:
    """log P(level x) under N(mean, exp(log_scale)^2) on [-1, 1] discretised into ``n_levels`` bins
    of width 2/(L-1) centred on the levels 2x/(L-1) - 1, the edge bins open to +-infinity.
    ``x`` holds levels (integers); elementwise, in the dtype of ``mean``."""
    half = 1.0 / (n_levels - 1)
    v = 2.0 * x.to(mean.dtype) / (n_levels - 1) - 1.0
    inv = torch.exp(-log_scale)
    lo = torch.where(x <= 0, torch.full_like(v, -math.inf), (v - half - mean) * inv)
    hi = torch.where(x >= n_levels - 1, torch.full_like(v, math.inf), (v + half - mean) * inv)
    return _log_bin(lo, hi)


def beta_schedule(kind: str, T: int) -> torch.Tensor:
    """The betas (float64, T) of the ``linear`` schedule of Ho et al. (1e-4 to 0.02 at T = 1000,
    scaled by 1000/T for other T) or the ``cosine`` one of Nichol and Dhariwal (clipped at 0.999)."""
    if kind == "linear":
        scale = 1000.0 / T
        return torch.linspace(scale * 1e-4, min(scale * 0.02, 0.999), T, dtype=torch.float64)
    s = 0.008
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    return (1 - f[1:] / f[:-1]).clamp(max=0.999)


# -- the network ----------------------------------------------------------------------------
def _groups(ch: int) -> int:
    for g in (32, 16, 8, 4, 2):
        if ch % g == 0 and ch // g >= 2:
            return g
    return 1


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding (Vaswani et al.) of (possibly fractional) timesteps t, (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / max(half, 1))
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
    return F.pad(emb, (0, dim % 2))


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, tdim: int, dropout: float):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(_groups(cin), cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.temb = nn.Linear(tdim, cout)
        self.norm2, self.conv2 = nn.GroupNorm(_groups(cout), cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.dropout = nn.Dropout(dropout)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb(F.silu(temb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class Attention(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.norm, self.qkv, self.proj = nn.GroupNorm(_groups(ch), ch), nn.Conv2d(ch, 3 * ch, 1), nn.Conv2d(ch, ch, 1)
        self.heads = max(1, ch // 64)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x, temb=None):
        B, C, H, W = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(B, 3, self.heads, C // self.heads, H * W).transpose(-1, -2).unbind(1)
        h = F.scaled_dot_product_attention(q, k, v)  # (B, heads, HW, C/heads)
        return x + self.proj(h.transpose(-1, -2).reshape(B, C, H, W))


def resolutions(h: int, w: int) -> int:
    """How many resolutions the U-Net uses: halve while both sides are even and stay >= 2."""
    n = 1
    while n < MAX_LEVELS and h % 2 == 0 and w % 2 == 0 and h >= 4 and w >= 4:
        h, w, n = h // 2, w // 2, n + 1
    return n


class UNet(nn.Module):
    def __init__(self, channels: int, h: int, w: int, width: int, mult: list[int], blocks: int, attention: bool, dropout: float):
        super().__init__()
        levels = resolutions(h, w)
        chans = [width * mult[min(i, len(mult) - 1)] for i in range(levels)]
        tdim = 4 * width
        self.width = width
        self.time = nn.Sequential(nn.Linear(width, tdim), nn.SiLU(), nn.Linear(tdim, tdim))
        self.conv_in = nn.Conv2d(channels, width, 3, padding=1)
        self.down = nn.ModuleList()
        skips, ch = [width], width
        for i, c in enumerate(chans):
            for _ in range(blocks):
                self.down.append(ResBlock(ch, c, tdim, dropout))
                ch = c
                skips.append(ch)
            if i < levels - 1:
                self.down.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
                skips.append(ch)
        self.mid = nn.ModuleList([ResBlock(ch, ch, tdim, dropout)] + ([Attention(ch)] if attention else [])
                                 + [ResBlock(ch, ch, tdim, dropout)])
        self.up = nn.ModuleList()
        for i in reversed(range(levels)):
            for j in range(blocks + 1):
                self.up.append(ResBlock(ch + skips.pop(), chans[i], tdim, dropout))
                ch = chans[i]
                if attention and i == levels - 1:
                    self.up.append(Attention(ch))
            if i > 0:
                self.up.append(Upsample(ch))
        self.out = nn.Sequential(nn.GroupNorm(_groups(ch), ch), nn.SiLU(), nn.Conv2d(ch, channels, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        temb = self.time(timestep_embedding(t, self.width))
        h = self.conv_in(x)
        hs = [h]
        for m in self.down:
            h = m(h, temb) if isinstance(m, ResBlock) else m(h)
            hs.append(h)
        for m in self.mid:
            h = m(h, temb)
        for m in self.up:
            if isinstance(m, ResBlock):
                h = m(torch.cat([h, hs.pop()], 1), temb)
            elif isinstance(m, Upsample):
                h = m(h, hs[-1].shape[-2:])
            else:
                h = m(h)
        return self.out(h)


class Upsample(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x, size):
        return self.conv(F.interpolate(x, size=tuple(size), mode="nearest"))


# -- the model -------------------------------------------------------------------------------
VLB_BUDGET = 3e7  # test images x T x values per image up to which the bound sums every t (359 digits x 1000 x 64: 2.3e7)


class Diffusion(GenerativeModel):
    modalities = ("images",)
    samplers = ("ancestral", "ddim")

    class Params(GradientParams):
        # Defaults chosen on the digits' validation split: FID of 180 EMA samples against steps,
        # sampler and sample_steps (see docs/models.md).
        lr: float = Field(1e-3, gt=0, description="Adam learning rate (after the warm-up)")
        warmup_steps: int = Field(100, ge=0, description="optimisation steps over which the lr rises linearly from 0")
        batch_size: int = Field(64, ge=1, description="training batch size")
        epochs: int = Field(1000, ge=1, description="most epochs (`max_steps` ends training first on most data)")
        max_steps: Optional[int] = Field(
            None, ge=1, description="most optimisation steps in all; null: 12000 x 64 / D for images of D values "
            "(12,000 on the 8x8 digits, 980 on 28x28, 250 on 32x32 colour): a deterministic budget of about the same "
            "compute on any size (minutes on 2 cores; a DDPM wants thousands of steps: raise it for usable samples on larger images)"
        )
        patience: int = Field(1000, ge=1, description="epochs without a better validation score before stopping")
        width: int = Field(32, ge=1, le=GradientParams.MAX_CONV_WIDTH, description="channels of the U-Net's first resolution")
        channel_mult: list[int] = Field(
            default_factory=lambda: [1, 2, 2, 2], min_length=1,
            description="channels of each resolution as multiples of `width` (the last repeats when the image allows more resolutions)",
        )
        blocks: int = Field(1, ge=1, le=8, description="residual blocks per resolution on the way down (one more on the way up)")
        attention: bool = Field(True, description="self-attention at the lowest resolution")
        dropout: float = Field(0.0, ge=0, lt=1, description="dropout in the residual blocks")
        timesteps: int = Field(1000, ge=2, le=100_000, description="diffusion steps T of the trained schedule")
        schedule: Literal["linear", "cosine"] = Field("linear", description="beta schedule: `linear` (Ho et al.) or `cosine` (Nichol and Dhariwal)")
        reverse_variance: Literal["posterior", "beta"] = Field(
            "posterior", description="variance of p(x_{t-1}|x_t): the posterior's beta~_t, or beta_t (sampling and the bound)"
        )
        ema_decay: float = Field(0.999, ge=0, lt=1, description="decay of the weight average, min(ema_decay, (1+step)/(10+step))")
        use_ema: bool = Field(True, description="sample, score and validate with the averaged weights")
        sampler: Literal["ancestral", "ddim"] = Field("ancestral", description="`ancestral` (DDPM) or `ddim` (eta = 0)")
        sample_steps: Optional[int] = Field(
            None, ge=1, le=100_000, description="steps of sampling (the trained schedule respaced, evenly strided); null: "
            "250 x sqrt(64 / D) for images of D values (250 on the digits, 71 on 28x28, 36 on 32x32 colour)"
        )
        vlb_timesteps: Optional[int] = Field(
            None, ge=1, le=100_000, description="t drawn per image (stratified) for the bound; null: every t (the exact sum) "
            f"where test images x T x D <= {VLB_BUDGET:.0e} (the digits), else as many as fit that (at least 2)"
        )
        autocast_bf16: bool = Field(False, description="bfloat16 autocast in the training forward on the CPU (ignored on other devices)")
        val_draws: int = Field(
            1024, ge=1, le=GradientParams.MAX_SAMPLES,
            description="seeded (image, t, noise) draws of the validation L_simple (the validation images cycled)",
        )

        @field_validator("channel_mult")
        @classmethod
        def _multiples(cls, v):
            if any(not 1 <= m <= 8 for m in v):
                raise ValueError(f"every multiple must be between 1 and 8 (got {v})")
            return v

    def __init__(self, params: "Diffusion.Params", shape, n_levels):
        super().__init__(params, shape, n_levels)
        p = params
        if len(self.shape) != 3:
            raise GenlabError(f"diffusion: images (C, H, W) only; got shape {list(self.shape)}")
        if self.n_levels < 2:
            raise GenlabError(f"diffusion: needs images with at least 2 levels (got {self.n_levels})")
        if p.sample_steps is not None and p.sample_steps > p.timesteps:
            raise GenlabError(f"diffusion.sample_steps: {p.sample_steps} steps exceed the {p.timesteps} trained timesteps")
        if p.vlb_timesteps is not None and p.vlb_timesteps > p.timesteps - 1:
            raise GenlabError(f"diffusion.vlb_timesteps: {p.vlb_timesteps} exceeds the {p.timesteps - 1} terms L_1..L_(T-1); use null for all")
        c, h, w = self.shape
        self.net = UNet(c, h, w, p.width, list(p.channel_mult), p.blocks, p.attention, p.dropout)
        self.ema = copy.deepcopy(self.net).requires_grad_(False)
        self.register_buffer("ema_steps", torch.zeros((), dtype=torch.long))
        self.__dict__["_step"] = 0
        betas = beta_schedule(p.schedule, p.timesteps)
        self._schedule("", betas)

    def _sized(self, base: int) -> int:
        """``base`` x sqrt(64 / D): the size-aware default of ``sample_steps``."""
        return max(1, round(base * math.sqrt(64 / self.dim)))

    def step_cap(self) -> int:
        return self.params.max_steps if self.params.max_steps is not None else max(1, round(12000 * 64 / self.dim))

    @property
    def sample_steps(self) -> int:
        steps = self.params.sample_steps
        return min(self.params.timesteps, steps if steps is not None else self._sized(250))

    def vlb_timesteps(self, n: int) -> int | None:
        """``vlb_timesteps``, or where it is null: None (every t) if n x T x D fits ``VLB_BUDGET``,
        else the t per image that fit it (at least 2, at most T - 1)."""
        k = self.params.vlb_timesteps
        if k is not None:
            return k
        if n * self.params.timesteps * self.dim <= VLB_BUDGET:
            return None
        return int(min(self.params.timesteps - 1, max(2, VLB_BUDGET // (n * self.dim))))

    def _schedule(self, prefix: str, betas: torch.Tensor) -> None:
        """Non-persistent float64 buffers of a schedule (made from the params, not saved)."""
        ab = torch.cumprod(1 - betas, 0)
        ab_prev = torch.cat([torch.ones(1, dtype=ab.dtype), ab[:-1]])
        post_var = betas * (1 - ab_prev) / (1 - ab)
        for name, v in dict(
            betas=betas, abar=ab, abar_prev=ab_prev, post_var=post_var,
            # log of the posterior variance, clipped at t = 1 (where it is 0) to its value at t = 2
            post_logvar=torch.log(torch.cat([post_var[1:2], post_var[1:]])),
            coef_x0=betas * ab_prev.sqrt() / (1 - ab), coef_xt=(1 - ab_prev) * (1 - betas).sqrt() / (1 - ab),
        ).items():
            self.register_buffer(prefix + name, v, persistent=False)

    # -- pieces ---------------------------------------------------------------------------
    def scale(self, x: torch.Tensor) -> torch.Tensor:
        return 2.0 * x.float() / (self.n_levels - 1) - 1.0

    def quantize(self, x0: torch.Tensor) -> torch.Tensor:
        return torch.round((x0 + 1) * (self.n_levels - 1) / 2).clamp(0, self.n_levels - 1).to(torch.uint8)

    @property
    def sampling_net(self) -> nn.Module:
        return self.ema if self.params.use_ema else self.net

    def t_input(self, t: torch.Tensor) -> torch.Tensor:
        """What the time embedding sees for timestep index t (0..T-1): scaled to 0..999 for any T."""
        return t.float() * (1000.0 / self.params.timesteps)

    def q_sample(self, x0, t, eps):
        ab = self.abar[t].float().view(-1, 1, 1, 1)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * eps

    def l_simple(self, net: nn.Module, x: torch.Tensor, t: torch.Tensor, eps: torch.Tensor, autocast: bool = False) -> torch.Tensor:
        """Per-example mean over values of (eps - eps_theta(x_t, t))^2, float32."""
        xt = self.q_sample(self.scale(x), t, eps)
        if autocast:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                out = net(xt, self.t_input(t))
        else:
            out = net(xt, self.t_input(t))
        return (eps - out.float()).pow(2).flatten(1).mean(1)

    # -- training -----------------------------------------------------------------------------
    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """L_simple (Ho et al.): the mean squared error of the predicted noise per value, averaged
        over the batch (a reweighted bound, not nats; ``likelihood_metrics`` gives the bound)."""
        t = torch.randint(0, self.params.timesteps, (len(x),), device=x.device)
        eps = torch.randn(x.shape, device=x.device)
        autocast = self.params.autocast_bf16 and self.training and x.device.type == "cpu"
        return self.l_simple(self.net, x, t, eps, autocast).mean()

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        out = super().load_state_dict(state_dict, strict, assign)
        self.__dict__["_step"] = int(self.ema_steps)  # the python mirror of the step counter (one read)
        return out

    def make_optimizers(self) -> list[torch.optim.Optimizer]:
        return [make_adam(self.net.parameters(), self.params)]

    def train_step(self, batch: tuple, optimizers: list) -> dict[str, torch.Tensor]:
        (opt,) = optimizers
        p, step = self.params, self.__dict__["_step"]
        loss = check_finite(self.objective(*batch))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if step < p.warmup_steps:  # linear warm-up on top of whatever the loop's schedule set
            saved = [g["lr"] for g in opt.param_groups]
            for g in opt.param_groups:
                g["lr"] = g["lr"] * (step + 1) / p.warmup_steps
            opt.step()
            for g, lr in zip(opt.param_groups, saved):
                g["lr"] = lr
        else:
            opt.step()
        self._update_ema(step)
        self.__dict__["_step"] = step + 1
        self.ema_steps.add_(1)
        return {"loss": loss.detach()}

    @torch.no_grad()
    def _update_ema(self, step: int) -> None:
        decay = min(self.params.ema_decay, (1 + step) / (10 + step))
        torch._foreach_lerp_(list(self.ema.parameters()), list(self.net.parameters()), 1 - decay)

    @torch.no_grad()
    def validation_score(self, val: tuple, epoch: int) -> float | None:
        """L_simple of the sampling weights (EMA or raw) with seeded t and noise: ``val_draws`` draws,
        cycling through the validation images; the same draws every epoch, so it compares epochs alone."""
        x = val[0]
        n = self.params.val_draws
        x = x[torch.arange(n, device=x.device) % len(x)]
        g = torch.Generator(device="cpu").manual_seed(self.params.seed + 7)
        t = torch.randint(0, self.params.timesteps, (n,), generator=g).to(x.device)
        eps = torch.randn(x.shape, generator=g).to(x.device)
        was = self.training
        self.eval()
        total = sum(self.l_simple(self.sampling_net, x[s : s + 256], t[s : s + 256], eps[s : s + 256]).double().sum()
                    for s in range(0, n, 256))
        self.train(was)
        return float(total) / n

    # -- sampling ---------------------------------------------------------------------------------
    def respaced(self, steps: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(timestep indices, abar at them, abar at the previous kept one) of ``steps`` evenly strided
        steps of the trained schedule, from T-1 down to 0 (float64)."""
        T = self.params.timesteps
        idx = torch.unique(torch.linspace(0, T - 1, steps, dtype=torch.float64).round().long())
        ab = self.abar[idx.to(self.abar.device)]
        ab_prev = torch.cat([torch.ones(1, dtype=ab.dtype, device=ab.device), ab[:-1]])
        return idx.flip(0), ab.flip(0), ab_prev.flip(0)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, sampler: str | None = None) -> torch.Tensor:
        sampler = sampler or self.params.sampler
        self.eval()
        net, device = self.sampling_net, self.device
        draw = lambda: torch.randn((n, *self.shape), generator=generator, device=generator.device).to(device)
        x = draw()
        idx, ab, ab_prev = self.respaced(self.sample_steps)
        for k in range(len(idx)):
            t = torch.full((n,), int(idx[k]), device=device, dtype=torch.long)
            a, ap = ab[k].item(), ab_prev[k].item()
            eps = net(x, self.t_input(t)).float()
            x0 = ((x - math.sqrt(1 - a) * eps) / math.sqrt(a)).clamp(-1, 1)
            if k == len(idx) - 1:
                x = x0
                break
            if sampler == "ddim":
                eps = (x - math.sqrt(a) * x0) / math.sqrt(1 - a)
                x = math.sqrt(ap) * x0 + math.sqrt(1 - ap) * eps
                continue
            beta = 1 - a / ap  # the respaced beta
            mean = (beta * math.sqrt(ap) / (1 - a)) * x0 + ((1 - ap) * math.sqrt(1 - beta) / (1 - a)) * x
            var = beta * (1 - ap) / (1 - a) if self.params.reverse_variance == "posterior" else beta
            x = mean + math.sqrt(var) * draw()
        return self.quantize(x)

    @property
    def default_sampler(self) -> str:
        return self.params.sampler

    # -- likelihood ------------------------------------------------------------------------------
    def terms(self, x: torch.Tensor, t: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The bound's term at timestep index t (0-based: t = 0 is L_0 = -log p(x_0|x_1), t >= 1 is
        L_t = KL(q(x_t|x_{t+1}, x_0) || p(x_t|x_{t+1})) in the paper's 1-based terms), per example,
        float64 nats, at one draw x_{t+1} ~ q(x_{t+1}|x_0)."""
        x0 = self.scale(x).double()
        eps = torch.randn(x.shape, generator=generator, device=generator.device).to(x.device).double()
        ab = self.abar[t].view(-1, 1, 1, 1)
        xt = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
        eps_hat = self.sampling_net(xt.float(), self.t_input(t)).double()
        x0_hat = (xt - (1 - ab).sqrt() * eps_hat) / ab.sqrt()
        c0, ct = self.coef_x0[t].view(-1, 1, 1, 1), self.coef_xt[t].view(-1, 1, 1, 1)
        # the KL terms' reverse mean uses x0_hat clipped to [-1, 1], as sampling does (and the bits/dim
        # code of Ho et al. and of Nichol and Dhariwal): the true x0 lies in [-1, 1], so the clip only
        # moves the mean toward the true one and no KL term grows. The decoder keeps the raw mean: past
        # an edge level it only widens that level's open bin.
        mean_hat = c0 * x0_hat + ct * xt
        mean_kl = c0 * x0_hat.clamp(-1, 1) + ct * xt
        if self.params.reverse_variance == "posterior":
            logvar = self.post_logvar[t].view(-1, 1, 1, 1)
        else:
            logvar = self.betas[t].log().view(-1, 1, 1, 1)
        kl = normal_kl(c0 * x0 + ct * xt, self.post_logvar[t].view(-1, 1, 1, 1), mean_kl, logvar).flatten(1).sum(1)
        dec = -discretized_gaussian_log_prob(x, mean_hat, 0.5 * logvar, self.n_levels).flatten(1).sum(1)
        return torch.where(t == 0, dec, kl)

    def prior_term(self, x: torch.Tensor) -> torch.Tensor:
        """L_T = KL(q(x_T|x_0) || N(0, I)) per example, float64."""
        x0 = self.scale(x).double()
        ab = self.abar[-1]
        return normal_kl(ab.sqrt() * x0, torch.log1p(-ab).expand_as(x0), torch.zeros_like(x0), torch.zeros_like(x0)).flatten(1).sum(1)

    @torch.no_grad()
    def bound_terms(self, x: torch.Tensor, generator: torch.Generator, vlb_timesteps: int | None) -> dict:
        """Per-example (prior L_T, decoder L_0, diffusion sum_{t=1}^{T-1} L_t) in float64: the diffusion
        sum exact over every t, or a stratified estimate from ``vlb_timesteps`` draws of t per example
        (the T-1 terms cut into that many near-equal strata, one uniform t in each, weighted by the
        stratum's size): unbiased, and independent across examples."""
        self.eval()
        T, n, device = self.params.timesteps, len(x), x.device
        prior = self.prior_term(x)
        zero = torch.zeros(n, dtype=torch.long, device=device)
        decoder = torch.cat([self.terms(x[s : s + VLB_BATCH], zero[s : s + VLB_BATCH], generator)
                             for s in range(0, n, VLB_BATCH)])
        if vlb_timesteps is None:
            ts = torch.arange(1, T, device=device).repeat(n, 1)  # (n, T-1)
            weights = torch.ones(ts.shape, dtype=torch.float64, device=device)
        else:
            edges = torch.linspace(1, T, vlb_timesteps + 1, dtype=torch.float64).round().long()  # strata [e_k, e_k+1)
            lo, size = edges[:-1], edges[1:] - edges[:-1]
            u = torch.rand((n, vlb_timesteps), generator=generator, device=generator.device, dtype=torch.float64).cpu()
            ts = (lo + (u * size).floor().long().clamp(max=size - 1)).to(device)
            weights = size.to(device, torch.float64).expand(n, -1)
        per = ts.shape[1]
        out = torch.empty(ts.shape, dtype=torch.float64, device=device)
        rows = max(1, VLB_BATCH // per)
        for s in range(0, n, rows):  # whole examples at a time when they fit, else chunks of t
            xb, tb = x[s : s + rows], ts[s : s + rows]
            if per <= VLB_BATCH:
                out[s : s + rows] = self.terms(xb.repeat_interleave(per, 0), tb.reshape(-1), generator).view(len(xb), per)
            else:
                for c in range(0, per, VLB_BATCH):
                    k = tb[:, c : c + VLB_BATCH]
                    out[s : s + rows, c : c + VLB_BATCH] = self.terms(
                        xb.repeat_interleave(k.shape[1], 0), k.reshape(-1), generator).view(len(xb), -1)
        return {"prior": prior, "decoder": decoder, "diffusion": (out * weights).sum(1)}

    @torch.no_grad()
    def likelihood_metrics(self, x: torch.Tensor, params, generator: torch.Generator) -> dict:
        """The variational bound on -log p(x) per image (nats, ``nll``), with its parts: ``nll_prior``
        (L_T), ``nll_decoder`` (L_0) and ``nll_diffusion`` (the KL terms L_1..L_{T-1}), and
        ``vlb_timesteps`` (T: the exact sum over every t; else the t drawn per image)."""
        k = self.vlb_timesteps(len(x))
        parts = self.bound_terms(x.to(self.device), generator, k)
        nll = parts["prior"] + parts["decoder"] + parts["diffusion"]
        out = nll_summary(nll.cpu(), self.dim, discrete=True)
        out.update(
            nll_prior=parts["prior"].mean().item(),
            nll_decoder=parts["decoder"].mean().item(),
            nll_diffusion=parts["diffusion"].mean().item(),
            vlb_timesteps=self.params.timesteps if k is None else k,
        )
        return out


MODEL = Diffusion
