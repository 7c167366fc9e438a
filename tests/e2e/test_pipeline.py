"""End to end: the real pipeline in a temporary git + DVC repository, with tiny params.

Asserts which stages DVC runs after each kind of change (a param, the models list, one
model's code), that a rerun is bit-for-bit identical, that a bad param fails cleanly with
the earlier results recoverable, and that a stage killed half-way leaves nothing for git to
see. A stage is killed at a point of its own progress (an epoch logged, an output begun or
moved into place), never at a moment of the clock, so the outcome does not depend on the
machine's speed. (A model added the documented way: test_adding_a_model.py.)
"""

import json
import math
import os
import random
import re
import signal
import subprocess
import sys
import time

import pytest
import yaml

from helpers import (
    PAUSE_POINTS,
    ROOT,
    exp_run,
    kill,
    leftovers,
    paused_stage,
    pausing_env,
    set_params,
    set_top,
    sh,
    snapshot,
    stage_processes,
    stages_run,
    tiny_reproduced_repo,
)

pytestmark = pytest.mark.slow

MODELS = ["vae", "independent", "markov", "mixture", "gan", "pixelcnn", "flow"]
PER_MODEL = {f"{stage}@{m}" for stage in ("train", "generate", "evaluate") for m in MODELS}
ALL_STAGES = {"preprocess", "classifier", "self_supervised", "real", "summary"} | PER_MODEL
VAE_KEYS = {"nll", "nll_stderr", "neg_elbo", "bits_per_dim", "recon", "kl", "n_test", "fid_prior", "fid_gmm"}
SAMPLE_KEYS = {
    "fid", "kid", "precision", "recall", "density", "coverage", "inception_score", "classes_covered",
    "nn_distance_ratio", "exact_copy_rate", "n_samples",
}


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return tmp_path_factory.mktemp("pipeline")


@pytest.fixture(scope="module")
def reproduced(repo, env):
    """The tiny pipeline in ``repo``, reproduced once for the module's tests (each test leaves it as
    it found it): DVC's output."""
    return tiny_reproduced_repo(repo, env)


def summary_rows(repo) -> list[str]:
    """The row names of metrics/summary.md's first table (the quality one; the cost table follows)."""
    table = next(t for t in (repo / "metrics" / "summary.md").read_text().split("\n\n") if t.startswith("|"))
    return [line.split("|")[1].strip() for line in table.splitlines()[2:]]


def read(repo, name):
    path = f"metrics/{name}.json" if name in ("real", "classifier") else f"metrics/models/{name}.json"
    return json.loads((repo / path).read_text())


def restore(repo, env):
    """Back to the committed workspace: files, outputs, and no untracked leftovers."""
    sh(repo, env, "git", "checkout", "--", ".")
    sh(repo, env, "git", "clean", "-fdq")
    sh(repo, env, "dvc", "checkout", "-q")


def changed_stages_after(repo, env, **sections) -> set[str]:
    """The stages `dvc status` sees changed once params.yaml has ``sections``' values (then restored)."""
    set_params(repo, **sections)
    try:
        return changed_stages(repo, env)
    finally:
        sh(repo, env, "git", "checkout", "--", "params.yaml")


def changed_stages(repo, env) -> set[str]:
    status = json.loads(sh(repo, env, "dvc", "status", "--json").stdout or "{}")
    return {name.split(":")[-1] for name in status}


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
    # completion: every mask for the exact models and the VAE (an estimate), the GAN's accuracy only
    for name in ["independent", "markov", "mixture", "vae"]:
        metrics = read(repo, name)
        assert {f"complete_{k}_{m}" for k in ("nll", "accuracy") for m in ("bottom", "centre", "random")} <= set(metrics)
        assert metrics["complete_n_images"] == 30 and (repo / "samples" / name / "completions.png").stat().st_size > 0
    assert read(repo, "vae")["complete_nll_method"].startswith("importance-sampled estimate")
    assert read(repo, "pixelcnn")["complete_nll_method"] == "exact" and "complete_nll_centre" not in read(repo, "pixelcnn")
    assert "complete_accuracy_bottom" in gan and "complete_nll_bottom" not in gan
    assert {"complete_accuracy_bottom", "masked_accuracy_bottom"} <= set(real)
    assert "Completing test images" in summary
    # outputs are DVC's, ignored by git; the metrics file is tracked by git
    tracked = sh(repo, None, "git", "ls-files").stdout.split()
    assert "metrics/models/vae.json" in tracked and not any(t.startswith(("models/vae", "data/prepared")) for t in tracked)


