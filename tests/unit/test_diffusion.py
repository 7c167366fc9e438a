"""The diffusion model (DDPM): its closed forms, its bound, its sampling and one short fit."""

import math

import pytest
import torch

from genlab.errors import GenlabError
from genlab.models.diffusion import Diffusion, discretized_gaussian_log_prob, normal_kl, resolutions


def tiny(shape=(1, 1, 2), levels=3, **over):
    p = dict(width=8, channel_mult=[1], timesteps=20, sample_steps=10, warmup_steps=0, seed=0) | over
    torch.manual_seed(0)
    return Diffusion(Diffusion.Params(**p), shape, levels)


class Eval:  # the evaluate section's fields that likelihood_metrics reads
    batch_size = 4


def test_normal_kl_by_hand():
    # KL(N(1, 1) || N(0, 4)) = 1/2 (log 4 - log 1 + 1/4 + (1 - 0)^2 / 4 - 1) = 1/2 (1.3862944 - 0.5) = 0.4431472
    kl = normal_kl(torch.tensor(1.0, dtype=torch.float64), torch.tensor(0.0, dtype=torch.float64),
                   torch.tensor(0.0, dtype=torch.float64), torch.tensor(math.log(4.0), dtype=torch.float64))
    assert kl.item() == pytest.approx(0.4431472, abs=1e-6)
    same = normal_kl(torch.tensor(0.3), torch.tensor(-1.0), torch.tensor(0.3), torch.tensor(-1.0))
    assert same.item() == pytest.approx(0.0, abs=1e-7)


def test_discretized_gaussian_bins_by_hand():
    f64 = dict(dtype=torch.float64)
    # 2 levels at -1 and +1: bins (-inf, 0] and (0, inf). N(0.5, 1): Phi(-0.5) = 0.3085375, 1 - that = 0.6914625
    x = torch.tensor([0, 1])
    p = discretized_gaussian_log_prob(x, torch.full((2,), 0.5, **f64), torch.zeros(2, **f64), 2).exp()
    assert p.tolist() == pytest.approx([0.3085375, 0.6914625], abs=1e-6)
    # 3 levels at -1, 0, 1: bins (-inf, -0.5], (-0.5, 0.5], (0.5, inf). N(0, 1): 0.3085375, 0.3829249, 0.3085375
    x = torch.tensor([0, 1, 2])
    p = discretized_gaussian_log_prob(x, torch.zeros(3, **f64), torch.zeros(3, **f64), 3).exp()
    assert p.tolist() == pytest.approx([0.3085375, 0.3829249, 0.3085375], abs=1e-6)
    # every bin mass sums to 1 for any mean and scale, and the far tails stay finite
    for levels in (2, 3, 17):
        mean = torch.tensor([-40.0, -1.0, 0.03, 0.7, 40.0], **f64)[:, None].expand(-1, levels)
        log_s = torch.tensor([-6.0, 0.0, -2.0, 1.0, -4.0], **f64)[:, None].expand(-1, levels)
        lp = discretized_gaussian_log_prob(torch.arange(levels).expand(5, -1), mean, log_s, levels)
        assert torch.isfinite(lp).all()
        assert lp.exp().sum(1).tolist() == pytest.approx([1.0] * 5, abs=1e-9)


def test_resolutions_follow_the_image_size():
    assert [resolutions(s, s) for s in (8, 28, 32, 1, 7)] == [3, 3, 4, 1, 1]


