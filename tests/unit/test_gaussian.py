"""The fitted Gaussian of continuous values: the maximum-likelihood mean and covariance (with its
ridge), the exact log-density, seeded samples that follow the fit, and one column of values.
End to end on the normal example and a table: test_stages_on_other_data.py."""

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from genlab.models.gaussian import Gaussian


def correlated(n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)) @ np.array([[2.0, 0.0, 0.0], [0.8, 0.5, 0.0], [-1.0, 0.3, 1.5]]) + [1.0, -2.0, 0.5]
    return torch.from_numpy(x).float()


def test_fit_is_the_maximum_likelihood_mean_and_covariance_and_the_density_is_exact():
    x = correlated(500)
    model = Gaussian(Gaussian.Params(ridge=0.0), (3,), 0)
    assert model.fit(x, None) == {}
    xd = x.double().numpy()
    cov = np.cov(xd.T, bias=True)
    assert np.allclose(model.mean.numpy(), xd.mean(0), atol=1e-12)
    assert np.allclose((model.scale_tril @ model.scale_tril.T).numpy(), cov, atol=1e-10)
    test = correlated(20, seed=1)
    want = multivariate_normal(xd.mean(0), cov).logpdf(test.double().numpy())
    assert model.log_prob(test).dtype == torch.float64
    assert np.allclose(model.log_prob(test).numpy(), want, atol=1e-9)


def test_the_ridge_adds_to_each_variance_in_proportion():
    x = correlated(200)
    plain, ridged = Gaussian(Gaussian.Params(ridge=0.0), (3,), 0), Gaussian(Gaussian.Params(ridge=0.5), (3,), 0)
    plain.fit(x, None)
    ridged.fit(x, None)
    cov = (plain.scale_tril @ plain.scale_tril.T)
    assert torch.allclose(ridged.scale_tril @ ridged.scale_tril.T, cov + 0.5 * torch.diag(cov.diagonal()), atol=1e-10)
    assert torch.equal(ridged.mean, plain.mean)


def test_samples_are_seeded_and_follow_the_fit():
    model = Gaussian(Gaussian.Params(), (3,), 0)
    model.fit(correlated(500), None)
    a = model.sample(40000, torch.Generator().manual_seed(0))
    assert a.shape == (40000, 3) and torch.equal(a, model.sample(40000, torch.Generator().manual_seed(0)))
    cov = model.scale_tril @ model.scale_tril.T
    assert torch.allclose(a.mean(0), model.mean, atol=0.05)
    assert torch.allclose(torch.cov(a.T), cov, rtol=0.05, atol=0.03)


def test_one_column_of_values():
    x = torch.linspace(-1, 3, 101).reshape(-1, 1)
    model = Gaussian(Gaussian.Params(ridge=0.0), (1,), 0)
    model.fit(x, None)
    mean, std = x.double().mean().item(), x.double().std(correction=0).item()
    assert model.mean.item() == pytest.approx(mean) and model.scale_tril.item() == pytest.approx(std)
    z = torch.tensor([[0.0], [1.0]])
    want = -0.5 * ((z.double() - mean) / std) ** 2 - np.log(std * np.sqrt(2 * np.pi))
    assert torch.allclose(model.log_prob(z), want.flatten(), atol=1e-12)
    assert model.sample(5, torch.Generator().manual_seed(0)).shape == (5, 1)
