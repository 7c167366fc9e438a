"""The variational autoencoder (Kingma and Welling 2014).

Encoder q(z|x) = N(mu(x), diag sigma^2(x)); prior p(z) = N(0, I), or (``prior: mog``) a
mixture of diagonal Gaussians learnt with the rest (Tomczak and Welling 2018); decoder p(x|z):
an observation model from ``genlab.nn.observations``, chosen once from the data: a Bernoulli per
binary pixel, a categorical per pixel of a few levels, a discretised logistic mixture per
pixel of many levels (so every bound is in nats on the same discrete scale as the exact
baselines), or a Gaussian per continuous value. Training maximises the ELBO
(``train_k = 1``) or the importance-weighted bound of Burda et al. 2015 (``train_k > 1``):

    log p(x) >= E log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x),   z_i ~ q(z|x);

evaluation reports the negative ELBO and the IWAE bound with ``evaluate.iw_samples``.
Completing an image: the hidden part drawn by Metropolis-within-Gibbs, its conditional likelihood
an importance-sampled estimate (``complete`` and ``completion_log_prob`` below).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
from pydantic import Field, field_validator

from genlab.config.schema import GradientParams
from genlab.errors import GenlabError
from genlab.models.base import GenerativeModel, nll_summary
from genlab.nn import observations
from genlab.nn.nets import decoder, encoder

LOG_2PI = math.log(2 * math.pi)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) summed over the last axis: -1/2 sum(1 + log s^2 - mu^2 - s^2)."""
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(-1)


