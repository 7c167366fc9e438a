"""A generative adversarial network (Goodfellow et al. 2014) for any image size.

The generator maps Gaussian noise to a continuous image in [0, 1]; a sample is quantized
to the data's levels (level = floor(value * L)). The discriminator sees real images
dequantized the same way ((x + u) / L, u ~ U(0, 1)), so it cannot tell real from fake by
the grid of values alone. Losses: non-saturating (default) or hinge; Adam with beta1 = 0.5;
optional spectral normalisation in the discriminator; an exponential moving average (EMA)
of the generator's weights is what samples. The kept checkpoint is the one with the lowest
validation FID of EMA samples in the frozen feature network's features (the classifier's or the
self-supervised network's, as for the sample metrics), measured every
``eval_every`` epochs: GAN losses say little about sample quality, and neighbouring
checkpoints differ a lot. Samples are always drawn in eval mode. No likelihood.
"""

from __future__ import annotations

import copy
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from genlab.config.schema import GradientParams
from genlab.data import noise
from genlab.data.images import image_grid
from genlab.errors import GenlabError
from genlab.metrics.samples import fid
from genlab.models.base import GenerativeModel
from genlab.nn.nets import decoder, encoder, spectral_norm
from genlab.nn.optim import check_finite, make_adam
from genlab.runtime import world


def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, kind: str) -> torch.Tensor:
    """Discriminator loss (lower when real logits are high and fake ones low)."""
    if kind == "hinge":
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()  # -log D(x) - log(1 - D(G(z)))


def g_loss(fake_logits: torch.Tensor, kind: str) -> torch.Tensor:
    """Generator loss: non-saturating -log D(G(z)), or -D(G(z)) for hinge."""
    if kind == "hinge":
        return -fake_logits.mean()
    return F.softplus(-fake_logits).mean()


class Generator(nn.Module):
    """Noise (and, class-conditional, the class one-hot beside it) to an image in [0, 1]."""

    def __init__(self, p: "GAN.Params", shape, n_classes: int = 0):
        super().__init__()
        act = lambda: nn.LeakyReLU(0.2)
        self.n_classes = n_classes
        self.net = decoder(p.arch, p.latent_dim + n_classes, shape, 1, list(p.hidden), p.conv_width, act)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.n_classes:
            z = torch.cat([z, F.one_hot(y, self.n_classes).to(z.dtype)], 1)
        return torch.sigmoid(self.net(z)[..., 0])  # (N, C, H, W) in [0, 1]


class ProjectionDiscriminator(nn.Module):
    """A class-conditional discriminator with a projection (Miyato and Koyama 2018):
    D(x, y) = w . phi(x) + e_y . phi(x), phi the features of the same network as the unconditional
    discriminator's, e_y a learnt embedding of the class."""

    def __init__(self, p: "GAN.Params", shape, n_classes: int, wrap):
        super().__init__()
        width = p.hidden[-1]
        self.features = encoder(p.arch, shape, width, list(p.hidden), p.conv_width, lambda: nn.LeakyReLU(0.2), wrap)
        self.head = wrap(nn.Linear(width, 1))
        self.embed = nn.Embedding(n_classes, width)
        nn.init.normal_(self.embed.weight, 0, 0.02)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.features(x), 0.2)
        return self.head(h) + (self.embed(y) * h).sum(1, keepdim=True)


