"""The one place that knows every model: name -> class, plus saving and loading checkpoints.

Models never import this module; it imports them.
"""

from __future__ import annotations

from pathlib import Path

import torch

from genlab.errors import GenlabError
from genlab.io import load_checkpoint
from genlab.models.base import GenerativeModel
from genlab.models.gan import GAN
from genlab.models.gaussian import Gaussian
from genlab.models.independent import Independent
from genlab.models.markov import Markov
from genlab.models.mixture import Mixture
from genlab.models.vae import VAE

MODELS: dict[str, type[GenerativeModel]] = {
    "vae": VAE,
    "independent": Independent,
    "markov": Markov,
    "mixture": Mixture,
    "gan": GAN,
    "gaussian": Gaussian,
}

CHECKPOINT = "model.pt"


def build(name: str, params, meta: dict) -> GenerativeModel:
    return MODELS[name](params, tuple(meta["shape"]), meta["n_levels"])


def save(model: GenerativeModel, name: str, meta: dict, path: str | Path) -> None:
    torch.save(
        {"model": name, "params": model.params.model_dump(), "meta": meta, "state_dict": model.state_dict()},
        path,
    )


def load(path: str | Path, device: str = "cpu") -> tuple[str, GenerativeModel]:
    ckpt = load_checkpoint(path, "model", "train", device)
    name = ckpt["model"]
    if name not in MODELS:
        raise GenlabError(f"{path}: unknown model {name!r}")
    cls = MODELS[name]
    model = build(name, cls.Params.model_validate(ckpt["params"]), ckpt["meta"])
    model.load_state_dict(ckpt["state_dict"])
    return name, model.to(device).eval()