class VAE(GenerativeModel):
    modalities = ("images", "continuous")
    samplers = ("prior", "gmm")

    class Params(GradientParams):
        # Defaults chosen on the validation split's IWAE bound (see docs/models.md).
        lr: float = Field(3e-4, gt=0, description="Adam learning rate")
        max_steps: int | None = Field(
            None, ge=1, description="most optimisation steps in all; null: 150000 x 64 / D for data of D values "
            "(150,000 on the 8x8 digits, where `patience` stops first; 12,245 on 28x28; 3,125 on 32x32 colour): "
            "a deterministic budget of about the same compute on any size (the 32x32 colour folder's VAE would take "
            "over 20 min on 2 cores to stop by `patience`; raise it for a better model)"
        )
        arch: Literal["mlp", "conv"] = Field("mlp", description="`mlp` or `conv` encoder and decoder (conv: images only)")
        conv_width: int = Field(32, ge=1, le=GradientParams.MAX_CONV_WIDTH, description="channels of the first conv layer (`arch: conv`)")
        latent_dim: int = Field(16, ge=1, le=GradientParams.MAX_WIDTH, description="latent dimensions")
        hidden: list[int] = Field(
            default_factory=lambda: [256, 256], min_length=1, description="encoder layer widths; the decoder mirrors them"
        )
        train_k: int = Field(5, ge=1, le=GradientParams.MAX_SAMPLES, description="importance samples in the training bound (1 = ELBO)")
        likelihood: Literal["auto", "categorical", "discretized_logistic"] = Field(
            "auto",
            description="p(x|z) of images: `auto` (Bernoulli for 2 levels, categorical up to "
            f"{observations.AUTO_LOGISTIC_ABOVE} levels, a discretised logistic mixture above), "
            "`categorical` or `discretized_logistic`",
        )
        logistic_components: int = Field(
            1, ge=1, le=GradientParams.MAX_COMPONENTS, description="mixture components per pixel of the discretised logistic likelihood"
        )
        prior: Literal["normal", "mog"] = Field(
            "normal", description="p(z): `normal` (N(0, I)) or `mog` (a learnt mixture of diagonal Gaussians)"
        )
        prior_components: int = Field(50, ge=1, le=GradientParams.MAX_COMPONENTS, description="components of the learnt prior (`prior: mog`)")
        sampler: Literal["prior", "gmm"] = Field(
            "gmm", description="`prior`, or `gmm`: a Gaussian mixture fitted to draws of the training codes"
        )
        gmm_components: int = Field(10, ge=1, le=GradientParams.MAX_COMPONENTS, description="components of the mixture fitted to the training codes")
        conditional: bool = Field(
            False, description="labelled images: a model of p(x | class), the class beside z in the decoder and a learnt "
            "shift of q(z|x) per class in the encoder; samples are drawn for the class asked for (unconditional ones with "
            "classes drawn from their training frequencies), `nll` is of p(x) = sum_y p(y) p(x|y)"
        )

        @field_validator("hidden", mode="before")
        @classmethod
        def _one_width_is_a_list(cls, v):
            return [v] if isinstance(v, (int, str)) else v

        @field_validator("hidden")
        @classmethod
        def _positive_widths(cls, v):
            if any(h < 1 for h in v):
                raise ValueError(f"every width must be >= 1 (got {v})")
            return v

    def __init__(self, params: "VAE.Params", shape, n_levels, n_classes: int = 0):
        super().__init__(params, shape, n_levels)
        p = params
        self.latent_dim = p.latent_dim
        self.n_classes = int(n_classes) if p.conditional else 0
        if self.n_levels == 0 and p.arch == "conv":
            raise GenlabError("vae.arch: 'conv' needs images; this data is a table of values (use mlp)")
        if self.n_levels == 0 and p.likelihood != "auto":
            raise GenlabError(f"vae.likelihood: {p.likelihood!r} is for images; continuous values take a Gaussian (use auto)")
        self.obs = observations.choose(self.n_levels, self.dim, p.likelihood, p.logistic_components)
        self.encoder = encoder(p.arch, self.shape, 2 * p.latent_dim, list(p.hidden), p.conv_width)
        self.decoder = decoder(p.arch, p.latent_dim + self.n_classes, self.shape, self.obs.per_value, list(p.hidden), p.conv_width)
        if self.n_classes:  # q(z|x, y): the encoder's output shifted per class, from zero; p(y): training frequencies
            self.class_shift = torch.nn.Embedding(self.n_classes, 2 * p.latent_dim)
            torch.nn.init.zeros_(self.class_shift.weight)
            self.add_class_prior()
        bias = self.obs.initial_bias()
        if bias is not None:  # MLP decoders only (a Gaussian's values are never conv images)
            with torch.no_grad():
                self.decoder.net[-1].bias.view(self.dim, -1).copy_(bias)
        if p.prior == "mog":
            # Means spread like draws from N(0, I), unit variances, equal weights: N(0, I)-like at the start.
            g = torch.Generator().manual_seed(p.seed)
            self.prior_means = torch.nn.Parameter(torch.randn(p.prior_components, p.latent_dim, generator=g))
            self.prior_logvars = torch.nn.Parameter(torch.zeros(p.prior_components, p.latent_dim))
            self.prior_logits = torch.nn.Parameter(torch.zeros(p.prior_components))
        # The "gmm" sampler: a Gaussian mixture fitted to the training codes after training
        # (ex-post density estimation, Ghosh et al. 2020).
        K, z = params.gmm_components, params.latent_dim
        self.register_buffer("gmm_log_weights", torch.full((K,), -math.log(K)))
        self.register_buffer("gmm_means", torch.zeros(K, z))
        self.register_buffer("gmm_scale_tril", torch.eye(z).expand(K, z, z).clone())

    # -- the model's pieces -------------------------------------------------------
    def begin_fit(self, train: torch.Tensor) -> None:
        """Continuous data: standardise with the training split's mean and standard deviation.
        Checked first: the "gmm" sampler's mixture can be fitted to the codes (after training)."""
        codes = self.CODE_DRAWS * len(train)
        if self.params.gmm_components > codes:
            raise GenlabError(f"vae.gmm_components: {self.params.gmm_components} components for {codes} training codes "
                              f"({self.CODE_DRAWS} per training example); give at most {codes}")
        if isinstance(self.obs, observations.Gaussian):
            self.obs.fit_standardisation(train)

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, log sigma^2) of q(z|x), or of q(z|x, y) for a class-conditional model (``y``: labels)."""
        inputs = self.obs.inputs(x.flatten(1)).reshape(x.shape).to(self.gmm_means.dtype)
        out = self.encoder(inputs)
        if self.n_classes:
            out = out + self.class_shift(self._labels(y, len(x)))
        mu, logvar = out.chunk(2, dim=-1)
        return mu, logvar

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The decoder's output for codes (..., latent): (..., D, K), the observation model's parameters;
        a class-conditional model's for labels ``y`` (the codes' last batch axis)."""
        lead = z.shape[:-1]
        if self.n_classes:
            onehot = torch.nn.functional.one_hot(self._labels(y, lead[-1]), self.n_classes).to(z.dtype)
            z = torch.cat([z, onehot.expand(*lead, self.n_classes)], -1)
        return self.decoder(z.reshape(-1, z.shape[-1])).reshape(*lead, self.dim, self.obs.per_value)

    def _labels(self, y: torch.Tensor | None, n: int) -> torch.Tensor:
        if y is None:
            raise GenlabError("vae: a class-conditional model needs the labels")
        y = torch.as_tensor(y, device=self.gmm_means.device).long()
        return y.expand(n) if y.dim() == 0 else y

    def decode_mean(self, z: torch.Tensor) -> torch.Tensor:
        """E[x|z] shaped like the data: levels in [0, L-1], or values."""
        return self.obs.mean(self.decode(z)).reshape(-1, *self.shape)

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) summed over the latent axis, (...), in z's dtype."""
        if self.params.prior == "normal":
            return -0.5 * (z.pow(2) + LOG_2PI).sum(-1)
        means, logvars = self.prior_means.to(z.dtype), self.prior_logvars.to(z.dtype)
        prec = (-logvars).exp()
        # sum_d (z_d - m_kd)^2 / s_kd^2 expanded into two matrix products: no (..., K, d) tensor
        flat = z.reshape(-1, z.shape[-1])
        sq = flat.pow(2) @ prec.T - 2 * flat @ (means * prec).T + (means.pow(2) * prec).sum(-1)
        comp = -0.5 * (sq + (logvars + LOG_2PI).sum(-1)) + torch.log_softmax(self.prior_logits.to(z.dtype), 0)
        return torch.logsumexp(comp, -1).reshape(z.shape[:-1])

    def log_weights(self, x: torch.Tensor, k: int, generator: torch.Generator | None = None, y: torch.Tensor | None = None):
        """Importance log-weights log p(x|z) + log p(z) - log q(z|x) for k draws, shape (k, B)
        (a class-conditional model: given the labels ``y``).

        Returns (log_w, log p(x|z)) in float64; the decoder runs once on all k*B codes.
        """
        mu, logvar = self.encode(x, y)
        eps = torch.randn((k, *mu.shape), generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + (0.5 * logvar).exp() * eps
        # per-value terms summed in float32 (error ~1e-5 nats), the log-weights in float64
        log_px = self.obs.log_prob(self.decode(z, y), x.flatten(1)).double()
        log_pz = self.log_prior(z.double())
        log_qz = -0.5 * (eps.double().pow(2) + LOG_2PI + logvar.double()).sum(-1)
        return log_px + log_pz - log_qz, log_px

    # -- training ---------------------------------------------------------------
    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The negative ELBO (k = 1, N(0, I) prior: the KL in closed form), else the negative
        importance-weighted bound with k = train_k; mean per example, nats (of x given y, for a
        class-conditional model)."""
        k = self.params.train_k
        if k == 1 and self.params.prior == "normal":
            mu, logvar = self.encode(x, y)
            z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
            recon = -self.obs.log_prob(self.decode(z, y), x.flatten(1))
            return (recon + gaussian_kl(mu, logvar)).mean()
        log_w, _ = self.log_weights(x, k, None, y)
        return -(torch.logsumexp(log_w, 0) - math.log(k)).float().mean()

    CODE_DRAWS = 10  # draws z ~ q(z|x) per training example for the "gmm" sampler's fit

    def step_cap(self) -> int:
        """``max_steps``, or 150000 x 64 / D where it is null (see its description)."""
        return self.params.max_steps if self.params.max_steps is not None else max(1, round(150000 * 64 / self.dim))

    @torch.no_grad()
    def finish_fit(self, train: torch.Tensor, val: torch.Tensor) -> dict:
        """Fit the "gmm" sampler's mixture to the aggregate posterior: ``CODE_DRAWS`` seeded draws
        z ~ q(z|x) per training example (means alone would leave out the posterior's spread)."""
        from sklearn.mixture import GaussianMixture

        self.eval()
        train, labels = train if isinstance(train, tuple) else (train, None)
        gen = torch.Generator(device=self.gmm_means.device).manual_seed(self.params.seed)
        codes = []
        for i, b in enumerate(train.split(1024)):
            y = None if labels is None else labels[1024 * i : 1024 * (i + 1)].to(self.gmm_means.device)
            mu, logvar = self.encode(b.to(self.gmm_means.device), y)
            eps = torch.randn((self.CODE_DRAWS, *mu.shape), generator=gen, device=mu.device)
            codes.append((mu + (0.5 * logvar).exp() * eps).transpose(0, 1).reshape(-1, self.latent_dim))
        codes = torch.cat(codes).double().cpu().numpy()
        gmm = GaussianMixture(self.params.gmm_components, covariance_type="full", random_state=self.params.seed)
        gmm.fit(codes)
        device = self.gmm_means.device
        self.gmm_log_weights.copy_(torch.from_numpy(np.log(gmm.weights_)).to(device))
        self.gmm_means.copy_(torch.from_numpy(gmm.means_).to(device))
        self.gmm_scale_tril.copy_(torch.from_numpy(np.linalg.cholesky(gmm.covariances_)).to(device))
        return {"likelihood": type(self.obs).__name__, "gmm_train_log_likelihood": float(gmm.score(codes))}

    # -- sampling ---------------------------------------------------------------
    @property
    def default_sampler(self) -> str:
        return self.params.sampler

    def sample_latent(self, n: int, generator: torch.Generator, sampler: str | None = None) -> torch.Tensor:
        sampler = sampler or self.params.sampler
        device = self.gmm_means.device
        eps = torch.randn((n, self.latent_dim), generator=generator, device=device)
        if sampler == "prior" and self.params.prior == "normal":
            return eps
        if sampler == "prior":
            k = torch.multinomial(torch.softmax(self.prior_logits, 0), n, replacement=True, generator=generator)
            return self.prior_means[k] + (0.5 * self.prior_logvars[k]).exp() * eps
        k = torch.multinomial(self.gmm_log_weights.exp(), n, replacement=True, generator=generator)
        return self.gmm_means[k] + (self.gmm_scale_tril[k] @ eps.unsqueeze(-1)).squeeze(-1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, sampler: str | None = None, labels=None) -> torch.Tensor:
        """n draws; a class-conditional model's of the classes ``labels`` (n,), or, without them, of
        classes drawn from the training frequencies first."""
        if self.n_classes and labels is None:
            labels = self.draw_classes(n, generator)
        z = self.sample_latent(n, generator, sampler)
        return self.obs.sample(self.decode(z, labels), generator).reshape(n, *self.shape)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor | None:
        if self.n_classes:  # needs the test images' labels, which the pictures are drawn without
            return None
        mu, _ = self.encode(x)
        return self.decode_mean(mu)

    @torch.no_grad()
    def interpolation_strip(self, test: torch.Tensor, rows: int, steps: int, generator: torch.Generator) -> torch.Tensor:
        """Decoded means along straight lines between the codes of test[i] and test[rows + i]:
        (rows, steps, C, H, W), in levels. None for a class-conditional model (no labels here)."""
        if self.n_classes:
            return None
        za, _ = self.encode(test[:rows])
        zb, _ = self.encode(test[rows : 2 * rows])
        t = torch.linspace(0, 1, steps, device=za.device)[None, :, None]
        z = za[:, None] * (1 - t) + zb[:, None] * t
        return self.decode_mean(z.reshape(-1, self.latent_dim)).reshape(rows, steps, *self.shape)

    # -- likelihood -------------------------------------------------------------
    @torch.no_grad()
    def likelihood_metrics(self, x: torch.Tensor, params, generator: torch.Generator) -> dict:
        """IWAE bound with k = params.iw_samples, the negative ELBO and its two terms, per test example
        (the KL term in closed form for the N(0, I) prior, a k-draw Monte Carlo mean for the mixture)."""
        k, chunk = params.iw_samples, params.batch_size
        if self.n_classes:
            return self._conditional_likelihood(x, None, k, chunk, generator)
        nll, recon, kl = [], [], []
        for batch in x.split(chunk):
            log_w, log_px = self.log_weights(batch, k, generator)
            nll.append(-(torch.logsumexp(log_w, 0) - math.log(k)))
            recon.append(-log_px.mean(0))
            if self.params.prior == "normal":
                mu, logvar = self.encode(batch)
                kl.append(gaussian_kl(mu.double(), logvar.double()))
            else:  # no closed form: the k draws' mean of log q(z|x) - log p(z)
                kl.append(-(log_w - log_px).mean(0))
        nll, recon, kl = torch.cat(nll), torch.cat(recon), torch.cat(kl)
        out = nll_summary(nll, self.dim, discrete=self.n_levels > 0)
        out.update(
            neg_elbo=(recon + kl).mean().item(),
            recon=recon.mean().item(),
            kl=kl.mean().item(),
            iw_samples=k,
        )
        return out

    def _conditional_likelihood(self, x, y, k: int, chunk: int, generator) -> dict:
        """A class-conditional model's IWAE bound: of log p(x|y) given labels ``y``, else of
        log p(x) = log sum_y p(y) p(x|y), the k-draw estimate of each p(x|y) inside the sum (the log of
        a sum of unbiased estimates: still a bound in expectation)."""
        nll = []
        for i in range(0, len(x), chunk):
            batch = x[i : i + chunk]
            if y is not None:
                log_w, _ = self.log_weights(batch, k, generator, y[i : i + chunk])
                nll.append(-(torch.logsumexp(log_w, 0) - math.log(k)))
                continue
            per_class = torch.stack([
                torch.logsumexp(self.log_weights(batch, k, generator, torch.tensor(c))[0], 0) - math.log(k)
                for c in range(self.n_classes)
            ])  # (classes, B)
            nll.append(-torch.logsumexp(per_class + self.log_class_prior[:, None], 0))
        out = nll_summary(torch.cat(nll), self.dim, discrete=self.n_levels > 0)
        out["iw_samples"] = k
        return out

    @torch.no_grad()
    def class_likelihood_metrics(self, x: torch.Tensor, y: torch.Tensor, params, generator: torch.Generator) -> dict:
        """``nll_given_class``: the IWAE bound of -log p(x | its label), nats per test image."""
        out = self._conditional_likelihood(x, y.to(self.gmm_means.device), params.iw_samples, params.batch_size, generator)
        return {"nll_given_class": out["nll"], "nll_given_class_stderr": out["nll_stderr"]}

    # -- completion -----------------------------------------------------------------
    def _log_q(self, z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """log q(z|x) for codes z (..., B, latent) under N(mu, diag exp(logvar)), float64."""
        mu, logvar = mu.double(), logvar.double()
        return -0.5 * ((z.double() - mu).pow(2) / logvar.exp() + LOG_2PI + logvar).sum(-1)

    COMPLETIONS_PROPOSED = 8  # completions per image whose codes' posteriors join the proposal

    @torch.no_grad()
    def completion_log_prob(self, x, hidden, k, generator, batch_size=4, steps=50):
        """An importance-sampled estimate of log p(x_h | x_v), named as such: self-normalised,
        log sum_i w_i p(x_h|z_i) - log sum_i w_i with w_i = p(x_v|z_i) p(z_i) / r(z_i). The proposal r
        is a mixture: a quarter of the k codes from q(z|x), half from q(z|x~_j) for 8 completions x~_j
        drawn by ``complete`` (``steps`` steps; they cover p(z|x_v), which is broader than p(z|x)),
        and an eighth-or-so from the prior (a defensive component: Hesterberg 1995; it bounds every
        weight). Consistent as k grows; neither a bound nor unbiased at finite k."""
        if self.n_classes:  # p(x_h | x_v) would sum over the classes too: not built
            return None
        J = self.COMPLETIONS_PROPOSED
        counts = [k // 4, k - k // 4 - k // 8, k // 8]  # from q(z|x), from the completions, from the prior
        device = self.gmm_means.device
        x, hidden = x.to(device), hidden.to(device)
        drawn = self.complete(x.repeat_interleave(J, 0), hidden.repeat_interleave(J, 0), generator, steps)
        out = []
        for i in range(0, len(x), batch_size):
            batch, h, done = x[i : i + batch_size], hidden[i : i + batch_size], drawn[J * i : J * (i + batch_size)]
            B = len(batch)
            mu, logvar = self.encode(torch.cat([batch, done]))
            mu = torch.cat([mu[:B, None], mu[B:].view(B, J, -1)], 1)  # (B, 1 + J, latent): q(z|x), then q(z|x~_j)
            logvar = torch.cat([logvar[:B, None], logvar[B:].view(B, J, -1)], 1)
            pick = torch.cat([torch.zeros(counts[0], dtype=torch.long), torch.arange(counts[1]) % J + 1]).to(mu.device)
            eps = torch.randn((len(pick), B, self.latent_dim), generator=generator, device=mu.device, dtype=mu.dtype)
            z = mu[:, pick].transpose(0, 1) + (0.5 * logvar[:, pick].transpose(0, 1)).exp() * eps
            if counts[2]:
                z = torch.cat([z, self.sample_latent(counts[2] * B, generator, "prior").reshape(counts[2], B, -1)])
            log_prior = self.log_prior(z.double())
            log_q = self._log_q(z[:, :, None], mu, logvar)  # (k, B, 1 + J)
            weights = torch.tensor([counts[0] / k] + [counts[1] / (k * J)] * J, dtype=torch.float64, device=mu.device)
            log_r = torch.logsumexp(log_q + weights.log(), -1)
            if counts[2]:
                log_r = torch.logaddexp(log_r, log_prior + math.log(counts[2] / k))
            values = self.obs.log_prob_values(self.decode(z), batch.flatten(1)).double()  # (k, B, D)
            log_w = values.masked_fill(h, 0).sum(-1) + log_prior - log_r
            log_hidden = values.masked_fill(~h, 0).sum(-1)
            out.append(torch.logsumexp(log_w + log_hidden, 0) - torch.logsumexp(log_w, 0))
        return torch.cat(out), f"importance-sampled estimate (self-normalised, k = {k})"

    @torch.no_grad()
    def complete(self, x, hidden, generator, steps):
        """Metropolis-within-Gibbs (Mattei and Frellsen 2018), a Markov chain whose stationary law is
        p(z, x_h | x_v): from the code of the image with its hidden part at 0, each step proposes a code
        from q(z | current image), accepts it with the independence sampler's probability under
        p(z | current image), then redraws the hidden part from p(x_h | z); ``steps`` steps."""
        if self.n_classes:
            return None
        device = self.gmm_means.device
        x, hidden = x.to(device), hidden.to(device)
        visible = x.flatten(1)
        current = visible.masked_fill(hidden, 0)
        z, _ = self.encode(current.reshape(x.shape))

        def redraw(z):
            return torch.where(hidden, self.obs.sample(self.decode(z), generator), visible)

        def log_target(z, flat):
            return self.obs.log_prob(self.decode(z), flat).double() + self.log_prior(z.double())

        current = redraw(z)
        for _ in range(steps):
            mu, logvar = self.encode(current.reshape(x.shape))
            proposal = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=generator, device=device, dtype=mu.dtype)
            log_ratio = (log_target(proposal, current) - self._log_q(proposal, mu, logvar)) - (
                log_target(z, current) - self._log_q(z, mu, logvar))
            u = torch.rand(len(z), generator=generator, device=device, dtype=torch.float64)
            z = torch.where((u.log() < log_ratio)[:, None], proposal, z)
            current = redraw(z)
        return current.reshape(x.shape)


MODEL = VAE
