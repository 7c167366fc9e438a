import math

import pytest
import torch

from genlab.models.vae import VAE
from genlab.training.loop import Diverged, fit_gradient


class Exploding(VAE):
    """Its training loss turns NaN in the 9th training step (the third epoch of 4 steps)."""

    steps = 0

    def loss(self, x):
        loss = super().loss(x)
        if self.training:
            self.steps += 1
            if self.steps == 9:
                return loss * float("nan")
        return loss


def test_nan_loss_stops_training_naming_the_epoch():
    model = Exploding(VAE.Params(epochs=50, hidden=[16], latent_dim=2, batch_size=16, train_k=1), (1, 4, 4), 17)
    x = torch.randint(0, 17, (64, 1, 4, 4), dtype=torch.uint8)
    with pytest.raises(Diverged, match=r"the loss became nan in epoch 3; no model saved"):
        fit_gradient(model, x, x[:16], progress=False)


def test_on_a_gpu_the_check_waits_for_the_epochs_end(monkeypatch):
    """On CUDA the per-step check is skipped (it would wait for the device every step); the
    epoch's summed loss carries the NaN and stops the run at the epoch's end, the same way."""
    import genlab.training.loop as train

    monkeypatch.setattr(train, "check_finite", lambda loss, name="loss": loss)  # what a CUDA loss gets
    model = Exploding(VAE.Params(epochs=50, hidden=[16], latent_dim=2, batch_size=16, train_k=1), (1, 4, 4), 17)
    x = torch.randint(0, 17, (64, 1, 4, 4), dtype=torch.uint8)
    with pytest.raises(Diverged, match=r"the loss became nan in epoch 3; no model saved"):
        fit_gradient(model, x, x[:16], progress=False)


def test_cuda_precision_and_deterministic_cublas_are_set():
    import os

    from genlab import runtime

    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"  # set on import, before any cuBLAS call
    backends = (torch.backends.cuda.matmul, torch.backends.cudnn.conv, torch.backends.cudnn.rnn)
    before = [b.fp32_precision for b in backends]
    try:
        runtime.set_cuda_precision("high")
        assert [b.fp32_precision for b in backends] == ["tf32"] * 3
        runtime.set_cuda_precision("highest")
        assert [b.fp32_precision for b in backends] == ["ieee"] * 3  # cuDNN's default TF32 convolutions off
    finally:
        for b, value in zip(backends, before):
            b.fp32_precision = value
    assert runtime.setup("cpu", 0, "high") == torch.device("cpu")
    assert torch.backends.cuda.matmul.fp32_precision == before[0]  # the CPU path is untouched


def test_huge_learning_rate_diverges_or_trains_but_never_returns_nan_weights():
    model = VAE(VAE.Params(lr=10.0, epochs=20, hidden=[16], latent_dim=2, batch_size=16, train_k=1), (1, 4, 4), 17)
    x = torch.randint(0, 17, (64, 1, 4, 4), dtype=torch.uint8)
    try:
        fit_gradient(model, x, x[:16], progress=False)
    except Diverged:
        return
    assert all(torch.isfinite(p).all() for p in model.parameters())


class Scripted(VAE):
    """A model whose validation loss follows a script, to test early stopping and the kept weights."""

    script = [5.0, 3.0, 4.0, 4.0, 4.0, 1.0]

    def loss(self, x):
        if self.training:
            return super().loss(x)
        self.calls += 1  # one validation batch per epoch
        return torch.tensor(self.script[min(self.calls, len(self.script)) - 1])


def test_early_stopping_keeps_the_best_weights():
    model = Scripted(VAE.Params(epochs=20, patience=3, hidden=[4], latent_dim=1, train_k=1), (1, 2, 2), 3)
    model.calls = 0
    x = torch.randint(0, 3, (32, 1, 2, 2), dtype=torch.uint8)
    snapshots = []

    class Live:
        def log_metric(self, name, value):
            if name == "val/loss":
                snapshots.append({k: v.clone() for k, v in model.state_dict().items()})

        def next_step(self):
            pass

    result = fit_gradient(model, x, x[:2], live=Live(), progress=False)
    assert result.best_epoch == 2 and result.epochs_run == 5 and result.best_val_loss == 3.0
    for k, v in model.state_dict().items():
        assert torch.equal(v, snapshots[1][k])


