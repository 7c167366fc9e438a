"""Write a report of the workspace against a base revision: one offline HTML page and a PR comment.

`make report BASE=<rev>` (a commit, branch, tag or experiment name; default `main`) runs
``python -m genlab.report --base <rev>`` and writes report/:

- index.html: one self-contained page (pictures and charts as data URIs, no script, a
  Content-Security-Policy that forbids loading anything): the workspace's summary table;
  every metric against the base with its change and direction (better or worse); the params
  that differ (`dvc params diff`); every model's training curves (train and validation, from
  DVCLive's files) with the base's overlaid, dashed, where the DVC cache has them; every
  model's samples side by side (image grids, piano rolls, the first lines of text, audio
  players for WAV files); and a few of the snapshots a model logged while training (the GAN).
- report.md: the same tables for a pull-request comment, within GitHub's 65,536-character
  limit; its pictures are the files under report/img/, uploaded as the CI run's artifact.

The base's metrics and params come from git; its curves and samples from the DVC cache
(present after a local `dvc repro` or `dvc exp run`, or a `dvc pull`); what the cache lacks is
named in the report, not guessed.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable

import numpy as np

from genlab import cli
from genlab.errors import GenlabError
from genlab.io import atomic_dir

MD_LIMIT = 65_536  # GitHub's limit on a comment's body, in characters
MARKER = "<!-- genlab-report -->"  # the first line of report.md: how the PR comment is found again
N_SNAPSHOTS = 4  # snapshots shown of those a model logged while training
AUDIO_SECONDS = 15  # of each embedded WAV file
TEXT_LINES = 6  # of each model's first text sample

# Which way is better. A metric in neither set (counts, means, ratios best near the real row's)
# is shown with its change and no direction.
LOWER = {
    "nll", "bits_per_dim", "neg_elbo", "fid", "kid", "ks_statistic", "wasserstein", "bits_per_char",
    "perplexity", "exact_copy_rate", "bits_per_frame", "pitch_class_tv", "oov_rate", "unseen_rate",
}
HIGHER = {
    "precision", "recall", "density", "coverage", "inception_score", "classes_covered", "oa_pitch_count",
    "oa_pitch_class_hist", "val_accuracy", "test_accuracy",
}
LOWER_PREFIXES = ("fid_", "val_fid_")


def better(key: str) -> int:
    """-1 where lower is better, +1 where higher is, 0 where neither."""
    if key in LOWER or key.startswith(LOWER_PREFIXES):
        return -1
    return 1 if key in HIGHER else 0


def fmt(value, signed: bool = False) -> str:
    """A metric value with at least two decimals and four significant digits (integers as they are)."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:+d}" if signed else str(value)
    if not math.isfinite(value):
        return str(value)
    if 0 < abs(value) < 1e-3:
        return f"{value:+.3e}" if signed else f"{value:.3e}"
    decimals = 2 if value == 0 else max(2, 3 - math.floor(math.log10(abs(value))))
    return f"{value:+.{decimals}f}" if signed else f"{value:.{decimals}f}"


@dataclass
class MetricRow:
    model: str
    key: str
    old: object
    new: object

    @property
    def numeric(self) -> bool:
        """Both sides finite numbers (a NaN, a string or a missing side has no change to compute)."""
        return all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (self.old, self.new)
        )

    @property
    def changed(self) -> bool:
        same_nan = all(isinstance(v, float) and math.isnan(v) for v in (self.old, self.new))
        return self.old != self.new and not same_nan

    @property
    def change(self) -> str:
        if self.old is None:
            return "new"
        if self.new is None:
            return "removed"
        if not self.changed:
            return ""
        if not self.numeric:
            return "changed"
        d = self.new - self.old
        rel = f" ({d / abs(self.old):+.1%})" if self.old and d else ""
        return fmt(d, signed=True) + rel

    @property
    def verdict(self) -> str:
        """`better`, `worse`, `same`, or "" where the metric has no direction or a side lacks it."""
        if self.old is not None and self.new is not None and not self.changed:
            return "same"
        if not self.numeric:
            return ""
        way = better(self.key)
        if not way:
            return ""
        return "better" if (self.new - self.old) * way > 0 else "worse"


def metric_model(path: str) -> str:
    """metrics/models/vae.json -> vae; metrics/real.json -> real."""
    return PurePosixPath(path).stem


