"""The normalising flow: its log-determinant against a brute-force Jacobian, its inverse, the
dequantisation bound on a 1-pixel data set whose bound and exact likelihood are known at
initialisation, the exact density of values against the fitted Gaussian, seeded sampling,
sizes that fall back to fewer scales or stop in one line, and a short fit through the loop."""

import math

import pytest
import torch
from scipy.integrate import quad
from scipy.stats import norm

from genlab.errors import GenlabError
from genlab.models.flow import LOGIT_ALPHA, ActNorm, Flow
from genlab.models.gaussian import Gaussian
from genlab.training.loop import train_model

SMALL = dict(width=8, depth=2, checker_steps=2, mixture_components=3)


def scrambled(model, scale=0.2, seed=1):
    """Every weight moved off its initial value (zero-initialised couplings are the identity)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return model


@pytest.mark.parametrize("shape, levels", [((1, 4, 4), 3), ((2, 4, 4), 5), ((1, 3, 5), 2), ((3,), 0), ((1,), 0)])
def test_the_log_determinant_is_the_jacobians_and_the_inverse_inverts(shape, levels):
    torch.manual_seed(0)
    model = scrambled(Flow(Flow.Params(**SMALL), shape, levels).double())
    v = torch.rand(2, *shape, dtype=torch.float64) if levels else torch.randn(2, *shape, dtype=torch.float64)
    z, logdet = model.transform(v)
    for i in range(len(v)):
        jac = torch.autograd.functional.jacobian(lambda a: model.transform(a.unsqueeze(0))[0][0], v[i], vectorize=True)
        sign, want = torch.linalg.slogdet(jac.reshape(jac.shape[0], -1))
        assert sign != 0 and logdet[i].item() == pytest.approx(want.item(), abs=1e-8)
    assert torch.allclose(model.inverse(z), v, atol=1e-10)
    # in float32 as trained (weights moved less): x -> z -> x within 1e-5
    model32 = scrambled(Flow(Flow.Params(**SMALL), shape, levels), 0.05)
    assert (model32.inverse(model32.transform(v.float())[0]) - v.float()).abs().max() < 1e-5


def test_scales_follow_the_size():
    assert Flow(Flow.Params(scales=2), (1, 8, 8), 17).n_squeeze == 2
    assert Flow(Flow.Params(scales=3), (1, 28, 28), 2).n_squeeze == 2  # 28 -> 14 -> 7: two, not three
    assert Flow(Flow.Params(scales=2), (3, 6, 6), 256).n_squeeze == 1  # 6 -> 3
    odd = Flow(Flow.Params(scales=2), (1, 3, 5), 2)
    assert odd.n_squeeze == 0 and odd.latent_shapes == [(1, 3, 5)]


def test_sizes_that_cannot_work_stop_in_one_line():
    for shape, levels, what in [((1, 4, 4), 1, "one level"), ((4, 4), 3, "shaped"), ((2, 3), 0, "table")]:
        with pytest.raises(GenlabError, match=what) as info:
            Flow(Flow.Params(), shape, levels)
        assert "\n" not in str(info.value) and str(info.value).startswith("flow")


def test_the_dequantisation_bound_on_one_pixel_of_two_levels_at_initialisation():
    """At initialisation (identity actnorms and couplings) the flow is z = logit(a + (1 - 2a) y),
    z ~ N(0, 1): the exact P(x = 0) = Phi(z(1/2)) - Phi(z(0)), and the uniform bound
    E_u[-log p(u / 2)] + log 2 is an integral."""
    model = Flow(Flow.Params(**SMALL, dequantization="uniform", eval_draws=1), (1, 1, 1), 2).double()

    def zmap(y):
        q = LOGIT_ALPHA + (1 - 2 * LOGIT_ALPHA) * y
        return math.log(q / (1 - q))

    def neg_log_density(y):
        q = LOGIT_ALPHA + (1 - 2 * LOGIT_ALPHA) * y
        return -norm.logpdf(zmap(y)) - math.log((1 - 2 * LOGIT_ALPHA) / (q * (1 - q)))

    exact = -math.log(norm.cdf(zmap(0.5)) - norm.cdf(zmap(0.0)))
    bound = 2 * quad(neg_log_density, 0, 0.5)[0] + math.log(2)  # E over u ~ U(0, 1) of y = u / 2
    assert bound > exact
    x = torch.zeros(10000, 1, 1, 1, dtype=torch.uint8)
    got = model.likelihood_metrics(x, None, torch.Generator().manual_seed(0))
    assert abs(got["nll"] - bound) < 4 * got["nll_stderr"]
    assert got["dequant_bound"] == pytest.approx(got["nll"]) and got["dequant_draws"] == 1
    assert got["bits_per_dim"] == pytest.approx(got["nll"] / math.log(2))
    model.params = model.params.model_copy(update={"eval_draws": 32})
    tighter = model.likelihood_metrics(x[:1000], None, torch.Generator().manual_seed(0))
    assert exact <= tighter["nll"] < bound - 0.001  # importance-weighted over 32 draws: tighter, still a bound
    # the variational dequantiser at initialisation: u = sigmoid(e), e ~ N(0, 1); still a bound
    var = Flow(Flow.Params(**SMALL, dequantization="variational", eval_draws=1), (1, 1, 1), 2).double()
    got = var.likelihood_metrics(x, None, torch.Generator().manual_seed(0))
    assert got["nll"] > exact - 4 * got["nll_stderr"]


def test_one_column_with_no_mixture_layers_is_the_fitted_gaussian():
    x = (torch.randn(400, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2 + 3)
    model = Flow(Flow.Params(depth=1, mixture_components=0), (1,), 0)
    model.begin_fit(x)
    gauss = Gaussian(Gaussian.Params(ridge=0.0), (1,), 0)
    gauss.fit(x, None)
    test = torch.linspace(-3, 9, 13, dtype=torch.float64).reshape(-1, 1)
    got = model.likelihood_metrics(test, None, torch.Generator().manual_seed(0))
    assert got["nll"] == pytest.approx(-gauss.log_prob(test).mean().item(), abs=1e-4)
    assert "bits_per_dim" not in got


def test_actnorm_starts_from_the_data_and_its_state_is_kept():
    x = torch.randint(0, 17, (300, 1, 8, 8), dtype=torch.uint8)
    model = Flow(Flow.Params(**SMALL), (1, 8, 8), 17)
    model.begin_fit(x)
    first = next(m for m in model.modules() if isinstance(m, ActNorm))
    assert bool(first.initialized) and not first.pending
    y, _ = model._dequantised(x, torch.Generator().manual_seed(0))
    h = first(model._preprocess(y)[0])[0]
    assert abs(h.mean().item()) < 0.1 and abs(h.std().item() - 1) < 0.1
    again = Flow(Flow.Params(**SMALL), (1, 8, 8), 17)
    again.load_state_dict(model.state_dict())
    v = torch.rand(4, 1, 8, 8)
    assert torch.equal(again.log_density(v), model.log_density(v))


@pytest.mark.parametrize("shape, levels", [((1, 4, 4), 3), ((2,), 0)])
def test_seeded_sampling_is_reproducible(shape, levels):
    torch.manual_seed(0)
    model = scrambled(Flow(Flow.Params(**SMALL, temperature=0.7), shape, levels), 0.05)
    a = model.sample(50, torch.Generator().manual_seed(3))
    assert torch.equal(a, model.sample(50, torch.Generator().manual_seed(3)))
    assert not torch.equal(a, model.sample(50, torch.Generator().manual_seed(4)))
    assert a.shape == (50, *shape)
    if levels:
        assert a.dtype == torch.uint8 and int(a.max()) < levels
    else:
        assert a.dtype == torch.float64 and torch.isfinite(a).all()


def test_a_short_fit_through_the_loop():
    torch.manual_seed(0)
    x = torch.randint(0, 3, (96, 1, 4, 4), dtype=torch.uint8)
    model = Flow(Flow.Params(**SMALL, epochs=2, batch_size=32, eval_draws=2), (1, 4, 4), 3)
    summary = train_model(model, x[:64], x[64:], live_dir=None, progress=False)
    assert summary["epochs"] == 2 and math.isfinite(summary["best_val_loss"])
    got = model.likelihood_metrics(x[64:], None, torch.Generator().manual_seed(0))
    assert set(got) == {"nll", "nll_stderr", "bits_per_dim", "n_test", "dequant_bound", "dequant_draws"}
    assert got["nll"] <= got["dequant_bound"]
    values = torch.randn(80, 2, dtype=torch.float64)
    model = Flow(Flow.Params(**SMALL, epochs=2, batch_size=32), (2,), 0)
    summary = train_model(model, values[:60], values[60:], live_dir=None, progress=False)
    assert math.isfinite(summary["best_val_loss"])
