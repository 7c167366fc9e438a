"""Completing images: the masks, every exact model's conditional p(x_h | x_v) against brute-force
enumeration of tiny images, its completions drawn from that conditional, the VAE's estimate and
chain against the same enumeration on a tiny VAE, the GAN's latent optimisation, and the metrics,
the summary's table and the report's directions."""

import itertools
import math

import pandas as pd
import pytest
import torch

from genlab.config.sections import CompletionParams
from genlab.evaluation import completion as C
from genlab.evaluation.summary import completion_columns, write_summary
from genlab.models.gan import GAN
from genlab.models.independent import Independent
from genlab.models.markov import Markov
from genlab.models.mixture import Mixture
from genlab.models.pixelcnn import PixelCNN
from genlab.models.vae import VAE
from genlab.report.compare import better


def every_image(shape, n_levels):
    dim = math.prod(shape)
    return torch.tensor(list(itertools.product(range(n_levels), repeat=dim)), dtype=torch.uint8).view(-1, *shape)


def some_images(shape, n_levels, n=60, seed=0):
    """Structured training images (not uniform): the level grows along the raster order, with noise."""
    g = torch.Generator().manual_seed(seed)
    dim = math.prod(shape)
    base = torch.arange(dim) * (n_levels - 1) // max(dim - 1, 1)
    noise = torch.randint(-1, 2, (n, dim), generator=g)
    return (base + noise).clamp(0, n_levels - 1).to(torch.uint8).view(n, *shape)


def fitted(cls, shape, n_levels, **params):
    model = cls(cls.Params(**params), shape, n_levels)
    x = some_images(shape, n_levels)
    model.fit(x, x)
    return model


def random_pixelcnn(shape, n_levels):
    torch.manual_seed(0)
    model = PixelCNN(PixelCNN.Params(layers=2, width=8), shape, n_levels).double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.5)
    return model


def brute_force(model, x, hidden):
    """log p(x_h | x_v) per image by enumerating every image: log p(x) - log sum over the hidden values."""
    images = every_image(model.shape, model.n_levels)
    logp = model.log_prob(images).double()
    flat = images.flatten(1)
    out = []
    for xi, hi in zip(x.flatten(1), hidden):
        agree = (flat[:, ~hi] == xi[~hi]).all(1)
        same = (flat == xi).all(1)
        out.append(logp[same][0] - torch.logsumexp(logp[agree], 0))
    return torch.stack(out)


SHAPE, LEVELS = (1, 2, 2), 3  # 81 images
EXACT = {
    "independent": lambda: fitted(Independent, SHAPE, LEVELS),
    "mixture": lambda: fitted(Mixture, SHAPE, LEVELS, n_components=3),
    "markov": lambda: fitted(Markov, SHAPE, LEVELS),
    "markov left_up": lambda: fitted(Markov, SHAPE, LEVELS, context="left_up"),
    "pixelcnn": lambda: random_pixelcnn(SHAPE, LEVELS),
}
MASKS_OF = {  # where each model's conditional is exact (None elsewhere)
    "independent": ("bottom", "centre", "random"), "mixture": ("bottom", "centre", "random"),
    "markov": ("bottom", "centre", "random"), "markov left_up": ("bottom",), "pixelcnn": ("bottom",),
}


# -- the masks --------------------------------------------------------------------------------
def test_masks_hide_what_they_say_in_every_channel():
    shape = (3, 8, 6)
    bottom = C.hidden_mask("bottom", shape, 2).view(2, *shape)
    assert bottom[:, :, 4:].all() and not bottom[:, :, :4].any()
    centre = C.hidden_mask("centre", shape, 1).view(*shape)
    assert centre[:, 2:6, 1:4].all() and centre.sum() == 3 * 4 * 3  # rows (8 - 4) // 2 = 2.., columns (6 - 3) // 2 = 1..
    random = C.hidden_mask("random", shape, 50, seed=1).view(50, *shape)
    assert (random.sum((1, 2, 3)) == 3 * 24).all()  # half of the 48 pixels, all channels of each
    assert (random == random[:, :1]).all()  # a pixel's channels together
    assert len({tuple(r.flatten().tolist()) for r in random}) == 50  # each image its own
    assert torch.equal(random.flatten(1), C.hidden_mask("random", shape, 50, seed=1))  # seeded
    assert not torch.equal(random.flatten(1), C.hidden_mask("random", shape, 50, seed=2))


