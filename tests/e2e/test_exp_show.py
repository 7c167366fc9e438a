"""`make exp-show` (genlab.report.experiments): DVC's experiments table in 120 columns, one row per
experiment, the params that differ and each model's headline metrics, no column collapsed."""

import json
import re

import pytest

from genlab.report.experiments import drop_pattern
from helpers import ROOT, exp_run, sh, subprocess_env, tiny_reproduced_repo


def test_the_drop_pattern_keeps_experiment_params_and_headline_metrics(tmp_path):
    (tmp_path / "params.yaml").write_text("vae:\n  lr: 0.001\nprecision: highest\ndata:\n  seed: 0\n")
    pattern = re.compile(drop_pattern(tmp_path / "params.yaml", rows=["vae", "gan", "real"]))
    kept = ["Experiment", "vae.lr", "data.seed", "params.yaml:precision", "precision", "vae.nll", "gan.fid", "real.fid"]
    dropped = ["Created", "data", "vae", "metrics/models/vae.json:nll", "nll_stderr", "kid", "stages/train.py", "data/prepared",
               "metrics/models/vae.json:precision", "markov.nll"]
    assert [c for c in kept if pattern.match(c)] == []
    assert [c for c in dropped if not pattern.match(c)] == []


@pytest.mark.slow
def test_exp_show_fits_120_columns_with_a_row_per_experiment(tmp_path_factory):
    env = subprocess_env()
    repo = tmp_path_factory.mktemp("exp_show")
    tiny_reproduced_repo(repo, env)
    headline = json.loads((repo / "metrics/headline.json").read_text())
    assert {"vae", "gan", "real"} <= set(headline) and set(headline["vae"]) == {"nll", "fid"}
    assert set(headline["gan"]) == {"fid"}  # a GAN has no likelihood
    exp_run(repo, env, "vae.lr=0.002")
    exp_run(repo, env, "vae.lr=0.003", "gan.lr=0.0004")
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
    assert len(rows) == 3, proc.stdout
    # the make target runs the same module
    dry = sh(ROOT, env, "make", "-n", "exp-show")
    assert "python -m genlab.report.experiments" in dry.stdout