def metric_rows(diff: dict, order: list[str], key_order: dict[str, list[str]] | None = None) -> list[MetricRow]:
    """`dvc metrics diff --all` (``{path: {key: {old, new}}}``) as rows: models in ``order`` then
    the rest; keys in ``key_order[path]`` (the workspace file's order) then the rest, sorted."""
    rows = []
    for path in diff:
        known = (key_order or {}).get(path, [])
        rank = {k: i for i, k in enumerate(known)}
        for key in sorted(diff[path], key=lambda k: (rank.get(k, len(rank)), k)):
            d = diff[path][key]
            rows.append(MetricRow(metric_model(path), key, d.get("old"), d.get("new")))
    model_rank = {m: i for i, m in enumerate(order)}
    return sorted(rows, key=lambda r: (model_rank.get(r.model, len(model_rank)), r.model))  # stable


def flat_diff(diff: dict) -> dict:
    """DVC's ``{"diff": {file: {key: {...}}}}`` less its wrapper, errors ignored."""
    return diff.get("diff", diff) if isinstance(diff, dict) else {}


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
    folder = f"models/{model}/live/plots/metrics"
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


def chart_svg(title: str, rows: list[dict], revisions: list[str]) -> str:
    """A line chart (Vega-Lite, rendered offline by vl-convert): colour = split, dashes = revision."""
    import vl_convert

    values = [r["value"] for r in rows]
    log = min(values) > 0 and max(values) / min(values) > 20  # an FID falling from 200 to 3
    spec = {
        "title": title,
        "width": 400,
        "height": 200,
        "data": {"values": rows},
        "mark": {"type": "line", "point": len(rows) <= 40},
        "encoding": {
            "x": {"field": "step", "type": "quantitative", "title": "step (epoch)"},
            "y": {"field": "value", "type": "quantitative", "title": title.split(": ")[-1],
                  "scale": {"type": "log"} if log else {"zero": False}},
            "color": {"field": "split", "type": "nominal", "title": None},
            "strokeDash": {"field": "revision", "type": "nominal", "title": None, "sort": revisions},
        },
    }
    return vl_convert.vegalite_to_svg(spec)


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
        png = side.read(f"samples/{model}/samples.png")
        grid[side.label] = png and Picture(f"samples_{slug(model)}_{tag}.png", png, "image/png", f"{model}, {side.label}")
        text[side.label] = first_lines(side.read(f"samples/{model}/samples.txt"))
        wavs = [p for p in side.find(f"samples/{model}/audio") if p.endswith(".wav")]
        wav = short_wav(side.read(wavs[0])) if wavs else None
        audio[side.label] = wav and Picture(f"audio_{slug(model)}_{tag}.wav", wav, "audio/wav", f"{model}, {side.label}: {PurePosixPath(wavs[0]).name}")
    extras = []
    for path in sides[0].find(f"samples/{model}"):
        p = PurePosixPath(path)
        if p.suffix == ".png" and p.name != "samples.png" and len(p.parts) == 3:
            data = sides[0].read(path)
            if data:
                extras.append(Picture(f"{slug(model)}_{p.name}", data, "image/png", f"{model}: {p.stem.replace('_', ' ')}"))
    return ModelSamples(model, grid, text, audio, extras)


def snapshots(side: Side, model: str) -> list[Picture]:
    """A few of the images a model logged with DVCLive while training (the GAN's per-epoch samples)."""
    folder = f"models/{model}/live/plots/images"
    paths = [p for p in side.find(folder) if p.endswith(".png")]
    out = []
    for path in pick(paths, N_SNAPSHOTS):
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


def param_value(v) -> str:
    return "—" if v is None else str(v)


