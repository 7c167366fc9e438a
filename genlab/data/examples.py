"""Sets of examples: images (N, C, H, W) with a number of grey levels, or tables of real values (N, F).

Read by ``genlab.data.sources``, split at random (seeded, stratified by label when there are
labels; a source that brings its test split keeps it), binarized or dequantized as the params
ask (``genlab.data.noise``) and written as the prepared folder (``genlab.data.prepare``). One
path prepares both kinds: the data tell them apart (grey levels, or real values).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from genlab.config.sections import DataParams
from genlab.data import noise, sources
from genlab.errors import GenlabError
from genlab.io import atomic_dir, write_json, write_npz

SPLITS = ("train", "val", "test")


def integer_columns(x: np.ndarray) -> list[int]:
    """The columns of a continuous table whose values are all integers (counts, ratings, levels)."""
    return [int(j) for j in np.flatnonzero(np.all(x == np.round(x), axis=0))]


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
    from sklearn.model_selection import train_test_split  # here: a second of imports that only preprocess needs

    try:
        rest, test = train_test_split(idx, test_size=n_test, random_state=params.seed, stratify=y)
        train, val = train_test_split(
            rest, test_size=n_val, random_state=params.seed + 1, stratify=None if y is None else y[rest]
        )
    except ValueError as exc:  # a class too small to stratify
        raise GenlabError(f"data: cannot split {n} examples by label ({exc})") from None
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def labels_text(has_labels: bool, n_classes: int) -> str:
    """'labelled, k classes' or 'unlabelled' (fewer than two classes: nothing to tell apart): what
    meta.json, preprocess and the summary say of the data."""
    return f"labelled, {n_classes} classes" if has_labels and n_classes >= 2 else "unlabelled"


def prepare_examples(params: DataParams, out_dir: str | Path) -> dict:
    """Load the source, split it, binarize if asked, and write the prepared folder; return its metadata."""
    raw = sources.load(params)
    if raw.continuous and params.binarize != "none":
        raise GenlabError(f"data.binarize: {params.binarize!r} is for images; the {raw.name} data is continuous")
    if raw.test_x is None:
        parts = split_indices(len(raw.x), raw.y, params)
        x, y = raw.x, raw.y
    else:  # the source brings its test split; validation comes out of its training part
        n_train = len(raw.x)
        n_val = max(1, round(n_train * params.val_fraction))
        from sklearn.model_selection import train_test_split

        try:
            train, val = train_test_split(np.arange(n_train), test_size=n_val, random_state=params.seed, stratify=raw.y)
        except ValueError as exc:  # a class too small to stratify (a damaged label file, a tiny val_fraction)
            raise GenlabError(f"{params.path}: cannot split {n_train} training examples by label ({exc})") from None
        parts = {"train": np.sort(train), "val": np.sort(val), "test": np.arange(n_train, n_train + len(raw.test_x))}
        x = np.concatenate([raw.x, raw.test_x])
        y = None if raw.y is None else np.concatenate([raw.y, raw.test_y])
    levels = raw.n_levels  # 0: continuous values
    del raw  # one working copy only
    meta = {
        "source": params.source,
        "kind": "images" if levels else "continuous",
        "shape": list(x.shape[1:]),
        "n_levels": 2 if params.binarize != "none" else levels,
        "binarize": params.binarize,
        "has_labels": y is not None,
        "n_classes": int(y.max()) + 1 if y is not None else 0,
        "labels": labels_text(y is not None, int(y.max()) + 1 if y is not None else 0),
        "counts": {s: int(len(parts[s])) for s in SPLITS},
    }
    if params.binarize == "dynamic":
        meta["grey_levels"] = levels
    if not levels:
        meta["dequantized_columns"] = integer_columns(x) if params.dequantize else []
    gen = torch.Generator().manual_seed(params.seed)
    with atomic_dir(out_dir) as tmp:
        for s in SPLITS:
            arrays = {"x": x[parts[s]]}
            if params.binarize != "none":
                if params.binarize == "dynamic" and s == "train":
                    arrays["x_grey"] = arrays["x"]  # re-binarized every epoch by the training loop
                arrays["x"] = noise.binarize(torch.from_numpy(arrays["x"]), levels, gen).numpy()  # one seeded draw
            if meta.get("dequantized_columns"):
                if s == "train":
                    arrays["x_int"] = arrays["x"]  # dequantized afresh every epoch by the training loop
                arrays["x"] = noise.dequantize(torch.from_numpy(arrays["x"]), meta["dequantized_columns"], gen).numpy()
            if y is not None:
                arrays["y"] = y[parts[s]]
            write_npz(tmp / f"{s}.npz", **arrays)
        write_json(tmp / "meta.json", meta)
    return meta
