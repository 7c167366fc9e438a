"""Drawing the class asked for: a class-conditional model's samples per class, and whether they are of it.

For a model with ``conditional: true`` (labelled images), ``generate`` draws ``generate.n_samples``
divided evenly among the classes (classes.npz: ``class_x`` and the classes asked for, ``class_y``) and
classes.png, one row per class; ``evaluate`` reports ``class_accuracy``, the share of them the
feature classifier assigns to the class asked for (a model that ignores the class scores about
one over the number of classes; the classifier's accuracy on the test images, in the real row, is
the reference, which samples easier to classify than real images can exceed), and ``nll_given_class``, -log p(x | its label) on the test split, beside ``nll``,
which stays the likelihood of p(x) = sum_y p(y) p(x | y) and so is comparable with any model's.
"""

from __future__ import annotations

from pathlib import Path

import torch

from genlab.config.sections import GenerateParams
from genlab.data.images import image_grid
from genlab.data.prepare import Prepared
from genlab.io import atomic_file, write_npz
from genlab.models.base import GenerativeModel

FILE = "classes.npz"
PICTURE = "classes.png"
SEED_OFFSET = 1_000_003  # the class samples' generator: generate.seed plus this, apart from the samples'


def per_class(params: GenerateParams, n_classes: int) -> int:
    """Samples drawn for each class: ``n_samples`` shared evenly (at least one)."""
    return max(1, params.n_samples // n_classes)


@torch.no_grad()
def write_class_samples(model: GenerativeModel, data: Prepared, params: GenerateParams, out: Path) -> list[str]:
    """A class-conditional model's samples of every class (classes.npz, classes.png); nothing for another model."""
    if not model.conditional:
        return []
    k, m = model.n_classes, per_class(params, model.n_classes)
    gen = torch.Generator(device=model.device).manual_seed(params.seed + SEED_OFFSET)
    y = torch.arange(k).repeat_interleave(m)
    x = torch.cat([model.sample(len(b), gen, labels=b.to(model.device)).cpu() for b in y.split(1000)])
    write_npz(out / FILE, class_x=x.to(torch.uint8).numpy(), class_y=y.numpy())
    shown = min(m, 10)
    rows = x.view(k, m, *model.shape)[:, :shown].reshape(-1, *model.shape)
    with atomic_file(out / PICTURE) as tmp:
        image_grid(rows, model.n_levels, nrow=shown).save(tmp, format="png")
    return [FILE, PICTURE]


@torch.no_grad()
def class_metrics(model: GenerativeModel, data: Prepared, samples: dict, params, classifier, generator) -> dict:
    """``class_accuracy`` (with the classifier, over ``class_x``/``class_y`` of ``samples``: classes.npz's
    arrays) and ``nll_given_class``; nothing for a model that is not class-conditional."""
    if not model.conditional:
        return {}
    out: dict = {}
    if model.has_likelihood:
        out.update(model.class_likelihood_metrics(data.test.x.to(model.device), data.test.y, params.evaluate, generator))
    if classifier is not None and "class_x" in samples:
        out["class_accuracy"] = classifier.accuracy(samples["class_x"], samples["class_y"].long())
        out["class_samples"] = len(samples["class_y"])
    return out