def known_data(n=300):
    """1x1x2 images with 3 levels from a known distribution over the 9 pairs."""
    probs = torch.tensor([0.30, 0.02, 0.08, 0.05, 0.20, 0.05, 0.10, 0.05, 0.15])
    idx = torch.multinomial(probs, n, replacement=True, generator=torch.Generator().manual_seed(1))
    x = torch.stack([idx // 3, idx % 3], 1).to(torch.uint8).view(n, 1, 1, 2)
    counts = torch.bincount(idx, minlength=9).double() / n
    entropy = -(counts[counts > 0] * counts[counts > 0].log()).sum().item()  # the best model's cross-entropy
    return x, entropy


class Oracle(torch.nn.Module):
    """The best eps-prediction for data drawn from a known finite set of images: E[eps | x_t] under
    the posterior over the images given x_t (the network's input time t*1000/T turned back into t)."""

    def __init__(self, model, images, probs):
        super().__init__()
        self.model, self.v, self.logp = [model], model.scale(images).double().flatten(1), probs.double().log()

    def forward(self, xt, t_in):
        m = self.model[0]
        t = (t_in.double() * m.params.timesteps / 1000).round().long()
        ab = m.abar[t][:, None]
        x = xt.double().flatten(1)
        d2 = (x[:, None, :] - ab.sqrt()[:, None] * self.v[None]).pow(2).sum(-1)  # (B, K)
        w = torch.softmax(self.logp[None] - d2 / (2 * (1 - ab)), 1)
        x0 = w @ self.v
        return ((x - ab.sqrt() * x0) / (1 - ab).sqrt()).view(xt.shape).float()


def test_bound_is_at_least_the_entropy_and_tight_with_the_best_denoiser():
    x, entropy = known_data(120)
    pairs = torch.tensor([[i // 3, i % 3] for i in range(9)], dtype=torch.uint8).view(9, 1, 1, 2)
    freq = torch.bincount(x.view(-1, 2)[:, 0].long() * 3 + x.view(-1, 2)[:, 1].long(), minlength=9).double()
    model = tiny(timesteps=1000)
    model.ema = Oracle(model, pairs, (freq + 1e-12) / freq.sum())  # what samples and scores
    m = model.likelihood_metrics(x, Eval, torch.Generator().manual_seed(0))
    assert m["vlb_timesteps"] == 1000 and m["n_test"] == len(x)
    assert m["nll"] == pytest.approx(m["nll_prior"] + m["nll_decoder"] + m["nll_diffusion"], rel=1e-9)
    assert m["bits_per_dim"] == pytest.approx(m["nll"] / (2 * math.log(2)))
    # a bound on a model of the discrete data: never below the entropy of the empirical
    # distribution (the best possible model's cross-entropy on it), up to the noise of its one
    # draw of x_t per term; with the best denoiser and 1000 small steps, close to it
    # (measured: 1.919 against an entropy of 1.904)
    assert entropy - 3 * m["nll_stderr"] <= m["nll"] < entropy + 0.1, (m, entropy)
    model.params.reverse_variance = "beta"  # the larger reverse variance: a looser bound (2.57), still one
    b = model.likelihood_metrics(x, Eval, torch.Generator().manual_seed(0))
    assert m["nll"] < b["nll"] and b["nll"] >= entropy - 3 * b["nll_stderr"]
    # an untrained network: a bound far above
    u = tiny(timesteps=20).likelihood_metrics(x, Eval, torch.Generator().manual_seed(0))
    assert u["nll"] > entropy + 1


class Scaled(torch.nn.Module):
    """A denoiser whose x0 prediction is ``factor`` times the (known, single) image."""

    def __init__(self, model, image, factor):
        super().__init__()
        self.model, self.v, self.factor = [model], model.scale(image).double(), factor

    def forward(self, xt, t_in):
        m = self.model[0]
        ab = m.abar[(t_in.double() * m.params.timesteps / 1000).round().long()].view(-1, 1, 1, 1)
        return ((xt.double() - ab.sqrt() * self.factor * self.v) / (1 - ab).sqrt()).float()


def test_kl_terms_use_the_clipped_x0_prediction():
    """On binary images x0 = +-1, so an x0 prediction of 3 x0, clipped to [-1, 1], is exact: every KL
    term is 0 (the reverse mean and variance are q's own). A prediction of 0.5 x0 stays inside
    [-1, 1] and its error costs nats."""
    image = torch.tensor([[[[0, 1]]]], dtype=torch.uint8)
    x = image.repeat(6, 1, 1, 1)
    model = tiny(levels=2, timesteps=50)
    model.ema = Scaled(model, image, 3.0)
    assert model.likelihood_metrics(x, Eval, torch.Generator().manual_seed(0))["nll_diffusion"] == pytest.approx(0.0, abs=1e-9)
    model.ema = Scaled(model, image, 0.5)
    assert model.likelihood_metrics(x, Eval, torch.Generator().manual_seed(0))["nll_diffusion"] > 0.1


def test_sampled_t_estimate_agrees_with_the_exact_sum():
    x, _ = known_data(200)
    model = tiny(timesteps=40)
    exact = model.likelihood_metrics(x, Eval, torch.Generator().manual_seed(0))
    model.params.vlb_timesteps = 5
    est = model.likelihood_metrics(x, Eval, torch.Generator().manual_seed(1))
    assert est["vlb_timesteps"] == 5 and exact["vlb_timesteps"] == 40
    se = math.hypot(exact["nll_stderr"], est["nll_stderr"])
    assert abs(exact["nll"] - est["nll"]) < 4 * se, (exact, est)
    assert est["nll_prior"] == pytest.approx(exact["nll_prior"])  # L_T is closed form


@pytest.mark.parametrize("sampler", ["ancestral", "ddim"])
def test_seeded_sampling_is_reproducible(sampler):
    model = tiny(shape=(1, 8, 8), levels=17)
    a = model.sample(5, torch.Generator().manual_seed(3), sampler)
    b = model.sample(5, torch.Generator().manual_seed(3), sampler)
    c = model.sample(5, torch.Generator().manual_seed(4), sampler)
    assert a.dtype == torch.uint8 and a.shape == (5, 1, 8, 8) and int(a.max()) <= 16
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_impossible_params_are_one_line_errors():
    with pytest.raises(GenlabError, match=r"^diffusion\.sample_steps: .*") as e:
        tiny(sample_steps=50)
    assert "\n" not in str(e.value)
    with pytest.raises(GenlabError, match=r"^diffusion\.vlb_timesteps: "):
        tiny(vlb_timesteps=20)


def test_respacing_every_step_is_the_trained_schedule():
    model = tiny(timesteps=20, sample_steps=20)
    idx, ab, ab_prev = model.respaced(20)
    assert idx.tolist() == list(range(19, -1, -1))
    assert torch.allclose(1 - ab / ab_prev, model.betas.flip(0))
    idx, _, _ = model.respaced(4)
    assert idx[0] == 19 and idx[-1] == 0 and len(idx) == 4


def test_ema_warm_up_and_the_loop_keeps_it():
    from genlab.training.loop import train_model

    model = tiny(shape=(1, 8, 8), levels=17, max_steps=3, epochs=5, batch_size=16, ema_decay=0.999)
    before = [p.detach().clone() for p in model.ema.parameters()]
    x = torch.randint(0, 17, (40, 1, 8, 8), dtype=torch.uint8)
    opt = model.make_optimizers()
    model.train_step((x[:16],), opt)  # first step: decay min(0.999, 1/10) = 0.1
    for e, b, p in zip(model.ema.parameters(), before, model.net.parameters()):
        assert torch.allclose(e, 0.1 * b + 0.9 * p, atol=1e-6)
    model = tiny(shape=(1, 8, 8), levels=17, max_steps=3, epochs=5, batch_size=16)
    summary = train_model(model, x, x[:8], live_dir=None, progress=False)
    assert summary["steps"] == 3
    state = model.state_dict()
    assert int(state["ema_steps"]) == 3 and any(k.startswith("ema.") for k in state)
    assert not any(k.startswith("abar") for k in state)  # the schedule is made from the params
    fresh = tiny(shape=(1, 8, 8), levels=17)
    fresh.load_state_dict(state)
    assert fresh._step == 3


def test_budgets_left_null_follow_the_image_size():
    """max_steps 12000 x 64 / D, sample_steps 250 x sqrt(64 / D); the bound sums every t while
    test images x T x D fit VLB_BUDGET (the 359 test digits: 2.3e7), else as many t as fit."""
    from genlab.models.diffusion import Diffusion

    digits = Diffusion(Diffusion.Params(width=8), (1, 8, 8), 17)
    colour = Diffusion(Diffusion.Params(width=8), (3, 32, 32), 256)
    assert (digits.step_cap(), digits.sample_steps, digits.vlb_timesteps(359)) == (12000, 250, None)
    assert (colour.step_cap(), colour.sample_steps, colour.vlb_timesteps(600)) == (250, 36, 16)
    assert Diffusion(Diffusion.Params(width=8, max_steps=7, sample_steps=9, vlb_timesteps=3), (3, 32, 32), 256).step_cap() == 7
