"""Writing outputs so that a failure never leaves a half-written file.

Every writer here writes to a temporary sibling and renames it into place; a
directory output is built in a temporary sibling directory and swapped in whole. A run
killed half-way leaves only such a hidden sibling (ignored by git), which the next run of
the same stage deletes, and ``tidy`` deletes once the output it belongs to is in place again
(DVC may restore it from its run-cache without running the stage).
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import shutil
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from genlab.errors import GenlabError, one_line

# errno values of a write that failed for want of room or of a writable disk
WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO}


def write_failure(exc: BaseException) -> str | None:
    """Why a write failed, when ``exc`` says the disk is full, read-only or failing (an OSError of
    those errnos; checkpoints are written through ``save_checkpoint`` so that theirs is one too);
    None for any other exception."""
    if isinstance(exc, OSError) and exc.errno in WRITE_ERRNOS:
        return exc.strerror or os.strerror(exc.errno)
    return None


class WriteFailed(GenlabError):
    """An output could not be written (a full disk, say); its previous content is untouched."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path}: cannot write ({reason}); its previous content is left as it was")
        self.reason = reason


@contextlib.contextmanager
def _stop_on_write_failure(path: Path) -> Iterator[None]:
    """One line naming ``path`` (the outermost output being written) when a write fails."""
    try:
        yield
    except WriteFailed as exc:  # a file inside this output's temporary folder: name the output
        raise WriteFailed(path, exc.reason) from None
    except Exception as exc:
        reason = write_failure(exc)
        if reason is None:
            raise
        raise WriteFailed(path, reason) from None


def remove_leftovers(path: Path) -> None:
    """Delete the temporary siblings of ``path`` that a killed run left behind (``.<name>.*.tmp``,
    ``.<name>.old-*``); .gitignore ignores them meanwhile."""
    for pattern in (f".{path.name}.*.tmp", f".{path.name}.old-*"):
        for old in path.parent.glob(pattern):
            _delete(old)


def _delete(path: Path) -> bool:
    """Delete a file or folder; False where it cannot be (not ours: permissions), left as it is."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        return False
    return True


# the hidden siblings a killed run leaves beside the output ``name``: a temporary file or
# folder (``.<name>.<random>.tmp``), a previous output being replaced (``.<name>.old-<pid>``),
# a resumable training state (``.<name>.resume.pt``, genlab.training.resume.state_path)
_LEFTOVER = re.compile(r"\.(?P<name>.+?)(?:\.[a-z0-9_]+\.tmp|\.old-[0-9]+|\.resume\.pt)")


def leftover_of(path: Path) -> Path | None:
    """The output that ``path`` is a leftover of (``models/vae`` for ``models/.vae.resume.pt``, and
    for ``models/..vae.resume.pt.<random>.tmp``, a state being saved), or None if it is none."""
    found = _LEFTOVER.fullmatch(path.name)
    if not found:
        return None
    output = path.with_name(found.group("name"))
    return leftover_of(output) or output


def tidy(root: str | Path, folders: Iterable[str]) -> list[Path]:
    """Delete, in each of ``folders`` (relative to ``root``), the leftovers of killed runs
    (temporary siblings, replaced outputs, resumable training states) whose output is in place:
    an output that exists was completed since, or restored by DVC, so what a killed run left
    beside it is stale. The leftovers of an output that does not exist are kept: DVC deletes a
    stage's outputs before running it, so they belong to a killed run that the stage's next
    run resumes or deletes. Prints a line on stderr for each deletion; returns what it deleted."""
    import sys

    removed = []
    for folder in folders:
        folder = Path(root) / folder
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            output = leftover_of(path)
            if output is None or not output.exists() or not _delete(path):
                continue
            removed.append(path)
            print(f"removed {path}: left by a killed run; {output.name} is in place", file=sys.stderr)
    return removed


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` if the block succeeds.
    A full or read-only disk stops the block with one line; ``path`` keeps its old content."""
    path = Path(path)
    with _stop_on_write_failure(path):
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
    """Yield an empty temporary directory; it replaces ``path`` whole if the block succeeds.
    A full or read-only disk stops the block with one line; ``path`` keeps its old content."""
    path = Path(path)
    with _stop_on_write_failure(path):
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


def save_checkpoint(obj: dict, path: str | Path) -> None:
    """``torch.save`` into memory, then one write to ``path``: a failed write raises OSError with
    its errno, so a full disk is one line (PyTorch's writer, writing to the file itself, reports
    it as 'unexpected pos 1856 vs 1750')."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with open(path, "wb") as fh:
        fh.write(buffer.getbuffer())


def load_checkpoint(path: str | Path, what: str, stage: str, device="cpu") -> dict:
    """A torch checkpoint, loaded weights-only (tensors and plain types; a pickle that would
    build any other object, and so could run code, is refused before anything runs), or one
    line naming the file and the stage that makes it."""
    import pickle

    import torch

    path = Path(path)
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols before refusing: the refusal says it all
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"(?:GLOBAL|Unsupported global:?|global) ([\w.]+)", str(exc))
        what_found = f" ({found.group(1)})" if found else ""
        raise GenlabError(
            f"{path}: refused: the {what} holds objects other than tensors and plain values{what_found}, "
            f"which could run code when loaded; genlab loads checkpoints weights-only. Run the {stage} stage to remake it"
        ) from None
    except (OSError, RuntimeError, EOFError, ValueError, KeyError, IndexError, TypeError, AttributeError, zipfile.BadZipFile, MemoryError) as exc:
        raise GenlabError(f"{path}: cannot load the {what} ({one_line(exc)}); run the {stage} stage") from None
    if not isinstance(ckpt, dict):
        raise GenlabError(f"{path}: not a {what} (a {type(ckpt).__name__}, not a dict); run the {stage} stage")
    return ckpt


@contextlib.contextmanager
def building_from(path: str | Path, what: str, stage: str) -> Iterator[None]:
    """Around building a model from a loaded checkpoint: one that lacks a key, or holds params or
    weights of other shapes (a damaged file, another version's) is one line naming the file."""
    try:
        yield
    except GenlabError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as exc:
        kind = f"missing {one_line(exc)}" if isinstance(exc, KeyError) else one_line(exc)
        raise GenlabError(f"{path}: not a {what} this genlab can use ({kind}); run the {stage} stage") from None
