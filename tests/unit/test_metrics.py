import numpy as np
import pytest
import torch

from genlab.metrics import samples as M


def cloud(n, d, shift, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64) + shift


def test_identical_feature_sets():
    x = cloud(300, 8, 0.0, 0)
    assert M.fid(x, x) == pytest.approx(0.0, abs=1e-6)
    p, r = M.precision_recall(x.numpy(), x.numpy(), 3)
    assert p == 1.0 and r == 1.0
    d, c = M.density_coverage(x.numpy(), x.numpy(), 5)
    assert c == 1.0 and d >= 1.0


def test_separated_clouds():
    real, fake = cloud(300, 8, 0.0, 0), cloud(300, 8, 20.0, 1)
    assert M.fid(real, fake) > 8 * 20.0**2 * 0.9  # |mean difference|^2 = 8 * 400
    p, r = M.precision_recall(real.numpy(), fake.numpy(), 3)
    d, c = M.density_coverage(real.numpy(), fake.numpy(), 5)
    assert p == 0.0 and r == 0.0 and d == 0.0 and c == 0.0
    same = M.kid(real, cloud(300, 8, 0.0, 2), subsets=20)
    apart = M.kid(real, fake, subsets=20)
    assert apart > 100 * abs(same)


def test_fid_matches_the_closed_form_for_gaussians():
    # Two large samples of N(0, I) and N(m, 4I) in d dims: FID = |m|^2 + d (1 + 4 - 2*2) = |m|^2 + d
    d = 4
    a, b = cloud(20000, d, 0.0, 0), cloud(20000, d, 0.0, 1) * 2 + 1.0
    assert M.fid(a, b) == pytest.approx(d * 1.0 + d, rel=0.05)


def test_inception_score_bounds():
    confident = torch.full((100, 10), -20.0)
    confident[torch.arange(100), torch.arange(100) % 10] = 20.0
    assert M.inception_score(confident) == pytest.approx(10.0, rel=1e-3)
    collapsed = torch.full((100, 10), -20.0)
    collapsed[:, 3] = 20.0
    assert M.inception_score(collapsed) == pytest.approx(1.0, rel=1e-3)


def test_a_generator_that_replays_training_images_is_caught():
    g = torch.Generator().manual_seed(0)
    train = torch.randint(0, 17, (200, 1, 8, 8), generator=g, dtype=torch.uint8)
    test = torch.randint(0, 17, (50, 1, 8, 8), generator=g, dtype=torch.uint8)
    replay = train[torch.randperm(200, generator=g)[:100]]
    m = M.memorisation(replay, train, test)
    assert m["exact_copy_rate"] == 1.0 and m["nn_distance_ratio"] == 0.0
    fresh = M.memorisation(test, train, test)
    assert fresh["exact_copy_rate"] == 0.0 and fresh["nn_distance_ratio"] == pytest.approx(1.0)


def test_feature_metrics_counts_classes():
    real = cloud(100, 6, 0.0, 0)
    logits = torch.zeros(100, 10)
    logits[:, 2] = 5.0
    logits[:50, 7] = 9.0
    out = M.feature_metrics(real, real, logits, kid_subsets=5)
    assert out["classes_covered"] == 2 and np.isfinite(out["fid"])


def test_density_with_fewer_real_points_than_k_divides_by_the_k_it_used():
    """Three real points, k = 5: each ball is the distance to the farthest other point (k = 2 in
    use), so a sample at a real point sits in all three balls (radii 3, 2, 3): density 3 / 2, not 3 / 5."""
    real = np.array([[0.0], [1.0], [3.0]])
    d, c = M.density_coverage(real, real[:1], 5)
    assert d == 3 / 2 and c == 1.0  # every ball holds the sample