class GAN(GenerativeModel):
    modalities = ("images",)
    has_likelihood = False
    needs_features = True  # completion: latent optimisation (``complete``), no conditional likelihood
    validation_metric = "fid"

    class Params(GradientParams):
        lr: float = Field(5e-4, gt=0, description="Adam learning rate (both networks)")
        beta1: float = Field(0.5, ge=0, lt=1, description="Adam beta1")
        beta2: float = Field(0.999, ge=0, lt=1, description="Adam beta2")
        epochs: int = Field(600, ge=1, description="most epochs")
        patience: int = Field(150, ge=1, description="epochs without a better validation FID before stopping")
        arch: Literal["mlp", "conv"] = Field("mlp", description="`mlp` or `conv` networks")
        hidden: list[int] = Field(
            default_factory=lambda: [256, 256], min_length=1, description="discriminator widths; the generator mirrors them"
        )
        conv_width: int = Field(32, ge=1, le=GradientParams.MAX_CONV_WIDTH, description="channels of the first conv layer (`arch: conv`)")
        latent_dim: int = Field(32, ge=1, le=GradientParams.MAX_WIDTH, description="noise dimensions")
        loss: Literal["non_saturating", "hinge"] = Field("non_saturating", description="`non_saturating` or `hinge`")
        spectral_norm: bool = Field(True, description="spectral normalisation in the discriminator")
        conditional: bool = Field(
            False, description="labelled images: a class-conditional GAN, the class one-hot beside the noise in the "
            "generator and a projection discriminator; samples are drawn for the class asked for (unconditional ones "
            "with classes drawn from their training frequencies)"
        )
        ema: float = Field(0.999, ge=0, lt=1, description="decay of the generator's weight average (0: none)")
        eval_every: int = Field(5, ge=1, description="epochs between validation FIDs")
        n_eval: int = Field(1000, ge=2, le=GradientParams.MAX_SAMPLES, description="samples per validation FID")

    def __init__(self, params: "GAN.Params", shape, n_levels, n_classes: int = 0):
        super().__init__(params, shape, n_levels)
        p = params
        wrap = spectral_norm if p.spectral_norm else (lambda m: m)
        self.n_classes = int(n_classes) if p.conditional else 0
        self.generator = Generator(p, self.shape, self.n_classes)
        if self.n_classes:
            self.discriminator = ProjectionDiscriminator(p, self.shape, self.n_classes, wrap)
            self.add_class_prior()
        else:
            self.discriminator = encoder(p.arch, self.shape, 1, list(p.hidden), p.conv_width, lambda: nn.LeakyReLU(0.2), wrap)
        self.ema_generator = copy.deepcopy(self.generator).requires_grad_(False)
        self._val_features = None
        self.begin_fit(None)
        # Fixed noise for the sample grid logged at every validation (not part of the state).
        self.__dict__["fixed_z"] = torch.randn(
            (64, p.latent_dim), generator=torch.Generator().manual_seed(p.seed + 1)
        )

    # -- training ---------------------------------------------------------------
    def make_optimizers(self) -> list[torch.optim.Optimizer]:
        betas = (self.params.beta1, self.params.beta2)
        return [make_adam(self.discriminator.parameters(), self.params, betas),
                make_adam(self.generator.parameters(), self.params, betas)]

    def begin_fit(self, train: torch.Tensor | None) -> None:
        """The training noise (latent draws, dequantization) comes from one seeded generator on the
        model's device (made again here, after the stage has moved the model)."""
        rank = world()[0]  # each process of a distributed run draws its own noise
        self.__dict__["noise"] = torch.Generator(device=self.device).manual_seed(self.params.seed + 2 + 1_000_003 * rank)

    def training_state(self) -> dict:
        return {"noise": self.noise.get_state()}  # a resumed run goes on with the same draws

    def restore_training_state(self, state: dict) -> None:
        self.noise.set_state(state["noise"])

    def distribute(self, wrap) -> None:
        """Both networks in DistributedDataParallel, each called through its wrapper in ``train_step``."""
        self.__dict__["_ddp_g"] = wrap(self.generator)
        self.__dict__["_ddp_d"] = wrap(self.discriminator)

    def train_step(self, batch: tuple, optimizers: list) -> dict[str, torch.Tensor]:
        x, *labels = batch  # a class-conditional model: (images, labels); its fakes take the real batch's labels
        opt_d, opt_g = optimizers
        kind = self.params.loss
        generator = self.__dict__.get("_ddp_g", self.generator)
        discriminator = self.__dict__.get("_ddp_d", self.discriminator)
        z = torch.randn(len(x), self.params.latent_dim, generator=self.noise, device=x.device)
        cond = (labels[0].long(),) if self.n_classes else ()
        fake = generator(z, *cond)
        real = noise.dequantize_levels(x, self.n_levels, self.noise)
        both = (torch.cat([cond[0], cond[0]]),) if cond else ()
        real_logits, fake_logits = discriminator(torch.cat([real, fake.detach()]), *both).split(len(x))  # one pass
        loss_d = check_finite(d_loss(real_logits, fake_logits, kind), "discriminator loss")
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        loss_g = check_finite(g_loss(discriminator(fake, *cond), kind), "generator loss")
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        self._update_ema()
        return {"d_loss": loss_d.detach(), "g_loss": loss_g.detach()}

    @torch.no_grad()
    def _update_ema(self) -> None:
        torch._foreach_lerp_(list(self.ema_generator.parameters()), list(self.generator.parameters()), 1 - self.params.ema)

    @torch.no_grad()
    def validation_score(self, val: tuple, epoch: int) -> float | None:
        """FID of EMA samples against the validation split, every ``eval_every`` epochs."""
        if epoch % self.params.eval_every:
            return None
        network = self.__dict__.get("feature_network")
        if network is None:  # attach_features: needs_features
            raise GenlabError("gan: no feature network attached for the validation FID")
        if self._val_features is None:
            self._val_features = network.predict(val[0].cpu())[0]
        gen = torch.Generator(device="cpu").manual_seed(self.params.seed)
        samples = self.sample(self.params.n_eval, gen)
        score = fid(self._val_features, network.predict(samples.cpu())[0])
        self.train()
        return score

    @torch.no_grad()
    def snapshot(self):
        """A grid of the EMA generator's images from the same fixed noise every time."""
        was_training = self.training
        self.eval()
        z = self.fixed_z.to(self.device)
        labels = (torch.arange(len(z), device=self.device) % self.n_classes,) if self.n_classes else ()
        images = self.quantize(self.ema_generator(z, *labels))
        self.train(was_training)
        return image_grid(images, self.n_levels)

    # -- sampling ---------------------------------------------------------------
    def quantize(self, images: torch.Tensor) -> torch.Tensor:
        return (images * self.n_levels).floor().clamp(0, self.n_levels - 1).to(torch.uint8)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, sampler: str | None = None, labels=None) -> torch.Tensor:
        """n draws; a class-conditional model's of the classes ``labels`` (n,), or, without them, of
        classes drawn from the training frequencies first."""
        self.eval()
        if self.n_classes and labels is None:
            labels = self.draw_classes(n, generator)
        z = torch.randn((n, self.params.latent_dim), generator=generator, device=generator.device).to(self.device)
        cond = (torch.as_tensor(labels, device=self.device).long(),) if self.n_classes else ()
        return self.quantize(self.ema_generator(z, *cond))

    @torch.no_grad()
    def interpolation_strip(self, test: torch.Tensor, rows: int, steps: int, generator: torch.Generator) -> torch.Tensor:
        """Generated images along straight lines between pairs of noise vectors: (rows, steps, C, H, W), levels."""
        self.eval()
        za = torch.randn((rows, self.params.latent_dim), generator=generator, device=generator.device).to(self.device)
        zb = torch.randn((rows, self.params.latent_dim), generator=generator, device=generator.device).to(self.device)
        t = torch.linspace(0, 1, steps, device=za.device)[None, :, None]
        z = (za[:, None] * (1 - t) + zb[:, None] * t).reshape(-1, self.params.latent_dim)
        cond = ((torch.arange(rows, device=z.device) % self.n_classes).repeat_interleave(steps),) if self.n_classes else ()
        return (self.ema_generator(z, *cond) * self.n_levels - 0.5).clamp(0, self.n_levels - 1).reshape(rows, steps, *self.shape)

    # -- completion -------------------------------------------------------------
    COMPLETION_NOISE = 0.1  # the pixel noise (on the [0, 1] scale) the visible values are fitted under
    COMPLETION_LR = 0.05

    def complete(self, x, hidden, generator, steps):
        """Latent optimisation (no likelihood, so no conditional to sample): from a code drawn from
        the prior, ``steps`` Adam steps on the MAP objective sum_visible (G(z) - x)^2 / (2 s^2) +
        |z|^2 / 2 (s = ``COMPLETION_NOISE``; x at its level's centre), then the hidden part from the
        generated image. Different draws start from different codes."""
        if self.n_classes:  # the class would be a second unknown: not built
            return None
        self.eval()
        x, hidden = x.to(self.device), hidden.to(self.device)
        target = (x.flatten(1).float() + 0.5) / self.n_levels
        visible = (~hidden).float()
        z0 = torch.randn((len(x), self.params.latent_dim), generator=generator, device=generator.device)
        z = z0.to(self.device).requires_grad_(True)
        opt = torch.optim.Adam([z], lr=self.COMPLETION_LR)
        with torch.enable_grad():
            for _ in range(steps):
                fit = ((self.ema_generator(z).flatten(1) - target).pow(2) * visible).sum(1) / (2 * self.COMPLETION_NOISE**2)
                loss = (fit + 0.5 * z.pow(2).sum(1)).sum()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        with torch.no_grad():
            drawn = self.quantize(self.ema_generator(z)).flatten(1)
        return torch.where(hidden, drawn, x.flatten(1).to(drawn.dtype)).reshape(x.shape)


MODEL = GAN
