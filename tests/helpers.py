"""Helpers the test files share (fixtures are in conftest.py): the project's root, a tiny
pipeline copied into a temporary git + DVC repository, commands run there, the stage processes
a run started, and small writers of data files. Not a test module: `from helpers import ...`."""

import gzip
import itertools
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]

# -- a tiny pipeline in a temporary git + DVC repository --------------------------------------------
PROJECT = ["genlab", "stages", "dvc.yaml", "params.yaml", ".dvcignore", ".gitignore", "data/raw"]
TINY = {
    "vae": {"epochs": 3, "patience": 2, "hidden": [32], "latent_dim": 2, "train_k": 2, "gmm_components": 2},
    "mixture": {"max_iter": 5},
    "gan": {"epochs": 2, "eval_every": 1, "n_eval": 20, "hidden": [16], "latent_dim": 4},
    "pixelcnn": {"epochs": 2, "layers": 2, "width": 8},
    "flow": {"epochs": 2, "width": 8, "depth": 1, "checker_steps": 1, "eval_draws": 2},
    "diffusion": {"max_steps": 6, "width": 8, "channel_mult": [1, 1], "timesteps": 20, "sample_steps": 5, "val_draws": 16},
    "classifier": {"epochs": 3, "hidden": [32], "feature_dim": 8},
    "self_supervised": {"epochs": 2, "batch_size": 32, "width": 4, "feature_dim": 8},
    "generate": {"n_samples": 40, "grid_size": 16, "n_reconstructions": 4, "interpolation_steps": 3},
    "evaluate": {"iw_samples": 20, "n_samples": 30, "kid_subsets": 5},
    "completion": {"n_images": 30, "steps": 5, "n_shown": 2, "draws_shown": 2},
}


def subprocess_env() -> dict[str, str]:
    """The environment for subprocesses: this interpreter's bin first on PATH (dvc, python), no
    PYTHONPATH (a stage imports genlab from its working directory, as in a clone), and no SHELL:
    DVC then runs each stage with /bin/sh, as on a CI runner without a login shell, the same
    here as there (dash keeps the shell as the stage's parent process; bash replaces itself)."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTHONPATH", None)
    env.pop("SHELL", None)
    return env


def sh(repo, env, *cmd, ok=True):
    """``cmd`` run in ``repo``; with ``ok``, it must succeed."""
    proc = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True)
    if ok:
        assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def exp_run(repo, env, *settings, ok=True):
    """`dvc exp run` with `-S` for each setting."""
    args = [a for s in settings for a in ("-S", s)]
    return sh(repo, env, "dvc", "exp", "run", *args, ok=ok)


def stages_run(proc) -> set[str]:
    """The stages DVC ran, from its output; the tidy stage aside (it runs after any run that
    changed an output: its deps are the output folders)."""
    return set(re.findall(r"Running stage '([^']+)'", proc.stdout + proc.stderr)) - {"tidy"}


def set_params(repo, **sections):
    """Keys of sections of ``repo``'s params.yaml."""
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text())
    for section, values in sections.items():
        params[section].update(values)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def set_top(repo, **values):
    """Top-level keys of params.yaml (``set_params`` sets keys of sections)."""
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params.update(values)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def copy_project(root):
    """The project's pipeline files, copied into ``root``."""
    for name in PROJECT:
        src = ROOT / name
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, root / name)
    return root


