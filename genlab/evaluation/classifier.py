"""The feature classifier: trained once on the train split, frozen, and used as the feature
extractor of every sample metric (FID, KID, precision/recall, density/coverage, IS).

Inception weights cannot be downloaded here and are the wrong features for small grey
images anyway; the practice is a classifier trained on the same data (see
``../shared/docs/evaluation.md``). Its numbers are comparable only with the same
classifier, so it is a versioned pipeline output.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from genlab.config.params import ClassifierParams
from genlab.io import building_from, load_checkpoint, save_checkpoint
from genlab.models.base import Trainable


class Classifier(Trainable):
    def __init__(self, params: ClassifierParams, shape, n_levels: int, n_classes: int):
        super().__init__()
        self.params = params
        self.shape, self.n_levels, self.n_classes = tuple(shape), int(n_levels), int(n_classes)
        sizes = [math.prod(self.shape), *params.hidden, params.feature_dim]
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU(), nn.Dropout(params.dropout)]
        self.body = nn.Sequential(*layers[:-1])  # no dropout on the features themselves
        self.head = nn.Sequential(nn.Dropout(params.dropout), nn.Linear(params.feature_dim, n_classes))

    def _inputs(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1).float() / (self.n_levels - 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations of uint8 images, (N, feature_dim)."""
        return self.body(self._inputs(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self(x), y)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
        """(features, logits) of many images, in eval mode and in batches."""
        self.eval()
        feats = torch.cat([self.features(b) for b in x.split(batch_size)])
        return feats, self.head(feats)

    @torch.no_grad()
    def accuracy(self, x: torch.Tensor, y: torch.Tensor) -> float:
        _, logits = self.predict(x)
        return (logits.argmax(1) == y).double().mean().item()

    def save(self, path: str | Path, meta: dict) -> None:
        save_checkpoint(
            {"params": self.params.model_dump(), "meta": meta, "n_classes": self.n_classes, "state_dict": self.state_dict()},
            path,
        )

    @classmethod
    def load(cls, path: str | Path, device="cpu") -> "Classifier":
        ckpt = load_checkpoint(path, "classifier", "classifier", device)
        with building_from(path, "classifier checkpoint", "classifier"):
            model = cls(ClassifierParams.model_validate(ckpt["params"]), ckpt["meta"]["shape"], ckpt["meta"]["n_levels"], ckpt["n_classes"])
            model.load_state_dict(ckpt["state_dict"])
        return model.to(device).eval()
