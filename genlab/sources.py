"""Data sources: each turns what the user has into arrays, or fails with one line naming the file.

Images come back as uint8 (N, C, H, W) with their number of grey levels; tables and the
1-D normal example as float64 (N, F). A source may bring its own test split (the IDX
``t10k`` files).
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genlab.errors import GenlabError

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg"}


class DataError(GenlabError):
    """Bad or missing input data."""


@dataclass
class Raw:
    x: np.ndarray  # uint8 (N, C, H, W) images, or float64 (N, F) values
    y: np.ndarray | None  # int64 (N,) or None
    n_levels: int  # grey levels of images; 0 for continuous values
    name: str
    test_x: np.ndarray | None = None  # a test split the source brings with it
    test_y: np.ndarray | None = None

    @property
    def continuous(self) -> bool:
        return self.n_levels == 0


def _exists(path: Path, what: str) -> Path:
    if not path.exists():
        raise DataError(f"{path}: no such {what}")
    return path


# -- digits -----------------------------------------------------------------------
def digits(params) -> Raw:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return Raw(x=bunch.images.astype(np.uint8)[:, None], y=bunch.target.astype(np.int64), n_levels=17, name="digits")


# -- normal: the article's 1-D example --------------------------------------------------------
def normal(params) -> Raw:
    rng = np.random.default_rng(params.seed)
    x = rng.normal(params.mean, params.std, size=(params.n, 1))
    return Raw(x=x, y=None, n_levels=0, name="normal")


# -- IDX (MNIST, Fashion-MNIST, KMNIST) -------------------------------------------------------
IDX_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}


def _find(folder: Path, name: str, required: bool = True) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.exists():
            return candidate
    if required:
        raise DataError(f"{folder / name}: not found (nor {name}.gz)")
    return None


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None


def read_idx(path: Path, expected_dims: int) -> np.ndarray:
    """An IDX file of unsigned bytes: magic 0x0000080N with N dimensions, then the sizes, then the data."""
    data = _read_bytes(path)
    if len(data) < 4:
        raise DataError(f"{path}: too short to be an IDX file ({len(data)} bytes)")
    zero, dtype, dims = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08 or dims != expected_dims:
        raise DataError(
            f"{path}: wrong IDX magic number 0x{data[:4].hex()} (expected 0x000008{expected_dims:02x}: "
            f"unsigned bytes, {expected_dims} dimensions)"
        )
    header = 4 + 4 * dims
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{dims}I", data[4:header])
    size = math.prod(shape)
    if len(data) - header != size:
        raise DataError(f"{path}: truncated or padded: {len(data) - header} data bytes for shape {shape} ({size})")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def idx(params) -> Raw:
    folder = _exists(Path(params.path), "folder")
    xs, ys = {}, {}
    for split in ("train", "test"):
        x_path = _find(folder, IDX_FILES[f"{split}_x"])
        x = read_idx(x_path, 3)[:, None]
        y_path = _find(folder, IDX_FILES[f"{split}_y"], required=False)
        y = None
        if y_path is not None:
            y = read_idx(y_path, 1).astype(np.int64)
            if len(y) != len(x):
                raise DataError(f"{y_path}: {len(y)} labels for {len(x)} images in {x_path.name}")
        xs[split], ys[split] = x, y
    if (ys["train"] is None) != (ys["test"] is None):
        raise DataError(f"{folder}: labels for only one of the train and t10k splits")
    return Raw(x=xs["train"], y=ys["train"], n_levels=256, name="idx", test_x=xs["test"], test_y=ys["test"])


# -- npz ---------------------------------------------------------------------------
def npz(params) -> Raw:
    path = _exists(Path(params.path), "file")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, zlib.error, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})") from None
    x_key = params.x_key or next((k for k in ("x", "arr_0") if k in arrays), None)
    if x_key is None or x_key not in arrays:
        raise DataError(f"{path}: no array {params.x_key or 'x or arr_0'} (has {', '.join(arrays) or 'none'})")
    y_key = params.y_key or next((k for k in ("y", "arr_1") if k in arrays), None)
    if params.y_key and y_key not in arrays:
        raise DataError(f"{path}: no array {params.y_key} (has {', '.join(arrays)})")
    x = arrays[x_key]
    y = arrays.get(y_key) if y_key else None
    if y is not None:
        if len(y) != len(x):
            raise DataError(f"{path}: {len(y)} labels in {y_key!r} for {len(x)} examples in {x_key!r}")
        y = _labels(y, path)
    if len(x) == 0:
        raise DataError(f"{path}: array {x_key!r} is empty")
    if x.dtype == np.uint8 and x.ndim in (3, 4):
        images = x[:, None] if x.ndim == 3 else x
        if images.shape[-1] in (1, 3) and images.shape[1] not in (1, 3):
            images = images.transpose(0, 3, 1, 2)  # N, H, W, C -> N, C, H, W
        return Raw(x=np.ascontiguousarray(images), y=y, n_levels=256, name="npz")
    values = _finite(x.reshape(len(x), -1).astype(np.float64), path)
    return Raw(x=values, y=y, n_levels=0, name="npz")


def _labels(y: np.ndarray, path: Path) -> np.ndarray:
    y = np.asarray(y)
    if not np.issubdtype(y.dtype, np.integer):
        if np.issubdtype(y.dtype, np.floating) and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            y = y.astype(np.int64)
        else:
            raise DataError(f"{path}: labels must be integers 0..K-1")
    if y.min() < 0:
        raise DataError(f"{path}: labels must be integers 0..K-1 (found {y.min()})")
    return y.astype(np.int64)


def _finite(x: np.ndarray, path: Path) -> np.ndarray:
    bad = ~np.isfinite(x)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataError(f"{path}: non-finite value {x[row, col]} at row {row}, column {col}")
    return x


# -- image folder ------------------------------------------------------------------
def imagefolder(params) -> Raw:
    from PIL import Image, UnidentifiedImageError

    root = _exists(Path(params.path), "folder")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise DataError(f"{root}: no class sub-folders (expected {root}/<class>/<image>.png)")
    files = [(f, i) for i, c in enumerate(classes) for f in sorted((root / c).iterdir()) if f.is_file()]
    if not files:
        raise DataError(f"{root}: the class folders hold no files")
    size = _image_size(params.image_size)
    images, labels, first = [], [], None
    for f, label in files:
        if f.suffix.lower() not in IMAGE_EXTENSIONS:
            raise DataError(f"{f}: not a PNG or JPEG file")
        try:
            with Image.open(f) as im:
                im.load()
                mode = "L" if im.mode in ("1", "L", "I;16", "I", "F", "LA") else "RGB"
                im = im.convert(mode)
                if size is not None:
                    im = im.resize((size[1], size[0]), Image.Resampling.BILINEAR)
                arr = np.asarray(im, dtype=np.uint8)
        except (UnidentifiedImageError, OSError) as exc:
            raise DataError(f"{f}: cannot read the image ({exc})") from None
        arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
        if first is None:
            first = (f, arr.shape)
        elif arr.shape != first[1]:
            raise DataError(
                f"{f}: {_describe(arr.shape)} but {first[0].name} is {_describe(first[1])}; "
                f"set data.image_size (and images are converted to one mode only if they share one)"
            )
        images.append(arr)
        labels.append(label)
    return Raw(x=np.stack(images), y=np.array(labels, dtype=np.int64), n_levels=256, name="imagefolder")


def _describe(shape) -> str:
    c, h, w = shape
    return f"{'grey' if c == 1 else 'RGB'} {w}x{h}"


def _image_size(v) -> tuple[int, int] | None:
    if v is None:
        return None
    return (v, v) if isinstance(v, int) else (v[0], v[1])


# -- csv ---------------------------------------------------------------------------
def csv(params) -> Raw:
    import pandas as pd

    path = _exists(Path(params.path), "file")
    try:
        table = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: empty file, no header and no rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise DataError(f"{path}: not a readable CSV table ({str(exc).splitlines()[0]})") from None
    if len(table) == 0:
        raise DataError(f"{path}: the table has no rows")
    y = None
    if params.label_column and params.label_column in table.columns:
        y = _labels(table.pop(params.label_column).to_numpy(), path)
    if table.shape[1] == 0:
        raise DataError(f"{path}: no value columns besides the label")
    for name in table.columns:
        column = table[name]
        numeric = pd.to_numeric(column, errors="coerce")
        bad = numeric.isna() | ~np.isfinite(numeric.to_numpy(dtype=float, na_value=np.nan))
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(f"{path}: column {name!r} row {row + 1}: {column.iloc[row]!r} is not a finite number")
        table[name] = numeric
    return Raw(x=table.to_numpy(dtype=np.float64), y=y, n_levels=0, name="csv")


SOURCES = {"digits": digits, "normal": normal, "idx": idx, "npz": npz, "imagefolder": imagefolder, "csv": csv}
FILE_SOURCES = {"idx", "npz", "imagefolder", "csv"}


def load(params) -> Raw:
    raw = SOURCES[params.source](params)
    if len(raw.x) == 0:
        raise DataError(f"{params.path}: no examples")
    return raw
