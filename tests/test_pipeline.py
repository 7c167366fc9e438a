"""End to end: the real pipeline in a temporary git + DVC repository, with tiny params.

Asserts which stages DVC runs after each kind of change (a param, the models list, one
model's code, a model added by the test itself), that a rerun is bit-for-bit identical,
that a bad param fails cleanly with the earlier results recoverable, and that a stage
killed half-way leaves nothing for git to see.
"""

import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

import psutil
import pytest
import yaml

from conftest import ROOT

pytestmark = pytest.mark.slow

PROJECT = ["genlab", "stages", "dvc.yaml", "params.yaml", ".dvcignore", ".gitignore", "data/raw"]
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


def exp_run(repo, env, *settings, ok=True):
    """`dvc exp run` with `-S` for each setting."""
    args = [a for s in settings for a in ("-S", s)]
    return sh(repo, env, "dvc", "exp", "run", *args, ok=ok)


def stages_run(proc) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", proc.stdout + proc.stderr))


def set_params(repo, **sections):
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text())
    for section, values in sections.items():
        params[section].update(values)
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


def init_repo(repo, env):
    """git + DVC in ``repo``, everything in it committed."""
    sh(repo, env, "git", "init", "-q", "-b", "main")
    sh(repo, env, "git", "config", "user.name", "genlab test")
    sh(repo, env, "git", "config", "user.email", "test@genlab.invalid")
    sh(repo, env, "dvc", "init", "-q")
    sh(repo, env, "dvc", "config", "core.analytics", "false")
    sh(repo, env, "git", "add", "-A")
    sh(repo, env, "git", "commit", "-q", "-m", "pipeline")


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    root = copy_project(tmp_path_factory.mktemp("pipeline"))
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
    init_repo(repo, env)
    proc = sh(repo, env, "dvc", "repro")
    sh(repo, env, "git", "add", "-A")
    sh(repo, env, "git", "commit", "-q", "-m", "results")
    return proc


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
    # outputs are DVC's, ignored by git; the metrics file is tracked by git
    tracked = sh(repo, None, "git", "ls-files").stdout.split()
    assert "metrics/models/vae.json" in tracked and not any(t.startswith(("models/vae", "data/prepared")) for t in tracked)


def test_forced_rerun_is_bit_for_bit_identical(repo, env, reproduced):
    before = (repo / "metrics" / "models" / "vae.json").read_bytes()
    proc = sh(repo, env, "dvc", "repro", "-f", "evaluate@vae")  # the stage and everything upstream of it
    assert stages_run(proc) == {"preprocess", "classifier", "train@vae", "generate@vae", "evaluate@vae"}
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
    rows = [line.split("|")[1].strip() for line in (repo / "metrics" / "summary.md").read_text().splitlines()[2:]]
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
    with open(repo / "genlab" / "classifier.py", "a") as f:
        f.write("# a comment\n")
    models = [m for m in yaml.safe_load((repo / "params.yaml").read_text())["models"]]
    assert changed_stages(repo, env) == {"classifier", "real", *(f"{s}@{m}" for s in ("train", "evaluate") for m in models)}
    restore(repo, env)
    assert changed_stages(repo, env) == set()


POOLED = '''"""A model written by a test: every pixel drawn from one categorical over the levels."""

import torch
from pydantic import Field

from genlab.models.base import GenerativeModel
from genlab.config.schema import Section


class Pooled(GenerativeModel):
    modalities = ("images",)
    trains_by_gradient = False

    class Params(Section):
        smoothing: float = Field(1.0, gt=0, description="pseudo-count of every level")

    def __init__(self, params, shape, n_levels):
        super().__init__(params, shape, n_levels)
        self.register_buffer("log_probs", torch.zeros(self.n_levels, dtype=torch.float64))

    def fit(self, train, val):
        counts = torch.bincount(train.flatten().long(), minlength=self.n_levels).double() + self.params.smoothing
        self.log_probs.copy_((counts / counts.sum()).log())
        return {}

    def log_prob(self, x):
        return self.log_probs[x.flatten(1).long()].sum(-1)

    def sample(self, n, generator, sampler=None):
        draws = torch.multinomial(self.log_probs.exp(), n * self.dim, replacement=True, generator=generator)
        return draws.reshape(n, *self.shape).to(torch.uint8)


MODEL = Pooled
'''


def test_a_model_added_by_a_test_runs_end_to_end(repo, env, reproduced):
    (repo / "genlab" / "models" / "pooled.py").write_text(POOLED)
    with open(repo / "params.yaml", "a") as f:  # its section: the only other file it needs
        f.write("\npooled:\n  smoothing: 1.0\n")
    try:
        proc = sh(repo, env, "dvc", "exp", "run", "-S", "models=[vae,pooled]")
        assert stages_run(proc) == {"train@pooled", "generate@pooled", "evaluate@pooled", "summary"}
        pooled = read(repo, "pooled")
        assert math.isfinite(pooled["nll"]) and pooled["nll"] < 64 * math.log(17) and "fid" in pooled  # < uniform
        assert "| pooled" in (repo / "metrics" / "summary.md").read_text()
    finally:
        restore(repo, env)


def test_a_killed_stage_leaves_nothing_for_git_and_the_rerun_cleans_up(repo, env, reproduced):
    restore(repo, env)
    assert sh(repo, env, "git", "status", "--porcelain").stdout == ""
    set_params(repo, vae={"epochs": 150, "patience": 150})
    dvc = subprocess.Popen(["dvc", "repro", "train@vae"], cwd=repo, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list((repo / "models").glob(".vae.*.tmp/live")) and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1)
    stage = [p for p in psutil.Process(dvc.pid).children(recursive=True) if "stages.train" in " ".join(p.cmdline())]
    assert stage, "the training stage was not running"
    stage[0].send_signal(signal.SIGKILL)
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
def set_top(repo, **values):
    """Top-level keys of params.yaml (``set_params`` sets keys of sections)."""
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params.update(values)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


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


