"""Kinds of data (modalities) and what applies to each.

A modality says which metrics apply to its data; which models apply is each model's own
declaration (``GenerativeModel.modalities``), read through ``genlab.models.registry.models_for``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Modality:
    name: str
    description: str
    discrete: bool  # likelihoods on a discrete scale: nats per example and bits per dimension
    metrics: tuple[str, ...]  # metric groups evaluate computes for samples of this data
    uses_classifier: bool  # sample metrics in a feature classifier's space (when there are labels)


IMAGES = Modality(
    "images",
    "images (N, C, H, W) with a number of grey levels",
    discrete=True,
    metrics=("likelihood", "features", "memorisation"),
    uses_classifier=True,
)
CONTINUOUS = Modality(
    "continuous",
    "tables of real values (N, F), the 1-D normal example among them",
    discrete=False,
    metrics=("likelihood", "values"),
    uses_classifier=False,
)
TEXT = Modality(
    "text",
    "character text: one long sequence of codes per split, the last code the unknown symbol",
    discrete=True,
    metrics=("likelihood", "text"),
    uses_classifier=False,
)
MUSIC = Modality(
    "music",
    "pieces of music as binary piano rolls: frames of 88 keys (MIDI pitches 21-108), pieces one after another",
    discrete=True,
    metrics=("likelihood", "music"),
    uses_classifier=False,
)
MODALITIES = {m.name: m for m in (IMAGES, CONTINUOUS, TEXT, MUSIC)}


def of(meta: dict) -> Modality:
    """The modality of prepared data, from its ``meta.json``."""
    return MODALITIES[meta.get("kind", "images")]
