"""Every data reader against corrupt and hostile files (issue #16).

Valid files are made from scikit-learn's digits (IDX plain and gzipped, .npz, a PNG and a JPEG
folder, CSV, a JSON piano roll, MIDI files), beside a text and the pipeline's own prepared folder,
then damaged by seeded mutations: truncation at random offsets, random bit flips, headers whose
sizes disagree with the file, absurd sizes; and hostile files: pickled object arrays, zero bytes,
unreadable files, a folder where a file belongs, decompression bombs. Every case must end in a
GenlabError whose message is one line naming the damaged file, or in a valid result; never in
another exception, a warning, a hang or a crash. ``FUZZ`` counts the cases per reader; with
``GENLAB_FUZZ_REPORT`` set, the counts are written there as JSON when the module is done.
"""

import builtins
import collections
import contextlib
import gzip
import io
import json
import os
import signal
import struct
import subprocess
import sys
import tracemalloc
import warnings
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from sklearn.datasets import load_digits

from genlab.config.params import DataParams
from genlab.data import prepare as data
from genlab.data import sources, text
from genlab.data.midi import read_midi, write_midi
from genlab.data.music import read_midi_folder, read_pianoroll_json
from genlab.errors import GenlabError
from helpers import ROOT, random_roll, write_idx

CASE_SECONDS = 20  # a case that takes longer is a hang
FUZZ: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)


@pytest.fixture(scope="module", autouse=True)
def fuzz_report():
    """Print the counts per reader when the module is done; write them to $GENLAB_FUZZ_REPORT if set."""
    yield
    report = {r: {k: FUZZ[r][k] for k in ("cases", "errors", "valid")} for r in sorted(FUZZ)}
    for reader, counts in report.items():
        print(f"fuzz {reader}: {counts['cases']} cases, {counts['errors']} errors, {counts['valid']} valid")
    if os.environ.get("GENLAB_FUZZ_REPORT"):
        Path(os.environ["GENLAB_FUZZ_REPORT"]).write_text(json.dumps(report, indent=1) + "\n")


# -- running one case ----------------------------------------------------------------------------
class Hang(BaseException):
    """Raised by the alarm; not an Exception, so no reader's broad except can swallow it."""


