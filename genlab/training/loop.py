"""The one training loop for every model that trains by gradient steps.

The model supplies ``loss`` (mean per example, nats), or its own optimizers and step
through the ``Trainable`` hooks (``genlab.models.base``); the loop does the rest:
seeded in-memory batching of uint8 tensors, Adam, the validation loss every
epoch, early stopping with patience, the best weights kept, curves logged to
DVCLive, a progress bar, and a clean stop if the loss stops being finite.
"""

from __future__ import annotations

import contextlib
import copy
import math
from dataclasses import dataclass

import torch
from tqdm import tqdm

from genlab.data import noise
from genlab.errors import GenlabError
from genlab.metrics.cost import TrainingCount, counting
from genlab.models.base import Tensors, Trainable, _as_tuple, mean_loss  # noqa: F401 (mean_loss: part of the loop's interface)
from genlab.nn.optim import NonFinite, check_finite, make_adam  # noqa: F401 (re-exported for scripts)
from genlab.training import distributed


class Diverged(GenlabError):
    """The loss became NaN or infinite."""


@dataclass
class FitResult:
    best_epoch: int
    best_val_loss: float
    epochs_run: int
    steps: int  # optimisation steps in all (a capped run stops at ``max_steps``)
    flop: int = 0  # the run's FLOP (``genlab.metrics.cost.TrainingCount``)


def default_step(model: Trainable, batch: tuple, optimizers: list) -> dict[str, torch.Tensor]:
    """One Adam step on ``model.loss(*batch)`` (what ``Trainable.train_step`` does)."""
    return Trainable.train_step(model, batch, optimizers)


def lr_schedule(opt: torch.optim.Optimizer, p) -> torch.optim.lr_scheduler.LRScheduler:
    """The section's schedule, stepped once per epoch: constant, or a half cosine from lr at
    the first epoch to ``lr_final * lr`` at the last (``epochs``)."""
    if p.lr_schedule == "cosine":
        span = max(p.epochs - 1, 1)
        return torch.optim.lr_scheduler.LambdaLR(
            opt, lambda e: p.lr_final + (1 - p.lr_final) * 0.5 * (1 + math.cos(math.pi * min(e, span) / span))
        )
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0)


def dynamic_binarizer(grey_levels: int):
    """A batch transform: fresh Bernoulli pixels from grey images, every time (dynamic binarization)."""

    def transform(batch: tuple, generator: torch.Generator) -> tuple:
        x, *rest = batch
        return (noise.binarize(x, grey_levels, generator), *rest)

    return transform


def dequantizer(columns: list[int]):
    """A batch transform: fresh uniform noise U(0, 1) on the integer columns, every time."""

    def transform(batch: tuple, generator: torch.Generator) -> tuple:
        x, *rest = batch
        return (noise.dequantize(x, columns, generator), *rest)

    return transform


def fresh_training_data(data, labels: bool = False) -> tuple | None:
    """(training tensor, batch transform) where every epoch sees fresh noise (dynamic binarization,
    dequantization), else None; ``data`` is a ``genlab.data.prepare.Prepared``. With ``labels`` (a
    class-conditional model), the training tensors are (images, labels)."""
    if data.meta.get("binarize") == "dynamic":
        grey = data.train.x_grey
        return ((grey, data.train.y.long()) if labels else grey), dynamic_binarizer(data.meta["grey_levels"])
    if data.meta.get("dequantized_columns"):
        return data.train.x_int, dequantizer(data.meta["dequantized_columns"])
    return None


