"""Data sets: the seeded stratified split, binarisation (``genlab.data.noise``), and the prepared arrays.

Text has its own reader and contiguous split (``genlab.data.text``): one 1-D array of codes per split;
music its readers and split by piece (``genlab.data.music``): the frames of every piece, their lengths and chords.

Prepared data is one folder with ``train.npz``, ``val.npz`` and ``test.npz`` (``x``: uint8
images (N, C, H, W) or float64 values (N, F); ``y``: int64 labels when there are labels;
with dynamic binarisation ``train.npz`` also holds ``x_grey``, the grey images the training
loop re-binarises every epoch; with dequantisation, ``x_int``, the integer values it
dequantises afresh every epoch) and ``meta.json`` (kind, shape, number of levels,
binarisation, counts per split).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from genlab.data import music, noise, sources, text
from genlab.errors import GenlabError
from genlab.io import atomic_dir, write_json, write_npz
from genlab.config.params import DataParams

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
    try:
        rest, test = train_test_split(idx, test_size=n_test, random_state=params.seed, stratify=y)
        train, val = train_test_split(
            rest, test_size=n_val, random_state=params.seed + 1, stratify=None if y is None else y[rest]
        )
    except ValueError as exc:  # a class too small to stratify
        raise GenlabError(f"data: cannot split {n} examples by label ({exc})") from None
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def prepare(params: DataParams, out_dir: str | Path) -> dict:
    """Load the source, split it, binarise if asked, and write the prepared folder; return its metadata."""
    if params.source == "text":  # one long sequence: a contiguous split (genlab.data.text)
        return text.prepare_text(params, out_dir)
    if params.source in ("pianoroll", "midi"):  # pieces of frames (genlab.data.music)
        return music.prepare_music(params, out_dir)
    raw = sources.load(params)
    if raw.continuous and params.binarize != "none":
        raise GenlabError(f"data.binarize: {params.binarize!r} is for images; the {raw.name} data is continuous")
    if raw.test_x is None:
        parts = split_indices(len(raw.x), raw.y, params)
        x, y = raw.x, raw.y
    else:  # the source brings its test split; validation comes out of its training part
        n_train = len(raw.x)
        n_val = max(1, round(n_train * params.val_fraction))
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
                    arrays["x_grey"] = arrays["x"]  # re-binarised every epoch by the training loop
                arrays["x"] = noise.binarise(torch.from_numpy(arrays["x"]), levels, gen).numpy()  # one seeded draw
            if meta.get("dequantized_columns"):
                if s == "train":
                    arrays["x_int"] = arrays["x"]  # dequantised afresh every epoch by the training loop
                arrays["x"] = noise.dequantise(torch.from_numpy(arrays["x"]), meta["dequantized_columns"], gen).numpy()
            if y is not None:
                arrays["y"] = y[parts[s]]
            write_npz(tmp / f"{s}.npz", **arrays)
        write_json(tmp / "meta.json", meta)
    return meta


@dataclass
class Split:
    x: torch.Tensor  # uint8 (N, C, H, W) images, float64 (N, F) values, or (T,) codes of a text
    y: torch.Tensor | None
    x_grey: torch.Tensor | None = None  # dynamic binarisation: the grey training images
    x_int: torch.Tensor | None = None  # dequantisation: the integer training values
    lengths: torch.Tensor | None = None  # music: frames per piece (x holds the pieces one after another)
    codes: torch.Tensor | None = None  # music: each frame's chord (n_chords: not a training chord)

    def model_input(self) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """What a model is given: the tensor x, or for music (x, codes, lengths)."""
        return self.x if self.lengths is None else (self.x, self.codes.long(), self.lengths.long())


@dataclass
class Prepared:
    meta: dict
    train: Split
    val: Split
    test: Split

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.meta["shape"])

    @property
    def n_levels(self) -> int:
        return int(self.meta["n_levels"])

    @property
    def continuous(self) -> bool:
        return self.meta.get("kind") == "continuous"

    @property
    def sequence(self) -> bool:
        """One long sequence of codes per split (text), not a set of examples."""
        return self.meta.get("kind") == "text"

    @property
    def music(self) -> bool:
        """Pieces of piano-roll frames."""
        return self.meta.get("kind") == "music"


def read_tensors(path: str | Path, problem: str, hint: str) -> dict[str, torch.Tensor]:
    """Every array of an .npz file genlab wrote (``sources.read_npz``: headers checked, no pickles),
    as tensors; anything wrong is one line ``<path>: <problem> (<why>)<hint>``."""
    arrays = sources.read_npz(Path(path), problem=problem, hint=hint)
    try:
        return {k: torch.from_numpy(a) for k, a in arrays.items()}
    except (TypeError, ValueError) as exc:  # a dtype or byte order torch does not take: not a file genlab wrote
        raise GenlabError(f"{path}: {problem} ({exc}){hint}") from None


def _read_split(path: Path) -> Split:
    hint = "; run the preprocess stage"
    tensors = read_tensors(path, "cannot read prepared data", hint)
    if "x" not in tensors:
        raise GenlabError(f"{path}: no array x{hint}")
    return Split(
        x=tensors["x"], y=tensors.get("y"), x_grey=tensors.get("x_grey"), x_int=tensors.get("x_int"),
        lengths=tensors.get("lengths"), codes=tensors.get("codes"),
    )


def load_prepared(data_dir: str | Path, splits: tuple[str, ...] = SPLITS) -> Prepared:
    data_dir = Path(data_dir)
    meta_path = data_dir / "meta.json"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise GenlabError(f"{meta_path}: cannot read ({exc}); run the preprocess stage") from None
    if not isinstance(meta, dict):
        raise GenlabError(f"{meta_path}: not an object of metadata ({type(meta).__name__}); run the preprocess stage")
    loaded = {s: _read_split(data_dir / f"{s}.npz") if s in splits else None for s in SPLITS}
    return Prepared(meta=meta, **loaded)