def test_forced_rerun_is_bit_for_bit_identical(repo, env, reproduced):
    before = (repo / "metrics" / "models" / "vae.json").read_bytes()
    proc = sh(repo, env, "dvc", "repro", "-f", "evaluate@vae")  # the stage and everything upstream of it
    assert stages_run(proc) == {"preprocess", "classifier", "self_supervised", "train@vae", "generate@vae", "evaluate@vae"}
    assert (repo / "metrics" / "models" / "vae.json").read_bytes() == before
    assert sh(repo, env, "git", "status", "--porcelain").stdout == ""  # dvc.lock too: same hashes


def test_vae_param_reruns_the_vae_stages_only(repo, env, reproduced):
    proc = sh(repo, env, "dvc", "exp", "run", "-S", "vae.lr=1e-4")
    assert stages_run(proc) == {"train@vae", "generate@vae", "evaluate@vae", "summary"}
    assert "nll" in sh(repo, env, "dvc", "exp", "show", "--no-pager", "--md").stdout
    diff = sh(repo, env, "dvc", "metrics", "diff", "--md").stdout
    assert "metrics/models/vae.json" in diff and "nll" in diff
    restore(repo, env)


def test_markov_param_reruns_the_markov_stages_only(repo, env, reproduced):
    proc = sh(repo, env, "dvc", "exp", "run", "-S", "markov.smoothing=2.0")
    assert stages_run(proc) == {"train@markov", "generate@markov", "evaluate@markov", "summary"}
    restore(repo, env)


def test_gan_param_reruns_the_gan_stages_only(repo, env, reproduced):
    proc = sh(repo, env, "dvc", "exp", "run", "-S", "gan.lr=0.001")
    assert stages_run(proc) == {"train@gan", "generate@gan", "evaluate@gan", "summary"}
    restore(repo, env)


def test_generate_param_does_not_retrain(repo, env, reproduced):
    # `generate.n_samples` is a dependency of every generate@ stage (dvc status shows them all);
    # the run itself is made with the VAE alone, which is enough to see that nothing retrains
    assert {f"generate@{m}" for m in MODELS} <= changed_stages_after(repo, env, generate={"n_samples": 35})
    proc = sh(repo, env, "dvc", "exp", "run", "-S", "generate.n_samples=35", "-S", "models=[vae]")
    assert stages_run(proc) == {"generate@vae", "evaluate@vae", "real", "summary"}
    restore(repo, env)


def test_class_conditional_vae_and_gan_through_dvc(repo, env, reproduced):
    """The issue's command: `dvc exp run -S vae.conditional=true -S gan.conditional=true` retrains the
    two, draws every class, and scores whether the samples are of the class asked for."""
    proc = exp_run(repo, env, "vae.conditional=true", "gan.conditional=true")
    assert stages_run(proc) == {f"{s}@{m}" for s in ("train", "generate", "evaluate") for m in ("vae", "gan")} | {"summary"}
    vae, gan = read(repo, "vae"), read(repo, "gan")
    assert 0 <= vae["class_accuracy"] <= 1 and 0 <= gan["class_accuracy"] <= 1 and vae["class_samples"] == 40
    assert vae["nll_given_class"] > 0 and "nll" in vae and "nll_given_class" not in gan
    assert (repo / "samples" / "vae" / "classes.png").stat().st_size > 0
    assert "class_accuracy" in read(repo, "real") and "class_accuracy" in (repo / "metrics" / "summary.md").read_text()
    restore(repo, env)


def test_completion_params_redo_the_completions_and_their_scores_only(repo, env, reproduced):
    changed = changed_stages_after(repo, env, completion={"steps": 3})
    assert changed == {f"{s}@{m}" for s in ("generate", "evaluate") for m in MODELS} | {"real"}


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


@pytest.mark.parametrize("setting", ["vae.arch=conv,vae.prior=mog", "data.dequantize=false"])
def test_documented_keys_can_be_set_the_dvc_way(repo, env, reproduced, setting):
    proc = sh(repo, env, "dvc", "exp", "run", *(a for s in setting.split(",") for a in ("-S", s)))
    ran = stages_run(proc)
    if setting.startswith("vae."):
        assert ran == {"train@vae", "generate@vae", "evaluate@vae", "summary"}
    else:  # the digits have no continuous columns: the same data, nothing downstream reruns
        assert ran == {"preprocess"}
    restore(repo, env)


