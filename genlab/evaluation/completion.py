"""Completing images: the test images with a part hidden, the hidden part drawn by each model
given the rest, and how well that was done.

The parts (``completion.masks``), hidden in every channel of a pixel alike:
``bottom`` the last half of the rows; ``centre`` a square of half the side, centred; ``random``
half of the pixels, each image its own seeded choice. The first ``completion.n_images`` test
images are completed.

What is measured (``completion_metrics``): ``complete_nll_<mask>``, the nats of the hidden values
given the visible ones, log p(x_h | x_v), where the model has it (exact for the independent model,
the mixture, the Markov chain and, for ``bottom``, the PixelCNN; an importance-sampled estimate
for the VAE, named in ``complete_nll_method``); and on labelled images ``complete_accuracy_<mask>``,
the share of completed images the feature classifier gives the original's label. The real row
holds the classifier's accuracy on the same originals under every mask's key (the ceiling) and
``masked_accuracy_<mask>``, its accuracy on the masked inputs with the hidden pixels at level 0
(what the visible part alone tells it): a completion is useful in between and above.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from genlab.config.sections import CompletionParams
from genlab.data import modality
from genlab.data.images import image_grid
from genlab.data.prepare import Prepared
from genlab.io import atomic_file, write_npz
from genlab.models.base import GenerativeModel

FILE = "completions.npz"  # in samples/<model>/: ``completed_<mask>``, the completed test images
PICTURE = "completions.png"


def hidden_mask(name: str, shape: tuple[int, ...], n: int, seed: int = 0) -> torch.Tensor:
    """(n, D) bool over images of ``shape`` (C, H, W) flattened: True where mask ``name`` hides a
    value (every channel of a hidden pixel)."""
    C, H, W = shape
    if name == "random":
        gen = torch.Generator().manual_seed(seed)
        chosen = torch.rand(n, H * W, generator=gen).argsort(1)[:, : H * W // 2]
        pixels = torch.zeros(n, H * W, dtype=torch.bool).scatter_(1, chosen, True).view(n, 1, H, W)
    else:
        pixels = torch.zeros(1, 1, H, W, dtype=torch.bool)
        if name == "bottom":
            pixels[..., H - H // 2 :, :] = True
        elif name == "centre":
            h, w = H // 2, W // 2
            r, c = (H - h) // 2, (W - w) // 2
            pixels[..., r : r + h, c : c + w] = True
        else:
            raise ValueError(f"unknown mask {name!r}")
        pixels = pixels.expand(n, 1, H, W)
    return pixels.expand(n, C, H, W).reshape(n, C * H * W)


def test_images(data: Prepared, params: CompletionParams) -> torch.Tensor:
    """The test images that are completed: the first ``n_images``."""
    return data.test.x[: params.n_images]


def masked(x: torch.Tensor, hidden: torch.Tensor, level: int) -> torch.Tensor:
    """``x`` with its hidden values set to ``level``."""
    return x.flatten(1).masked_fill(hidden, level).reshape(x.shape)


@torch.no_grad()
def write_completions(model: GenerativeModel, data: Prepared, params: CompletionParams, out: Path) -> list[str]:
    """Complete the test images under every mask the model can, into ``out``: completions.npz
    (``completed_<mask>``) and completions.png (per mask and shown image: the original, the masked input
    with the hidden part grey, then ``draws_shown`` completions). Seeded by ``completion.seed``,
    apart from the samples' generator. Returns the files written (none when the model completes
    nothing, or the data are not images)."""
    if data.modality.name != modality.IMAGES.name or not params.masks:
        return []
    x = test_images(data, params).to(model.device)
    gen = torch.Generator(device=model.device).manual_seed(params.seed)
    arrays, rows = {}, []
    shown, draws = min(params.n_shown, len(x)), params.draws_shown
    grey = (model.n_levels - 1) // 2
    for name in params.masks:
        hidden = hidden_mask(name, model.shape, len(x), params.seed).to(model.device)
        done = model.complete(x, hidden, gen, params.steps)
        if done is None:
            continue
        arrays[f"completed_{name}"] = done.cpu().to(torch.uint8).numpy()
        again = model.complete(x[:shown].repeat_interleave(draws, 0), hidden[:shown].repeat_interleave(draws, 0), gen, params.steps)
        again = again.view(shown, draws, *model.shape)
        for i in range(shown):
            rows.append(torch.cat([x[i : i + 1], masked(x[i : i + 1], hidden[i : i + 1], grey), again[i]]).float().cpu())
    if not arrays:
        return []
    write_npz(out / FILE, **arrays)
    with atomic_file(out / PICTURE) as tmp:
        image_grid(torch.cat(rows), model.n_levels, nrow=2 + draws).save(tmp, format="png")
    return [FILE, PICTURE]


@torch.no_grad()
def completion_metrics(model: GenerativeModel, data: Prepared, completions: dict, params, classifier,
                       generator: torch.Generator) -> dict:
    """``complete_nll_<mask>`` (nats per image, mean over the completed test images) with its
    standard error and ``complete_nll_method``; ``complete_accuracy_<mask>`` where the data are
    labelled and the model completed under the mask (``completions``: ``completed_<mask>``
    arrays, as in completions.npz). ``params``: the whole params (``completion``; ``evaluate.iw_samples`` and
    ``batch_size`` for an estimate)."""
    p = params.completion
    x = test_images(data, p).to(model.device)
    out: dict = {}
    methods = set()
    for name in p.masks:
        hidden = hidden_mask(name, model.shape, len(x), p.seed).to(model.device)
        got = model.completion_log_prob(x, hidden, params.evaluate.iw_samples, generator, params.evaluate.batch_size, p.steps)
        if got is not None:
            logp, method = got
            nll = -logp.double().cpu()
            out[f"complete_nll_{name}"] = nll.mean().item()
            out[f"complete_nll_{name}_stderr"] = nll.std().item() / math.sqrt(len(nll)) if len(nll) > 1 else float("nan")
            methods.add(method)
        done = completions.get(f"completed_{name}")
        if classifier is not None and data.test.y is not None and done is not None:
            out[f"complete_accuracy_{name}"] = classifier.accuracy(torch.as_tensor(done), data.test.y[: len(x)])
    if methods:
        out["complete_nll_method"] = " / ".join(sorted(methods))
    if out:
        out["complete_n_images"] = len(x)
    return out


@torch.no_grad()
def real_completion_metrics(data: Prepared, p: CompletionParams, classifier) -> dict:
    """The real row: the classifier's accuracy on the originals (a perfect completion) under every
    mask's ``complete_accuracy_<mask>``, and on the masked inputs (hidden pixels at level 0) as
    ``masked_accuracy_<mask>``. Nothing without labels or masks."""
    if classifier is None or data.test.y is None or not p.masks:
        return {}
    x = test_images(data, p)
    y = data.test.y[: len(x)]
    original = classifier.accuracy(x, y)
    out: dict = {}
    for name in p.masks:
        out[f"complete_accuracy_{name}"] = original
        hidden = hidden_mask(name, tuple(x.shape[1:]), len(x), p.seed)
        out[f"masked_accuracy_{name}"] = classifier.accuracy(masked(x, hidden, 0), y)
    out["complete_n_images"] = len(x)
    return out
