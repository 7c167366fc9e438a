"""Data sets: loading a source, the seeded stratified split, and the prepared arrays.

Prepared data is one folder with ``train.npz``, ``val.npz`` and ``test.npz``
(``x``: uint8 images of shape (N, C, H, W); ``y``: int64 labels) and ``meta.json``
(shape, number of grey levels, counts per split).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from genlab.errors import GenlabError
from genlab.io import atomic_dir, write_json, write_npz
from genlab.params import DataParams

SPLITS = ("train", "val", "test")


@dataclass
class Raw:
    x: np.ndarray  # uint8 (N, C, H, W)
    y: np.ndarray | None  # int64 (N,) or None
    n_levels: int
    name: str


def load_digits_source() -> Raw:
    """scikit-learn's embedded 8x8 digits, grey levels 0..16."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = bunch.images.astype(np.uint8)[:, None, :, :]
    return Raw(x=x, y=bunch.target.astype(np.int64), n_levels=17, name="digits")


def load_source(params: DataParams) -> Raw:
    if params.source == "digits":
        return load_digits_source()
    raise GenlabError(f"data.source: unknown source {params.source!r}")


def split_indices(n: int, y: np.ndarray | None, params: DataParams) -> dict[str, np.ndarray]:
    """Seeded random split, stratified by label when there are labels."""
    idx = np.arange(n)
    n_test = round(n * params.test_fraction)
    n_val = round(n * params.val_fraction)
    if min(n_test, n_val, n - n_test - n_val) < 1:
        raise GenlabError(
            f"data: {n} examples are too few for val_fraction={params.val_fraction}, "
            f"test_fraction={params.test_fraction}"
        )
    rest, test = train_test_split(idx, test_size=n_test, random_state=params.seed, stratify=y)
    train, val = train_test_split(
        rest, test_size=n_val, random_state=params.seed + 1, stratify=None if y is None else y[rest]
    )
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def prepare(params: DataParams, out_dir: str | Path) -> dict:
    """Load the source, split it and write the prepared folder; return its metadata."""
    raw = load_source(params)
    parts = split_indices(len(raw.x), raw.y, params)
    meta = {
        "source": raw.name,
        "shape": list(raw.x.shape[1:]),
        "n_levels": raw.n_levels,
        "has_labels": raw.y is not None,
        "n_classes": int(raw.y.max()) + 1 if raw.y is not None else 0,
        "counts": {s: int(len(parts[s])) for s in SPLITS},
    }
    with atomic_dir(out_dir) as tmp:
        for s in SPLITS:
            arrays = {"x": raw.x[parts[s]]}
            if raw.y is not None:
                arrays["y"] = raw.y[parts[s]]
            write_npz(tmp / f"{s}.npz", **arrays)
        write_json(tmp / "meta.json", meta)
    return meta


@dataclass
class Split:
    x: torch.Tensor  # uint8 (N, C, H, W)
    y: torch.Tensor | None


@dataclass
class Prepared:
    meta: dict
    train: Split
    val: Split
    test: Split

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.meta["shape"])

    @property
    def n_levels(self) -> int:
        return int(self.meta["n_levels"])


def _read_split(path: Path) -> Split:
    try:
        with np.load(path) as f:
            x = torch.from_numpy(f["x"])
            y = torch.from_numpy(f["y"]) if "y" in f.files else None
    except (OSError, ValueError, KeyError) as exc:
        raise GenlabError(f"{path}: cannot read prepared data ({exc}); run the preprocess stage") from None
    return Split(x=x, y=y)


def load_prepared(data_dir: str | Path, splits: tuple[str, ...] = SPLITS) -> Prepared:
    data_dir = Path(data_dir)
    meta_path = data_dir / "meta.json"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise GenlabError(f"{meta_path}: cannot read ({exc}); run the preprocess stage") from None
    loaded = {s: _read_split(data_dir / f"{s}.npz") if s in splits else None for s in SPLITS}
    return Prepared(meta=meta, **loaded)
