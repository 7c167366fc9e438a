"""What the report shows of the two revisions: their files (the workspace's from disk, the base's
from git and the DVC cache), the training curves DVCLive wrote, the samples and the snapshots, and
the Report they make up."""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable

import numpy as np

from genlab import paths
from genlab.report.compare import MetricRow, fmt

N_SNAPSHOTS = 4  # snapshots shown of those a model logged while training
AUDIO_SECONDS = 15  # of each embedded WAV file
TEXT_LINES = 6  # of each model's first text sample


# --- reading a revision ----------------------------------------------------------------------


@dataclass
class Side:
    """One revision's files: ``read(path)`` gives bytes or None, ``find(folder)`` the files under it."""

    label: str
    read: Callable[[str], bytes | None]
    find: Callable[[str], list[str]]
    missing: list[str] = field(default_factory=list)  # what the DVC cache did not have


def workspace(root: Path, label: str = "workspace") -> Side:
    def read(path: str) -> bytes | None:
        p = root / path
        return p.read_bytes() if p.is_file() else None

    def find(folder: str) -> list[str]:
        base = root / folder
        if not base.is_dir():
            return []
        return sorted(p.relative_to(root).as_posix() for p in base.rglob("*") if p.is_file())

    return Side(label, read, find)


def revision(root: Path, rev: str, label: str) -> Side:
    """A git revision's files, DVC outputs read from the cache."""
    from dvc.fs import DVCFileSystem

    fs = DVCFileSystem(url=str(root), rev=rev)
    side = Side(label, lambda p: None, lambda f: [])

    def read(path: str) -> bytes | None:
        try:
            return fs.cat_file(path)
        except Exception:
            try:
                known = fs.exists(path)
            except Exception:
                known = True
            if known:  # an output of the base's dvc.lock whose data the cache lacks
                side.missing.append(path)
            return None

    def find(folder: str) -> list[str]:
        try:
            if not fs.isdir(folder):
                return []
            return sorted(fs.find(folder))
        except Exception:
            side.missing.append(folder)
            return []

    side.read, side.find = read, find
    return side


# --- curves ------------------------------------------------------------------------------------


def read_tsv(data: bytes) -> tuple[str, list[tuple[float, float]]]:
    """A DVCLive metric file: (its metric's name, [(step, value)])."""
    lines = data.decode("utf-8").splitlines()
    if not lines:
        raise ValueError("empty")
    header = lines[0].split("\t")
    column = next(i for i, name in enumerate(header) if name not in ("step", "timestamp"))
    step = header.index("step")
    points = []
    for line in lines[1:]:
        cells = line.split("\t")
        if len(cells) == len(header):
            points.append((float(cells[step]), float(cells[column])))
    return header[column], points


def curves(side: Side, model: str) -> dict[str, list[dict]]:
    """{metric: [{step, value, split, revision}]} from models/<model>/live/plots/metrics/<split>/*.tsv."""
    folder = f"{paths.model_dir(model)}/live/plots/metrics"
    out: dict[str, list[dict]] = {}
    for path in side.find(folder):
        if not path.endswith(".tsv"):
            continue
        split = PurePosixPath(path).relative_to(folder).parts[0]
        data = side.read(path)
        if data is None:
            continue
        try:
            name, points = read_tsv(data)
        except (ValueError, StopIteration, UnicodeDecodeError):
            continue  # not a DVCLive file
        rows = [{"step": s, "value": v, "split": split, "revision": side.label} for s, v in points if math.isfinite(v)]
        if rows:  # a diverged run's NaN losses draw nothing
            out.setdefault(name, []).extend(rows)
    return out


# --- samples -----------------------------------------------------------------------------------


def first_lines(data: bytes | None, n: int = TEXT_LINES) -> str | None:
    """The first ``n`` lines of a samples.txt's first sample (under its header line)."""
    if data is None:
        return None
    lines = []
    for line in data.decode("utf-8", errors="replace").splitlines()[1:]:
        if line.startswith("=== sample ") or len(lines) == n:
            break
        lines.append(line)
    return "\n".join(lines).rstrip("\n")


