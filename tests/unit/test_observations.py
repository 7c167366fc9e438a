import math

import pytest
import torch
import torch.nn.functional as F
from scipy import stats

from genlab.nn.kernels import BernoulliLogLik, softplus_sum
from genlab.nn.observations import (
    AUTO_LOGISTIC_ABOVE,
    Bernoulli,
    Categorical,
    DiscretizedLogistic,
    Gaussian,
    choose,
)

DISCRETE = [Categorical(17), Categorical(256), Bernoulli()] + [
    DiscretizedLogistic(L, M) for L in (256, 17) for M in (1, 3)
]


def name(obs):
    return f"{type(obs).__name__}{obs.n_levels}x{obs.per_value}"


def random_out(obs, rows, generator, dtype=torch.float64):
    """Decoder outputs (rows, D = 1, K); for the logistic, rows of extreme parameters too:
    means far outside [-1, 1], log-scales at -7 and +5."""
    out = torch.randn(rows, 1, obs.per_value, generator=generator, dtype=dtype) * 2
    if isinstance(obs, DiscretizedLogistic):
        M = obs.components
        extremes = [(-30.0, -7.0), (30.0, -7.0), (-3.0, 5.0), (0.2, 5.0), (0.0, -7.0), (5.0, -20.0)]
        for i, (mu, log_s) in enumerate(extremes):
            out[i, 0, M : 2 * M] = mu
            out[i, 0, 2 * M :] = log_s
    return out


def all_levels(obs):
    """x = each level, shaped (L, 1, 1): against out (rows, 1, K), log_prob gives (L, rows)."""
    return torch.arange(obs.n_levels, dtype=torch.uint8)[:, None, None]


# -- the Bernoulli kernel ---------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bernoulli_kernel_matches_softplus_and_autograd(dtype):
    g = torch.Generator().manual_seed(0)
    for d in (784, 64, 97, 5, 1):  # groups of 56 and 64, a prime (groups of one), fewer than a group
        logits = (torch.randn(3, 4, d, generator=g, dtype=dtype) * 8).requires_grad_()
        logits.data[0, 0, : min(d, 3)] = torch.tensor([-80.0, 80.0, 0.0], dtype=dtype)[: min(d, 3)]
        x = (torch.rand(4, d, generator=g) < 0.3).to(dtype)
        want = (logits * x).sum(-1) - F.softplus(logits).sum(-1)
        got = BernoulliLogLik.apply(logits, x)
        tol = 1e-7 if dtype == torch.float64 else 1e-6 * d + 1e-4
        assert torch.allclose(got, want, rtol=1e-6, atol=tol)
        assert torch.allclose(softplus_sum(logits.detach()), F.softplus(logits.detach()).sum(-1), rtol=1e-6, atol=tol)
        w = torch.randn(3, 4, generator=g, dtype=dtype)
        (grad_got,) = torch.autograd.grad((got * w).sum(), logits)
        (grad_want,) = torch.autograd.grad((want * w).sum(), logits)
        assert torch.allclose(grad_got, grad_want, rtol=0, atol=1e-6)
    # l = 0 gives log 1/2 per pixel whatever x is
    assert BernoulliLogLik.apply(torch.zeros(2, 10), torch.ones(10)).tolist() == pytest.approx([10 * math.log(0.5)] * 2)


# -- every discrete model ---------------------------------------------------------


@pytest.mark.parametrize("obs", DISCRETE, ids=name)
def test_probabilities_over_the_levels_sum_to_one(obs):
    out = random_out(obs, 12, torch.Generator().manual_seed(1))
    total = obs.log_prob(out, all_levels(obs)).exp().sum(0)
    assert torch.allclose(total, torch.ones_like(total), rtol=0, atol=1e-5)
    total32 = obs.log_prob(out.float(), all_levels(obs)).double().exp().sum(0)
    assert torch.allclose(total32, torch.ones_like(total32), rtol=0, atol=1e-4)


