"""Data-parallel training under torchrun with gloo on this machine's CPU (tiny configs): the
stages run in two processes, only rank 0 writes, the loss falls, two "machines" on 127.0.0.1
give the same model byte for byte as two processes on one, a sequence model trains too, and a
failure is one line."""

import os
import socket
import subprocess
import sys

import pytest
import yaml

from helpers import ROOT, TINY

pytestmark = pytest.mark.slow


def run(folder, *args, params="params.yaml", ok=True):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", *args, "--params", params], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=600)
    if ok:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def write_params(path, **changes):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for section, values in {**TINY, **changes}.items():
        if isinstance(values, dict):
            params[section].update(values)
        else:
            params[section] = values
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The digits prepared, the classifier trained (in one process: it trains by the same loop and
    hooks as the VAE), then the VAE and the GAN in two processes."""
    root = tmp_path_factory.mktemp("ddp")
    write_params(root / "one.yaml", models=["vae", "gan"])
    write_params(root / "params.yaml", models=["vae", "gan"], distributed={"nproc_per_node": 2},
                 vae={**TINY["vae"], "epochs": 4, "patience": 4})
    run(root, "stages.preprocess")
    run(root, "stages.classifier", params="one.yaml")
    for model in ("vae", "gan"):
        proc = run(root, "stages.train", "--model", model)
        assert "2 processes" in proc.stdout
    return root


def train_json(folder, model):
    return yaml.safe_load((folder / "models" / model / "train.json").read_text())


def test_two_processes_train_and_only_rank_0_writes(folder):
    assert train_json(folder, "classifier")["world_size"] == 1
    for model in ("vae", "gan"):
        assert train_json(folder, model)["world_size"] == 2
    assert sorted(p.name for p in (folder / "models").iterdir()) == ["classifier", "gan", "vae"]  # no leftovers
    assert sorted(p.name for p in (folder / "models/vae").iterdir()) == ["live", "model.pt", "train.json"]
    lines = (folder / "models/vae/live/plots/metrics/train/loss.tsv").read_text().splitlines()
    assert lines[0] == "step\tloss" and len(lines) == 1 + train_json(folder, "vae")["epochs"]  # one writer


def test_the_loss_falls(folder):
    rows = (folder / "models/vae/live/plots/metrics/train/loss.tsv").read_text().splitlines()[1:]
    losses = [float(r.split("\t")[1]) for r in rows]
    assert losses[-1] < losses[0]


def test_two_machines_on_localhost_match_two_processes(folder):
    """nnodes=2, one process each, rendezvous on 127.0.0.1: the same two ranks, and the same model
    byte for byte as the run in two processes on one machine (so a rerun is identical too)."""
    expected = (folder / "models/vae/model.pt").read_bytes()
    write_params(folder / "two.yaml", models=["vae", "gan"], vae={**TINY["vae"], "epochs": 4, "patience": 4},
                 distributed={"nproc_per_node": 1, "nnodes": 2, "rdzv_endpoint": f"127.0.0.1:{free_port()}"})
    cmd = [sys.executable, "-m", "stages.train", "--model", "vae", "--params", "two.yaml"]
    nodes = [subprocess.Popen(cmd, cwd=folder, env=dict(os.environ, PYTHONPATH=str(ROOT), GENLAB_NODE_RANK=str(rank)),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for rank in (1, 0)]
    outs = [n.communicate(timeout=300)[0] for n in nodes]
    assert all(n.returncode == 0 for n in nodes), outs
    assert "train vae:" not in outs[0] and "train vae:" in outs[1]  # the first machine's rank 0 reports and writes
    assert train_json(folder, "vae")["world_size"] == 2
    assert (folder / "models/vae/model.pt").read_bytes() == expected


def test_a_failure_is_one_line(folder):
    write_params(folder / "bad.yaml", models=["vae"], distributed={"nproc_per_node": 2},
                 vae={**TINY["vae"], "lr": 1e6})
    proc = run(folder, "stages.train", "--model", "vae", params="bad.yaml", ok=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: distributed training failed")
    assert "training diverged" in proc.stderr


def test_a_sequence_model_trains_in_two_processes(tmp_path):
    (tmp_path / "book.txt").write_text("the cat sat on the mat and the dog ran to the house. " * 40)
    write_params(tmp_path / "params.yaml", models=["ar"], distributed={"nproc_per_node": 2},
                 data={"source": "text", "path": str(tmp_path / "book.txt")},
                 ar={"epochs": 2, "context": 16, "layers": 1, "width": 16, "heads": 2, "batch_size": 8})
    run(tmp_path, "stages.preprocess")
    run(tmp_path, "stages.train", "--model", "ar")
    assert train_json(tmp_path, "ar")["world_size"] == 2
