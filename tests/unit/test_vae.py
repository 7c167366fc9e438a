import math

import pytest
import torch

from genlab.config.params import EvaluateParams
from genlab.models.vae import VAE, gaussian_kl
from genlab.nn.observations import Categorical
from genlab.training.loop import fit_gradient


def test_kl_against_hand_computation():
    # dims: (mu=1, s^2=1) -> 1/2; (mu=0, s^2=4) -> -1/2 (1 + ln 4 - 4) = 3/2 - ln 2
    mu = torch.tensor([[1.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(4.0)]])
    assert gaussian_kl(mu, logvar).item() == pytest.approx(0.5 + 1.5 - math.log(2), abs=1e-6)
    assert gaussian_kl(torch.zeros(3, 5), torch.zeros(3, 5)).abs().max().item() == 0


def tiny_vae(**kw):
    p = VAE.Params(latent_dim=1, hidden=[8], **kw)
    return VAE(p, (1, 2, 2), 3)


def test_iwae_bound_approaches_the_exact_likelihood():
    # With one latent dimension, log p(x) = log ∫ p(x|z) N(z; 0, 1) dz by quadrature.
    torch.manual_seed(1)
    model = tiny_vae().double()
    x = torch.tensor([[[[0, 2], [1, 2]]], [[[2, 2], [0, 0]]]], dtype=torch.uint8)
    z = torch.linspace(-10, 10, 20001, dtype=torch.float64)[:, None]
    log_px_z = model.obs.log_prob(model.decode(z), x.flatten(1)[:, None, :])  # (2, Z)
    log_prior = -0.5 * (z[:, 0] ** 2 + math.log(2 * math.pi))
    dz = (z[1] - z[0]).item()
    exact = torch.logsumexp(log_px_z + log_prior, dim=1) + math.log(dz)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        metrics = model.likelihood_metrics(x, EvaluateParams(iw_samples=20000, batch_size=2), gen)
    assert metrics["nll"] == pytest.approx(-exact.mean().item(), abs=0.02)
    assert metrics["nll"] <= metrics["neg_elbo"] + 1e-9
    assert metrics["neg_elbo"] == pytest.approx(metrics["recon"] + metrics["kl"], abs=1e-9)


def test_loss_is_the_negative_elbo_for_k1():
    model = tiny_vae(train_k=1)
    x = torch.randint(0, 3, (64, 1, 2, 2), dtype=torch.uint8)
    torch.manual_seed(0)
    loss = model.loss(x).item()
    torch.manual_seed(0)
    mu, logvar = model.encode(x)
    z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
    ll = model.obs.log_prob(model.decode(z), x.flatten(1))
    assert loss == pytest.approx((gaussian_kl(mu, logvar) - ll).mean().item(), rel=1e-5)


def test_shapes_and_samples_on_other_image_sizes():
    for shape, levels in [((1, 8, 8), 17), ((3, 4, 5), 2), ((1, 28, 28), 2)]:
        model = VAE(VAE.Params(latent_dim=3, hidden=[16]), shape, levels)
        s = model.sample(5, torch.Generator().manual_seed(0))
        assert s.shape == (5, *shape) and s.dtype == torch.uint8 and int(s.max()) < levels
        x = torch.randint(0, levels, (4, *shape), dtype=torch.uint8)
        assert model.reconstruct(x).shape == (4, *shape)
        assert model.interpolation_strip(x, 2, 3, None).shape == (2, 3, *shape)


@pytest.mark.parametrize("arch", ["mlp", "conv"])
@pytest.mark.parametrize("shape, levels", [((1, 8, 8), 17), ((1, 28, 28), 2), ((3, 32, 32), 4), ((1, 16, 16), 256)])
def test_vae_of_every_architecture_on_every_shape(arch, shape, levels):
    model = VAE(VAE.Params(arch=arch, latent_dim=3, hidden=[16], conv_width=4, train_k=2), shape, levels)
    x = torch.randint(0, levels, (4, *shape), dtype=torch.uint8)
    loss = model.loss(x)
    assert loss.shape == () and torch.isfinite(loss)
    loss.backward()
    per_pixel = model.obs.per_value  # 1 Bernoulli logit, L logits, or 3 per logistic component
    assert per_pixel == {2: 1, 4: 4, 17: 3, 256: 3}[levels]
    assert model.decode(torch.randn(5, 2, 3)).shape == (5, 2, math.prod(shape), per_pixel)
    s = model.sample(2, torch.Generator().manual_seed(0))
    assert s.shape == (2, *shape) and s.dtype == torch.uint8


