"""The gated PixelCNN: an exact likelihood (probabilities over every image of a tiny size sum
to one), masks that let no value see itself or a later one (and no blind spot), sampling that
draws from the distribution it scores, seeded, and the training loop's path."""

import itertools
import math

import pytest
import torch

from genlab.errors import GenlabError
from genlab.models import registry
from genlab.models.pixelcnn import PixelCNN
from genlab.training.loop import train_model


def build(shape, n_levels, scale=0.5, dtype=torch.float64, **params):
    """A model with random, far from uniform weights (every weight and bias ~ N(0, scale^2))."""
    torch.manual_seed(0)
    model = PixelCNN(PixelCNN.Params(**params), shape, n_levels).to(dtype).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, scale)
    return model


def every_image(shape, n_levels):
    dim = math.prod(shape)
    return torch.tensor(list(itertools.product(range(n_levels), repeat=dim)), dtype=torch.uint8).view(-1, *shape)


@pytest.mark.parametrize("shape, n_levels, params", [
    ((1, 3, 3), 2, {"layers": 3, "width": 8}),  # 512 binary images: Bernoulli
    ((2, 2, 2), 2, {"layers": 2, "width": 8}),  # two channels ordered within each pixel
    ((3, 1, 2), 3, {"layers": 2, "width": 9}),  # three channels, categorical over 3 levels
    ((1, 2, 2), 5, {"layers": 2, "width": 8}),  # categorical over 5 levels
    ((1, 1, 2), 17, {"layers": 2, "width": 8, "logistic_components": 3}),  # the discretised logistic mixture
    ((2, 1, 1), 17, {"layers": 2, "width": 8, "likelihood": "discretized_logistic"}),  # channel after channel
])
def test_the_probabilities_of_every_image_sum_to_one(shape, n_levels, params):
    model = build(shape, n_levels, **params)
    log_p = model.log_prob(every_image(shape, n_levels))
    assert log_p.dtype == torch.float64
    assert abs(torch.logsumexp(log_p, 0).exp().item() - 1) < 1e-6
    assert log_p.std() > 0.3  # far from uniform: the test could fail


def test_zero_weights_give_the_uniform_distribution_by_hand():
    for n_levels, kind in [(2, "auto"), (4, "auto"), (17, "categorical")]:
        model = build((2, 3, 3), n_levels, likelihood=kind, layers=2, width=8)
        with torch.no_grad():
            for p in model.parameters():
                p.zero_()
        x = torch.randint(0, n_levels, (5, 2, 3, 3), dtype=torch.uint8)
        assert torch.allclose(model.log_prob(x), torch.full((5,), -18 * math.log(n_levels), dtype=torch.float64))
        assert torch.allclose(model.loss(x).double(), torch.tensor(18 * math.log(n_levels), dtype=torch.float64))


@pytest.mark.parametrize("shape, radius", [((1, 5, 5), 2), ((3, 4, 4), 2), ((1, 5, 5), 1), ((3, 4, 4), 1)])
def test_no_value_sees_itself_or_a_later_one_and_there_is_no_blind_spot(shape, radius):
    """d(parameters of value (c, i, j)) / d(input) is zero at (c, i, j) and every later value. With
    kernel_radius 2, 3 layers reach every earlier value of these sizes (the whole row above, above-right
    included, and the rows above it; the row's own columns to the left): all must be seen. With
    radius 1 the reach is 3 columns to the left: the row above around the pixel must still be seen."""
    C, H, W = shape
    model = build(shape, 2, layers=3, width=24, kernel_radius=radius)  # 8 features per group: no group all dead in the ReLUs
    x = torch.randint(0, 2, (1, *shape), dtype=torch.uint8)
    inputs = model._inputs(x).detach().requires_grad_(True)
    out = model._horizontal(inputs, model._links(inputs))  # (1, C*K, H, W)
    K = model.obs.per_value
    for c, i, j in itertools.product(range(C), range(H), range(W)):
        (grad,) = torch.autograd.grad(out[0, c * K : (c + 1) * K, i, j].sum(), inputs, retain_graph=True)
        seen = grad[0, :C] != 0  # the image's channels (the last input channel is a constant)
        for cc, ii, jj in itertools.product(range(C), range(H), range(W)):
            earlier = (ii, jj) < (i, j) or ((ii, jj) == (i, j) and cc < c)
            if not earlier:
                assert not seen[cc, ii, jj], (c, i, j, cc, ii, jj)
            elif radius == 2 or (ii == i - 1 and abs(jj - j) <= 1) or (ii == i and jj == j - 1) or (ii, jj) == (i, j):
                assert seen[cc, ii, jj], (c, i, j, cc, ii, jj)