def fit_gradient(
    model: Trainable, train: Tensors, val: Tensors, live=None, progress: bool = True, transform=None,
    checkpoint=None, resume: dict | None = None,
) -> FitResult:
    """Train ``model`` in place; leaves it holding the weights that did best on validation.

    ``train`` and ``val`` are a tensor or a tuple of tensors (images, labels, ...) split
    into batches together; ``model.params`` holds the ``GradientParams``; the loop calls
    the ``Trainable`` hooks (``make_optimizers``, ``train_step``, ``validation_score``,
    ``snapshot``). ``transform(batch, generator)``, if given, remakes every training batch
    (dynamic binarization, dequantization). ``checkpoint`` (a ``genlab.training.resume.Checkpointer``)
    saves a resumable state at epoch boundaries; ``resume``, such a state, continues a killed
    run from the epoch after the one it saved, exactly as if it had never stopped.
    """
    p = model.params
    device = next(model.parameters()).device
    train, val = _as_tuple(train, device), _as_tuple(val, device)
    rank, size = distributed.world()
    if size > 1:  # DDP copies rank 0's weights everywhere; then each rank draws its own noise
        model.distribute(distributed.wrap)
        torch.manual_seed(p.seed + rank)
    gen = torch.Generator(device="cpu").manual_seed(p.seed)  # the batch order: the same on every device and rank
    # a transform's noise is drawn where the batch is (one process on the CPU: from the same stream)
    noise_gen = gen if device.type == "cpu" and size == 1 else torch.Generator(device=device).manual_seed(p.seed + rank)
    optimizers = model.make_optimizers()
    schedules = [lr_schedule(opt, p) for opt in optimizers]
    metric = model.validation_metric
    best_loss, best_epoch, best_state = math.inf, 0, None
    done = 0  # epochs already run (by a killed run that saved its state)
    flop = TrainingCount(processes=size)
    if resume is not None:
        done, best_loss, best_epoch, best_state = _restore(resume, model, optimizers, schedules, gen, noise_gen)
        flop.restore(resume["flop"])
        if rank == 0:
            print(f"resuming from epoch {done + 1} (epochs 1-{done} restored from {checkpoint.path if checkpoint else 'a saved state'})", flush=True)
    n = len(train[0])
    per_epoch = -(-len(distributed.shard(torch.arange(n))) // p.batch_size)  # steps per epoch (the same on every rank)
    cap = model.step_cap() or math.inf
    steps = done * per_epoch
    progress = progress and rank == 0
    bar = tqdm(range(done + 1, p.epochs + 1), desc="train", unit="epoch", disable=None if progress else True,
               leave=False, initial=done, total=p.epochs)
    epoch = done
    for epoch in bar:
        model.train()
        order = distributed.shard(torch.randperm(n, generator=gen)).to(device)  # this rank's share
        seen = 0  # examples trained on this epoch, over every rank
        sums: dict[str, torch.Tensor] = {}  # on the device, float64: read once per epoch, no sync per step
        try:
            for start in range(0, len(order), p.batch_size):
                index = order[start : start + p.batch_size]
                batch = tuple(t[index] for t in train)
                if transform is not None:
                    batch = transform(batch, noise_gen)
                for name, value in flop.step(lambda: model.train_step(batch, optimizers), len(index)).items():
                    term = value.detach().double() * len(index)
                    sums[name] = sums[name] + term if name in sums else term
                steps += 1
                seen += len(index) * size
                if steps >= cap:  # the step budget: this epoch ends here (validated below)
                    break
        except NonFinite as exc:
            raise Diverged(f"training diverged: {exc} in epoch {epoch}; no model saved") from None
        totals = {name: distributed.all_sum(total).item() for name, total in sums.items()}
        for name, total in totals.items():
            if not math.isfinite(total):  # a GPU run's per-step checks are deferred to here
                raise Diverged(f"training diverged: the {name} became {total} in epoch {epoch}; no model saved")
        for schedule in schedules:
            schedule.step()
        val_loss = flop.validation(lambda: model.validation_score(val, epoch))
        if val_loss is not None and not math.isfinite(val_loss):
            raise Diverged(f"training diverged: the validation {metric} became {val_loss} in epoch {epoch}; no model saved")
        if val_loss is not None and val_loss < best_loss:
            best_loss, best_epoch = val_loss, epoch
            best_state = copy.deepcopy(model.state_dict())
        if live is not None:
            for name, total in totals.items():
                live.log_metric(f"train/{name}", total / seen)
            if val_loss is not None:
                live.log_metric(f"val/{metric}", val_loss)
                picture = model.snapshot()  # e.g. the GAN's fixed-noise samples, at every validation
                if picture is not None:
                    live.log_image(f"samples/epoch_{epoch:04d}.png", picture)
            live.next_step()
        shown = {k: f"{v / seen:.3g}" for k, v in totals.items()}
        bar.set_postfix(**shown, val="-" if val_loss is None else f"{val_loss:.3g}", best=f"{best_loss:.3g}@{best_epoch}")
        if epoch - best_epoch >= p.patience or steps >= cap:
            break
        if checkpoint is not None and epoch < p.epochs and checkpoint.due():
            checkpoint.save(lambda: _state(epoch, model, optimizers, schedules, gen, noise_gen,
                                           best_loss, best_epoch, best_state, live, flop))
    bar.close()
    model.undistribute()
    if best_state is None:
        raise Diverged(f"training measured no validation {metric} in {epoch} epochs; no model saved")
    model.load_state_dict(best_state)
    model.eval()
    return FitResult(best_epoch=best_epoch, best_val_loss=best_loss, epochs_run=epoch, steps=steps, flop=flop.total())


def _state(epoch, model, optimizers, schedules, gen, noise_gen, best_loss, best_epoch, best_state, live, flop) -> dict:
    """What a resumed run needs to go on exactly as this one would (``_restore`` reads it back)."""
    from genlab.training.resume import read_folder

    return {
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizers": [opt.state_dict() for opt in optimizers],
        "schedules": [s.state_dict() for s in schedules],
        "best": {"loss": best_loss, "epoch": best_epoch, "state": best_state},
        "rng": {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
            "order": gen.get_state(),
            "noise": None if noise_gen is gen else noise_gen.get_state(),
            "model": model.training_state(),
        },
        "live": {} if live is None else read_folder(live.dir),
        "flop": flop.state(),
    }


def _restore(state: dict, model, optimizers, schedules, gen, noise_gen) -> tuple:
    """Load a saved state into the model, optimisers, schedules and generators; returns
    (epochs done, best loss, best epoch, best weights)."""
    model.load_state_dict(state["model"])
    for opt, saved in zip(optimizers, state["optimizers"], strict=True):
        opt.load_state_dict(saved)
    for schedule, saved in zip(schedules, state["schedules"], strict=True):
        schedule.load_state_dict(saved)
    rng = state["rng"]
    torch.set_rng_state(rng["torch"])
    if rng["cuda"]:
        torch.cuda.set_rng_state_all(rng["cuda"])
    gen.set_state(rng["order"])
    if rng["noise"] is not None:
        noise_gen.set_state(rng["noise"])
    model.restore_training_state(rng["model"])
    best = state["best"]
    return state["epoch"], best["loss"], best["epoch"], best["state"]


def open_live(live_dir, resume: dict | None = None):
    """DVCLive's logger of the curves in ``live_dir``; with ``resume`` (a saved training state),
    the files it had logged are put back and logging goes on from the step after them."""
    from dvclive import Live

    if resume is not None:
        from genlab.training.resume import write_folder

        write_folder(live_dir, resume["live"])
    # dvcyaml=None: DVCLive must not edit dvc.yaml; save_dvc_exp=False: DVC runs the experiment.
    try:
        live = Live(dir=str(live_dir), dvcyaml=None, save_dvc_exp=False, report=None, resume=resume is not None)
        if resume is not None:
            live.step = resume["epoch"]  # DVCLive's own resume leaves step 0 after one logged step
        return live
    except Exception as exc:  # DVCLive reads the git revision even where there is none yet
        if "Empty git repo" in str(exc):
            raise GenlabError("the git repository has no commit yet; commit once before running the pipeline") from None
        raise


def train_model(
    model: Trainable, train: Tensors, val: Tensors, live_dir, progress: bool = True, fresh=None, checkpoint=None
) -> dict:
    """Fit any model: the shared gradient loop with DVCLive curves, or the model's closed-form ``fit``.

    ``fresh`` = (training tensor, batch transform), from ``fresh_training_data``: the
    gradient loop then trains on fresh binarizations or dequantizations every epoch, while
    closed-form fits and ``finish_fit`` use ``train``, the one seeded draw. ``checkpoint`` (a
    ``genlab.training.resume.Checkpointer``): resume from its saved state if it has one, save one as
    training goes.
    """
    if not model.trains_by_gradient:
        with counting() as c:
            summary = model.fit(train, val)
        n = len(train[0] if isinstance(train, tuple) else train)
        return {**summary, "steps": 0, "train_flop": c.total + model.uncounted_flop("fit", n)}
    model.begin_fit(train[0] if isinstance(train, tuple) else train)
    if getattr(model, "conditional", False):  # a class-conditional model's p(y), before it draws any sample
        model.fit_class_prior(train[1])
    if fresh is not None:
        (loop_train, transform), loop_val = fresh, val
    else:
        loop_train, loop_val, transform = model.training_batches(train, val)
    resume = None if checkpoint is None else checkpoint.load()
    live = None if live_dir is None else open_live(live_dir, resume)  # None: a rank other than 0 writes nothing
    with live or contextlib.nullcontext():
        result = fit_gradient(model, loop_train, loop_val, live=live, progress=progress, transform=transform,
                              checkpoint=checkpoint, resume=resume)
        if live is not None:
            live.summary["best_epoch"] = result.best_epoch
    summary = {"best_epoch": result.best_epoch, "best_val_loss": result.best_val_loss, "epochs": result.epochs_run,
               "steps": result.steps, "train_flop": result.flop}
    summary.update(model.finish_fit(train, val))
    return summary
