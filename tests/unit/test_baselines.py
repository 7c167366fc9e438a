import itertools
import math

import pytest
import torch

from genlab.models.independent import Independent
from genlab.models.markov import Markov
from genlab.models.mixture import Mixture

TINY = torch.tensor([[[[0, 1, 1]]], [[[0, 0, 1]]]], dtype=torch.uint8)  # two 1x3 images, 2 levels


def every_image(shape, levels):
    return torch.tensor(list(itertools.product(range(levels), repeat=math.prod(shape))), dtype=torch.uint8).reshape(
        -1, *shape
    )


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


@pytest.mark.parametrize("cls", [Independent, Markov, Mixture])
def test_baselines_are_finite_and_beat_the_uniform_model(cls, prepared_digits):
    m = cls(cls.Params(), prepared_digits.shape, prepared_digits.n_levels)
    m.fit(prepared_digits.train.x, prepared_digits.val.x)
    nll = -m.log_prob(prepared_digits.test.x)
    assert torch.isfinite(nll).all()
    assert nll.mean().item() < 64 * math.log(17) - 50  # uniform: 181.3 nats