def test_bad_masks_are_refused():
    with pytest.raises(ValueError):
        CompletionParams(masks=["bottom", "bottom"])
    with pytest.raises(ValueError):
        CompletionParams(masks=["top"])
    assert CompletionParams(masks=[]).masks == []


# -- exact conditionals against enumeration -----------------------------------------------------
@pytest.mark.parametrize("name", EXACT)
@pytest.mark.parametrize("mask", ["bottom", "centre", "random"])
def test_exact_conditionals_match_brute_force_enumeration(name, mask):
    model = EXACT[name]()
    x = every_image(SHAPE, LEVELS)[::7]
    hidden = C.hidden_mask(mask, SHAPE, len(x), seed=3)
    got = model.completion_log_prob(x, hidden, k=0, generator=None)
    if mask not in MASKS_OF[name]:
        assert got is None and model.complete(x, hidden, torch.Generator(), 0) is None
        return
    logp, method = got
    assert method == "exact"
    assert logp.tolist() == pytest.approx(brute_force(model, x, hidden).tolist(), abs=1e-9)


def test_the_markov_chains_forward_pass_is_exact_on_a_longer_chain():
    """The forward algorithm over 9 pixels of 2 levels (512 images), with every pattern of hidden pixels in one batch."""
    shape = (1, 3, 3)
    model = fitted(Markov, shape, 2)
    g = torch.Generator().manual_seed(0)
    x = every_image(shape, 2)[torch.randint(512, (40,), generator=g)]
    hidden = torch.rand(40, 9, generator=g) < 0.5
    logp, _ = model.completion_log_prob(x, hidden)
    assert logp.tolist() == pytest.approx(brute_force(model, x, hidden).tolist(), abs=1e-9)


@pytest.mark.parametrize("name, mask", [(n, m) for n in EXACT for m in MASKS_OF[n]])
def test_completions_are_drawn_from_the_exact_conditional(name, mask):
    model = EXACT[name]()
    x0 = every_image(SHAPE, LEVELS)[50:51]  # one image, completed 4000 times
    hidden = C.hidden_mask(mask, SHAPE, 1, seed=3)
    n = 4000
    with torch.no_grad():
        done = model.complete(x0.expand(n, *SHAPE), hidden.expand(n, -1), torch.Generator().manual_seed(0), 0)
    flat = done.flatten(1)
    assert (flat[:, ~hidden[0]] == x0.flatten(1)[:, ~hidden[0]]).all()  # the visible part unchanged
    # every completion's frequency against its exact conditional probability
    candidates = every_image(SHAPE, LEVELS).flatten(1)
    candidates = candidates[(candidates[:, ~hidden[0]] == x0.flatten(1)[0, ~hidden[0]]).all(1)]
    probs = brute_force(model, candidates.view(-1, *SHAPE), hidden.expand(len(candidates), -1)).exp()
    assert probs.sum().item() == pytest.approx(1.0, abs=1e-9)
    freqs = torch.tensor([(flat == c).all(1).double().mean().item() for c in candidates])
    assert (freqs - probs).abs().max().item() < 4 * math.sqrt(0.25 / n)  # 4 standard errors at most


def test_seeded_completions_are_reproducible():
    model = EXACT["markov"]()
    x = every_image(SHAPE, LEVELS)[::5]
    hidden = C.hidden_mask("random", SHAPE, len(x), seed=0)
    a = model.complete(x, hidden, torch.Generator().manual_seed(4), 0)
    b = model.complete(x, hidden, torch.Generator().manual_seed(4), 0)
    assert torch.equal(a, b)


# -- the VAE: an estimate and a Markov chain ---------------------------------------------------
@pytest.fixture(scope="module")
def tiny_vae():
    torch.manual_seed(0)
    model = VAE(VAE.Params(hidden=[8], latent_dim=1, sampler="prior"), (1, 2, 2), 2).double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 1.0)
    return model


