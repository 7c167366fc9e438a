"""Kinds of data (modalities), and what the data layer does for each.

A modality says which ``data.source`` values are prepared as its kind of data and by which
module (``genlab.data.examples`` for images and tables, ``genlab.data.text``,
``genlab.data.music``), how preprocess describes the prepared data in one line, and which
metrics apply. The evaluation layer keys what it does for each kind by the modality's name:
which functions score a model and the real row in ``genlab.evaluation.evaluate`` (``SCORERS``),
which writes the samples in ``genlab.evaluation.generate`` (``WRITERS``). Which models apply is
each model's own declaration (``GenerativeModel.modalities``, read through
``genlab.models.registry.models_for``).

A new kind of data is its module (read, split, write the prepared folder), one ``Modality``
here, and its entry in each of those two tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from genlab.config.sections import DataParams
from genlab.data import examples, music, text


@dataclass(frozen=True)
class Modality:
    name: str
    description: str
    discrete: bool  # likelihoods on a discrete scale: nats per example and bits per dimension
    metrics: tuple[str, ...]  # metric groups evaluate computes for samples of this data
    uses_features: bool  # sample metrics in a feature space (a classifier's with labels, else a self-supervised network's)
    sources: tuple[str, ...]  # the `data.source` values prepared as this kind of data
    prepare: Callable[[DataParams, str | Path], dict]  # read, split, write the prepared folder; its meta
    describe: Callable[[dict], str]  # the prepared data (its meta) in one line: what preprocess prints


def _counts(meta: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in meta["counts"].items())


def describe_examples(meta: dict) -> str:
    return f"{meta['source']} {tuple(meta['shape'])}, {meta['n_levels']} levels, {labelled(meta)}; {_counts(meta)}"


def describe_text(meta: dict) -> str:
    oov = ", ".join(f"{k} {v:.3g}" for k, v in meta["oov_rate"].items())
    return f"text, {meta['n_levels']} symbols (unknown included); characters {_counts(meta)}; oov_rate {oov}"


def describe_music(meta: dict) -> str:
    pieces = ", ".join(f"{k} {v}" for k, v in meta["pieces"].items())
    extra = f"; {meta['dropped_notes']} notes out of range dropped" if meta["dropped_notes"] else ""
    extra += f"; {len(meta['skipped_files'])} files skipped" if meta.get("skipped_files") else ""
    return f"music, pieces {pieces}; frames {_counts(meta)}; {meta['n_chords']} training chords{extra}"


# Images and tables come from the same sources by the same path; the data tell them apart.
EXAMPLE_SOURCES = ("digits", "idx", "npz", "imagefolder", "csv", "normal")

IMAGES = Modality(
    "images",
    "images (N, C, H, W) with a number of grey levels",
    discrete=True,
    metrics=("likelihood", "features", "memorisation"),
    uses_features=True,
    sources=EXAMPLE_SOURCES,
    prepare=examples.prepare_examples,
    describe=describe_examples,
)
CONTINUOUS = Modality(
    "continuous",
    "tables of real values (N, F), the 1-D normal example among them",
    discrete=False,
    metrics=("likelihood", "values"),
    uses_features=False,
    sources=EXAMPLE_SOURCES,
    prepare=examples.prepare_examples,
    describe=describe_examples,
)
TEXT = Modality(
    "text",
    "character text: one long sequence of codes per split, the last code the unknown symbol",
    discrete=True,
    metrics=("likelihood", "text"),
    uses_features=False,
    sources=("text",),
    prepare=text.prepare_text,
    describe=describe_text,
)
MUSIC = Modality(
    "music",
    "pieces of music as binary piano rolls: frames of 88 keys (MIDI pitches 21-108), pieces one after another",
    discrete=True,
    metrics=("likelihood", "music"),
    uses_features=False,
    sources=("pianoroll", "midi"),
    prepare=music.prepare_music,
    describe=describe_music,
)
MODALITIES = {m.name: m for m in (IMAGES, CONTINUOUS, TEXT, MUSIC)}


def of(meta: dict) -> Modality:
    """The modality of prepared data, from its ``meta.json``."""
    return MODALITIES[meta.get("kind", "images")]


def for_source(source: str) -> Modality:
    """The first modality prepared from ``source`` (images and tables share theirs, and their preparation)."""
    return next(m for m in MODALITIES.values() if source in m.sources)


def has_classifier(meta: dict) -> bool:
    """Whether a feature classifier can be trained on this prepared data: a kind of data whose
    sample metrics live in a feature space, with labels of at least two classes."""
    return bool(meta["has_labels"]) and meta.get("n_classes", 0) >= 2 and of(meta).uses_features


def labelled(meta: dict) -> str:
    """'labelled, k classes' or 'unlabelled': what the summary and preprocess say of the data."""
    return examples.labels_text(bool(meta.get("has_labels")), meta.get("n_classes", 0))
