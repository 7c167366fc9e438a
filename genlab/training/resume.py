"""Resumable training: a killed run of a stage picks up from its last saved epoch.

The training loop (``genlab.training.loop``) saves everything the rest of the run depends on at an
epoch boundary, at most every ``checkpoint_every`` seconds: the weights, every optimiser's and
schedule's state, the best weights so far, the epoch, every random generator's state and the
DVCLive files logged so far. The state lives beside the stage's output folder, not in it
(``models/.vae.resume.pt`` for ``models/vae``: DVC deletes a stage's outputs before running it;
git ignores the file), and is keyed by a hash of everything the result depends on (the
stage, its params, the prepared data, the code of genlab and the stages, PyTorch's version,
the number of processes), so a state made with other params, data or code is never resumed.
On the CPU a resumed run is byte-identical to one that was never interrupted. The stage
deletes the state once its outputs are in place; a state beside an output that is in place
without it (DVC restored the stage from its run-cache) is stale, and the next stage to run, or
the tidy stage, deletes it (``genlab.io.tidy``).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Callable, Iterable

from genlab.errors import GenlabError
from genlab.io import atomic_file, load_checkpoint, save_checkpoint

ROOT = Path(__file__).resolve().parents[2]


def state_path(out_dir: str | Path) -> Path:
    """Where the resumable state of the stage writing ``out_dir`` lives: a hidden sibling."""
    out_dir = Path(out_dir)
    return out_dir.with_name(f".{out_dir.name}.resume.pt")


def hash_files(paths: Iterable[str | Path], digest=None):
    """sha256 over the names and contents of ``paths`` (a folder: every file in it), in order."""
    digest = digest or hashlib.sha256()
    for path in paths:
        path = Path(path)
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            digest.update(str(f).encode() + b"\0")
            with open(f, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
    return digest


def code_files() -> list[Path]:
    """The project's modules this process has imported (genlab's and the stages'): its code."""
    found = set()
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if file and file.endswith(".py"):
            path = Path(file).resolve()
            if path.is_relative_to(ROOT / "genlab") or path.is_relative_to(ROOT / "stages"):
                found.add(path)
    return sorted(found)


def key_of(settings: dict, data: Iterable[str | Path]) -> str:
    """The hash a state is keyed by: ``settings`` (JSON: the stage, its params, ...), the data
    files and the project code imported so far."""
    import torch

    digest = hashlib.sha256(json.dumps({**settings, "torch": torch.__version__}, sort_keys=True, default=str).encode())
    hash_files(data, digest)
    digest.update(b"code\0")
    for f in code_files():
        digest.update(str(f.relative_to(ROOT)).encode() + b"\0" + f.read_bytes())
    return digest.hexdigest()


class Checkpointer:
    """Saves and finds one stage's resumable training state (``path``), keyed by ``key``;
    ``every``: the least seconds between two saves (0: every epoch; None: never save)."""

    def __init__(self, path: str | Path, key: str, every: float | None = 10.0):
        self.path, self.key, self.every = Path(path), key, every
        self.last_save = time.monotonic()

    def load(self) -> dict | None:
        """The saved state, if there is one made by a run of the same key; a state of another
        key (other params, data or code) is deleted, with a line saying so."""
        if not self.path.exists():
            return None
        try:
            state = load_checkpoint(self.path, "resumable training state", "train")
        except GenlabError:
            state = None
        if not isinstance(state, dict) or state.get("key") != self.key:
            why = "unreadable" if not isinstance(state, dict) else "made with other params, data or code"
            print(f"not resuming from {self.path}: {why}; training from the start", file=sys.stderr)
            self.clear()
            return None
        return state

    def due(self) -> bool:
        return self.every is not None and time.monotonic() - self.last_save >= self.every

    def save(self, make_state: Callable[[], dict]) -> None:
        """Write ``make_state()`` (with the key) atomically: a kill while saving keeps the previous state."""
        with atomic_file(self.path) as tmp:
            save_checkpoint({"key": self.key, **make_state()}, tmp)
        self.last_save = time.monotonic()

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def read_folder(folder: str | Path) -> dict[str, bytes]:
    """{relative path: bytes} of every file in ``folder`` (the DVCLive files logged so far)."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def write_folder(folder: str | Path, files: dict[str, bytes]) -> None:
    folder = Path(folder)
    for name, data in files.items():
        path = folder / name
        if not path.resolve().is_relative_to(folder.resolve()):
            raise GenlabError(f"resumable state: a logged file {name!r} outside {folder}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def for_stage(out_dir: str | Path, settings: dict, data: Iterable[str | Path], every: float | None) -> Checkpointer | None:
    """The checkpointer of the stage writing ``out_dir``, keyed by ``settings`` (its name, params,
    device, ...), the ``data`` files and the code; None when saving is off (``every`` None) or
    the run has several processes (each would need its own state: not supported)."""
    from genlab.training import distributed

    if every is None or distributed.world()[1] > 1:
        return None
    return Checkpointer(state_path(out_dir), key_of({**settings, "world_size": 1}, data), every)
