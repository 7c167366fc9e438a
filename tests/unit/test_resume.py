"""Resumable training (genlab.training.resume): a run killed between epochs picks up where it stopped and
ends byte-identical to one that never stopped (weights, summary, every DVCLive file); a state of
other params, data or code is never resumed; a hostile checkpoint is refused in one line.

The kill here is an exception thrown from inside a training step (the in-process stand-in for
SIGKILL: nothing after it runs); tests/e2e/test_pipeline.py kills real stages with SIGKILL."""

import os
import subprocess
import sys

import pytest
import torch

from genlab.config.params import ClassifierParams
from genlab.errors import GenlabError
from genlab.evaluation.classifier import Classifier
from genlab.io import load_checkpoint
from genlab.models.ar import AutoRegressive
from genlab.models.gan import GAN
from genlab.models.vae import VAE
from genlab.training import resume
from genlab.training.loop import dynamic_binarizer, train_model
from helpers import ROOT


class Killed(BaseException):
    """Stands in for SIGKILL: not an Exception, so nothing catches it."""


def counting(model, kill_at: int | None = None) -> list[int]:
    """Count ``model``'s training steps (in the returned list); raise Killed at step ``kill_at``."""
    step = model.train_step
    calls = [0]

    def train_step(batch, optimizers):
        calls[0] += 1
        if calls[0] == kill_at:
            raise Killed
        return step(batch, optimizers)

    model.train_step = train_step
    return calls


class Features:  # a stand-in classifier for the GAN's validation FID: pixel means and spreads
    def predict(self, x):
        f = x.float().flatten(1)
        return torch.cat([f.mean(1, keepdim=True), f.std(1, keepdim=True)], 1), None


def digits(n=96):
    g = torch.Generator().manual_seed(1)
    return torch.randint(0, 17, (n, 1, 8, 8), dtype=torch.uint8, generator=g)


def vae():
    p = VAE.Params(epochs=6, patience=6, hidden=[16], latent_dim=2, batch_size=16, train_k=2, lr_schedule="cosine")
    return VAE(p, (1, 8, 8), 2)


def gan():
    model = GAN(GAN.Params(hidden=[8], latent_dim=2, epochs=6, eval_every=2, n_eval=10, lr=0.01, batch_size=16), (1, 8, 8), 17)
    model.attach_features(Features())
    return model


def classifier():
    return Classifier(ClassifierParams(epochs=6, patience=6, hidden=[16], feature_dim=4, batch_size=16, dropout=0.3), (1, 8, 8), 17, 10)


def ar():
    p = AutoRegressive.Params(arch="gru", context=8, layers=1, width=8, epochs=4, patience=4, batch_size=8, dropout=0.1)
    return AutoRegressive(p, (), 5)


CASES = {
    # name: (make the model, train, val, fresh (training tensor, transform) or None)
    "vae, dynamic binarization, cosine lr": (vae, lambda: digits(), lambda: (digits(32) > 8).to(torch.uint8),
                                             lambda: (digits(), dynamic_binarizer(17))),
    "gan: its own noise, snapshots": (gan, lambda: digits(), lambda: digits(32), None),
    "classifier: dropout": (classifier, lambda: (digits(), torch.arange(96) % 10), lambda: (digits(32), torch.arange(32) % 10), None),
    "ar (gru) on text: window offsets": (ar, lambda: torch.randint(0, 5, (400,), generator=torch.Generator().manual_seed(2)).to(torch.uint8),
                                         lambda: torch.randint(0, 5, (120,), generator=torch.Generator().manual_seed(3)).to(torch.uint8), None),
}


def run(tmp_path, name, make, train, val, fresh, checkpoint=None, kill_at=None):
    """One run of the stage's training, as stages/train.py does it: seeded, then the model, then
    the loop; returns (model, summary, {live file: bytes}, training steps taken)."""
    torch.manual_seed(0)
    model = make()
    steps = counting(model, kill_at)
    out = tmp_path / name
    summary = train_model(model, train(), val(), live_dir=out / "live", progress=False,
                          fresh=fresh() if fresh else None, checkpoint=checkpoint)
    return model, summary, resume.read_folder(out / "live"), steps[0]


