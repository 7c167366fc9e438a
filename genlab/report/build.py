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

import re
from pathlib import Path, PurePosixPath

from genlab import cli, paths
from genlab.errors import GenlabError
from genlab.io import atomic_dir
from genlab.report.charts import cost_charts, model_charts
from genlab.report.collect import Report, curves, key_order, read_summary, revision, samples_of, snapshots, workspace
from genlab.report.compare import flat_diff, metric_rows, param_value, training_noise
from genlab.report.markdown import render_md
from genlab.report.page import render_html


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
        workspace_params = yaml.safe_load((root / "params.yaml").read_text())
        models = list(workspace_params.get("models") or [])
        source = (workspace_params.get("data") or {}).get("source")
    except (OSError, yaml.YAMLError, AttributeError):
        models, source = [], None
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
    metrics = metric_rows(diff, [*models, "real"], {path: key_order(root / path) for path in diff},
                          training_noise(root, source))
    models += [m for m in dict.fromkeys(r.model for r in metrics) if m not in models and m != "real"]  # the base's own

    notes = []
    other = sorted({r.model for r in metrics if r.other_features})
    if other:
        spaces = next((f"{r.old} → {r.new}" for r in metrics if r.key == "features" and r.changed), "")
        notes.append(f"{', '.join(other)}: the sample metrics are measured in other features in the two revisions "
                     f"(`features` {spaces}): their changes are not comparable and get no verdict")
    charts = {}
    for model in models:
        mine, theirs = curves(here, model), curves(there, model)
        pics = model_charts(model, mine, theirs, [here.label, there.label])
        if pics:
            charts[model] = pics
            if mine and not theirs and not there.missing:
                notes.append(f"{model}: the base has no training curves")
    cost = cost_charts(metrics, [here.label, there.label])
    if cost:
        charts["quality against cost"] = cost
    samples = [s for s in (samples_of(m, sides) for m in models)
               if any(v is not None for v in (*s.grid.values(), *s.text.values(), *s.audio.values()))]
    shots = {m: pics for m in models if (pics := snapshots(here, m))}
    if there.missing:
        folders = sorted({"/".join(PurePosixPath(p).parts[:2]) for p in there.missing})
        notes.append(
            f"the DVC cache lacks the base's {', '.join(folders)}: its curves and samples are not shown "
            "(`dvc pull` them from a remote, or `dvc repro` at the base, to compare them too)"
        )
    summary = read_summary(here.read(paths.SUMMARY_CSV))
    if not summary and not metrics:
        raise GenlabError("no metrics in the workspace: run `make repro` (or `dvc repro`) first")
    return Report(base, summary, metrics, params, charts, samples, shots, notes, (here.label, there.label))


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
