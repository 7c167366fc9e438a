"""Character text: reading a user's file (or folder), the contiguous split, the vocabulary.

The text is split in reading order: the training text first, then validation
(``data.val_fraction`` of the characters), then test (``data.test_fraction``) at the end,
so no test window overlaps training text. The vocabulary is the training text's
characters (sorted) plus one unknown symbol, the last code; a character of the validation
or test text that training never saw maps to it, and the share of such characters is
reported as ``oov_rate``. Prepared text is stored as integer codes (``x``: uint8, or
uint16/int32 for larger vocabularies), one 1-D array per split, beside ``meta.json``
(``kind: text``, ``vocab``: the characters, ``n_levels``: the vocabulary size with the
unknown symbol).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genlab.errors import GenlabError
from genlab.io import atomic_dir, write_json, write_npz

SEPARATOR = "\n\n"  # between the files of a folder
UNKNOWN_SHOWN = "\ufffd"  # how the unknown symbol is written in samples.txt


class TextError(GenlabError):
    """A text file that cannot be used."""


def _decode(data: bytes, path: Path) -> str:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise TextError(f"{path}: UTF-16 text (a byte-order mark at byte offset 0); save it as UTF-8")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise TextError(f"{path}: a binary file, not text (a NUL byte at byte offset {nul})")
    try:
        return data.decode("utf-8-sig")  # a leading byte-order mark is no character of the text
    except UnicodeDecodeError as exc:
        raise TextError(f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at byte offset {exc.start})") from None


def read_text(path: str | Path) -> str:
    """The text of a UTF-8 file, or of the ``*.txt`` files under a folder (sub-folders included), in
    sorted order of their paths, joined by a blank line."""
    path = Path(path)
    if path.is_dir():
        files = sorted(f for f in path.rglob("*.txt") if f.is_file())
        if not files:
            raise TextError(f"{path}: no .txt files in the folder")
    elif path.is_file():
        files = [path]
    else:
        raise TextError(f"{path}: no such file or folder")
    parts = []
    for f in files:
        try:
            data = f.read_bytes()
        except OSError as exc:
            raise TextError(f"{f}: cannot read ({exc.strerror or exc})") from None
        parts.append(_decode(data, f))
    text = SEPARATOR.join(parts)
    if not text:
        raise TextError(f"{path}: empty, no characters")
    return text


def split_text(text: str, val_fraction: float, test_fraction: float, path: str | Path = "text") -> dict[str, str]:
    """The contiguous split: train, then validation, then test at the end."""
    n = len(text)
    n_test, n_val = round(n * test_fraction), round(n * val_fraction)
    n_train = n - n_val - n_test
    if min(n_test, n_val) < 1 or n_train < 2:
        raise TextError(
            f"{path}: {n} characters are too few for val_fraction={val_fraction}, test_fraction={test_fraction} "
            f"(each split needs characters; training at least 2)"
        )
    return {"train": text[:n_train], "val": text[n_train : n_train + n_val], "test": text[n_train + n_val :]}


class Vocab:
    """Characters <-> codes; the last code is the unknown symbol."""

    def __init__(self, chars: list[str] | str):
        self.chars = list(chars)
        self.unk = len(self.chars)
        self.index = {c: i for i, c in enumerate(self.chars)}
        self._table = np.array(self.chars + [UNKNOWN_SHOWN])

    @classmethod
    def of_training(cls, text: str) -> "Vocab":
        return cls(sorted(set(text)))

    @classmethod
    def of_meta(cls, meta: dict) -> "Vocab":
        return cls(meta["vocab"])

    @property
    def size(self) -> int:
        return len(self.chars) + 1

    def dtype(self):
        return np.uint8 if self.size <= 256 else np.uint16 if self.size <= 65536 else np.int32

    def encode(self, text: str) -> np.ndarray:
        """int64 codes; characters outside the vocabulary become ``unk``."""
        get, unk = self.index.get, self.unk
        return np.fromiter((get(c, unk) for c in text), dtype=np.int64, count=len(text))

    def decode(self, codes) -> str:
        """A string; the unknown symbol is written as U+FFFD."""
        return "".join(self._table[np.asarray(codes, dtype=np.int64)].tolist())


def prepare_text(params, out_dir: str | Path) -> dict:
    """Read, split and encode the text; write the prepared folder; return its metadata."""
    text = read_text(params.path)
    parts = split_text(text, params.val_fraction, params.test_fraction, params.path)
    vocab = Vocab.of_training(parts["train"])
    codes = {s: vocab.encode(t) for s, t in parts.items()}
    oov = {s: float(np.mean(codes[s] == vocab.unk)) for s in ("val", "test")}
    meta = {
        "source": "text",
        "path": str(params.path),
        "kind": "text",
        "shape": [],
        "n_levels": vocab.size,
        "vocab": vocab.chars,
        "unk": vocab.unk,
        "has_labels": False,
        "n_classes": 0,
        "counts": {s: len(c) for s, c in codes.items()},
        "oov_rate": oov,
    }
    with atomic_dir(out_dir) as tmp:
        for s, c in codes.items():
            write_npz(tmp / f"{s}.npz", x=c.astype(vocab.dtype()))
        write_json(tmp / "meta.json", meta)
    return meta