def build(root: Path, base: str) -> Report:
    """Compare the workspace of the DVC repository ``root`` with revision or experiment ``base``."""
    import yaml
    from dvc.exceptions import DvcException, NotDvcRepoError
    from dvc.repo import Repo
    from dvc.scm import RevError, resolve_rev

    try:
        repo = Repo(str(root))
    except NotDvcRepoError:
        raise GenlabError(f"{root}: not a DVC repository (run `dvc init`)") from None
    try:
        sha = resolve_rev(repo.scm, base)
    except (RevError, DvcException) as exc:
        raise GenlabError(f"BASE={base}: no such git revision or experiment ({exc})") from None
    label = sha[:7] if re.fullmatch(r"[0-9a-f]{4,40}", base) and sha.startswith(base) else f"{base} ({sha[:7]})"
    here = workspace(root)
    there = revision(root, sha, label)
    sides = [here, there]

    try:
        models = list(yaml.safe_load((root / "params.yaml").read_text()).get("models") or [])
    except (OSError, yaml.YAMLError, AttributeError):
        models = []
    models += [d.name for d in sorted((root / "models").glob("*")) if d.is_dir() and d.name not in models]

    try:
        diff = flat_diff(repo.metrics.diff(a_rev=sha, all=True))
        params = [
            (key, param_value(d.get("old")), param_value(d.get("new")))
            for file, keys in flat_diff(repo.params.diff(a_rev=sha)).items()
            for key, d in keys.items()
        ]
    finally:
        repo.close()
    metrics = metric_rows(diff, [*models, "real"], {path: key_order(root / path) for path in diff})
    models += [m for m in dict.fromkeys(r.model for r in metrics) if m not in models and m != "real"]  # the base's own

    notes = []
    charts = {}
    for model in models:
        mine, theirs = curves(here, model), curves(there, model)
        pics = []
        for name in sorted(set(mine) | set(theirs), key=lambda n: (n not in ("loss", "fid"), n)):
            rows = mine.get(name, []) + theirs.get(name, [])  # never empty: curves() keeps no empty list
            svg = chart_svg(f"{model}: {name}", rows, [here.label, there.label])
            pics.append(Picture(f"curve_{slug(model)}_{slug(name)}.svg", svg.encode(), "image/svg+xml", f"{model}: {name}"))
        if pics:
            charts[model] = pics
            if mine and not theirs and not there.missing:
                notes.append(f"{model}: the base has no training curves")
    samples = [s for s in (samples_of(m, sides) for m in models)
               if any(v is not None for v in (*s.grid.values(), *s.text.values(), *s.audio.values()))]
    shots = {m: pics for m in models if (pics := snapshots(here, m))}
    if there.missing:
        folders = sorted({"/".join(PurePosixPath(p).parts[:2]) for p in there.missing})
        notes.append(
            f"the DVC cache lacks the base's {', '.join(folders)}: its curves and samples are not shown "
            "(`dvc pull` them from a remote, or `dvc repro` at the base, to compare them too)"
        )
    summary = read_summary(here.read("metrics/summary.csv"))
    if not summary and not metrics:
        raise GenlabError("no metrics in the workspace: run `make repro` (or `dvc repro`) first")
    return Report(base, summary, metrics, params, charts, samples, shots, notes, (here.label, there.label))