@pytest.mark.parametrize("obs", DISCRETE, ids=name)
def test_mean_is_the_expected_level(obs):
    out = random_out(obs, 12, torch.Generator().manual_seed(2))
    p = obs.log_prob(out, all_levels(obs)).exp()  # (L, rows)
    want = (p * torch.arange(obs.n_levels, dtype=p.dtype)[:, None]).sum(0)
    got = obs.mean(out)
    assert got.shape == (12, 1)
    assert torch.allclose(got[:, 0], want, rtol=0, atol=1e-9 * obs.n_levels)


@pytest.mark.parametrize("obs", [Categorical(17), Bernoulli(), DiscretizedLogistic(17, 3)], ids=name)
def test_sample_frequencies_match_the_probabilities(obs):
    out = torch.randn(1, 1, obs.per_value, generator=torch.Generator().manual_seed(3))
    if isinstance(obs, DiscretizedLogistic):  # scales of about a level: the quantization shows
        out[..., 6:] = torch.tensor([-2.0, -2.5, -3.0])
    n = 20000
    draws = obs.sample(out.expand(n, 1, -1), torch.Generator().manual_seed(4))
    assert draws.shape == (n, 1) and draws.dtype == torch.uint8
    assert torch.equal(draws, obs.sample(out.expand(n, 1, -1), torch.Generator().manual_seed(4)))
    p = obs.log_prob(out.double(), all_levels(obs))[:, 0].exp()
    counts = torch.bincount(draws.flatten().long(), minlength=obs.n_levels).double()
    keep = p * n >= 5  # chi-square on the cells with five expected draws or more, the rest pooled
    observed, expected = counts[keep].tolist(), (p[keep] * n).tolist()
    if not keep.all():
        observed.append(counts[~keep].sum().item())
        expected.append(n - sum(expected))
    _, pvalue = stats.chisquare(observed, expected)
    assert pvalue > 1e-3


def test_logistic_samples_on_256_levels_have_the_right_mean_and_spread():
    obs = DiscretizedLogistic(256, 2)
    out = torch.tensor([[[0.0, 1.0, 0.0, 0.02, -3.0, -3.5]]])  # the spread mostly within the components
    draws = obs.sample(out.expand(20000, 1, -1), torch.Generator().manual_seed(0)).double()
    p = obs.log_prob(out.double(), all_levels(obs))[:, 0].exp()
    levels = torch.arange(256, dtype=torch.float64)
    mean, var = (p * levels).sum(), (p * levels**2).sum() - (p * levels).sum() ** 2
    assert abs(draws.mean() - mean) < 4 * (var / 20000).sqrt()
    assert draws.var() == pytest.approx(var.item(), rel=0.04)
    assert obs.mean(out).item() == pytest.approx(mean.item(), abs=1e-3)


@pytest.mark.parametrize("obs", DISCRETE + [Gaussian(5)], ids=name)
def test_log_prob_broadcasts_k_draws_against_a_batch(obs):
    g = torch.Generator().manual_seed(5)
    out = torch.randn(3, 4, 5, obs.per_value, generator=g)
    x = torch.randint(0, max(obs.n_levels, 2), (4, 5), generator=g, dtype=torch.uint8)
    if obs.n_levels == 0:
        x = x.double()
    got = obs.log_prob(out, x)
    assert got.shape == (3, 4) and got.dtype == torch.float32
    for i in range(3):
        assert torch.allclose(got[i], obs.log_prob(out[i], x))
    assert obs.mean(out).shape == (3, 4, 5) and obs.sample(out, g).shape == (3, 4, 5)
    assert obs.inputs(x).dtype == torch.float32 and obs.inputs(x).shape == (4, 5)


# -- the discretised logistic -----------------------------------------------------


def bin_edges(obs, x):
    """Level x's bin (c - h, c + h) in [-1, 1], widened to -inf and +inf at the end levels."""
    c, h = 2 * x.double() / (obs.n_levels - 1) - 1, 1 / (obs.n_levels - 1)
    return torch.where(x == 0, -math.inf, c - h), torch.where(x == obs.n_levels - 1, math.inf, c + h)


