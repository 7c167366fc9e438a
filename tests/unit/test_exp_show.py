"""`make exp-show` (genlab.report.experiments): the columns its --drop pattern keeps. The table it
renders for a repository with experiments: tests/e2e/test_report_pipeline.py."""

import re

from genlab.report.experiments import drop_pattern


def test_the_drop_pattern_keeps_experiment_params_and_headline_metrics(tmp_path):
    (tmp_path / "params.yaml").write_text("vae:\n  lr: 0.001\nprecision: highest\ndata:\n  seed: 0\n")
    pattern = re.compile(drop_pattern(tmp_path / "params.yaml", rows=["vae", "gan", "real"]))
    kept = ["Experiment", "vae.lr", "data.seed", "params.yaml:precision", "precision", "vae.nll", "gan.fid", "real.fid"]
    dropped = ["Created", "data", "vae", "metrics/models/vae.json:nll", "nll_stderr", "kid", "stages/train.py", "data/prepared",
               "metrics/models/vae.json:precision", "markov.nll"]
    assert [c for c in kept if pattern.match(c)] == []
    assert [c for c in dropped if not pattern.match(c)] == []