# --- HTML --------------------------------------------------------------------------------------

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1180px; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { border-bottom: 1px solid #ccc; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.88em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: right; }
th:first-child, td:first-child, .key { text-align: left; }
thead th { background: #f3f3f3; }
.better { color: #0a7a2f; font-weight: 600; }
.worse { color: #b3261e; font-weight: 600; }
.muted { color: #777; }
.charts { display: flex; flex-wrap: wrap; gap: 8px; }
.charts img { width: 560px; }
img.samples { width: 200px; image-rendering: pixelated; }
img.snapshot { width: 180px; image-rendering: pixelated; }
figure { display: inline-block; margin: 4px 10px 4px 0; vertical-align: top; }
figcaption { font-size: 0.8em; color: #555; }
pre { background: #f7f7f7; padding: 6px; white-space: pre-wrap; max-width: 420px; font-size: 0.85em; }
td.sample { text-align: left; vertical-align: top; }
"""


def data_uri(p: Picture) -> str:
    return f"data:{p.mime};base64,{base64.b64encode(p.data).decode('ascii')}"


def csp(style: str) -> str:
    """Nothing may load but data: images and audio and the one inline style sheet (by its hash)."""
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    return f"default-src 'none'; img-src data:; media-src data:; style-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"


def e(text) -> str:
    return html.escape(str(text))


def html_table(header: list[str], rows: list[list[str]], classes: list[list[str]] | None = None, left: int = 1) -> str:
    """A table; the first ``left`` columns (names) left-aligned, the rest (numbers) right-aligned."""
    out = ["<table>", "<thead><tr>" + "".join(
        f'<th class="key">{e(h)}</th>' if j < left else f"<th>{e(h)}</th>" for j, h in enumerate(header)
    ) + "</tr></thead>", "<tbody>"]
    for i, row in enumerate(rows):
        cls = classes[i] if classes else ["key" if j < left else "" for j in range(len(row))]
        out.append("<tr>" + "".join(f'<td class="{c}">{e(v)}</td>' if c else f"<td>{e(v)}</td>" for v, c in zip(row, cls)) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def metric_table_rows(rows: list[MetricRow]) -> list[list[str]]:
    return [[r.model, r.key, fmt(r.old), fmt(r.new), r.change, r.verdict] for r in rows]


def figure(p: Picture, cls: str) -> str:
    return f'<figure><img class="{cls}" alt="{e(p.caption)}" src="{data_uri(p)}"><figcaption>{e(p.caption)}</figcaption></figure>'


def sample_cell(s: ModelSamples, side: str) -> str:
    parts = []
    if s.grid.get(side):
        parts.append(f'<img class="samples" alt="{e(s.grid[side].caption)}" src="{data_uri(s.grid[side])}">')
    if s.text.get(side) is not None:
        parts.append(f"<pre>{e(s.text[side])}</pre>")
    if s.audio.get(side):
        parts.append(f'<div><audio controls src="{data_uri(s.audio[side])}"></audio></div>')
    return "".join(parts) or '<span class="muted">none</span>'


def render_html(r: Report) -> str:
    here, there = r.sides
    changed = [m for m in r.metrics if m.changed]
    same = [m for m in r.metrics if not m.changed]
    head = ["model", "metric", there, here, "change", ""]
    body = [f"<h1>genlab report</h1><p><b>{e(here)}</b> against <b>{e(there)}</b>. "
            "Lower is better for nll, FID and KID; higher for precision, recall, density and coverage.</p>"]
    body += [f'<p class="muted">{e(n)}</p>' for n in r.notes]
    body.append("<h2>Summary of the workspace</h2>")
    body.append(html_table(r.summary[0], r.summary[1:]) if r.summary else '<p class="muted">no metrics/summary.csv</p>')
    body.append(f"<h2>Metrics changed ({len(changed)} of {len(r.metrics)})</h2>")
    if changed:
        body.append(html_table(head, metric_table_rows(changed), [["key", "key", "", "", "", m.verdict] for m in changed], left=2))
    else:
        body.append('<p class="muted">no metric changed</p>')
    if same:
        body.append(f"<details><summary>{len(same)} metrics unchanged</summary>{html_table(head, metric_table_rows(same), left=2)}</details>")
    body.append("<h2>Params changed</h2>")
    body.append(html_table(["param", there, here], [list(p) for p in r.params]) if r.params else '<p class="muted">no param changed</p>')
    body.append(f"<h2>Training curves</h2><p class=\"muted\">solid: {e(here)}; dashed: {e(there)}</p>")
    for model, pics in r.charts.items():
        body.append(f'<h3>{e(model)}</h3><div class="charts">' + "".join(
            f'<img alt="{e(p.caption)}" src="{data_uri(p)}">' for p in pics) + "</div>")
    if not r.charts:
        body.append('<p class="muted">no DVCLive curves</p>')
    body.append("<h2>Samples</h2>")
    if r.samples:
        body.append("<table><thead><tr><th></th>" + "".join(f"<th>{e(s.model)}</th>" for s in r.samples) + "</tr></thead><tbody>")
        for side in (there, here):
            body.append(f"<tr><td>{e(side)}</td>" + "".join(f'<td class="sample">{sample_cell(s, side)}</td>' for s in r.samples) + "</tr>")
        body.append("</tbody></table>")
        extras = [p for s in r.samples for p in s.extras]
        if extras:
            body.append("<details><summary>more pictures of the workspace</summary>"
                        + "".join(figure(p, "samples") for p in extras) + "</details>")
    for model, pics in r.snapshots.items():
        body.append(f"<h2>{e(model)} while training</h2><p class=\"muted\">{len(pics)} of the snapshots it logged, first to last</p>")
        body.append("".join(figure(p, "snapshot") for p in pics))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{csp(STYLE)}">\n'
        f"<title>genlab report: {e(here)} against {e(there)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body) + "\n</body>\n</html>\n"
    )


# --- Markdown ----------------------------------------------------------------------------------


def md_cell(v) -> str:
    text = html.escape(str(v), quote=False)  # `<unk>` would vanish as an HTML tag on GitHub
    return text.replace("|", "\\|").replace("\n", " ")


def md_code(text: str) -> str:
    """A fenced block that no line of ``text`` can close."""
    longest = max((len(m) for m in re.findall(r"~+|`+", text)), default=0)
    fence = "~" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}\n"


def md_table(header: list[str], rows: list[list[str]], cell=md_cell) -> str:
    """A Markdown table, each cell through ``cell`` (escaped for GitHub by default)."""
    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


VERDICT_MD = {"better": "✅ better", "worse": "❌ worse", "same": "", "": ""}


def render_md(r: Report, artifact: str | None = None, limit: int = MD_LIMIT) -> str:
    """The PR comment; sections are dropped, least useful first, to keep within ``limit``."""
    here, there = r.sides
    changed = [m for m in r.metrics if m.changed]
    same = [m for m in r.metrics if not m.changed]
    head = ["model", "metric", there, here, "change", ""]

    def rows(ms):
        return [[m.model, f"`{m.key}`", fmt(m.old), fmt(m.new), m.change, VERDICT_MD[m.verdict]] for m in ms]

    where = f"[the `report` artifact]({artifact})" if artifact else "the `report` artifact"
    parts = {
        "title": f"{MARKER}\n## genlab report: `{here}` against `{there}`\n\n",
        "notes": "".join(f"> {n}\n" for n in r.notes) + ("\n" if r.notes else ""),
        "changed": f"### Metrics changed ({len(changed)} of {len(r.metrics)})\n\n"
        + (md_table(head, rows(changed)) if changed else "No metric changed.\n"),
        "params": "\n### Params changed\n\n"
        + (md_table(["param", there, here], [[f"`{k}`", a, b] for k, a, b in r.params]) if r.params else "No param changed.\n"),
        "summary": ("\n### Summary of the workspace\n\n" + md_table(r.summary[0], r.summary[1:])) if r.summary else "",
        "text": "".join(
            f"\n**{md_cell(s.model)}**, the first lines of its first sample ({side}):\n\n{md_code(s.text[side])}"
            for s in r.samples for side in (here,) if s.text.get(side) is not None
        ),
        "same": f"\n<details><summary>{len(same)} metrics unchanged</summary>\n\n{md_table(head, rows(same))}\n</details>\n" if same else "",
        "pictures": "\nTraining curves (both revisions overlaid), samples side by side"
        + (", audio" if any(any(s.audio.values()) for s in r.samples) else "")
        + (", snapshots during training" if r.snapshots else "")
        + f": `index.html` (one offline page) and the files under `img/` in {where}.\n",
    }
    order = ["title", "notes", "changed", "params", "summary", "text", "same", "pictures"]
    names = {"same": "the unchanged metrics", "text": "the text samples", "summary": "the summary table",
             "params": "the params changed"}
    for drop in ("same", "text", "summary", "params"):
        text = "".join(parts[k] for k in order)
        if len(text) <= limit:
            return text
        if parts[drop]:
            parts[drop] = f"\n({names[drop]}: left out to keep within GitHub's {limit}-character limit; see index.html)\n"
    text = "".join(parts[k] for k in order)
    if len(text) > limit:  # the changed metrics alone are too long: cut rows
        note = f"\n\n… cut at GitHub's {limit}-character limit; every row is in index.html\n"
        room = limit - len(note) - len(parts["pictures"])
        if room < len(parts["title"]):
            return (MARKER + note)[:limit]
        text = text[:room].rsplit("\n", 1)[0] + note + parts["pictures"]
    return text


def write(report: Report, out: Path, artifact: str | None = None) -> None:
    """report/index.html, report/report.md and report/img/, replacing the folder whole."""
    with atomic_dir(out) as tmp:
        tmp.chmod(0o755)  # a readable folder, as a plain mkdir would make
        (tmp / "index.html").write_text(render_html(report), encoding="utf-8")
        (tmp / "report.md").write_text(render_md(report, artifact), encoding="utf-8")
        (tmp / "img").mkdir()
        for p in report.pictures():
            (tmp / "img" / p.name).write_bytes(p.data)


def main(args) -> None:
    import os

    report = build(Path(args.repo).resolve(), args.base)
    write(report, Path(args.out), os.environ.get("REPORT_ARTIFACT_URL") or None)
    changed = sum(m.changed for m in report.metrics)
    print(f"wrote {args.out}/index.html and {args.out}/report.md: {report.sides[0]} against {report.sides[1]}, "
          f"{changed} of {len(report.metrics)} metrics changed, {len(report.params)} params")


def parser():
    import argparse

    first, _, rest = __doc__.strip().partition("\n")
    p = argparse.ArgumentParser(description=first, epilog=rest.strip(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", default="main", help="git revision or experiment name to compare with (default: %(default)s)")
    p.add_argument("--out", default="report", help="output folder (default: %(default)s)")
    p.add_argument("--repo", default=".", help="the DVC repository (default: the current folder)")
    return p


if __name__ == "__main__":
    cli.run(main, parser().parse_args())
