"""The feature space of the image sample metrics, and the check that it can tell bad samples from real ones.

FID, KID, precision/recall and density/coverage are computed in a frozen network's features,
and the GAN selects its checkpoints there: the `classifier` stage's classifier (labelled images,
at least two classes) or the `self_supervised` stage's network (no labels needed);
``evaluate.features`` chooses, ``auto`` taking the classifier wherever it can be trained. Every
metrics file records the space (``features``), so runs measured in different ones are never
compared silently.

Features are checked, not trusted: the real row also scores a known-bad reference, the
validation images with their pixels shuffled (each image by its own seeded permutation of
positions, the channels of a pixel kept together: the same colours and grey levels, no
structure). Features that cannot tell those from real images by more than the noise of the
finite sets measure nothing, and the summary says so in a warning
(``genlab.evaluation.summary.feature_check``).
"""

from __future__ import annotations

import torch

from genlab import paths
from genlab.data import modality
from genlab.errors import GenlabError


def space(choice: str, meta: dict) -> str | None:
    """The feature space ``evaluate.features`` = ``choice`` resolves to for the prepared data of
    ``meta``; None for data whose sample metrics use no features (text, music, values)."""
    if not modality.of(meta).uses_features:
        return None
    if choice == "auto":
        return "classifier" if modality.has_classifier(meta) else "self_supervised"
    if choice == "classifier" and not modality.has_classifier(meta):
        raise GenlabError(
            "evaluate.features: `classifier` needs labelled images of at least two classes, and these are "
            "unlabelled; use `self_supervised` (or `auto`)"
        )
    return choice


def load(name: str, device="cpu"):
    """The frozen network of feature space ``name``: ``predict(x)`` gives (features, logits or None)."""
    if name == "classifier":
        from genlab.evaluation.classifier import Classifier

        return Classifier.load(paths.CLASSIFIER, device)
    from genlab.evaluation.self_supervised import SelfSupervised

    return SelfSupervised.load(paths.SELF_SUPERVISED, device)


def classifier(space: str | None, network, meta: dict, device="cpu"):
    """The classifier on labelled images (``network`` itself when it is the feature space), else None:
    what a completion's accuracy is judged by."""
    if space == "classifier":
        return network
    return load("classifier", device) if modality.has_classifier(meta) else None


def output(name: str) -> str:
    """The checkpoint file of feature space ``name``."""
    return paths.CLASSIFIER if name == "classifier" else paths.SELF_SUPERVISED


def shuffled(x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Images ``x`` (N, C, H, W) with each one's pixel positions permuted by its own seeded
    permutation (a pixel's channels stay together): the known-bad reference."""
    n, c, h, w = x.shape
    gen = torch.Generator().manual_seed(seed)
    order = torch.argsort(torch.rand(n, h * w, generator=gen), dim=1)
    flat = x.reshape(n, c, h * w)
    return torch.gather(flat, 2, order[:, None, :].expand(n, c, h * w)).reshape(n, c, h, w)
