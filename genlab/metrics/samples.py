"""Sample metrics: how generated images compare with real ones.

In a frozen network's features (the feature classifier's penultimate layer, or the
self-supervised network's encoder; ``genlab.evaluation.features``): FID and KID (torchmetrics, fed our own
features through an identity module so nothing is downloaded), precision and recall
(Kynkäänniemi et al. 2019), density and coverage (Naeem et al. 2020), the classifier's
Inception Score and the number of classes the samples cover. In pixel space, memorisation:
the nearest-neighbour distance ratio and the exact-copy rate against the training images.
torchmetrics and scikit-learn are imported by the functions that use them: seconds of the start
of every stage that imports this module for something else (generate's ``histogram``, the GAN).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn


class _Given(nn.Module):
    """A 'feature extractor' that returns its input: the features are computed beforehand."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _quiet(metric_class, **kwargs):
    """A torchmetrics metric, without its warning that it keeps features in memory (ours are small)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return metric_class(**kwargs)


def fid(real: torch.Tensor, fake: torch.Tensor) -> float:
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = _quiet(FrechetInceptionDistance, feature=_Given(real.shape[1]), reset_real_features=True)
    metric.set_dtype(torch.float64)
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    return metric.compute().item()


def fid_stderr(real: torch.Tensor, fake: torch.Tensor, draws: int = 100, seed: int = 0) -> float:
    """The bootstrap standard error of ``fid``: its standard deviation over ``draws`` resamplings of
    both sets (each drawn with replacement at its own size), seeded. It measures the noise of the
    finite sets scored, not the noise that training adds (a rerun with another seed)."""
    gen = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(draws):
        r = real[torch.randint(len(real), (len(real),), generator=gen)]
        f = fake[torch.randint(len(fake), (len(fake),), generator=gen)]
        values.append(fid(r, f))
    return float(np.std(values, ddof=1))


def kid(real: torch.Tensor, fake: torch.Tensor, subsets: int, generator_seed: int = 0) -> float:
    """Unbiased polynomial-kernel MMD^2, averaged over random subsets of half the smaller set."""
    from torchmetrics.image.kid import KernelInceptionDistance

    subset_size = max(2, min(len(real), len(fake)) // 2)
    metric = _quiet(KernelInceptionDistance, feature=_Given(real.shape[1]), subsets=subsets, subset_size=subset_size)
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    with torch.random.fork_rng():
        torch.manual_seed(generator_seed)
        mean, _ = metric.compute()
    return mean.item()


def inception_score(logits: torch.Tensor) -> float:
    """exp E_x KL(p(y|x) || p(y)) in the classifier's predictions, one split."""
    from torchmetrics.image.inception import InceptionScore

    metric = _quiet(InceptionScore, feature=_Given(logits.shape[1]), splits=1)
    metric.update(logits.double())
    with torch.random.fork_rng(), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the std over one split is undefined; we use the mean
        torch.manual_seed(0)
        mean, _ = metric.compute()
    return mean.item()


def _kth_neighbour_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Distance from each point to its k-th nearest neighbour in the same set (itself excluded)."""
    from sklearn.neighbors import NearestNeighbors

    k = min(k, len(x) - 1)
    dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    return dist[:, k]


def _pairwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return torch.cdist(torch.from_numpy(a), torch.from_numpy(b)).numpy()


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Kynkäänniemi et al. 2019: the share of fake points inside the real k-NN balls, and vice versa."""
    real_r, fake_r = _kth_neighbour_radii(real, k), _kth_neighbour_radii(fake, k)
    d = _pairwise(real, fake)  # (R, F)
    precision = (d <= real_r[:, None]).any(0).mean()
    recall = (d <= fake_r[None, :]).any(1).mean()
    return float(precision), float(recall)


def density_coverage(real: np.ndarray, fake: np.ndarray, k: int = 5) -> tuple[float, float]:
    """Naeem et al. 2020: how many real k-NN balls hold each fake point, and the share of real balls hit."""
    k = min(k, len(real) - 1)  # the k the radii use (fewer real points than k + 1: all the others)
    real_r = _kth_neighbour_radii(real, k)
    inside = _pairwise(real, fake) <= real_r[:, None]  # (R, F)
    density = inside.sum() / (k * fake.shape[0])
    coverage = inside.any(1).mean()
    return float(density), float(coverage)


