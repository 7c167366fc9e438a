"""End to end: `make report` and `dvc plots show` in a temporary git + DVC repository, opened in
headless Chromium with the network cut.

As a user would: `dvc repro`, a commit, `dvc exp run -S vae.lr=0.001`, then the report against
HEAD (and against the experiment by its name), and DVC's own plots page with the template that
`make install` writes.
"""

import json
import re
import shutil

import pytest
import yaml

from browser import blank, open_page
from genlab.report.compare import fmt
from genlab.report.markdown import MD_LIMIT
from helpers import ROOT, TINY, copy_project, exp_run, init_repo, set_params, sh

pytestmark = pytest.mark.slow

EXP = "lr-up"
MODELS = ["vae", "gan"]


@pytest.fixture(scope="module")
def repo(tmp_path_factory, env):
    root = copy_project(tmp_path_factory.mktemp("report"))
    set_params(root, **TINY)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["models"] = MODELS  # the VAE (its experiment) and the GAN (its snapshots) suffice
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    init_repo(root, env)
    # what `make install` does for the project: the offline template DVC's config names
    sh(root, env, "dvc", "config", "--local", "plots.html_template", "plots_template.html")
    sh(root, env, "python", "-m", "genlab.report.vega", ".dvc/plots_template.html")
    sh(root, env, "dvc", "repro")
    sh(root, env, "git", "add", "-A")
    sh(root, env, "git", "commit", "-q", "-m", "results")
    sh(root, env, "dvc", "exp", "run", "-n", EXP, "-S", "vae.lr=0.001")
    return root


def make_report(repo, env, base, out="report"):
    return sh(repo, env, "python", "-m", "genlab.report", "--base", base, "--out", out)


def committed_metrics(repo, env, model):
    return json.loads(sh(repo, env, "git", "show", f"HEAD:metrics/models/{model}.json").stdout)


def test_report_against_head_compares_the_experiment(repo, env, tmp_path):
    make_report(repo, env, "HEAD")
    page = (repo / "report/index.html").read_text(encoding="utf-8")
    md = (repo / "report/report.md").read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page
    old, new = committed_metrics(repo, env, "vae")["nll"], json.loads((repo / "metrics/models/vae.json").read_text())["nll"]
    assert old != new  # the experiment changed the VAE
    assert fmt(old) in page and fmt(new) in page
    assert f"| vae | `nll` | {fmt(old)} | {fmt(new)} |" in md
    assert "| `vae.lr` | 0.0003 | 0.001 |" in md
    assert len(md) <= MD_LIMIT
    assert "| gan | `fid` |" not in md.split("metrics unchanged")[0]  # the GAN did not rerun

    shot = tmp_path / "report.png"
    visit = open_page(repo / "report/index.html", shot, {
        "tables": "document.querySelectorAll('table').length",
        "summary_rows": "document.querySelectorAll('table')[0].querySelectorAll('tbody tr').length",
        "charts": "[...document.images].filter(i => i.src.startsWith('data:image/svg+xml') && i.naturalWidth > 0).length",
        "samples": "[...document.querySelectorAll('td.sample img.samples')].filter(i => i.naturalWidth > 0).length",
        "snapshots": "document.querySelectorAll('img.snapshot').length",
        "broken": "[...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).length",
    })
    assert visit.outside == [] and visit.errors == [], (visit.outside, visit.errors)
    r = visit.results
    assert r["tables"] >= 3 and r["summary_rows"] == 3  # two models and the real row
    assert r["charts"] >= 4  # classifier, vae, and the GAN's fid and losses
    assert r["samples"] == 4  # two models, two revisions
    assert 1 <= r["snapshots"] <= 4 and r["broken"] == 0
    assert not blank(shot)


def test_report_against_an_experiment_by_name(repo, env):
    proc = make_report(repo, env, EXP, out="report-exp")
    assert f"against {EXP} (" in proc.stdout and "0 of" in proc.stdout  # the workspace is that experiment
    md = (repo / "report-exp/report.md").read_text(encoding="utf-8")
    assert "No param changed." in md


def test_report_without_the_bases_outputs_in_the_cache(repo, env):
    cache = repo / ".dvc/cache"
    aside = repo.parent / "cache-aside"
    shutil.move(cache, aside)
    try:
        make_report(repo, env, "HEAD", out="report-nocache")
    finally:
        shutil.move(aside, cache)
    md = (repo / "report-nocache/report.md").read_text(encoding="utf-8")
    assert "the DVC cache lacks the base's" in md and "| vae | `nll` |" in md


def test_dvc_plots_show_renders_offline(repo, env, tmp_path):
    sh(repo, env, "dvc", "plots", "show", "-o", "dvc_plots")
    page = repo / "dvc_plots/index.html"
    vega_plots = page.read_text(encoding="utf-8").count("vegaEmbed('#")
    assert vega_plots == 4  # the classifier's, the VAE's and the GAN's two: no snapshots
    shot = tmp_path / "plots.png"
    drawn = "document.querySelectorAll('.vega-embed canvas.marks, .vega-embed svg.marks').length"
    visit = open_page(page, shot, {"drawn": drawn}, wait_for=f"{drawn} >= {vega_plots}")
    assert visit.outside == [] and visit.errors == [], (visit.outside, visit.errors)
    assert visit.results["drawn"] == vega_plots and not blank(shot)
    status = sh(repo, env, "git", "status", "--porcelain", "--untracked-files=all").stdout
    assert "plots_template" not in status and "report/" not in status


def test_a_missing_template_fails_plots_show(repo, env):
    template = repo / ".dvc/plots_template.html"
    aside = template.read_bytes()
    template.unlink()
    try:
        proc = sh(repo, env, "dvc", "plots", "show", "-o", "dvc_plots_missing", ok=False)
    finally:
        template.write_bytes(aside)
    assert proc.returncode != 0 and "plot_divs" in proc.stderr


def test_exp_show_fits_120_columns_with_a_row_per_experiment(repo, env):
    """`make exp-show` (genlab.report.experiments), last in this file: it adds experiments."""
    headline = json.loads((repo / "metrics/headline.json").read_text())
    assert set(headline) == {"vae", "gan", "real"} and set(headline["vae"]) == {"nll", "fid"}
    assert set(headline["gan"]) == {"fid"}  # a GAN has no likelihood
    exp_run(repo, env, "vae.lr=0.002", "gan.lr=0.0004")
    exp_run(repo, env, "gan.lr=0.0001")
    proc = sh(repo, {**env, "COLUMNS": "120"}, "python", "-m", "genlab.report.experiments")
    lines = proc.stdout.splitlines()
    assert all(len(line) <= 120 for line in lines), proc.stdout
    assert "…" not in proc.stdout, proc.stdout  # no column collapsed
    header = next(line for line in lines if "Experiment" in line).split()
    for column in ("vae.nll", "vae.fid", "gan.fid", "vae.lr", "gan.lr"):
        assert column in header, proc.stdout
    assert not any(c.startswith(("metrics/", "stages/", "genlab/")) or c == "Created" for c in header), header
    rows = [line for line in lines if re.search(r"[├└]── [0-9a-f]{7}", line)]
    assert len(rows) == 3, proc.stdout  # lr-up and the two above
    assert "python -m genlab.report.experiments" in sh(ROOT, env, "make", "-n", "exp-show").stdout  # what make runs