def short_wav(data: bytes | None, seconds: float = AUDIO_SECONDS) -> bytes | None:
    """The first ``seconds`` of a WAV file as 16-bit PCM (small enough to embed)."""
    if data is None:
        return None
    from scipy.io import wavfile

    try:
        rate, audio = wavfile.read(io.BytesIO(data))
    except ValueError:
        return None
    audio = audio[: int(rate * seconds)]
    if audio.dtype.kind == "f":
        audio = (np.clip(audio, -1, 1) * 32767).astype(np.int16)
    out = io.BytesIO()
    wavfile.write(out, rate, audio)
    return out.getvalue()


def pick(items: list, n: int) -> list:
    """``n`` items spread evenly from the first to the last."""
    if len(items) <= n:
        return items
    return [items[round(i * (len(items) - 1) / (n - 1))] for i in range(n)]


@dataclass
class Picture:
    name: str  # file name under report/img/
    data: bytes
    mime: str
    caption: str


@dataclass
class ModelSamples:
    model: str
    grid: dict[str, Picture | None]  # per side label
    text: dict[str, str | None]
    audio: dict[str, Picture | None]
    extras: list[Picture]  # the workspace's other pictures (reconstructions, interpolations)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


def samples_of(model: str, sides: list[Side]) -> ModelSamples:
    grid, text, audio = {}, {}, {}
    for i, side in enumerate(sides):
        tag = ("workspace", "base")[i]
        png = side.read(f"{paths.samples_dir(model)}/samples.png")
        grid[side.label] = png and Picture(f"samples_{slug(model)}_{tag}.png", png, "image/png", f"{model}, {side.label}")
        text[side.label] = first_lines(side.read(paths.samples_text(model)))
        wavs = [p for p in side.find(f"{paths.samples_dir(model)}/audio") if p.endswith(".wav")]
        wav = short_wav(side.read(wavs[0])) if wavs else None
        audio[side.label] = wav and Picture(f"audio_{slug(model)}_{tag}.wav", wav, "audio/wav", f"{model}, {side.label}: {PurePosixPath(wavs[0]).name}")
    extras = []
    for path in sides[0].find(paths.samples_dir(model)):
        p = PurePosixPath(path)
        if p.suffix == ".png" and p.name != "samples.png" and len(p.parts) == 3:
            data = sides[0].read(path)
            if data:
                extras.append(Picture(f"{slug(model)}_{p.name}", data, "image/png", f"{model}: {p.stem.replace('_', ' ')}"))
    return ModelSamples(model, grid, text, audio, extras)


def snapshots(side: Side, model: str) -> list[Picture]:
    """A few of the images a model logged with DVCLive while training (the GAN's per-epoch samples)."""
    folder = f"{paths.model_dir(model)}/live/plots/images"
    pngs = [p for p in side.find(folder) if p.endswith(".png")]
    out = []
    for path in pick(pngs, N_SNAPSHOTS):
        data = side.read(path)
        if data:
            name = PurePosixPath(path).stem.replace("_", " ")
            out.append(Picture(f"snapshot_{slug(model)}_{PurePosixPath(path).name}", data, "image/png", f"{model}: {name}"))
    return out


# --- the report --------------------------------------------------------------------------------


@dataclass
class Report:
    base: str  # as the user named it
    summary: list[list[str]]  # the workspace's metrics/summary.csv, header first
    metrics: list[MetricRow]
    params: list[tuple[str, str, str]]  # key, base, workspace
    charts: dict[str, list[Picture]]  # model -> SVG charts
    samples: list[ModelSamples]
    snapshots: dict[str, list[Picture]]
    notes: list[str]
    sides: tuple[str, str] = ("workspace", "base")

    def pictures(self) -> list[Picture]:
        out = [c for cs in self.charts.values() for c in cs]
        for s in self.samples:
            out += [p for p in (*s.grid.values(), *s.audio.values()) if p] + s.extras
        return out + [p for ps in self.snapshots.values() for p in ps]


def read_summary(data: bytes | None) -> list[list[str]]:
    """metrics/summary.csv as rows of formatted cells."""
    if data is None:
        return []
    import csv

    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    out = [rows[0]]
    for row in rows[1:]:
        cells = [row[0]]
        for cell in row[1:]:
            try:
                v = float(cell)
                cells.append(fmt(int(v)) if v.is_integer() and abs(v) >= 1 and "." not in cell and "e" not in cell else fmt(v))
            except ValueError:
                cells.append(cell)
        out.append(cells)
    return out


def key_order(path: Path) -> list[str]:
    """The keys of a JSON metrics file in its order ([] if unreadable)."""
    import json

    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return list(data) if isinstance(data, dict) else []