def back_to(repo, env, rev):
    sh(repo, env, "git", "reset", "-q", "--hard", rev)
    sh(repo, env, "git", "clean", "-fdq")
    sh(repo, env, "dvc", "checkout", "-q")


def epochs_logged(repo) -> int:
    """Epochs the VAE's running (killed-to-be) training has logged: rows of its DVCLive train loss."""
    rows = [len(f.read_text().splitlines()) - 1 for f in (repo / "models").glob(".vae.*.tmp/live/plots/metrics/train/loss.tsv")]
    return max(rows, default=0)


def stage_processes(dvc_pid) -> list:
    """The stage processes DVC (``dvc_pid``) is running."""
    found = []
    try:
        children = psutil.Process(dvc_pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    for p in children:
        try:
            if "stages." in " ".join(p.cmdline()):
                found.append(p)
        except psutil.NoSuchProcess:  # a helper process that ended meanwhile
            pass
    return found


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
        deadline = time.time() + 300
        while epochs_logged(repo) < 30 and time.time() < deadline and run.poll() is None:
            time.sleep(0.05)
        stage = stage_processes(run.pid)
        assert stage and epochs_logged(repo) >= 30, "the training was not running halfway"
        stage[0].send_signal(signal.SIGKILL)
        assert run.wait(60) != 0
        assert (repo / "models" / ".vae.resume.pt").exists()
        assert sh(repo, env, "git", "status", "--porcelain").stdout.split() == ["M", "params.yaml"]  # nothing else to see
        proc = sh(repo, env, "dvc", "repro", "evaluate@vae")
        resumed = re.search(r"resuming from epoch (\d+)", proc.stdout + proc.stderr)
        assert resumed and 30 <= int(resumed.group(1)) - 1 < 60, proc.stdout
        assert stages_run(proc) == {"train@vae", "generate@vae", "evaluate@vae"}
        assert leftovers(repo) == []  # the state is deleted once the stage completes
        sh(repo, env, "git", "commit", "-qam", "60 epochs, resumed")
        for stage in ("train@vae", "generate@vae", "evaluate@vae"):  # now without a kill
            assert "resuming" not in sh(repo, env, "dvc", "repro", "-f", "-s", stage).stdout
        assert sh(repo, env, "git", "status", "--porcelain", "--untracked-files=all").stdout == ""  # dvc.lock, metrics
        assert json.loads((repo / "models" / "vae" / "train.json").read_text())["epochs"] == 60
    finally:
        back_to(repo, env, start)


KILLED_STAGES = ["preprocess", "classifier", "train@vae", "train@gan", "train@mixture", "generate@vae", "generate@gan",
                 "evaluate@vae", "evaluate@markov", "real", "summary"]


def test_killed_anywhere_then_repro_loses_nothing(repo, env, reproduced):
    """SIGKILL at a random moment (seeded) of a forced run of one stage, to the stage alone or to DVC
    and the stage together; then `dvc repro`: every metrics file and output as before, dvc.lock
    unchanged, `git status` clean, no temporary folder left behind."""
    restore(repo, env)
    metrics, lock = snapshot(repo, "metrics"), (repo / "dvc.lock").read_bytes()
    rng = random.Random(16)
    outcomes = []
    for i, stage in enumerate(rng.sample(KILLED_STAGES, 7)):
        delay = rng.uniform(1.5, 7.0)  # DVC itself takes about 2 s to start the stage
        run = subprocess.Popen(["dvc", "repro", "-f", "-s", stage], cwd=repo, env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + delay
        while time.time() < deadline and run.poll() is None:
            time.sleep(0.02)
        if run.poll() is not None:
            outcomes.append(f"{stage}: finished first")
        elif i % 2 and stage_processes(run.pid):
            stage_processes(run.pid)[0].send_signal(signal.SIGKILL)
            outcomes.append(f"{stage}: stage killed at {delay:.1f} s")
        else:
            os.killpg(run.pid, signal.SIGKILL)  # DVC and whatever it runs
            outcomes.append(f"{stage}: DVC killed at {delay:.1f} s")
        run.wait(60)
        sh(repo, env, "dvc", "repro")
        assert snapshot(repo, "metrics") == metrics, outcomes
        assert (repo / "dvc.lock").read_bytes() == lock, outcomes
        assert sh(repo, env, "git", "status", "--porcelain", "--untracked-files=all").stdout == "", outcomes
        assert leftovers(repo) == [], outcomes
    print("\n".join(outcomes))
    assert sum("killed" in o for o in outcomes) >= 5, outcomes  # most runs were really killed


def test_two_repros_at_once_one_stops_at_dvcs_lock(repo, env, reproduced):
    """A second `dvc repro` while one runs: DVC stops it at its lock, with DVC's message
    (`... is busy, it is being blocked by: (PID ...: dvc repro ...)`); the first completes."""
    restore(repo, env)
    lock = (repo / "dvc.lock").read_bytes()
    first = subprocess.Popen(["dvc", "repro", "-f", "-s", "train@vae"], cwd=repo, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 60
    while not stage_processes(first.pid) and time.time() < deadline and first.poll() is None:
        time.sleep(0.05)
    assert stage_processes(first.pid), "the first run did not start its stage"
    second = sh(repo, env, "dvc", "repro", ok=False)  # DVC's lock on the outputs the first run uses, or on the repo
    said = second.stderr + second.stdout
    assert second.returncode != 0 and re.search(r"is busy, it is being blocked by|Unable to acquire lock", said), said
    assert "Running stage" not in said
    out, _ = first.communicate(timeout=300)
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
