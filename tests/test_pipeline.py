"""End to end: the real pipeline in a temporary git + DVC repository, with tiny params.

Asserts which stages DVC runs after each kind of change, that a rerun is bit-for-bit
identical, and that a bad param fails cleanly with the earlier results recoverable.
"""

import json
import re
import shutil
import subprocess

import pytest
import yaml

from conftest import ROOT

PROJECT = ["genlab", "stages", "dvc.yaml", "params.yaml", ".dvcignore", "data/raw"]
TINY = {
    "vae": {"epochs": 3, "patience": 2, "hidden": [32], "latent_dim": 2, "train_k": 2, "gmm_components": 2},
    "mixture": {"max_iter": 5},
    "gan": {"epochs": 2, "eval_every": 1, "n_eval": 20, "hidden": [16], "latent_dim": 4},
    "classifier": {"epochs": 3, "hidden": [32], "feature_dim": 8},
    "generate": {"n_samples": 40, "grid_size": 16, "n_reconstructions": 4, "interpolation_steps": 3},
    "evaluate": {"iw_samples": 20, "n_samples": 30, "kid_subsets": 5},
}
MODELS = ["vae", "independent", "markov", "mixture", "gan"]
PER_MODEL = {f"{stage}@{m}" for stage in ("train", "generate", "evaluate") for m in MODELS}
ALL_STAGES = {"preprocess", "classifier", "real", "summary"} | PER_MODEL
VAE_KEYS = {"nll", "nll_stderr", "neg_elbo", "bits_per_dim", "recon", "kl", "n_test", "fid_prior", "fid_gmm"}
SAMPLE_KEYS = {
    "fid", "kid", "precision", "recall", "density", "coverage", "inception_score", "classes_covered",
    "nn_distance_ratio", "exact_copy_rate", "n_samples",
}


def sh(repo, env, *cmd, ok=True):
    proc = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True)
    if ok:
        assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def stages_run(proc) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", proc.stdout + proc.stderr))


def set_params(repo, **sections):
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text())
    for section, values in sections.items():
        params[section].update(values)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    for name in PROJECT:
        src = ROOT / name
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, root / name)
    set_params(root, **TINY)
    return root