def test_trained_model_has_nll_below_neg_elbo_and_beats_uniform(prepared_digits):
    torch.manual_seed(0)
    model = VAE(VAE.Params(epochs=15, hidden=[64], latent_dim=4, lr=3e-3, train_k=1), (1, 8, 8), 17)
    result = fit_gradient(model, prepared_digits.train.x, prepared_digits.val.x, progress=False)
    assert 1 <= result.best_epoch <= 15
    metrics = model.likelihood_metrics(prepared_digits.test.x, EvaluateParams(iw_samples=200), torch.Generator().manual_seed(0))
    assert metrics["nll"] <= metrics["neg_elbo"]
    assert metrics["nll"] < 64 * math.log(17)  # the uniform model: 181.3 nats
    assert metrics["bits_per_dim"] == pytest.approx(metrics["nll"] / (64 * math.log(2)))
    assert metrics["n_test"] == 359


def test_gmm_sampler_is_fitted_to_the_aggregate_posterior(prepared_digits):
    torch.manual_seed(0)
    model = VAE(VAE.Params(epochs=3, hidden=[32], latent_dim=2, gmm_components=3, train_k=1), (1, 8, 8), 17)
    fit_gradient(model, prepared_digits.train.x, prepared_digits.val.x, progress=False)
    model.finish_fit(prepared_digits.train.x, prepared_digits.val.x)
    with torch.no_grad():
        mu, logvar = model.encode(prepared_digits.train.x)
    # the aggregate posterior, the mixture of q(z|x) over training images: its mean is the mean of mu,
    # its variance the variance of mu plus the mean posterior variance (means alone under-disperse)
    mean, std = mu.mean(0), (mu.var(0, unbiased=False) + logvar.exp().mean(0)).sqrt()
    g = torch.Generator().manual_seed(0)
    z = model.sample_latent(20000, g, "gmm")
    assert torch.allclose(z.mean(0), mean, atol=0.05 * std.max().item())
    assert torch.allclose(z.std(0), std, rtol=0.1)
    assert (z.std(0) > mu.std(0) * 1.01).all()
    prior = model.sample_latent(20000, g, "prior")
    assert prior.mean(0).abs().max() < 0.05 and (prior.std(0) - 1).abs().max() < 0.05
    for sampler in VAE.samplers:
        assert model.sample(7, g, sampler).shape == (7, 1, 8, 8)


def test_binary_pixels_use_one_logit_equal_to_the_two_way_categorical():
    model = VAE(VAE.Params(latent_dim=2, hidden=[8]), (1, 2, 2), 2)
    z = torch.randn(3, 2)
    out = model.decode(z)
    assert out.shape == (3, 4, 1)
    x = torch.randint(0, 2, (3, 4))
    two_way = torch.cat([torch.zeros_like(out), out], dim=-1)  # logits (0, l)
    assert torch.allclose(model.obs.log_prob(out, x), Categorical(2).log_prob(two_way, x), atol=1e-5)
    s = model.sample(50, torch.Generator().manual_seed(0))
    assert s.dtype == torch.uint8 and set(s.unique().tolist()) <= {0, 1}
    assert model.decode_mean(z).shape == (3, 1, 2, 2)


def mog_vae():
    """A 1-D latent VAE with a learnt mixture prior set by hand: weights 1:3, N(-1, 1) and N(2, 1/4)."""
    model = VAE(VAE.Params(latent_dim=1, hidden=[8], prior="mog", prior_components=2), (1, 2, 2), 3).double()
    with torch.no_grad():
        model.prior_means.copy_(torch.tensor([[-1.0], [2.0]], dtype=torch.float64))
        model.prior_logvars.copy_(torch.tensor([[0.0], [math.log(0.25)]], dtype=torch.float64))
        model.prior_logits.copy_(torch.tensor([0.0, math.log(3.0)], dtype=torch.float64))
    return model