def copy_repository(root):
    """Every file of the repository that a clone would have (tracked, or new and not ignored),
    copied into ``root``."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, listed):
        src = ROOT / name
        if src.is_file() and not src.is_symlink():  # a file deleted from the working tree is not copied
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, root / name)
    return root


def init_repo(repo, env):
    """git + DVC in ``repo`` (DVC's own files kept if it has them, as a clone has), everything in
    it committed."""
    sh(repo, env, "git", "init", "-q", "-b", "main")
    sh(repo, env, "git", "config", "user.name", "genlab test")
    sh(repo, env, "git", "config", "user.email", "test@genlab.invalid")
    if not (repo / ".dvc").is_dir():
        sh(repo, env, "dvc", "init", "-q")
    sh(repo, env, "dvc", "config", "core.analytics", "false")
    sh(repo, env, "git", "add", "-A")
    sh(repo, env, "git", "commit", "-q", "-m", "pipeline")


def tiny_reproduced_repo(root, env):
    """The pipeline with ``TINY`` params in ``root``, reproduced once and committed: DVC's
    output to `dvc repro`."""
    copy_project(root)
    set_params(root, **TINY)
    init_repo(root, env)
    proc = sh(root, env, "dvc", "repro")
    sh(root, env, "git", "add", "-A")
    sh(root, env, "git", "commit", "-q", "-m", "results")
    return proc


def snapshot(repo, *paths) -> dict[str, bytes]:
    """{file: bytes} of every file under ``paths`` (files or folders)."""
    found = {}
    for rel in paths:
        p = repo / rel
        for f in sorted(p.rglob("*")) if p.is_dir() else [p]:
            if f.is_file():
                found[str(f.relative_to(repo))] = f.read_bytes()
    return found


def leftovers(repo) -> list[str]:
    """Temporary siblings of outputs and training states anywhere in the project's output folders."""
    return sorted(str(p.relative_to(repo)) for d in ("data", "models", "samples", "metrics")
                  for pattern in (".*.tmp", ".*.old-*", ".*.resume.pt") for p in (repo / d).rglob(pattern))


# -- the processes a run started, and pausing a stage at a point of its own progress -----------------
def stage_processes(dvc_pid) -> list:
    """The stage processes DVC (``dvc_pid``) is running: the Pythons running a ``stages.*`` module,
    not the shell DVC starts them with (``$SHELL -c``; where ``SHELL`` is unset, /bin/sh, which
    dash runs as a parent process rather than replacing itself: a kill of the shell would leave
    the stage running on)."""
    found = []
    try:
        children = psutil.Process(dvc_pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    for p in children:
        try:
            if any(arg.startswith("stages.") for arg in p.cmdline()[1:]):
                found.append(p)
        except psutil.NoSuchProcess:  # a helper process that ended meanwhile
            pass
    return found


PAUSE_HOOK = Path(__file__).resolve().parent / "pause"  # its sitecustomize.py
PAUSE_POINTS = ("start", "first temporary", "first commit")


def pausing_env(env, point: str, marker: Path) -> dict[str, str]:
    """``env`` for a run whose stage process stops itself (SIGSTOP) at ``point`` of its progress,
    writing its pid to ``marker`` first: ``start`` (the interpreter is up, nothing imported),
    ``first temporary`` (it has created the first temporary sibling of an output), ``first commit``
    (it is about to move its first finished output into place). See tests/pause/sitecustomize.py."""
    assert point in PAUSE_POINTS, point
    return {**env, "PYTHONPATH": str(PAUSE_HOOK), "GENLAB_TEST_PAUSE_AT": point, "GENLAB_TEST_PAUSE_MARKER": str(marker)}


def paused_stage(run: subprocess.Popen, marker: Path, limit: float = 600) -> psutil.Process | None:
    """The stage process of ``run`` once it has stopped itself at its pause point (see
    ``pausing_env``), or None if ``run`` ended first (the stage never reached the point).
    ``limit`` (seconds) only bounds a run that hangs."""
    deadline = time.monotonic() + limit
    while not (marker.exists() and marker.read_text().endswith("\n")):
        if run.poll() is not None:
            return None
        assert time.monotonic() < deadline, f"no pause and no end after {limit} s"
        time.sleep(0.02)
    stage = psutil.Process(int(marker.read_text()))
    while stage.status() != psutil.STATUS_STOPPED:  # the marker is written just before the SIGSTOP
        assert time.monotonic() < deadline, "the stage did not stop"
        time.sleep(0.01)
    return stage


def kill(process: psutil.Process):
    try:
        process.send_signal(signal.SIGKILL)
    except psutil.NoSuchProcess:
        pass


# -- data files ------------------------------------------------------------------------------------
def write_idx(path, array, magic_dims=None, gz=False):
    """``array`` as an IDX file (MNIST's format) at ``path`` (``path``.gz if ``gz``)."""
    dims = array.ndim if magic_dims is None else magic_dims
    data = struct.pack(">HBB", 0, 8, dims) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    if gz:
        with gzip.open(str(path) + ".gz", "wb") as fh:
            fh.write(data)
    else:
        path.write_bytes(data)


def random_roll(frames=40, per_frame=4, seed=0):
    """A seeded piano roll (frames x 88 keys) whose last frame sounds."""
    from genlab.data.midi import KEYS

    rng = np.random.default_rng(seed)
    roll = (rng.random((frames, KEYS)) < per_frame / KEYS).astype(np.uint8)
    roll[-1, rng.integers(KEYS)] = 1  # the last frame sounds, so the round trip keeps its length
    return roll


def toy_meta_and_data(rng, keys=4):
    """Pieces of 4-key frames; the training ones use 5 of the 16 frames. Returns every frame, the
    chord table, the prepared metadata, the training and validation inputs of a music model, and
    the function that makes such inputs of a list of pieces."""
    from genlab.data.music import chord_codes, chord_table

    frames = np.array(list(itertools.product([0, 1], repeat=keys)), dtype=np.uint8)  # all 16
    used = frames[[1, 3, 6, 9, 12]]
    pieces = {s: [used[rng.integers(len(used), size=rng.integers(3, 9))] for _ in range(n)] for s, n in (("train", 8), ("val", 3))}
    table = chord_table(np.concatenate(pieces["train"]))
    meta = {"kind": "music", "shape": [keys], "n_levels": 2, "n_chords": len(table)}

    def inputs(ps):
        x = np.concatenate(ps)
        return torch.from_numpy(x), torch.from_numpy(chord_codes(x, table)), torch.tensor([len(p) for p in ps])

    return frames, table, meta, inputs(pieces["train"]), inputs(pieces["val"]), inputs