@pytest.mark.parametrize("case", CASES)
def test_a_run_killed_mid_epoch_resumes_byte_identical(tmp_path, monkeypatch, capsys, case):
    monkeypatch.chdir(tmp_path)
    make, train, val, fresh = CASES[case]
    model, summary, live, steps = run(tmp_path, "whole", make, train, val, fresh)
    assert summary["epochs"] == model.params.epochs  # no early stop: every epoch ran
    path = tmp_path / "models" / ".m.resume.pt"
    with pytest.raises(Killed):  # past the middle of the run, inside an epoch
        run(tmp_path, "killed", make, train, val, fresh, resume.Checkpointer(path, "key", every=0), kill_at=steps * 3 // 5 + 1)
    saved = load_checkpoint(path, "state", "train")
    assert 2 <= saved["epoch"] < model.params.epochs
    capsys.readouterr()
    resumed, summary2, live2, steps2 = run(tmp_path, "resumed", make, train, val, fresh, resume.Checkpointer(path, "key", every=0))
    assert f"resuming from epoch {saved['epoch'] + 1}" in capsys.readouterr().out
    assert steps2 == steps * (model.params.epochs - saved["epoch"]) // model.params.epochs  # only the epochs left
    assert summary2 == summary
    assert live2 == live  # every DVCLive file, byte for byte: the curves, metrics.json, the GAN's pictures
    for (k, a), (k2, b) in zip(model.state_dict().items(), resumed.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(a, b), k


def test_a_state_of_other_params_data_or_code_is_not_resumed(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / ".m.resume.pt"
    make, train, val, fresh = CASES["vae, dynamic binarization, cosine lr"]
    with pytest.raises(Killed):
        run(tmp_path, "killed", make, train, val, fresh, resume.Checkpointer(path, "old key", every=0), kill_at=20)
    assert path.exists()
    _, summary, live, steps = run(tmp_path, "whole", make, train, val, fresh)
    capsys.readouterr()
    _, summary2, live2, steps2 = run(tmp_path, "other", make, train, val, fresh, resume.Checkpointer(path, "new key", every=0))
    err = capsys.readouterr().err
    assert f"not resuming from {path}: made with other params, data or code" in err
    assert summary2 == summary and live2 == live and steps2 == steps  # trained from the start


def test_the_key_follows_params_data_and_code(tmp_path):
    data = tmp_path / "prepared"
    data.mkdir()
    (data / "train.npz").write_bytes(b"abc")
    key = resume.key_of({"params": {"lr": 0.001}}, [data])
    assert resume.key_of({"params": {"lr": 0.001}}, [data]) == key
    assert resume.key_of({"params": {"lr": 0.002}}, [data]) != key
    (data / "train.npz").write_bytes(b"abd")
    assert resume.key_of({"params": {"lr": 0.001}}, [data]) != key
    assert any(f.name == "resume.py" for f in resume.code_files())  # the code it hashes: genlab's modules


def test_saves_at_most_every_so_many_seconds(tmp_path, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(resume.time, "monotonic", lambda: clock[0])
    c = resume.Checkpointer(tmp_path / ".m.resume.pt", "k", every=10)
    assert not c.due()
    clock[0] += 10
    assert c.due()
    c.save(lambda: {"epoch": 1})
    assert not c.due() and load_checkpoint(c.path, "state", "train")["epoch"] == 1
    assert not resume.Checkpointer(tmp_path / "x", "k", every=None).due()


def test_a_hostile_pickle_checkpoint_is_refused_in_one_line(tmp_path):
    """A checkpoint whose pickle would run a command: genlab loads weights-only, and says so in one
    line (PyTorch's own message is 20 lines advising weights_only=False); the command never runs."""
    marker = tmp_path / "ran"
    evil = tmp_path / "models" / "vae" / "model.pt"
    evil.parent.mkdir(parents=True)
    code = ("import os, pickle, torch\n"
            "class Evil:\n"
            f"    def __reduce__(self): return (os.system, ('touch {marker}',))\n"
            f"torch.save({{'model': 'vae', 'state_dict': Evil()}}, {str(evil)!r}, pickle_protocol=pickle.DEFAULT_PROTOCOL)\n")
    subprocess.run([sys.executable, "-c", code], check=True)
    proc = subprocess.run([sys.executable, "-c", "from genlab import cli\nfrom genlab.models import registry\n"
                           "cli.run(lambda a: registry.load('models/vae/model.pt'), None)"],
                          cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 1 and not marker.exists()
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: models/vae/model.pt: refused:") and "weights-only" in proc.stderr
    assert "weights_only=False" not in proc.stderr and "Warning" not in proc.stderr


@pytest.mark.parametrize("damage", ["truncated", "not a dict", "missing keys", "other shapes"])
def test_a_damaged_checkpoint_is_one_line(tmp_path, damage):
    from genlab.models import registry

    path = tmp_path / "model.pt"
    model = VAE(VAE.Params(hidden=[8], latent_dim=2), (1, 4, 4), 2)
    registry.save(model, "vae", {"kind": "images", "shape": [1, 4, 4], "n_levels": 2}, path)
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:300])
    elif damage == "not a dict":
        torch.save([1, 2], path)
    elif damage == "missing keys":
        torch.save({"model": "vae"}, path)
    else:
        ckpt = torch.load(path, weights_only=True)
        ckpt["meta"]["shape"] = [1, 8, 8]
        torch.save(ckpt, path)
    with pytest.raises(GenlabError, match=rf"^{path}: ") as err:
        registry.load(path)
    assert "\n" not in str(err.value)
