"""The prepared data: each kind of data prepared by its own module (``genlab.data.modality``
says which), and read back.

Images and tables (``genlab.data.examples``): a seeded, stratified split, binarization or
dequantization (``genlab.data.noise``); text (``genlab.data.text``): a contiguous split, one 1-D
array of codes per split; music (``genlab.data.music``): a split by piece, the frames of every
piece, their lengths and chords.

Prepared data is one folder (``genlab.paths.PREPARED``) with ``train.npz``, ``val.npz`` and
``test.npz`` (``x``: uint8 images (N, C, H, W) or float64 values (N, F); ``y``: int64 labels
when there are labels; with dynamic binarization ``train.npz`` also holds ``x_grey``, the grey
images the training loop re-binarizes every epoch; with dequantization, ``x_int``, the integer
values it dequantizes afresh every epoch) and ``meta.json`` (kind, shape, number of levels,
binarization, counts per split).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from genlab.config.sections import DataParams
from genlab.data import sources
from genlab.data.examples import SPLITS
from genlab.data.modality import Modality, for_source
from genlab.data.modality import of as modality_of
from genlab.errors import GenlabError


def prepare(params: DataParams, out_dir: str | Path) -> dict:
    """Prepare ``data.source`` as its kind of data does (``genlab.data.modality``): read it, split it,
    write the prepared folder; return its metadata."""
    return for_source(params.source).prepare(params, out_dir)


@dataclass
class Split:
    x: torch.Tensor  # uint8 (N, C, H, W) images, float64 (N, F) values, or (T,) codes of a text
    y: torch.Tensor | None
    x_grey: torch.Tensor | None = None  # dynamic binarization: the grey training images
    x_int: torch.Tensor | None = None  # dequantization: the integer training values
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
    def modality(self) -> Modality:
        """The kind of data (``genlab.data.modality``): images, continuous values, text or music."""
        return modality_of(self.meta)


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
