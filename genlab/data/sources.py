"""Data sources: each turns what the user has into arrays, or fails with one line naming the file.

Images come back as uint8 (N, C, H, W) with their number of grey levels; tables and the
1-D normal example as float64 (N, F). A source may bring its own test split (the IDX
``t10k`` files).
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genlab.errors import GenlabError, one_line

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg"}
IMAGE_FORMATS = ("PNG", "JPEG")  # what PIL may decode them as


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
    if what == "folder" and not path.is_dir():
        raise DataError(f"{path}: a file, not a folder")
    if what == "file" and path.is_dir():
        raise DataError(f"{path}: a folder, not a file")
    return path


def memory_bytes() -> int:
    """This machine's physical memory: no header may promise more (a corrupt or hostile file)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # no sysconf: no limit but the allocator's
        return 2**63


def _beyond_memory(claim: str, size: int) -> str | None:
    """Why a header's promise of ``size`` bytes is refused, or None."""
    memory = memory_bytes()
    if size > memory:
        return f"{claim}, {size:,} bytes, more than this machine's memory ({memory:,} bytes): a corrupt file?"
    return None


# -- digits -----------------------------------------------------------------------
def digits(params) -> Raw:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return Raw(x=bunch.images.astype(np.uint8)[:, None], y=bunch.target.astype(np.int64), n_levels=17, name="digits")


# -- normal: a 1-D Gaussian example (continuous values) ---------------------------------------
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


_CHUNK = 1 << 20  # bytes read at a time: what is read grows with the data there is, not with a header's promise


def _read_at_most(fh, n: int) -> bytes:
    parts, left = [], n
    while left > 0:
        chunk = fh.read(min(left, _CHUNK))
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def read_idx(path: Path, expected_dims: int) -> np.ndarray:
    """An IDX file of unsigned bytes: magic 0x0000080N with N dimensions, then the sizes, then the data.

    The header is read first and the data after it only up to the size it promises (plus one byte,
    to tell a padded file), so a lying header or a gzip bomb never makes more than that be read; a
    promise larger than this machine's memory is refused before anything is read."""
    try:
        with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as fh:
            magic = _read_at_most(fh, 4)
            if len(magic) < 4:
                raise DataError(f"{path}: too short to be an IDX file ({len(magic)} bytes)")
            zero, dtype, dims = struct.unpack(">HBB", magic)
            if zero != 0 or dtype != 0x08 or dims != expected_dims:
                raise DataError(
                    f"{path}: wrong IDX magic number 0x{magic.hex()} (expected 0x000008{expected_dims:02x}: "
                    f"unsigned bytes, {expected_dims} dimensions)"
                )
            sizes = _read_at_most(fh, 4 * dims)
            if len(sizes) < 4 * dims:
                raise DataError(f"{path}: truncated IDX header")
            shape = struct.unpack(f">{dims}I", sizes)
            size = math.prod(shape)
            refused = _beyond_memory(f"the IDX header claims shape {shape}", size)
            if refused:
                raise DataError(f"{path}: {refused}")
            if path.suffix != ".gz":  # the file's size says at once whether the data are all there
                n = os.fstat(fh.fileno()).st_size - 4 - 4 * dims
                if n != size:
                    raise DataError(f"{path}: truncated or padded: {n} data bytes for shape {shape} ({size})")
            data = _read_at_most(fh, size + 1)  # the extra byte: gzip checks its CRC at the end
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    if len(data) != size:
        n = len(data) if len(data) < size else f"more than {size}"
        raise DataError(f"{path}: truncated or padded: {n} data bytes for shape {shape} ({size})")
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


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
NPY_MAGIC = b"\x93NUMPY"


