"""Writing outputs so that a failure never leaves a half-written file.

Every writer here writes to a temporary sibling and renames it into place; a
directory output is built in a temporary sibling directory and swapped in whole. A run
killed half-way leaves only such a hidden sibling (ignored by git and DVC), which the
next run of the same stage deletes.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from genlab.errors import GenlabError


def remove_leftovers(path: Path) -> None:
    """Delete the temporary siblings of ``path`` that a killed run left behind (``.<name>.*.tmp``,
    ``.<name>.old-*``); .gitignore and .dvcignore ignore them meanwhile."""
    for pattern in (f".{path.name}.*.tmp", f".{path.name}.old-*"):
        for old in path.parent.glob(pattern):
            if old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield an empty temporary directory; it replaces ``path`` whole if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _clean(value: Any) -> Any:
    """Plain JSON types, floats rounded to 6 significant places for readable diffs."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if not math.isfinite(value):
            return None
        return float(f"{value:.6g}")
    return value


def write_json(path: str | Path, data: dict) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(_clean(data), indent=2) + "\n")


def write_npz(path: str | Path, **arrays: np.ndarray) -> None:
    with atomic_file(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)


def load_checkpoint(path: str | Path, what: str, stage: str, device="cpu") -> dict:
    """A torch checkpoint (tensors and plain types only), or one line naming the file and the stage that makes it."""
    import torch

    path = Path(path)
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except (OSError, RuntimeError, EOFError) as exc:
        raise GenlabError(f"{path}: cannot load the {what} ({exc}); run the {stage} stage") from None