@pytest.fixture(scope="module")
def env():
    import os
    import sys
    from pathlib import Path

    e = dict(os.environ)
    e["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{e.get('PATH', '')}"
    e.pop("PYTHONPATH", None)
    return e


@pytest.fixture(scope="module")
def reproduced(repo, env):
    sh(repo, env, "git", "init", "-q", "-b", "main")
    sh(repo, env, "git", "config", "user.name", "genlab test")
    sh(repo, env, "git", "config", "user.email", "test@genlab.invalid")
    sh(repo, env, "dvc", "init", "-q")
    sh(repo, env, "dvc", "config", "core.analytics", "false")
    sh(repo, env, "git", "add", "-A")
    sh(repo, env, "git", "commit", "-q", "-m", "pipeline")
    proc = sh(repo, env, "dvc", "repro")
    sh(repo, env, "git", "add", "-A")
    sh(repo, env, "git", "commit", "-q", "-m", "results")
    return proc


def read(repo, name):
    return json.loads((repo / "metrics" / f"{name}.json").read_text())


def test_first_repro_runs_every_stage_and_writes_metrics(repo, reproduced):
    assert stages_run(reproduced) == ALL_STAGES
    vae = read(repo, "vae")
    assert VAE_KEYS | SAMPLE_KEYS <= set(vae)
    assert vae["nll"] <= vae["neg_elbo"]
    for name in ["independent", "markov", "mixture"]:
        assert {"nll", "bits_per_dim"} | SAMPLE_KEYS <= set(read(repo, name))
    gan = read(repo, "gan")
    assert SAMPLE_KEYS <= set(gan) and "nll" not in gan
    real = read(repo, "real")
    assert SAMPLE_KEYS <= set(real) and "nll" not in real
    assert {r["n_samples"] for r in map(lambda n: read(repo, n), [*MODELS, "real"])} == {30}
    assert "test_accuracy" in read(repo, "classifier")
    summary = (repo / "metrics" / "summary.md").read_text()
    assert all(f"| {name}" in summary for name in [*MODELS, "real"])
    for f in ["samples.npz", "samples.png", "samples_prior.png", "reconstructions.png", "interpolation.png"]:
        assert (repo / "samples" / "vae" / f).stat().st_size > 0
    assert (repo / "models" / "vae" / "live" / "plots" / "metrics" / "val" / "loss.tsv").exists()
    # outputs are DVC's, ignored by git; the metrics file is tracked by git
    tracked = sh(repo, None, "git", "ls-files").stdout.split()
    assert "metrics/vae.json" in tracked and not any(t.startswith(("models/vae", "data/prepared")) for t in tracked)


def test_forced_rerun_is_bit_for_bit_identical(repo, env, reproduced):
    before = (repo / "metrics" / "vae.json").read_bytes()
    proc = sh(repo, env, "dvc", "repro", "-f", "evaluate@vae")  # the stage and everything upstream of it
    assert stages_run(proc) == {"preprocess", "classifier", "train@vae", "generate@vae", "evaluate@vae"}
    assert (repo / "metrics" / "vae.json").read_bytes() == before
    assert sh(repo, env, "git", "status", "--porcelain").stdout == ""  # dvc.lock too: same hashes


def test_vae_param_reruns_the_vae_stages_only(repo, env, reproduced):
    proc = sh(repo, env, "dvc", "exp", "run", "-S", "vae.lr=1e-4")
    assert stages_run(proc) == {"train@vae", "generate@vae", "evaluate@vae", "summary"}
    assert "nll" in sh(repo, env, "dvc", "exp", "show", "--no-pager", "--md").stdout
    diff = sh(repo, env, "dvc", "metrics", "diff", "--md").stdout
    assert "metrics/vae.json" in diff and "nll" in diff
    sh(repo, env, "git", "checkout", "--", ".")
    sh(repo, env, "dvc", "checkout", "-q")


def test_markov_param_reruns_the_markov_stages_only(repo, env, reproduced):
    proc = sh(repo, env, "dvc", "exp", "run", "-S", "markov.smoothing=2.0")
    assert stages_run(proc) == {"train@markov", "generate@markov", "evaluate@markov", "summary"}
    sh(repo, env, "git", "checkout", "--", ".")
    sh(repo, env, "dvc", "checkout", "-q")


def test_gan_param_reruns_the_gan_stages_only(repo, env, reproduced):
    proc = sh(repo, env, "dvc", "exp", "run", "-S", "gan.lr=0.001")
    assert stages_run(proc) == {"train@gan", "generate@gan", "evaluate@gan", "summary"}
    sh(repo, env, "git", "checkout", "--", ".")
    sh(repo, env, "dvc", "checkout", "-q")


def test_generate_param_does_not_retrain(repo, env, reproduced):
    proc = sh(repo, env, "dvc", "exp", "run", "-S", "generate.n_samples=35")
    ran = stages_run(proc)
    assert {f"generate@{m}" for m in MODELS} <= ran
    assert not any(s.startswith("train@") for s in ran) and "preprocess" not in ran and "classifier" not in ran
    sh(repo, env, "git", "checkout", "--", ".")
    sh(repo, env, "dvc", "checkout", "-q")


@pytest.mark.parametrize("key, value", [("lr", -1), ("latent_dim", 0), ("lr", "abc"), ("lrr", 0.1)])
def test_bad_param_fails_in_one_line_and_checkout_restores(repo, env, reproduced, key, value):
    set_params(repo, vae={key: value})
    proc = sh(repo, env, "dvc", "repro", ok=False)
    assert proc.returncode != 0
    errors = [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and f"vae.{key}" in errors[0], proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    sh(repo, env, "git", "checkout", "--", "params.yaml")
    sh(repo, env, "dvc", "checkout", "-q")
    status = sh(repo, env, "dvc", "status").stdout
    assert "up to date" in status, status