def read_npz(path: Path, problem: str = "not a readable .npz file", hint: str = "") -> dict[str, np.ndarray]:
    """Every array of an .npz file, by name; anything wrong is a DataError ``<path>: <problem> (<why>)<hint>``.

    Each member's .npy header is read first (through zipfile, before any array is loaded): an
    object array is refused (its pickles are never loaded), and so is a shape that disagrees with
    the member's stated size or that would take more than this machine's memory. The arrays are
    then read as ``numpy.load`` reads them, with ``allow_pickle=False``."""
    fmt = np.lib.format

    def bad(why: str) -> DataError:
        return DataError(f"{path}: {problem} ({why}){hint}")

    try:
        with open(path, "rb") as fh:
            if fh.read(len(NPY_MAGIC)) == NPY_MAGIC:
                raise bad("a single .npy array, not an .npz archive of named arrays")
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            total = 0
            for info in members:
                name = info.filename
                if not name.endswith(".npy"):
                    raise bad(f"member {name!r} is not a .npy array")
                with archive.open(info) as member:
                    version = fmt.read_magic(member)
                    if version == (1, 0):
                        shape, _, dtype = fmt.read_array_header_1_0(member)
                    elif version == (2, 0):
                        shape, _, dtype = fmt.read_array_header_2_0(member)
                    else:
                        raise bad(f"member {name}: .npy format version {version[0]}.{version[1]} is not read")
                    offset = member.tell()
                if dtype.hasobject:
                    raise bad(f"member {name}: an array of Python objects ({dtype}); pickles are never loaded")
                nbytes = math.prod(shape) * dtype.itemsize
                total += nbytes
                refused = _beyond_memory(f"member {name}'s header claims shape {shape} of {dtype}", nbytes)
                refused = refused or _beyond_memory(f"the headers of its {len(members)} members claim", total)
                if refused:
                    raise bad(refused)
                if info.file_size != offset + nbytes:
                    raise bad(
                        f"member {name}: its header claims shape {shape} of {dtype}, {nbytes:,} bytes, "
                        f"but it holds {info.file_size - offset:,}"
                    )
            arrays = {}
            for info in members:
                with archive.open(info) as member:
                    arrays[info.filename[: -len(".npy")]] = fmt.read_array(member, allow_pickle=False)
    except DataError:
        raise
    except Exception as exc:  # zipfile, zlib and numpy's header parser raise many kinds (BadZipFile,
        # zlib.error, EOFError, NotImplementedError, RuntimeError, tokenize.TokenError, ...)
        raise bad(one_line(exc)) from None
    return arrays


def npz(params) -> Raw:
    path = _exists(Path(params.path), "file")
    arrays = read_npz(path)
    x_key = params.x_key or next((k for k in ("x", "arr_0") if k in arrays), None)
    if x_key is None or x_key not in arrays:
        raise DataError(f"{path}: no array {params.x_key or 'x or arr_0'} (has {', '.join(arrays) or 'none'})")
    y_key = params.y_key or next((k for k in ("y", "arr_1") if k in arrays), None)
    if params.y_key and y_key not in arrays:
        raise DataError(f"{path}: no array {params.y_key} (has {', '.join(arrays)})")
    x = arrays[x_key]
    y = arrays.get(y_key) if y_key else None
    if x.ndim == 0 or x.dtype.kind not in "biuf":
        raise DataError(f"{path}: array {x_key!r} is not examples of numbers ({x.dtype}, shape {x.shape})")
    if x.size == 0:
        raise DataError(f"{path}: array {x_key!r} is empty (shape {x.shape})")
    if y is not None:
        if y.ndim == 0:
            raise DataError(f"{path}: array {y_key!r} is a single value, not a label per example")
        if len(y) != len(x):
            raise DataError(f"{path}: {len(y)} labels in {y_key!r} for {len(x)} examples in {x_key!r}")
        y = _labels(y, path)
    if x.dtype == np.uint8 and x.ndim in (3, 4):
        images = x[:, None] if x.ndim == 3 else x
        if images.shape[-1] in (1, 3) and images.shape[1] not in (1, 3):
            images = images.transpose(0, 3, 1, 2)  # N, H, W, C -> N, C, H, W
        return Raw(x=np.ascontiguousarray(images), y=y, n_levels=256, name="npz")
    values = _finite(x.reshape(len(x), -1).astype(np.float64), path)
    return Raw(x=values, y=y, n_levels=0, name="npz")