def memorisation(samples: torch.Tensor, train: torch.Tensor, test: torch.Tensor) -> dict:
    """Pixel space: median nearest-train distance of samples over that of test images, and exact copies."""
    from sklearn.neighbors import NearestNeighbors

    flat = lambda t: t.reshape(len(t), -1).numpy().astype(np.float32)
    nn_train = NearestNeighbors(n_neighbors=1).fit(flat(train))
    d_samples = nn_train.kneighbors(flat(samples))[0][:, 0]
    d_test = nn_train.kneighbors(flat(test))[0][:, 0]
    seen = {row.tobytes() for row in train.reshape(len(train), -1).numpy()}
    copies = np.mean([row.tobytes() in seen for row in samples.reshape(len(samples), -1).numpy()])
    return {
        "nn_distance_ratio": float(np.median(d_samples) / np.median(d_test)),
        "exact_copy_rate": float(copies),
    }


def feature_metrics(
    real_feats: torch.Tensor,
    fake_feats: torch.Tensor,
    fake_logits: torch.Tensor | None,
    k_precision: int = 3,
    k_density: int = 5,
    kid_subsets: int = 100,
) -> dict:
    """Every metric that lives in a feature space; those of class predictions (the Inception Score,
    the classes covered) only with the classifier's ``fake_logits``."""
    r, f = real_feats.double().numpy(), fake_feats.double().numpy()
    precision, recall = precision_recall(r, f, k_precision)
    density, coverage = density_coverage(r, f, k_density)
    out = {
        "fid": fid(real_feats, fake_feats),
        "fid_stderr": fid_stderr(real_feats, fake_feats),
        "kid": kid(real_feats, fake_feats, kid_subsets),
        "precision": precision,
        "recall": recall,
        "density": density,
        "coverage": coverage,
    }
    if fake_logits is not None:
        out["inception_score"] = inception_score(fake_logits)
        out["classes_covered"] = int(fake_logits.argmax(1).unique().numel())
    return out


def value_metrics(
    generated: np.ndarray, test: np.ndarray, true_normal: tuple[float, float] | None = None, train: np.ndarray | None = None
) -> dict:
    """Continuous values (N, F): two-sample KS test and Wasserstein-1 distance per column, means and
    standard deviations side by side (the training values' too, when given; averaged over columns,
    the KS p-value as the smallest), and for data drawn from a known normal distribution a
    one-sample KS test against it."""
    from scipy import stats

    generated, test = np.asarray(generated, dtype=np.float64), np.asarray(test, dtype=np.float64)
    ks = [stats.ks_2samp(generated[:, j], test[:, j]) for j in range(test.shape[1])]
    out = {
        "ks_statistic": float(np.mean([r.statistic for r in ks])),
        "ks_pvalue": float(np.min([r.pvalue for r in ks])),
        "wasserstein": float(np.mean([stats.wasserstein_distance(generated[:, j], test[:, j]) for j in range(test.shape[1])])),
        "generated_mean": float(generated.mean(0).mean()),
        "generated_std": float(generated.std(0, ddof=1).mean()),
        "test_mean": float(test.mean(0).mean()),
        "test_std": float(test.std(0, ddof=1).mean()),
        "n_generated": len(generated),
    }
    if train is not None:
        train = np.asarray(train, dtype=np.float64)
        out["train_mean"] = float(train.mean(0).mean())
        out["train_std"] = float(train.std(0, ddof=1).mean())
    if true_normal is not None:
        out["ks_pvalue_true"] = float(stats.kstest(generated[:, 0], "norm", args=true_normal).pvalue)
    return out


def histogram(generated: np.ndarray, real: np.ndarray, bins: int = 30) -> list[dict]:
    """Densities of the first column of real and generated values on shared bins, for a DVC plot."""
    g, r = np.asarray(generated, dtype=np.float64)[:, 0], np.asarray(real, dtype=np.float64)[:, 0]
    edges = np.histogram_bin_edges(np.concatenate([g, r]), bins=bins)
    dg, _ = np.histogram(g, edges, density=True)
    dr, _ = np.histogram(r, edges, density=True)
    centres = (edges[:-1] + edges[1:]) / 2
    return [{"value": float(c), "real": float(a), "generated": float(b)} for c, a, b in zip(centres, dr, dg)]