def direct_log_prob(obs, out, x):
    """log sum_m w_m (sigma((u - mu_m) / s_m) - sigma((l - mu_m) / s_m)) over the bin (l, u), in
    float64, mirrored to sigma((mu_m - l) / s_m) - sigma((mu_m - u) / s_m) above the mean (where
    both sigmoids would round near 1)."""
    M = obs.components
    w, mu, s = torch.softmax(out[..., :M], -1), out[..., M : 2 * M], out[..., 2 * M :].clamp_min(-7).exp()
    lower, upper = bin_edges(obs, x.unsqueeze(-1))
    below = torch.sigmoid((upper - mu) / s) - torch.sigmoid((lower - mu) / s)
    above = torch.sigmoid((mu - lower) / s) - torch.sigmoid((mu - upper) / s)
    return (w * torch.where(lower > mu, above, below)).sum(-1).log().sum(-1)


@pytest.mark.parametrize("L,M", [(256, 1), (256, 3), (17, 2)])
def test_discretized_logistic_against_sigmoid_differences(L, M):
    obs = DiscretizedLogistic(L, M)
    g = torch.Generator().manual_seed(6)
    out = torch.randn(40, 1, 3 * M, generator=g, dtype=torch.float64)
    out[..., M : 2 * M] *= 0.6
    out[..., 2 * M :] = out[..., 2 * M :] * 0.5 - 2.5  # s around e^-2.5: a few levels wide at 256
    x = all_levels(obs)
    want = direct_log_prob(obs, out, x)
    assert want.min() < -15  # tails included
    assert torch.allclose(obs.log_prob(out, x), want, rtol=1e-9, atol=1e-9)
    assert torch.allclose(obs.log_prob(out.float(), x).double(), want, rtol=1e-6, atol=1e-4)


def test_tiny_logistic_probabilities_stay_finite_and_correct():
    obs = DiscretizedLogistic(256, 1)
    centre, inv_s = 2 * 100 / 255 - 1, math.exp(7)  # level 100's bin centre; the smallest scale
    out = torch.tensor([[[0.0, centre, -7.0]], [[0.0, 5.0, -7.0]], [[0.0, -3.0, -7.0]]], dtype=torch.float64)
    x = all_levels(obs)  # (256, 1, 1): log_prob gives (256, 3)
    got64, got32 = obs.log_prob(out, x), obs.log_prob(out.float(), x).double()
    assert torch.isfinite(got32).all() and torch.isfinite(got64).all()
    # on the centre: P(100) = sigma(h/s) - sigma(-h/s) = tanh(h / 2s)
    assert got64[100, 0].item() == pytest.approx(math.log(math.tanh(inv_s / 255 / 2)), rel=1e-12)
    assert got32[100, 0].item() == pytest.approx(math.log(math.tanh(inv_s / 255 / 2)), abs=1e-7)
    # elsewhere, P down to e^-6500, where the sigmoid difference underflows even in float64:
    # log(sigma(a) - sigma(b)) = logsigmoid(a) + log1p(-exp(logsigmoid(b) - logsigmoid(a))),
    # mirrored (a, b -> -b, -a) above the mean
    lower, upper = bin_edges(obs, x[:, 0])
    a, b = (upper - out[:, 0, 1]) * inv_s, (lower - out[:, 0, 1]) * inv_s
    a, b = torch.where(b > 0, -b, a), torch.where(b > 0, -a, b)
    want = F.logsigmoid(a) + torch.log1p(-torch.exp(F.logsigmoid(b) - F.logsigmoid(a)))
    assert want.min() < -6000 and torch.isfinite(want).all()
    assert torch.allclose(got64, want, rtol=1e-10, atol=1e-10)
    assert torch.allclose(got32, want, rtol=1e-5, atol=1e-4)