def vae_log_probs(model):
    """log p(x) of the 16 binary 2x2 images by quadrature over the one latent dimension (exact to ~1e-6)."""
    z = torch.linspace(-8, 8, 4001, dtype=torch.float64)[:, None]
    images = every_image((1, 2, 2), 2)
    with torch.no_grad():
        log_px = model.obs.log_prob(model.decode(z)[:, None], images.flatten(1)[None].double())  # (Z, 16)
    log_pz = -0.5 * (z[:, 0] ** 2 + math.log(2 * math.pi))
    return torch.logsumexp(log_px + log_pz[:, None], 0) + math.log(16 / 4000), images


def test_the_vaes_estimate_approaches_the_conditional_by_quadrature(tiny_vae):
    logp, images = vae_log_probs(tiny_vae)
    assert logp.exp().sum().item() == pytest.approx(1.0, abs=1e-6)  # the quadrature is right
    hidden = C.hidden_mask("bottom", (1, 2, 2), 16)
    flat = images.flatten(1)
    exact = torch.stack([logp[i] - torch.logsumexp(logp[(flat[:, :2] == flat[i, :2]).all(1)], 0) for i in range(16)])
    # consistent: the largest error over the 16 images fell as 1/sqrt(k) here (0.037 at k = 4,000, 0.017 at 40,000,
    # 0.0075 at 200,000, two seeds alike)
    est, method = tiny_vae.completion_log_prob(images, hidden, 200_000, torch.Generator().manual_seed(0), batch_size=16, steps=20)
    assert method.startswith("importance-sampled estimate")
    assert est.tolist() == pytest.approx(exact.tolist(), abs=0.02)


def test_the_vaes_chain_draws_the_conditional_and_keeps_the_visible_part(tiny_vae):
    logp, images = vae_log_probs(tiny_vae)
    x0, n = images[6:7], 3000  # top row (0, 1)
    hidden = C.hidden_mask("bottom", (1, 2, 2), n)
    done = tiny_vae.complete(x0.expand(n, -1, -1, -1), hidden, torch.Generator().manual_seed(0), 30)
    flat = done.flatten(1)
    assert (flat[:, :2] == x0.flatten(1)[:, :2]).all()
    same_top = (images.flatten(1)[:, :2] == x0.flatten(1)[0, :2]).all(1)
    probs = (logp[same_top] - torch.logsumexp(logp[same_top], 0)).exp()
    freqs = torch.tensor([(flat == c).all(1).double().mean().item() for c in images.flatten(1)[same_top]])
    assert (freqs - probs).abs().max().item() < 0.05


# -- the GAN: latent optimisation ----------------------------------------------------------------
def test_the_gans_completion_fits_the_visible_part_and_keeps_it():
    torch.manual_seed(0)
    gan = GAN(GAN.Params(hidden=[16], latent_dim=4), (1, 4, 4), 17)
    target = gan.quantize(gan.ema_generator(torch.randn(1, 4)).detach())  # an image the generator can make
    hidden = C.hidden_mask("bottom", (1, 4, 4), 1)
    start = target.flatten(1).masked_fill(hidden, 0).view_as(target)
    done = gan.complete(start, hidden, torch.Generator().manual_seed(0), 300)
    assert torch.equal(done.flatten(1)[~hidden], target.flatten(1)[~hidden])
    unfitted = gan.complete(start, hidden, torch.Generator().manual_seed(0), 0)
    err = lambda d: (d.flatten(1)[hidden].float() - target.flatten(1)[hidden].float()).abs().mean().item()
    assert err(done) < err(unfitted)
    assert gan.completion_log_prob(start, hidden, 10, None) is None


# -- the metrics -----------------------------------------------------------------------------
class FakeClassifier:
    """Predicts the label from the first pixel's level (mod 2): a known accuracy."""

    def accuracy(self, x, y):
        return (x.flatten(1)[:, 0].long() % 2 == y).double().mean().item()