def test_changing_models_needs_no_edit_of_dvc_yaml(repo, env, reproduced):
    proc = sh(repo, env, "dvc", "exp", "run", "-S", "models=[vae,independent]")
    assert stages_run(proc) == {"summary"}  # both models' stages are up to date
    rows = summary_rows(repo)
    assert sorted(rows) == ["independent", "real", "vae"]
    restore(repo, env)


def test_editing_one_model_reruns_only_its_stages(repo, env, reproduced):
    with open(repo / "genlab" / "models" / "gan.py", "a") as f:
        f.write("# a comment\n")
    assert changed_stages(repo, env) == {"train@gan", "generate@gan", "evaluate@gan"}
    proc = sh(repo, env, "dvc", "repro")
    assert {"train@gan", "generate@gan", "evaluate@gan"} <= stages_run(proc) <= {
        "train@gan", "generate@gan", "evaluate@gan", "summary"}
    restore(repo, env)
    with open(repo / "genlab" / "evaluation" / "classifier.py", "a") as f:
        f.write("# a comment\n")
    models = [m for m in yaml.safe_load((repo / "params.yaml").read_text())["models"]]
    # the self-supervised stage too: it imports genlab.evaluation.features, which loads either network
    assert changed_stages(repo, env) == {"classifier", "self_supervised", "real",
                                         *(f"{s}@{m}" for s in ("train", "evaluate") for m in models)}
    restore(repo, env)
    assert changed_stages(repo, env) == set()


