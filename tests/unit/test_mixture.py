"""The mixture of independent models, fitted by EM: seeded, and its binary shortcut equal to
the general computation. With the other baselines: test_baselines.py."""

import torch

from genlab.models.mixture import Mixture


def test_mixture_em_is_seeded(prepared_digits):
    a, b = (Mixture(Mixture.Params(max_iter=5), prepared_digits.shape, 17) for _ in range(2))
    a.fit(prepared_digits.train.x, None)
    b.fit(prepared_digits.train.x, None)
    assert torch.equal(a.log_probs, b.log_probs)


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