def test_sampling_draws_each_value_from_the_conditional_the_score_uses():
    """The cached sampler (vertical stack once per row, horizontal stack on a window) gives every
    value exactly the parameters that the one-pass score gives it."""
    for shape, n_levels, params in [((1, 6, 6), 17, {"layers": 4}), ((3, 4, 5), 256, {"layers": 3, "width": 12, "kernel_radius": 2})]:
        model = build(shape, n_levels, scale=0.3, **params)
        seen = []
        draw = model.obs.sample
        model.obs.sample = lambda out, g: (seen.append(out[:, 0].clone()), draw(out, g))[1]
        x = model.sample(3, torch.Generator().manual_seed(1))
        C, H, W = shape
        order = [c * H * W + r * W + j for r in range(H) for j in range(W) for c in range(C)]
        assert torch.allclose(torch.stack(seen, 1), model(x)[:, order], atol=1e-10)


def test_sampled_frequencies_match_the_probabilities():
    shape = (1, 2, 2)
    model = build(shape, 2, scale=0.4, dtype=torch.float32, layers=2, width=8)
    images = every_image(shape, 2)
    p = model.log_prob(images).exp()
    draws = model.sample(4000, torch.Generator().manual_seed(0))
    codes = (draws.flatten(1).long() * (2 ** torch.arange(3, -1, -1))).sum(1)
    freq = torch.bincount(codes, minlength=16).double() / 4000
    assert (freq - p).abs().max() < 4 * (p * (1 - p) / 4000).sqrt().max() + 1e-3


def test_seeded_sampling_is_reproducible():
    model = build((2, 3, 3), 5, layers=2, width=8)
    a = model.sample(6, torch.Generator().manual_seed(3))
    b = model.sample(6, torch.Generator().manual_seed(3))
    c = model.sample(6, torch.Generator().manual_seed(4))
    assert a.dtype == torch.uint8 and a.shape == (6, 2, 3, 3) and int(a.max()) < 5
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_sizes_that_cannot_work_stop_in_one_line():
    with pytest.raises(GenlabError, match=r"^pixelcnn.width: 2 feature maps cannot be split .* 3-channel") as info:
        PixelCNN(PixelCNN.Params(width=2), (3, 8, 8), 256)
    assert "\n" not in str(info.value)
    with pytest.raises(GenlabError, match="^pixelcnn: models images"):
        PixelCNN(PixelCNN.Params(), (4,), 0)


def test_a_short_fit_through_the_training_loop():
    torch.manual_seed(0)
    train = (torch.rand(64, 1, 4, 4) < torch.linspace(0.1, 0.9, 16).view(1, 1, 4, 4)).to(torch.uint8)
    val = (torch.rand(16, 1, 4, 4) < torch.linspace(0.1, 0.9, 16).view(1, 1, 4, 4)).to(torch.uint8)
    params = PixelCNN.Params(layers=2, width=8, epochs=3, batch_size=16, lr=1e-2)
    model = registry.build("pixelcnn", params, {"kind": "images", "shape": [1, 4, 4], "n_levels": 2})
    before = -model.log_prob(val).mean().item()
    summary = train_model(model, train, val, live_dir=None, progress=False)
    assert summary["epochs"] == 3 and math.isfinite(summary["best_val_loss"])
    after = -model.log_prob(val).mean().item()
    assert after < before and abs(after - summary["best_val_loss"]) < 1e-3
    metrics = model.likelihood_metrics(val, None, torch.Generator())
    assert metrics["nll"] == pytest.approx(after) and metrics["bits_per_dim"] == pytest.approx(after / (16 * math.log(2)))