def test_mixture_prior_against_hand_computation():
    model = mog_vae()
    z = torch.tensor([[0.0], [2.0]], dtype=torch.float64)

    def normal(v, m, s):
        return math.exp(-0.5 * ((v - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))

    want = [math.log(0.25 * normal(v, -1, 1) + 0.75 * normal(v, 2, 0.5)) for v in (0.0, 2.0)]
    assert model.log_prior(z).tolist() == pytest.approx(want, abs=1e-12)


def test_mixture_prior_iwae_bound_approaches_the_exact_likelihood():
    torch.manual_seed(1)
    model = mog_vae()
    x = torch.tensor([[[[0, 2], [1, 2]]], [[[2, 2], [0, 0]]]], dtype=torch.uint8)
    z = torch.linspace(-10, 10, 20001, dtype=torch.float64)[:, None]
    with torch.no_grad():
        log_px_z = model.obs.log_prob(model.decode(z), x.flatten(1)[:, None, :])
        exact = torch.logsumexp(log_px_z + model.log_prior(z), dim=1) + math.log((z[1] - z[0]).item())
        metrics = model.likelihood_metrics(x, EvaluateParams(iw_samples=20000, batch_size=2), torch.Generator().manual_seed(0))
    assert metrics["nll"] == pytest.approx(-exact.mean().item(), abs=0.02)
    assert metrics["nll"] <= metrics["neg_elbo"] + 1e-9
    assert metrics["neg_elbo"] == pytest.approx(metrics["recon"] + metrics["kl"], abs=1e-9)


def test_mixture_prior_is_learnt_and_sampled():
    model = VAE(VAE.Params(latent_dim=2, hidden=[8], prior="mog", prior_components=3, train_k=1), (1, 2, 2), 2)
    before = model.prior_means.detach().clone()
    x = torch.randint(0, 2, (32, 1, 2, 2), dtype=torch.uint8)
    model.loss(x).backward()
    assert model.prior_means.grad is not None and model.prior_means.grad.abs().sum() > 0
    # draws from the prior come from its components: with tiny variances, the means themselves
    with torch.no_grad():
        model.prior_logvars.fill_(-40.0)
    z = model.sample_latent(200, torch.Generator().manual_seed(0), "prior")
    assert torch.cdist(z, before).min(1).values.max() < 1e-6
    assert model.sample(5, torch.Generator().manual_seed(0), "prior").shape == (5, 1, 2, 2)


def test_gaussian_decoder_starts_at_the_data_spread():
    # p(x|z) starts at std 1 on the standardised scale (the data's own), not softplus(0) = 0.69
    model = VAE(VAE.Params(latent_dim=1, hidden=[8]), (3,), 0)
    with torch.no_grad():
        for layer in model.decoder.net:  # weights to zero: the output is the bias alone
            if hasattr(layer, "weight"):
                layer.weight.zero_()
        out = model.decode(torch.randn(5, 1))
    assert torch.allclose(out[..., 0], torch.zeros(5, 3))
    assert torch.allclose(torch.nn.functional.softplus(out[..., 1]) + 1e-4, torch.ones(5, 3), atol=1e-6)


def test_budget_left_null_follows_the_data_size():
    """max_steps null: 150000 x 64 / D steps (the digits' VAE stops by patience at 4,480 long
    before its 150,000); a number given is the cap whatever the size."""
    caps = {shape: VAE(VAE.Params(), shape, levels).step_cap()
            for shape, levels in [((1, 8, 8), 17), ((1, 28, 28), 2), ((3, 32, 32), 256), ((1,), 0)]}
    assert caps == {(1, 8, 8): 150000, (1, 28, 28): 12245, (3, 32, 32): 3125, (1,): 9600000}
    assert VAE(VAE.Params(max_steps=7), (3, 32, 32), 256).step_cap() == 7