@contextlib.contextmanager
def deadline(seconds):
    def ring(signum, frame):
        raise Hang(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def names(message: str, damaged: Path) -> bool:
    """Whether an error message names the damaged file (a sibling's message may name it by its name)."""
    return str(damaged) in message or (damaged.name in message and str(damaged.parent) in message)


def case(reader: str, label: str, damaged: Path, call):
    """One case: ``call()`` must end in a one-line GenlabError naming ``damaged`` (returns None) or
    return a valid result (returned); anything else fails the test, naming the case."""
    FUZZ[reader]["cases"] += 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with deadline(CASE_SECONDS):
                result = call()
        except GenlabError as exc:
            message = str(exc)
            assert "\n" not in message and names(message, damaged), f"{reader} {label}: {message!r}"
            result = None
        except Hang as exc:
            pytest.fail(f"{reader} {label}: a hang ({exc})")
        except Exception as exc:
            pytest.fail(f"{reader} {label}: {type(exc).__module__}.{type(exc).__name__}: {exc}")
    assert not caught, f"{reader} {label}: warnings {[str(w.message) for w in caught]}"
    FUZZ[reader]["errors" if result is None else "valid"] += 1
    return result


def refused(reader: str, label: str, damaged: Path, call) -> str:
    """A case that must end in an error: its message."""
    messages = []

    def noting():
        try:
            return call()
        except GenlabError as exc:
            messages.append(str(exc))
            raise

    assert case(reader, label, damaged, noting) is None, f"{reader} {label}: read as valid"
    return messages[0]


# -- mutations (seeded) ----------------------------------------------------------------------------
def truncated(b: bytes, rng) -> bytes:
    return b[: int(rng.integers(0, len(b)))]


def flipped(b: bytes, rng, lo: int = 0, hi: int | None = None) -> bytes:
    """1 to 3 random bits of b[lo:hi] flipped."""
    out = bytearray(b)
    hi = len(b) if hi is None else min(hi, len(b))
    for _ in range(int(rng.integers(1, 4))):
        i = int(rng.integers(lo, hi))
        out[i] ^= 1 << int(rng.integers(8))
    return bytes(out)


def lie(rng) -> int:
    """A size a lying header might give: nothing, one, a little off, huge, random."""
    return int(rng.choice([0, 1, 2, 7, 255, 256, 2**16, 2**31 - 1, 2**31, 2**32 - 1, int(rng.integers(2**32))]))


def put_u32(b: bytes, offset: int, value: int, order: str = ">") -> bytes:
    return b[:offset] + struct.pack(f"{order}I", value) + b[offset + 4 :]


def mutations(b: bytes, n: int, seed: int, header: int = 64, lies=None):
    """n seeded (label, bytes) mutations of b: truncations, bit flips anywhere, bit flips in the first
    ``header`` bytes, and ``lies(b, rng)`` (a format's lying header) when given."""
    kinds = ["truncated", "flipped", "header flipped"] + (["lying header"] if lies else [])
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        kind = kinds[i % len(kinds)]
        if kind == "truncated":
            out = truncated(b, rng)
        elif kind == "flipped":
            out = flipped(b, rng)
        elif kind == "header flipped":
            out = flipped(b, rng, 0, header)
        else:
            out = lies(b, rng)
        yield f"{kind} #{i}", out


@contextlib.contextmanager
def unreadable(path: Path):
    """``path`` cannot be opened: chmod 000, and as root (whom chmod does not stop) open() raising
    PermissionError for it, as the kernel would."""
    target = os.fspath(path)
    mode = path.stat().st_mode
    real_open = builtins.open

    def refusing_open(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and os.fspath(file) == target:
            raise PermissionError(13, "Permission denied", target)
        return real_open(file, *args, **kwargs)

    path.chmod(0)
    patch = pytest.MonkeyPatch()
    if os.geteuid() == 0:
        patch.setattr(builtins, "open", refusing_open)
        patch.setattr(io, "open", refusing_open)
    try:
        yield
    finally:
        patch.undo()
        path.chmod(mode)


def common_cases(reader: str, target: Path, call, good: bytes):
    """Zero bytes and unreadable (both errors), and a folder where the file belongs, at ``target``;
    then the good file back."""
    target.write_bytes(b"")
    refused(reader, "zero bytes", target, call)
    target.write_bytes(good)
    with unreadable(target):
        assert "Permission denied" in refused(reader, "unreadable", target, call)
    target.unlink()
    target.mkdir()
    case(reader, "a folder where the file belongs", target, call)
    target.rmdir()
    target.write_bytes(good)


# -- valid files from the digits -----------------------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    bunch = load_digits()
    return bunch.images.astype(np.uint8), bunch.target.astype(np.uint8)


def idx_bytes(tmp_path: Path, array: np.ndarray) -> bytes:
    write_idx(tmp_path / "one", array)
    return (tmp_path / "one").read_bytes()


def source(**kw):
    return lambda: sources.load(DataParams(**kw))


# -- IDX ----------------------------------------------------------------------------------------
def idx_lies(b: bytes, rng) -> bytes:
    dims = b[3]
    return put_u32(b, 4 + 4 * int(rng.integers(dims)), lie(rng))


def test_idx(tmp_path, digits):
    images, labels = digits
    folder = tmp_path / "mnist"
    folder.mkdir()
    good = {
        "train-images-idx3-ubyte": idx_bytes(tmp_path, images[:150]),
        "train-labels-idx1-ubyte": idx_bytes(tmp_path, labels[:150]),
        "t10k-images-idx3-ubyte": idx_bytes(tmp_path, images[150:200]),
        "t10k-labels-idx1-ubyte": idx_bytes(tmp_path, labels[150:200]),
    }
    for name, b in good.items():
        (folder / name).write_bytes(b)
    load = source(source="idx", path=str(folder))
    reference = load()
    for k, (name, b) in enumerate(good.items()):
        target = folder / name
        for label, bad in mutations(b, 80, k, header=4 + 4 * b[3], lies=idx_lies):
            target.write_bytes(bad)
            case("idx", f"{name} {label}", target, load)
        # gzipped: the same damage inside a good gzip stream, and damage to the gzip stream itself
        target.unlink()
        gz = folder / f"{name}.gz"
        for label, bad in mutations(b, 40, 10 + k, header=4 + 4 * b[3], lies=idx_lies):
            gz.write_bytes(gzip.compress(bad, mtime=0))
            case("idx", f"{gz.name} {label} inside", gz, load)
        for label, bad in mutations(gzip.compress(b, mtime=0), 40, 20 + k, header=24):
            gz.write_bytes(bad)
            case("idx", f"{gz.name} {label}", gz, load)
        gz.unlink()
        target.write_bytes(b)
        common_cases("idx", target, load, b)
    # a flipped pixel byte is harmless: IDX has no checksum, so the images come back, that byte changed
    target, b = folder / "train-images-idx3-ubyte", good["train-images-idx3-ubyte"]
    for i in range(10):
        rng = np.random.default_rng([99, i])
        target.write_bytes(flipped(b, rng, 16))
        raw = case("idx", f"pixel flipped #{i}", target, load)
        assert raw is not None and raw.x.shape == reference.x.shape
        assert np.count_nonzero(raw.x != reference.x) <= 3
    target.write_bytes(b)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_absurd_sizes_are_refused_before_anything_is_read(tmp_path, gz):
    header = struct.pack(">HBB3I", 0, 8, 3, 2**32 - 1, 2**32 - 1, 2**32 - 1)  # 7.9e28 bytes claimed
    path = tmp_path / ("x.gz" if gz else "x")
    path.write_bytes(gzip.compress(header + bytes(1000)) if gz else header + bytes(1000))
    message = refused("idx", "claims 7.9e28 bytes", path, lambda: sources.read_idx(path, 3))
    assert "more than this machine's memory" in message and "(4294967295, 4294967295, 4294967295)" in message


def test_idx_gzip_bomb_reads_no_more_than_its_header_promises(tmp_path, digits):
    images, _ = digits
    b = idx_bytes(tmp_path, images[:10])  # promises 640 bytes of pixels
    path = tmp_path / "bomb-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(b + bytes(64 << 20), 9))  # then 64 MiB more, in about 64 KB
    assert path.stat().st_size < 200_000
    tracemalloc.start()
    try:
        message = refused("idx", "gzip bomb", path, lambda: sources.read_idx(path, 3))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "more than 640 data bytes" in message and peak < 8 << 20, (message, f"{peak:,} bytes allocated")


def test_idx_promise_beyond_memory_is_refused(tmp_path, digits, monkeypatch):
    images, _ = digits
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(idx_bytes(tmp_path, images))
    monkeypatch.setattr(sources, "memory_bytes", lambda: 100_000)  # a machine smaller than the file
    message = refused("idx", "more than memory", path, lambda: sources.read_idx(path, 3))
    assert "claims shape (1797, 8, 8), 115,008 bytes, more than this machine's memory (100,000 bytes)" in message


# -- npz and the prepared folder --------------------------------------------------------------------
def npz_bytes(compressed: bool = False, **arrays) -> bytes:
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def npy_with_header(array: np.ndarray, shape, descr=None) -> bytes:
    """A .npy member whose header says ``shape`` (and ``descr``) whatever the data are."""
    buf = io.BytesIO()
    header = {"descr": descr or np.lib.format.dtype_to_descr(array.dtype), "fortran_order": False, "shape": tuple(shape)}
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue() + array.tobytes()


def zip_of(members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buf.getvalue()


def npz_lies(arrays: dict[str, np.ndarray], compression=zipfile.ZIP_STORED):
    """Lying headers: a member's .npy shape, or the zip's stated sizes, disagreeing with the data."""

    def lies(b: bytes, rng) -> bytes:
        if rng.random() < 0.5:
            key = str(rng.choice(sorted(arrays)))
            a = arrays[key]
            shape = list(a.shape)
            shape[int(rng.integers(len(shape)))] = lie(rng)
            members = {f"{k}.npy": npy_with_header(v, shape if k == key else v.shape) for k, v in arrays.items()}
            return zip_of(members, compression)
        records = [i for i in range(len(b) - 4) if b[i : i + 4] in (b"PK\x01\x02", b"PK\x03\x04")]
        at = int(rng.choice(records))
        field = (20, 24) if b[at + 2] == 1 else (18, 22)  # compressed, uncompressed size
        return put_u32(b, at + int(rng.choice(field)), lie(rng), "<")

    return lies


def npz_cases(reader: str, target: Path, good: bytes, arrays: dict, compression, call, n: int, seed: int):
    for label, bad in mutations(good, n, seed, header=128, lies=npz_lies(arrays, compression)):
        target.write_bytes(bad)
        case(reader, label, target, call)
    target.write_bytes(good)


def test_npz(tmp_path, digits):
    images, labels = digits
    arrays = {"x": images[:100], "y": labels[:100].astype(np.int64)}
    path = tmp_path / "digits.npz"
    load = source(source="npz", path=str(path))
    for compressed, seed in ((False, 0), (True, 1)):
        good = npz_bytes(compressed, **arrays)
        path.write_bytes(good)
        assert np.array_equal(load().x[:, 0], arrays["x"])
        npz_cases("npz", path, good, arrays, zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED, load, 300, seed)
    common_cases("npz", path, load, good)
    hostile = {
        "object array": npz_bytes(x=np.array([{"a": 1}, None], dtype=object)),
        "a .npy, not an .npz": npy_bytes(images),
        "a member that is no .npy": zip_of({"x": b"hello"}),
        "a 0-d x": npz_bytes(x=np.float64(3)),
        "empty x and y": npz_bytes(x=np.zeros((0, 3)), y=np.zeros(0, np.int64)),
        "x of strings": npz_bytes(x=np.array(["a", "b"])),
        "x of records": npz_bytes(x=np.zeros(3, dtype=[("a", "f8"), ("b", "i4")])),
        "x of complex numbers": npz_bytes(x=np.zeros((3, 2), complex)),
        "a 0-d y": npz_bytes(x=np.zeros((3, 2)), y=np.int64(1)),
        "huge labels": npz_bytes(x=np.zeros((3, 2)), y=np.array([0, 1, 2**63], np.uint64)),
        "header claims 1e15 float64": zip_of({"x.npy": npy_with_header(images[:4], (10**15,), "<f8")}),
        "version 3.0 header": zip_of({"x.npy": b"\x93NUMPY\x03\x00" + npy_with_header(images[:2], (2, 8, 8))[10:]}),
        "deflated member, sizes disagree": zip_of(
            {"x.npy": npy_with_header(np.zeros(10**6, np.uint8), (10**9,))}, zipfile.ZIP_DEFLATED
        ),
    }
    for label, bad in hostile.items():
        path.write_bytes(bad)
        assert case("npz", label, path, load) is None, label


def test_npz_pickles_are_never_loaded(tmp_path):
    marker = tmp_path / "pickle-ran"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    b = npz_bytes(x=np.array([Evil(), Evil()], dtype=object), y=np.zeros(2))
    (tmp_path / "evil.npz").write_bytes(b)
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    (prepared / "meta.json").write_text("{}")
    for s in ("train", "val", "test"):
        (prepared / f"{s}.npz").write_bytes(b)
    evil = tmp_path / "evil.npz"
    assert "pickles are never loaded" in refused("npz", "pickled objects", evil, source(source="npz", path=str(evil)))
    message = refused("prepared", "pickled objects", prepared / "train.npz", lambda: data.load_prepared(prepared))
    assert "pickles are never loaded" in message
    assert not marker.exists()


def test_npz_header_beyond_memory_is_refused_before_loading(tmp_path):
    path = tmp_path / "huge.npz"
    path.write_bytes(zip_of({"x.npy": npy_with_header(np.zeros(100, np.uint8), (10**6, 10**6, 10**6))}))
    tracemalloc.start()
    try:
        message = refused("npz", "claims 1e18 bytes", path, source(source="npz", path=str(path)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "1,000,000,000,000,000,000 bytes, more than this machine's memory" in message
    assert peak < 8 << 20


def test_prepared(tmp_path):
    prepared = tmp_path / "prepared"
    data.prepare(DataParams(), prepared)  # the digits, as the pipeline prepares them
    good = {p.name: p.read_bytes() for p in prepared.iterdir()}
    load = lambda: data.load_prepared(prepared)
    reference = load()
    for seed, name in enumerate(("train.npz", "test.npz")):
        target = prepared / name
        with np.load(target) as f:
            arrays = {key: f[key] for key in f.files}
        npz_cases("prepared", target, good[name], arrays, zipfile.ZIP_DEFLATED, load, 240, 100 + seed)
        common_cases("prepared", target, load, good[name])
    meta = prepared / "meta.json"
    for label, bad in mutations(good["meta.json"], 80, 200):
        meta.write_bytes(bad)
        case("prepared", f"meta.json {label}", meta, load)
    for label, bad in (("a list", b"[1, 2]"), ("nested deeply", b"[" * 100_000), ("not UTF-8", b'{"a": "\xff"}')):
        meta.write_bytes(bad)
        case("prepared", f"meta.json {label}", meta, load)
    meta.write_bytes(good["meta.json"])
    common_cases("prepared", meta, load, good["meta.json"])
    again = load()  # the good files back: the same arrays
    assert all(torch.equal(getattr(again, s).x, getattr(reference, s).x) for s in ("train", "val", "test"))


# -- image folders ----------------------------------------------------------------------------------
def png_lies(b: bytes, rng) -> bytes:
    """An IHDR that lies about the size (or depth, or colour type) with a correct CRC, so PIL believes it."""
    out = bytearray(b)
    field = int(rng.integers(3))
    if field < 2:
        out[16 + 4 * field : 20 + 4 * field] = struct.pack(">I", lie(rng) if rng.random() < 0.5 else int(rng.integers(1, 40)))
    else:
        out[24 + int(rng.integers(2))] = int(rng.integers(256))
    out[29:33] = struct.pack(">I", zlib.crc32(bytes(out[12:29])))
    return bytes(out)


def jpeg_lies(b: bytes, rng) -> bytes:
    """A frame header (SOF0) that lies about the height or the width."""
    at = b.index(b"\xff\xc0") + 5 + 2 * int(rng.integers(2))
    return b[:at] + struct.pack(">H", int(rng.integers(2**16))) + b[at + 2 :]


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims width x height grey pixels (and holds one row)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = lambda kind, body: struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(width + 1))) + chunk(b"IEND", b"")


@pytest.mark.parametrize("ext", ["png", "jpg"])
def test_imagefolder(tmp_path, digits, ext):
    images, _ = digits
    root = tmp_path / "images"
    for c in range(2):
        (root / str(c)).mkdir(parents=True)
        for i in range(3):
            im = Image.fromarray(images[3 * c + i] * 15)
            im.save(root / str(c) / f"{i}.{ext}")
    load = source(source="imagefolder", path=str(root))
    reference = load()
    lies = png_lies if ext == "png" else jpeg_lies
    for k, target in enumerate((root / "0" / f"0.{ext}", root / "1" / f"2.{ext}")):
        good = target.read_bytes()
        for label, bad in mutations(good, 160, k + (10 if ext == "jpg" else 0), header=40, lies=lies):
            target.write_bytes(bad)
            raw = case("imagefolder", label, target, load)
            assert raw is None or (raw.x.shape == reference.x.shape and raw.x.dtype == np.uint8)
        common_cases("imagefolder", target, load, good)
    if ext == "png":  # decompression bombs: past PIL's limit (an error) and past half of it (a warning)
        target = root / "1" / "2.png"
        good = target.read_bytes()
        for w, h in ((100_000, 100_000), (10_000, 10_000)):
            target.write_bytes(png_header(w, h))
            assert "decompression bomb" in refused("imagefolder", f"a {w}x{h} bomb", target, load)
        target.write_bytes(good)
    folder_as_file = tmp_path / "a-file"
    folder_as_file.write_text("not a folder")
    case("imagefolder", "a file where the folder belongs", folder_as_file, source(source="imagefolder", path=str(folder_as_file)))


# -- CSV --------------------------------------------------------------------------------------------
def test_csv(tmp_path):
    bunch = load_digits()
    lines = [",".join([f"p{i}" for i in range(64)] + ["label"])]
    lines += [",".join([f"{v:g}" for v in row] + [str(t)]) for row, t in zip(bunch.data[:60], bunch.target[:60])]
    good = ("\n".join(lines) + "\n").encode()
    path = tmp_path / "digits.csv"
    path.write_bytes(good)
    load = source(source="csv", path=str(path))
    assert load().x.shape == (60, 64)

    def csv_lies(b, rng):  # a stray byte: a quote, a separator, a NUL, a huge number, ...
        i = int(rng.integers(len(b)))
        insert = [b'"', b",", b"\x00", b"\n", b"1e999", b"-1", b"\xff", b"99999999999999999999"][int(rng.integers(8))]
        return b[:i] + insert + b[i:]

    for label, bad in mutations(good, 480, 0, header=300, lies=csv_lies):
        path.write_bytes(bad)
        case("csv", label, path, load)
    common_cases("csv", path, load, good)


# -- text -------------------------------------------------------------------------------------------
TEXT = (__doc__ * 3 + "naïve café, “quoted”, €5, 日本語\n").encode()


def test_text(tmp_path):
    path = tmp_path / "corpus.txt"
    out = tmp_path / "prepared"
    load = lambda: text.prepare_text(DataParams(source="text", path=str(path)), out)
    path.write_bytes(TEXT)
    assert load()["kind"] == "text"
    for label, bad in mutations(TEXT, 480, 0, header=len(TEXT)):
        path.write_bytes(bad)
        case("text", label, path, load)
    common_cases("text", path, load, TEXT)
    for label, bad in (("UTF-16", "text".encode("utf-16")), ("a NUL", b"abc\x00def" * 20), ("one character", b"a")):
        path.write_bytes(bad)
        case("text", label, path, load)
    folder = tmp_path / "texts"
    (folder / "b.txt").mkdir(parents=True)  # a folder named like a text file is no text
    (folder / "a.txt").write_bytes(TEXT[:-1] + b"\xff")
    path = folder / "a.txt"
    case("text", "a folder with a bad file", path, lambda: text.read_text(folder))


# -- music: JSON piano rolls and MIDI -----------------------------------------------------------------
def digits_pianoroll() -> dict:
    """A piano roll of the digits: each image row a frame, the bright pixels of its 8 columns keys 60..67."""
    images = load_digits().images
    piece = lambda img: [[60 + j for j in range(8) if img[r, j] > 8] for r in range(8)]
    return {split: [piece(i) for i in images[a:b]] for split, a, b in (("train", 0, 8), ("valid", 8, 10), ("test", 10, 12))}


def test_pianoroll_json(tmp_path):
    good = json.dumps(digits_pianoroll()).encode()
    path = tmp_path / "roll.json"
    load = lambda: read_pianoroll_json(path)
    path.write_bytes(good)
    assert len(load()[0]["train"]) == 8
    for label, bad in mutations(good, 480, 0, header=len(good)):
        path.write_bytes(bad)
        case("pianoroll", label, path, load)
    common_cases("pianoroll", path, load, good)
    hostile = {
        "nested deeply": b"[" * 100_000 + b"]" * 100_000,
        "an infinite pitch": b'{"train": [[[1e999]]], "valid": [[[60]]], "test": [[[60]]]}',
        "NaN": b'{"train": [[[NaN]]], "valid": [[[60]]], "test": [[[60]]]}',
        "a pitch of 5000 digits": b'{"train": [[[' + b"9" * 5000 + b"]]], " + b'"valid": [[[60]]], "test": [[[60]]]}',
        "not UTF-8": b'{"train": "\xff"}',
    }
    for label, bad in hostile.items():
        path.write_bytes(bad)
        assert case("pianoroll", label, path, load) is None, label


def midi_lies(b: bytes, rng) -> bytes:
    """A lying MIDI header: a chunk length, the number of tracks, or the ticks per beat."""
    chunks = [i for i in range(len(b) - 4) if b[i : i + 4] in (b"MThd", b"MTrk")]
    which = rng.integers(3)
    if which == 0:
        return put_u32(b, int(rng.choice(chunks)) + 4, lie(rng))
    at = 10 if which == 1 else 12
    return b[:at] + struct.pack(">H", int(rng.integers(2**16))) + b[at + 2 :]


def test_midi(tmp_path):
    path = tmp_path / "piece.mid"
    write_midi(random_roll(frames=24, seed=1), path, steps_per_beat=2)
    good = path.read_bytes()
    load = lambda: read_midi(path, 2, "error")
    assert load()[0].shape == (24, 88)
    for label, bad in mutations(good, 600, 0, header=40, lies=midi_lies):
        path.write_bytes(bad)
        case("midi", label, path, load)
    path.write_bytes(good[: len(good) // 2])
    case("midi", "cut in half", path, load)
    path.write_bytes(good)
    common_cases("midi", path, load, good)
    folder = tmp_path / "pieces"
    folder.mkdir()
    for i in range(3):
        write_midi(random_roll(frames=12, seed=10 + i), folder / f"{i}.mid")
    (folder / "dir.mid").mkdir()  # a folder named like a MIDI file is skipped
    bad = folder / "1.mid"
    bad.write_bytes(bad.read_bytes()[:30])
    case("midi", "a folder with a cut file", bad, lambda: read_midi_folder(folder, 1, "error", False))
    skipping = lambda: read_midi_folder(folder, 1, "error", True)
    _, files, _, skipped = case("midi", "a folder with a cut file, skipped", bad, skipping)
    assert files == ["0.mid", "2.mid"] and len(skipped) == 1 and str(bad) in skipped[0]


# -- the acceptance bar: the preprocess stage on corrupt copies of real data --------------------------
@pytest.mark.slow
def test_preprocess_stage_fails_in_one_line_on_corrupt_data(tmp_path, env_with_venv, digits):
    images, labels = digits
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    env_with_venv["PYTHONPATH"] = str(ROOT)
    runs = []

    def corrupt(name: str, data_params: dict, damaged: Path):
        work = tmp_path / name
        work.mkdir(exist_ok=True)
        p = {**params, "data": {**params["data"], **data_params}}
        (work / "params.yaml").write_text(yaml.safe_dump(p))
        runs.append((name, work, damaged))

    # IDX: a gzipped file cut short, and a header that claims 7.9e28 bytes
    for name, gz in (("idx-truncated", True), ("idx-lying", False)):
        folder = tmp_path / name / "mnist"
        folder.mkdir(parents=True)
        write_idx(folder / "train-images-idx3-ubyte", images[:1500], gz=gz)
        write_idx(folder / "train-labels-idx1-ubyte", labels[:1500], gz=gz)
        write_idx(folder / "t10k-images-idx3-ubyte", images[1500:])
        write_idx(folder / "t10k-labels-idx1-ubyte", labels[1500:])
        if gz:
            damaged = folder / "train-images-idx3-ubyte.gz"
            damaged.write_bytes(damaged.read_bytes()[:5000])
        else:
            damaged = folder / "t10k-images-idx3-ubyte"
            damaged.write_bytes(put_u32(put_u32(damaged.read_bytes(), 4, 2**32 - 1), 8, 2**32 - 1))
        corrupt(name, {"source": "idx", "path": str(folder)}, damaged)
    # npz: a bit flipped in the pixels (the zip's CRC tells)
    npz = tmp_path / "npz-flipped.npz"
    npz.write_bytes(flipped(npz_bytes(x=images, y=labels), np.random.default_rng(0), 2000, 60000))
    corrupt("npz-flipped", {"source": "npz", "path": str(npz)}, npz)
    # a PNG cut short
    root = tmp_path / "png-truncated" / "images"
    for c in range(2):
        (root / str(c)).mkdir(parents=True)
        for i in range(10):
            Image.fromarray(images[10 * c + i] * 15).save(root / str(c) / f"{i}.png")
    damaged = root / "1" / "4.png"
    damaged.write_bytes(damaged.read_bytes()[:60])
    corrupt("png-truncated", {"source": "imagefolder", "path": str(root)}, damaged)
    # CSV: a digit's bit flipped into a letter
    csv = tmp_path / "csv-flipped.csv"
    rows = "".join(",".join(f"{v:g}" for v in row) + f",{t}\n" for row, t in zip(load_digits().data[:200], labels[:200]))
    body = ",".join(f"p{i}" for i in range(64)) + ",label\n" + rows
    at = body.index("\n") + 1
    csv.write_bytes((body[:at] + chr(ord(body[at]) ^ 0x40) + body[at + 1 :]).encode())
    corrupt("csv-flipped", {"source": "csv", "path": str(csv)}, csv)
    # (text through the stage: tests/unit/test_text.py)
    # a JSON piano roll cut short, and a MIDI file cut in half in a folder
    roll = tmp_path / "json-truncated.json"
    roll.write_bytes(json.dumps(digits_pianoroll()).encode()[:500])
    corrupt("json-truncated", {"source": "pianoroll", "path": str(roll)}, roll)
    pieces = tmp_path / "midi-truncated" / "pieces"
    pieces.mkdir(parents=True)
    for i in range(6):
        write_midi(random_roll(frames=16, seed=i), pieces / f"{i}.mid")
    damaged = pieces / "3.mid"
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])
    corrupt("midi-truncated", {"source": "midi", "path": str(pieces)}, damaged)

    def run(item):
        name, work, damaged = item
        proc = subprocess.run(
            [sys.executable, "-m", "stages.preprocess", "--params", str(work / "params.yaml")],
            cwd=work, env=env_with_venv, capture_output=True, text=True, timeout=120,
        )
        return name, damaged, proc

    with ThreadPoolExecutor(max_workers=2) as pool:
        for name, damaged, proc in pool.map(run, runs):
            lines = proc.stderr.splitlines()
            assert proc.returncode == 1, (name, proc.returncode, proc.stderr)
            assert len(lines) == 1 and lines[0].startswith("error: ") and str(damaged) in lines[0], (name, proc.stderr)
            assert "Traceback" not in proc.stderr
            assert not (tmp_path / name / "data" / "prepared").exists()
    assert len(runs) == 7