def test_a_killed_stage_leaves_nothing_for_git_and_the_rerun_cleans_up(repo, env, reproduced):
    restore(repo, env)
    assert sh(repo, env, "git", "status", "--porcelain").stdout == ""
    set_params(repo, vae={"epochs": 150, "patience": 150})
    dvc = subprocess.Popen(["dvc", "repro", "train@vae"], cwd=repo, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kill(stopped_when(dvc, lambda: epochs_logged(repo) >= 1))  # training, its folder begun
    assert dvc.wait(60) != 0
    assert list((repo / "models").glob(".vae.*.tmp"))  # the killed run's folder is there...
    assert sh(repo, env, "git", "status", "--porcelain").stdout.split() == ["M", "params.yaml"]  # ...and ignored
    proc = sh(repo, env, "dvc", "repro", "train@vae")  # the same command again: it runs, and cleans up
    assert stages_run(proc) == {"train@vae"}
    assert not list((repo / "models").glob(".vae.*"))
    status = sh(repo, env, "git", "status", "--porcelain", "--untracked-files=all").stdout.split("\n")
    assert sorted(line for line in status if line) == [" M dvc.lock", " M params.yaml"]  # the new run's, nothing else
    restore(repo, env)
    assert changed_stages(repo, env) == set()


# -- faults (issue #16): killed runs resume, a kill anywhere loses nothing, a full disk keeps the
# outputs, two runs at once meet DVC's lock. Each test leaves the repository as it found it.
def back_to(repo, env, rev):
    sh(repo, env, "git", "reset", "-q", "--hard", rev)
    sh(repo, env, "git", "clean", "-fdq")
    sh(repo, env, "dvc", "checkout", "-q")


def epochs_logged(repo) -> int:
    """Epochs the VAE's running (killed-to-be) training has logged: rows of its DVCLive train loss."""
    rows = [len(f.read_text().splitlines()) - 1 for f in (repo / "models").glob(".vae.*.tmp/live/plots/metrics/train/loss.tsv")]
    return max(rows, default=0)


def stopped_when(run, reached, limit=600):
    """The stage process of ``run`` (a `dvc repro`), stopped (SIGSTOP) as soon as ``reached()``
    holds while it runs; a run that ends first fails the test. ``limit`` (seconds) only bounds a
    run that hangs."""
    deadline = time.monotonic() + limit
    while True:
        stage = stage_processes(run.pid)
        if stage and reached():
            stage[0].suspend()
            return stage[0]
        assert run.poll() is None, "the run ended before the point the test stops it at"
        assert time.monotonic() < deadline, f"the point the test stops the run at not reached in {limit} s"
        time.sleep(0.02)


def test_a_killed_training_resumes_and_ends_byte_identical(repo, env, reproduced):
    """The issue's bar: `train@vae` killed with SIGKILL halfway, then `dvc repro`: the log says
    `resuming from epoch N`; then the same stages run again uninterrupted (forced) give the
    same bytes: the VAE's checkpoint, curves and metrics file, and dvc.lock (`git status` clean)."""
    restore(repo, env)
    start = sh(repo, env, "git", "rev-parse", "HEAD").stdout.strip()
    try:
        set_params(repo, vae={"epochs": 60, "patience": 60})
        set_top(repo, checkpoint_every=0)  # a state at every epoch's end (10 s by default)
        run = subprocess.Popen(["dvc", "repro", "evaluate@vae"], cwd=repo, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # epoch 31 logged: the state of epoch 30 is saved (an epoch's row is logged before its state)
        stage = stopped_when(run, lambda: epochs_logged(repo) >= 31)
        assert epochs_logged(repo) < 60, "the training was not running halfway"
        kill(stage)
        assert run.wait(60) != 0
        assert (repo / "models" / ".vae.resume.pt").exists()
        assert sh(repo, env, "git", "status", "--porcelain").stdout.split() == ["M", "params.yaml"]  # nothing else to see
        proc = sh(repo, env, "dvc", "repro", "evaluate@vae")
        resumed = re.search(r"resuming from epoch (\d+)", proc.stdout + proc.stderr)
        assert resumed and 30 <= int(resumed.group(1)) - 1 < 60, proc.stdout + proc.stderr
        assert stages_run(proc) == {"train@vae", "generate@vae", "evaluate@vae"}
        assert leftovers(repo) == []  # the state is deleted once the stage completes
        sh(repo, env, "git", "commit", "-qam", "60 epochs, resumed")
        for stage in ("train@vae", "generate@vae", "evaluate@vae"):  # now without a kill
            assert "resuming" not in sh(repo, env, "dvc", "repro", "-f", "-s", stage).stdout
        assert sh(repo, env, "git", "status", "--porcelain", "--untracked-files=all").stdout == ""  # dvc.lock, metrics
        assert json.loads((repo / "models" / "vae" / "train.json").read_text())["epochs"] == 60
    finally:
        back_to(repo, env, start)


# A stage process that stops itself (SIGSTOP) just after it saved its first resumable training
# state, writing its pid to $STATE_SAVED_MARKER first (DVC and other processes go on unhooked).
STATE_SAVED_HOOK = r"""
import os, signal, sys

_argv = getattr(sys, "orig_argv", [])
if "-m" in _argv[:-1] and _argv[_argv.index("-m") + 1].startswith("stages."):
    _replace = os.replace

    def _replacing(src, dst, *args, **kwargs):
        out = _replace(src, dst, *args, **kwargs)
        if str(dst).endswith(".resume.pt") and os.replace is _replacing:
            os.replace = _replace  # once
            marker = os.environ["STATE_SAVED_MARKER"]
            with open(marker + ".part", "w") as f:
                f.write(f"{os.getpid()}\n")
            os.replace(marker + ".part", marker)
            os.kill(os.getpid(), signal.SIGSTOP)
        return out

    os.replace = _replacing
"""


def test_a_killed_rerun_restored_from_the_run_cache_leaves_nothing(repo, env, reproduced, tmp_path):
    """After `dvc repro`, `dvc repro -f -s train@vae` killed (SIGKILL to DVC and the stage) once the
    stage has saved its resumable state, then `dvc repro`: DVC restores train@vae from its
    run-cache, so the stage's code never runs; the tidy stage (its deps are the output folders)
    deletes the state and the killed run's temporary folder. Nothing else changes."""
    restore(repo, env)
    metrics, lock = snapshot(repo, "metrics"), (repo / "dvc.lock").read_bytes()
    models = repo / "models"
    try:
        set_top(repo, checkpoint_every=0)  # a state at every epoch's end; no stage depends on it
        hook, marker = tmp_path / "hook", tmp_path / "saved"
        hook.mkdir()
        (hook / "sitecustomize.py").write_text(STATE_SAVED_HOOK)
        run = subprocess.Popen(["dvc", "repro", "-f", "-s", "train@vae"], cwd=repo, start_new_session=True,
                               env={**env, "PYTHONPATH": str(hook), "STATE_SAVED_MARKER": str(marker)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        stage = paused_stage(run, marker)
        assert stage, "train@vae ended without saving a state"
        assert (models / ".vae.resume.pt").exists() and list(models.glob(".vae.*.tmp")) and not (models / "vae").exists()
        os.killpg(run.pid, signal.SIGKILL)  # DVC and the stage
        kill(stage)
        run.wait(60)
        proc = sh(repo, env, "dvc", "repro")
        said = proc.stdout + proc.stderr
        assert "Stage 'train@vae' is cached - skipping run, checking out outputs" in said, said
        assert stages_run(proc) == set() and "Running stage 'tidy'" in said, said
        assert "removed models/.vae.resume.pt" in said, said
        assert leftovers(repo) == [], said
        assert snapshot(repo, "metrics") == metrics and (repo / "dvc.lock").read_bytes() == lock
        assert changed_stages(repo, env) == set()
        assert sh(repo, env, "git", "status", "--porcelain", "--untracked-files=all").stdout.split() == ["M", "params.yaml"]
    finally:
        restore(repo, env)


KILLED_STAGES = ["preprocess", "classifier", "train@vae", "train@gan", "train@mixture", "generate@vae", "generate@gan",
                 "evaluate@vae", "evaluate@markov", "real", "summary"]


def test_killed_anywhere_then_repro_loses_nothing(repo, env, reproduced, tmp_path):
    """SIGKILL to a forced run of one stage (seeded) at a point of the stage's own progress (just
    started; its first output begun; its first output about to be moved into place), to the stage
    alone or to DVC and the stage together; then `dvc repro`: every metrics file and output as
    before, dvc.lock unchanged, `git status` clean, no temporary folder left behind."""
    restore(repo, env)
    metrics, lock = snapshot(repo, "metrics"), (repo / "dvc.lock").read_bytes()
    rng = random.Random(16)
    outcomes = []
    for i, stage in enumerate(rng.sample(KILLED_STAGES, 7)):
        point, marker = PAUSE_POINTS[i % len(PAUSE_POINTS)], tmp_path / f"paused-{i}"  # every point, both ways
        run = subprocess.Popen(["dvc", "repro", "-f", "-s", stage], cwd=repo, env=pausing_env(env, point, marker),
                               start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        paused = paused_stage(run, marker)  # the stage stopped itself at that point
        if paused is None:
            outcomes.append(f"{stage}: finished before its {point}")
        elif i % 2:
            kill(paused)
            outcomes.append(f"{stage}: stage killed at its {point}")
        else:
            os.killpg(run.pid, signal.SIGKILL)  # DVC and whatever it runs
            kill(paused)
            outcomes.append(f"{stage}: DVC killed at the stage's {point}")
        run.wait(60)
        sh(repo, env, "dvc", "repro")
        assert snapshot(repo, "metrics") == metrics, outcomes
        assert (repo / "dvc.lock").read_bytes() == lock, outcomes
        assert sh(repo, env, "git", "status", "--porcelain", "--untracked-files=all").stdout == "", outcomes
        assert leftovers(repo) == [], outcomes
    print("\n".join(outcomes))
    assert all("killed" in o for o in outcomes), outcomes  # every stage reaches every point


def test_two_repros_at_once_one_stops_at_dvcs_lock(repo, env, reproduced, tmp_path):
    """A second `dvc repro` while one runs: DVC stops it at its lock, with DVC's message
    (`... is busy, it is being blocked by: (PID ...: dvc repro ...)`); the first completes. The
    first run's stage holds still (stopped as it starts) while the second tries, so the second
    meets the lock however fast the stage would be."""
    restore(repo, env)
    lock = (repo / "dvc.lock").read_bytes()
    first = subprocess.Popen(["dvc", "repro", "-f", "-s", "train@vae"], cwd=repo,
                             env=pausing_env(env, "start", tmp_path / "paused"),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    stage = paused_stage(first, tmp_path / "paused")
    assert stage, "the first run did not start its stage"
    try:
        second = sh(repo, env, "dvc", "repro", ok=False)  # DVC's lock on the outputs the first run uses, or on the repo
    finally:
        stage.resume()
    said = second.stderr + second.stdout
    assert second.returncode != 0 and re.search(r"is busy, it is being blocked by|Unable to acquire lock", said), said
    assert "Running stage" not in said
    out, _ = first.communicate(timeout=600)
    assert first.returncode == 0, out
    assert (repo / "dvc.lock").read_bytes() == lock  # the same result as before
    assert changed_stages(repo, env) == set() and leftovers(repo) == []
    assert sh(repo, env, "git", "status", "--porcelain", "--untracked-files=all").stdout == ""


@pytest.fixture(scope="module")
def full_disk(tmp_path_factory):
    """tests/native/fulldisk.c built: LD_PRELOAD it to make a folder's disk fill up after N bytes."""
    lib = tmp_path_factory.mktemp("native") / "fulldisk.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", str(lib), str(ROOT / "tests/native/fulldisk.c"), "-ldl"], check=True)
    return lib


# Each stage's command, the outputs it writes, and the bytes written before the disk is full
FULL_DISK = [
    ("preprocess", ["data/prepared"]),
    ("classifier", ["models/classifier", "metrics/classifier.json"]),
    ("train --model vae", ["models/vae"]),
    ("train --model gan", ["models/gan"]),
    ("generate --model vae", ["samples/vae"]),
    ("evaluate --model vae", ["metrics/models/vae.json"]),
    ("summary", ["metrics/summary.csv", "metrics/summary.md"]),
]


@pytest.mark.parametrize("command, outputs", FULL_DISK, ids=[c.replace(" --model ", "@") for c, _ in FULL_DISK])
def test_a_full_disk_stops_a_stage_in_one_line_and_keeps_its_outputs(repo, env, reproduced, full_disk, command, outputs):
    """The disk fills up (simulated: writes under the repository fail with ENOSPC once a seeded
    random share of the outputs' size is written) while the stage writes: exit 1, one line,
    the previous outputs byte for byte, nothing left behind."""
    restore(repo, env)
    before = snapshot(repo, *outputs)
    budget = random.Random(command).randrange(sum(len(b) for b in before.values()))
    disk = {**env, "LD_PRELOAD": str(full_disk), "FULL_DISK_UNDER": str(repo.resolve()), "FULL_DISK_AFTER": str(budget)}
    proc = subprocess.run([sys.executable, "-m", *f"stages.{command}".split()], cwd=repo, env=disk, capture_output=True, text=True)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    err = proc.stderr.strip().splitlines()
    assert err[-1].startswith("error: ") and "No space left on device" in err[-1] and "Traceback" not in proc.stderr, proc.stderr
    assert not [line for line in err[:-1] if line.strip() and "%|" not in line], proc.stderr  # only a progress bar besides
    assert snapshot(repo, *outputs) == before
    assert leftovers(repo) == []
    assert sh(repo, env, "git", "status", "--porcelain", "--untracked-files=all").stdout == ""


def test_the_new_families_run_beside_the_vae_on_one_likelihood_scale(repo, env, reproduced):
    """The issue's run: `models=[vae,mixture,gan,pixelcnn,diffusion,flow]`; each new family writes
    nll, bits_per_dim and fid; the models already reproduced do not rerun."""
    new = ["pixelcnn", "diffusion", "flow"]
    proc = sh(repo, env, "dvc", "exp", "run", "-S", "models=[vae,mixture,gan,pixelcnn,diffusion,flow]")
    ran = stages_run(proc)
    assert not ran & {f"{s}@{m}" for s in ("train", "generate", "evaluate") for m in ("vae", "mixture", "gan")}
    for m in new:
        metrics = read(repo, m)
        assert {"nll", "nll_stderr", "bits_per_dim", "fid"} <= set(metrics), m
        assert metrics["bits_per_dim"] == pytest.approx(metrics["nll"] / (64 * math.log(2)), rel=1e-5)  # 6 digits in the file
    assert read(repo, "diffusion")["nll"] == pytest.approx(sum(read(repo, "diffusion")[k] for k in ("nll_prior", "nll_diffusion", "nll_decoder")), rel=1e-5)
    assert read(repo, "flow")["dequant_bound"] >= read(repo, "flow")["nll"]
    rows = summary_rows(repo)
    assert sorted(rows) == sorted(["vae", "mixture", "gan", "real", *new])
    restore(repo, env)


def test_the_digits_in_self_supervised_features_through_dvc(repo, env, reproduced):
    """#26's run, `dvc exp run -S evaluate.features=self_supervised`, for two models (every model's
    evaluate reads the features through the same code): it trains the self-supervised network,
    every image row (GAN's checkpoint choice included) is measured in its features, and the
    metrics files say so."""
    proc = exp_run(repo, env, "evaluate.features=self_supervised", "models=[vae,gan]")
    ran = stages_run(proc)
    assert {"self_supervised", "train@gan", "evaluate@gan", "evaluate@vae", "real"} <= ran and "classifier" not in ran
    assert not ran & {f"{s}@{m}" for s in ("train", "generate", "evaluate") for m in set(MODELS) - {"vae", "gan"}}
    assert (repo / "models" / "self_supervised" / "network.pt").exists()
    for name in ["vae", "gan", "real"]:
        assert read(repo, name)["features"] == "self_supervised" and "inception_score" not in read(repo, name), name
    assert "fid_shuffled" in read(repo, "real")
    assert "self-supervised network's features" in (repo / "metrics" / "summary.md").read_text()
    restore(repo, env)


def test_a_trained_model_samples_outside_the_pipeline_and_leaves_it_untouched(repo, env, reproduced):
    """`genlab sample vae -n 16 --seed 3` twice gives the same bytes; the Python examples of
    docs/using-a-model.md run as written (the centre completion keeps the top rows); git and DVC
    see nothing changed."""
    restore(repo, env)
    for out in ("a", "b"):
        proc = sh(repo, env, "genlab", "sample", "vae", "-n", "16", "--seed", "3", "--out", out)
        assert proc.stdout.startswith(f"vae: 16 samples (seed 3) in {out}/")
    files = sorted(str(p.relative_to(repo / "a")) for p in (repo / "a").rglob("*") if p.is_file())
    assert len(files) == 18 and {"samples.png", "samples.npz", "png/sample_0016.png"} <= set(files)
    assert snapshot(repo / "a", ".") == snapshot(repo / "b", ".")
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "using-a-model.md").read_text(), re.S)
    example = "".join(blocks) + "assert done.shape == (4, 1, 8, 8) and (done[:, :, :2] == x[:4, :, :2]).all()\n"
    out = sh(repo, env, sys.executable, "-c", example).stdout.splitlines()
    assert out[0].startswith("<genlab vae: images 1x8x8, 17 levels") and out[1] == "(64, 1, 8, 8) uint8"
    assert float(out[2]) > 0
    assert sh(repo, env, "git", "status", "--porcelain").stdout.split() == ["??", "a/", "??", "b/"]
    assert changed_stages(repo, env) == set()
    restore(repo, env)


def test_dvc_artifacts_get_fetches_a_model_that_genlab_uses(repo, env, reproduced, tmp_path):
    """DVC's model registry: with a local remote pushed and a version registered (an annotated
    tag `vae@v1.0.0`, what `gto register vae` makes), `dvc artifacts get <repo> vae` from another
    folder fetches the VAE's checkpoint; `genlab sample` and `genlab.load` use it as it is."""
    restore(repo, env)
    start = sh(repo, env, "git", "rev-parse", "HEAD").stdout.strip()
    try:
        sh(repo, env, "dvc", "remote", "add", "-d", "local", str(tmp_path / "remote"))
        sh(repo, env, "dvc", "push", "-q")
        sh(repo, env, "git", "commit", "-qam", "a local remote")
        sh(repo, env, "git", "tag", "-a", "vae@v1.0.0", "-m", "the VAE on the digits")
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        sh(elsewhere, env, "dvc", "artifacts", "get", str(repo), "vae", "-o", "got.pt")
        assert (elsewhere / "got.pt").read_bytes() == (repo / "models" / "vae" / "model.pt").read_bytes()
        proc = sh(elsewhere, env, "genlab", "sample", "got.pt", "-n", "4", "--out", "drawn")
        assert proc.stdout.startswith("vae: 4 samples (seed 0) in drawn/") and (elsewhere / "drawn" / "samples.png").exists()
        code = "import genlab; print(genlab.load('got.pt').sample(4, seed=0).shape)"
        assert sh(elsewhere, env, sys.executable, "-c", code).stdout.strip() == "(4, 1, 8, 8)"
        shown = sh(repo, env, sys.executable, "-c", "import dvc.api; print(dvc.api.artifacts_show('vae', repo='.')['path'])")
        assert shown.stdout.strip() == "models/vae/model.pt"
    finally:
        sh(repo, env, "git", "tag", "-d", "vae@v1.0.0", ok=False)
        back_to(repo, env, start)