def test_a_repository_without_a_commit_is_a_one_line_error(tmp_path, monkeypatch):
    import subprocess

    from dvc.repo import Repo

    from genlab.errors import GenlabError
    from genlab.training.loop import train_model

    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    Repo.init(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    model = VAE(VAE.Params(epochs=1, hidden=[4], latent_dim=1, train_k=1), (1, 2, 2), 3)
    x = torch.randint(0, 3, (8, 1, 2, 2), dtype=torch.uint8)
    with pytest.raises(GenlabError, match="no commit yet"):
        train_model(model, x, x, live_dir=tmp_path / "live", progress=False)


def test_cosine_schedule_runs_from_lr_to_lr_final():
    from genlab.config.schema import GradientParams
    from genlab.training.loop import lr_schedule

    p = GradientParams(lr=0.1, epochs=5, lr_schedule="cosine", lr_final=0.01)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=p.lr)
    sched, lrs = lr_schedule(opt, p), []
    for _ in range(6):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    # epoch e of 5 (0-based): 0.001 + 0.099 * (1 + cos(pi e / 4)) / 2; held at the end
    want = [0.001 + 0.099 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(5)] + [0.001]
    assert lrs == pytest.approx(want, abs=1e-12)
    assert lrs[0] == pytest.approx(0.1) and lrs[2] == pytest.approx(0.0505)
    constant = lr_schedule(opt := torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1), GradientParams(lr=0.1))
    for _ in range(3):
        opt.step()
        constant.step()
    assert opt.param_groups[0]["lr"] == 0.1


def test_allocator_setting_applies_where_glibc_runs():
    import platform
    import sys

    from genlab import runtime

    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert runtime.keep_freed_memory() is glibc


def test_torchrun_arguments_for_one_and_several_machines(monkeypatch):
    from genlab.config.params import DistributedParams
    from genlab.errors import GenlabError
    from genlab.training import distributed

    one = distributed.torchrun_args(DistributedParams(nproc_per_node=2), "stages.train", ["--model", "vae"])
    assert one == ["--nproc_per_node", "2", "--nnodes", "1", "--max_restarts", "0", "--standalone",
                   "--module", "stages.train", "--model", "vae"]
    p = DistributedParams(nnodes=2, rdzv_endpoint="10.0.0.1:29400")
    monkeypatch.setenv("GENLAB_NODE_RANK", "1")
    two = distributed.torchrun_args(p, "stages.train", [])
    assert two[6:12] == ["--rdzv_backend", "static", "--rdzv_endpoint", "10.0.0.1:29400", "--node_rank", "1"]
    monkeypatch.setenv("GENLAB_NODE_RANK", "2")
    with pytest.raises(GenlabError, match="GENLAB_NODE_RANK='2'"):
        distributed.torchrun_args(p, "stages.train", [])


def test_threads_follow_genlab_threads(monkeypatch):
    from genlab import runtime
    from genlab.errors import GenlabError

    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("GENLAB_THREADS", "1")
        assert runtime.set_threads() == 1
        monkeypatch.setenv("GENLAB_THREADS", "two")
        with pytest.raises(GenlabError, match="GENLAB_THREADS"):
            runtime.set_threads()
    finally:
        torch.set_num_threads(before)


def test_max_steps_stops_at_that_many_steps_and_validates_the_last_one():
    """4 steps an epoch, a cap of 10: epochs 1 and 2 whole, epoch 3 stopped after its second step,
    then validated (the cap is counted in steps, never in time)."""
    model = VAE(VAE.Params(epochs=50, patience=50, batch_size=8, hidden=[4], latent_dim=1, train_k=1, max_steps=10), (1, 2, 2), 3)
    x = torch.randint(0, 3, (32, 1, 2, 2), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    steps, validations = [], []
    step, score = model.train_step, model.validation_score
    model.train_step = lambda batch, opts: (steps.append(len(batch[0])), step(batch, opts))[1]
    model.validation_score = lambda val, epoch: (validations.append(epoch), score(val, epoch))[1]
    result = fit_gradient(model, x, x[:8], progress=False)
    assert (result.steps, result.epochs_run, len(steps), validations) == (10, 3, 10, [1, 2, 3])
