import itertools
import math

import pytest
import torch

from genlab.data.prepare import load_prepared, prepare
from genlab.errors import GenlabError
from genlab.models.independent import Independent
from genlab.models.markov import Markov
from genlab.models.mixture import Mixture
from genlab.config.params import DataParams

TINY = torch.tensor([[[[0, 1, 1]]], [[[0, 0, 1]]]], dtype=torch.uint8)  # two 1x3 images, 2 levels


def every_image(shape, levels):
    return torch.tensor(list(itertools.product(range(levels), repeat=math.prod(shape))), dtype=torch.uint8).reshape(
        -1, *shape
    )


def test_markov_nll_against_hand_computation():
    m = Markov(Markov.Params(smoothing=1.0), (1, 1, 3), 2)
    m.fit(TINY, TINY)
    # first pixel from the start state: counts [2, 0] -> 3/4, 1/4
    # second pixel, previous 0: counts [1, 1] -> 1/2; previous 1: unseen -> 1/2
    # third pixel, previous 1 or 0: counts [0, 1] -> 1/3, 2/3
    expected = [
        math.log(3 / 4) + math.log(1 / 2) + math.log(2 / 3),  # 0 1 1
        math.log(1 / 4) + math.log(1 / 2) + math.log(1 / 3),  # 1 0 0
    ]
    x = torch.tensor([[[[0, 1, 1]]], [[[1, 0, 0]]]], dtype=torch.uint8)
    assert m.log_prob(x).tolist() == pytest.approx(expected, abs=1e-12)


def test_independent_nll_against_hand_computation():
    m = Independent(Independent.Params(smoothing=1.0), (1, 1, 3), 2)
    m.fit(TINY, TINY)
    # pixel counts [2,0], [1,1], [0,2] -> p(0) = 3/4, 1/2, 1/4
    x = torch.tensor([[[[0, 0, 0]]]], dtype=torch.uint8)
    assert m.log_prob(x).item() == pytest.approx(math.log(3 / 4 * 1 / 2 * 1 / 4), abs=1e-12)


MODELS = [
    (Independent, Independent.Params(), (1, 2, 2), 3),
    (Markov, Markov.Params(), (1, 2, 2), 3),
    (Markov, Markov.Params(context="left_up"), (1, 2, 2), 2),
    (Mixture, Mixture.Params(n_components=3), (1, 2, 2), 3),
]


@pytest.mark.parametrize("cls, params, shape, levels", MODELS)
def test_probabilities_sum_to_one_and_samples_follow_them(cls, params, shape, levels):
    torch.manual_seed(0)
    train = torch.randint(0, levels, (50, *shape), dtype=torch.uint8)
    train[:20] = train[0]  # some structure to learn
    m = cls(params, shape, levels)
    m.fit(train, train)
    images = every_image(shape, levels)
    p = m.log_prob(images).exp()
    assert p.sum().item() == pytest.approx(1.0, abs=1e-9)
    n = 40000
    s = m.sample(n, torch.Generator().manual_seed(0))
    assert s.shape == (n, *shape) and s.dtype == torch.uint8
    codes = (s.flatten(1).long() * levels ** torch.arange(math.prod(shape) - 1, -1, -1)).sum(1)
    freq = torch.bincount(codes, minlength=len(images)).double() / n
    assert (freq - p).abs().max().item() < 4 * math.sqrt(0.25 / n) + 1e-3


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "prepared"
    prepare(DataParams(), out)
    return load_prepared(out)


@pytest.mark.parametrize("cls", [Independent, Markov, Mixture])
def test_baselines_are_finite_and_beat_the_uniform_model(cls, digits):
    m = cls(cls.Params(), digits.shape, digits.n_levels)
    m.fit(digits.train.x, digits.val.x)
    nll = -m.log_prob(digits.test.x)
    assert torch.isfinite(nll).all()
    assert nll.mean().item() < 64 * math.log(17) - 50  # uniform: 181.3 nats


def test_mixture_em_is_seeded(digits):
    a, b = (Mixture(Mixture.Params(max_iter=5), digits.shape, 17) for _ in range(2))
    a.fit(digits.train.x, None)
    b.fit(digits.train.x, None)
    assert torch.equal(a.log_probs, b.log_probs)


def test_markov_refuses_a_table_too_large_in_one_line():
    # 784 pixels x 257^2 (left, up) states x 256 levels
    with pytest.raises(GenlabError, match=r"^markov.context: 'left_up' at 256 levels needs a table of 13,256,298,496 "):
        Markov(Markov.Params(context="left_up"), (1, 28, 28), 256)
    assert Markov(Markov.Params(), (1, 28, 28), 256).n_states == 257  # 'previous' fits (52 M entries)


def test_mixture_binary_shortcut_equals_the_general_gather():
    torch.manual_seed(0)
    m = Mixture(Mixture.Params(n_components=3), (1, 4, 5), 2)
    m.log_probs.copy_(torch.log_softmax(torch.randn(3, 20, 2, dtype=torch.float64), -1))
    x = torch.randint(0, 2, (50, 1, 4, 5), dtype=torch.uint8)
    resp = torch.softmax(torch.randn(50, 3, dtype=torch.float64), -1)
    general = Mixture(Mixture.Params(n_components=3), (1, 4, 5), 3)  # the gather path, level 2 unused
    general.log_probs.copy_(torch.cat([m.log_probs, torch.full((3, 20, 1), -1e9, dtype=torch.float64)], -1))
    general.log_weights.copy_(m.log_weights)
    assert torch.allclose(m._joint(x), general._joint(x), atol=1e-9)
    assert torch.allclose(m._counts(x.flatten(1), resp), general._counts(x.flatten(1), resp)[..., :2], atol=1e-9)


def test_independent_counts_are_per_pixel_and_level():
    x = torch.tensor([[[[0, 2]]], [[[0, 1]]], [[[1, 1]]]], dtype=torch.uint8)  # pixel 0: 0,0,1; pixel 1: 2,1,1
    m = Independent(Independent.Params(smoothing=1.0), (1, 1, 2), 3)
    m.fit(x, None)
    want = torch.tensor([[3.0, 2.0, 1.0], [1.0, 3.0, 2.0]]) / 6  # (counts + 1) / (3 + 3)
    assert torch.allclose(m.log_probs.exp(), want.double())