class Split:
    def __init__(self, x, y):
        self.x, self.y = x, y


class Data:
    def __init__(self, x, y):
        self.test = Split(x, y)
        self.modality = type("M", (), {"name": "images"})()


class Params:
    def __init__(self, **completion):
        self.completion = CompletionParams(**completion)
        self.evaluate = type("E", (), {"iw_samples": 10, "batch_size": 4})()


def test_completion_metrics_and_the_real_rows_references():
    x = every_image(SHAPE, LEVELS)
    y = x.flatten(1)[:, 0].long() % 2
    data, params = Data(x, y), Params(n_images=50)
    model = EXACT["markov"]()
    completions = {"completed_bottom": x[:50], "completed_centre": x[:50].flip(0)}
    out = C.completion_metrics(model, data, completions, params, FakeClassifier(), torch.Generator())
    assert out["complete_n_images"] == 50 and out["complete_nll_method"] == "exact"
    assert out["complete_accuracy_bottom"] == 1.0  # the originals themselves
    assert "complete_accuracy_random" not in out  # no completions of it
    hidden = C.hidden_mask("bottom", SHAPE, 50)
    assert out["complete_nll_bottom"] == pytest.approx(-brute_force(model, x[:50], hidden).mean().item())
    real = C.real_completion_metrics(data, params.completion, FakeClassifier())
    assert real["complete_accuracy_centre"] == 1.0
    assert real["masked_accuracy_bottom"] == 1.0  # the first pixel stays visible
    # random: the first pixel hidden (set to level 0, predicting 0) in some images
    hidden = C.hidden_mask("random", SHAPE, 50)
    expected = ((torch.where(hidden[:, 0], 0, x.flatten(1)[:50, 0]).long() % 2) == y[:50]).double().mean().item()
    assert real["masked_accuracy_random"] == pytest.approx(expected)
    assert C.real_completion_metrics(Data(x, None), params.completion, None) == {}


def test_a_completion_that_ignores_the_visible_part_scores_chance():
    """The independent model ignores the visible pixels: its completions of images whose label is
    the hidden part's first pixel (parity) get about half right."""
    shape = (1, 2, 2)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 2, (2000, *shape), generator=g, dtype=torch.uint8)
    model = Independent(Independent.Params(), shape, 2)
    model.fit(x, x)
    hidden = C.hidden_mask("bottom", shape, len(x))
    done = model.complete(x, hidden, torch.Generator().manual_seed(1), 0)
    label = x.flatten(1)[:, 2].long()
    acc = (done.flatten(1)[:, 2].long() == label).double().mean().item()
    assert acc == pytest.approx(0.5, abs=0.05)


def test_the_summary_has_a_completion_table_and_the_report_directions():
    table = pd.DataFrame.from_dict({
        "markov": {"nll": 1.0, "complete_nll_bottom": 5.0, "complete_nll_bottom_stderr": 0.1, "complete_accuracy_bottom": 0.5},
        "gan": {"complete_accuracy_bottom": 0.6},
        "real": {"complete_accuracy_bottom": 0.9, "masked_accuracy_bottom": 0.2},
    }, orient="index")
    assert completion_columns(table.columns) == ["complete_nll_bottom", "complete_accuracy_bottom", "masked_accuracy_bottom"]
    assert better("complete_nll_centre") == -1 and better("complete_accuracy_random") == 1
    assert better("complete_nll_bottom_stderr") == 0 and better("masked_accuracy_bottom") == 0


def test_write_summary_shows_the_completion_table(tmp_path):
    table = pd.DataFrame.from_dict({
        "markov": {"nll": 1.0, "complete_nll_bottom": 5.0, "complete_accuracy_bottom": 0.5},
        "real": {"complete_accuracy_bottom": 0.9, "masked_accuracy_bottom": 0.2},
    }, orient="index")
    md = write_summary(table, tmp_path / "s.csv", tmp_path / "s.md")
    main, _, rest = md.partition("Completing test images")
    assert "complete_nll_bottom" not in main and "complete_nll_bottom" in rest and "masked_accuracy_bottom" in rest