MAX_LABEL = 2**31 - 1  # a larger label is a corrupt file (and would not fit int64 from every dtype)


def _labels(y: np.ndarray, path: Path) -> np.ndarray:
    y = np.asarray(y)
    if not np.issubdtype(y.dtype, np.integer):
        if not (np.issubdtype(y.dtype, np.floating) and np.all(np.isfinite(y)) and np.all(y == np.round(y))):
            raise DataError(f"{path}: labels must be integers 0..K-1")
    if y.min() < 0 or y.max() > MAX_LABEL:  # checked before the cast, which would wrap or warn
        found = y.min() if y.min() < 0 else y.max()
        raise DataError(f"{path}: labels must be integers 0..K-1 (found {found:g})")
    return y.astype(np.int64)


def _finite(x: np.ndarray, path: Path) -> np.ndarray:
    bad = ~np.isfinite(x)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataError(f"{path}: non-finite value {x[row, col]} at row {row}, column {col}")
    return x


# -- image folder ------------------------------------------------------------------
def imagefolder(params) -> Raw:
    from PIL import Image

    root = _exists(Path(params.path), "folder")
    entries = _listing(root)
    classes = sorted(p.name for p in entries if p.is_dir())
    loose = sorted(p for p in entries if p.is_file() and not p.name.startswith("."))
    if classes and loose:
        raise DataError(
            f"{loose[0]}: an image beside the class sub-folders of {root} (put every image in a class "
            f"folder, or all of them directly in {root} for unlabelled images)"
        )
    if loose:  # a flat folder: unlabelled images
        files = [(f, 0) for f in loose]
    else:
        files = [(f, i) for i, c in enumerate(classes) for f in sorted(_listing(root / c)) if f.is_file()]
    if not files:
        raise DataError(f"{root}: no images (expected {root}/<image>.png, or {root}/<class>/<image>.png for labelled ones)")
    size = _image_size(params.image_size)
    images, labels, first = [], [], None
    for f, label in files:
        if f.suffix.lower() not in IMAGE_EXTENSIONS:
            raise DataError(f"{f}: not a PNG or JPEG file")
        try:
            with warnings.catch_warnings():  # more pixels than PIL's MAX_IMAGE_PIXELS: a decompression bomb
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(f, formats=IMAGE_FORMATS) as im:  # no other PIL decoder sees the file
                    im.load()
                    mode = "L" if im.mode in ("1", "L", "I;16", "I", "F", "LA") else "RGB"
                    im = im.convert(mode)
                    if size is not None:
                        im = im.resize((size[1], size[0]), Image.Resampling.BILINEAR)
                    arr = np.asarray(im, dtype=np.uint8)
        except Exception as exc:  # PIL's decoders raise many kinds on a corrupt file (OSError, SyntaxError,
            # ValueError, struct.error, DecompressionBombError, ...)
            raise DataError(f"{f}: cannot read the image ({one_line(exc)})") from None
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
    # one class (a flat folder, or a single class folder) is unlabelled: nothing to tell apart
    y = np.array(labels, dtype=np.int64) if len(classes) >= 2 else None
    return Raw(x=np.stack(images), y=y, n_levels=256, name="imagefolder")


def _listing(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError as exc:
        raise DataError(f"{folder}: cannot list the folder ({exc.strerror or exc})") from None


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
    except (ValueError, OSError, MemoryError, OverflowError) as exc:  # ParserError and UnicodeDecodeError are ValueErrors
        raise DataError(f"{path}: not a readable CSV table ({one_line(exc)})") from None
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