def test_logistic_gradients_are_finite_with_extreme_parameters():
    obs = DiscretizedLogistic(256, 3)
    rows = [  # (logits, means, log-scales) per component
        [0.0, 50.0, -50.0, -30.0, 0.0, 30.0, -7.0, -7.0, -7.0],
        [0.0, 0.0, 0.0, 2 * 100 / 255 - 1, -1.0, 1.0, -7.0, -20.0, 5.0],
        [20.0, -20.0, 0.0, 0.0, 0.5, -0.5, 5.0, 5.0, -7.0],
    ]
    for dtype in (torch.float32, torch.float64):
        out = torch.tensor(rows, dtype=dtype)[:, None, :].requires_grad_()
        lp = obs.log_prob(out, torch.tensor([0, 1, 100, 128, 254, 255], dtype=torch.uint8)[:, None, None])
        assert torch.isfinite(lp).all()
        (grad,) = torch.autograd.grad(lp.sum(), out)
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_log_scales_are_clamped_at_minus_seven():
    obs = DiscretizedLogistic(17, 1)
    x = all_levels(obs)
    lo = obs.log_prob(torch.tensor([[[0.0, 0.1, -7.0]]]), x)
    assert torch.equal(obs.log_prob(torch.tensor([[[0.0, 0.1, -30.0]]]), x), lo)


# -- the Gaussian -----------------------------------------------------------------


def test_gaussian_density_is_on_the_original_scale():
    g = torch.Generator().manual_seed(7)
    obs = Gaussian(3)
    train = torch.randn(500, 3, generator=g, dtype=torch.float64) * torch.tensor([1.0, 10.0, 0.01]) + torch.tensor([0.0, 50.0, -2.0])
    obs.fit_standardisation(train)
    assert obs.loc.dtype == torch.float32 and set(obs.state_dict()) == {"loc", "scale"}
    assert torch.allclose(obs.loc.double(), train.mean(0)) and torch.allclose(obs.scale.double(), train.std(0))
    out = torch.randn(4, 3, 2, generator=g, dtype=torch.float64)
    x = train[:4]
    loc, scale = obs.loc.double(), obs.scale.double()
    std = F.softplus(out[..., 1]) + 1e-4
    want = stats.norm.logpdf(x.numpy(), (loc + scale * out[..., 0]).numpy(), (scale * std).numpy()).sum(-1)
    assert obs.log_prob(out, x).numpy() == pytest.approx(want, abs=1e-9)
    assert torch.allclose(obs.mean(out), loc + scale * out[..., 0])
    assert torch.allclose(obs.inputs(x).double(), (x - loc) / scale, atol=1e-5)
    draws = obs.sample(out[:1].expand(20000, 3, 2), torch.Generator().manual_seed(0))
    assert draws.dtype == torch.float64
    assert torch.allclose(draws.std(0), scale * std[0], rtol=0.03)


def test_choose():
    assert isinstance(choose(0, 5, "auto", 3), Gaussian)
    with pytest.raises(ValueError):
        choose(0, 5, "categorical", 3)
    assert isinstance(choose(2, 5, "auto", 3), Bernoulli)
    assert isinstance(choose(2, 5, "categorical", 3), Categorical)
    assert isinstance(choose(AUTO_LOGISTIC_ABOVE, 5, "auto", 3), Categorical)
    obs = choose(AUTO_LOGISTIC_ABOVE + 1, 5, "auto", 3)
    assert isinstance(obs, DiscretizedLogistic) and obs.per_value == 9
    assert isinstance(choose(17, 5, "discretized_logistic", 2), DiscretizedLogistic)
    with pytest.raises(ValueError):
        choose(17, 5, "nonsense", 2)


def test_log_scales_are_clamped_above_so_the_end_bins_stay_finite():
    obs = DiscretizedLogistic(256, 1)
    lp = obs.log_prob(torch.tensor([[[0.0, 0.0, 200.0]]]).expand(3, 1, 3), torch.tensor([[0], [128], [255]]))
    assert torch.isfinite(lp).all()
