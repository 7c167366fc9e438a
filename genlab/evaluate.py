"""The evaluate stage's library side: every metric of one model on the test split."""

from __future__ import annotations

import torch

from genlab.models.base import GenerativeModel


@torch.no_grad()
def evaluate_model(model: GenerativeModel, test: torch.Tensor, params, generator: torch.Generator) -> dict:
    metrics: dict = {}
    if model.has_likelihood:
        metrics.update(model.likelihood_metrics(test, params, generator))
    return metrics
