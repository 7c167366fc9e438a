"""The registry: a model's name -> its implementation for each kind of data, found by discovery.

A model is one module ``genlab/models/<name>.py`` that defines ``MODEL``: a ``GenerativeModel``
subclass, or a tuple of them when the model has one implementation per kind of data (the
textbook Markov chain is one concept over pixels, characters or chords). Each class says
which modalities it models (``modalities``) and carries the model's params section
(``Params``, the same for every implementation). Nothing else lists models: the params
schema, the stages, the summary and the docs all ask this module, which imports a model's
module only when that model is used. Models never import this module.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from pathlib import Path

from genlab.errors import GenlabError
from genlab.io import building_from, load_checkpoint, save_checkpoint

PACKAGE = "genlab.models"
FOLDER = Path(__file__).parent
NOT_MODELS = {"base", "registry"}  # modules of genlab/models that are not models (nor are private ones, "_name")
RESERVED = {"real", "classifier", "self_supervised", "summary"}  # names the pipeline uses for other rows and stages


def names() -> list[str]:
    """Every model's name: the modules in genlab/models, without importing them."""
    found = {m.name for m in pkgutil.iter_modules([str(FOLDER)]) if not m.name.startswith("_")}
    return sorted(found - NOT_MODELS - RESERVED)


@cache
def implementations(name: str) -> dict[str, type]:
    """{modality: class} of one model."""
    if name not in names():
        raise GenlabError(f"unknown model {name!r}; known: {', '.join(names())}")
    module = importlib.import_module(f"{PACKAGE}.{name}")
    declared = getattr(module, "MODEL", None)
    classes = declared if isinstance(declared, tuple) else (declared,)
    if declared is None or not all(isinstance(c, type) and getattr(c, "Params", None) for c in classes):
        raise GenlabError(f"{module.__file__}: defines no MODEL (a GenerativeModel class with Params, or a tuple of them)")
    if not all(c.modalities for c in classes):
        raise GenlabError(f"{module.__file__}: MODEL declares no modalities (the kinds of data it models)")
    return {modality: cls for cls in classes for modality in cls.modalities}


def params_class(name: str):
    """The model's params section (a ``genlab.config.schema.Section``)."""
    return next(iter(implementations(name).values())).Params


def models_for(modality: str) -> list[str]:
    """The models that can model this kind of data."""
    return [n for n in names() if modality in implementations(n)]


def implementation(name: str, modality: str) -> type:
    """The class of model ``name`` for this kind of data, or one line saying it does not apply."""
    impls = implementations(name)
    if modality not in impls:
        fits = ", ".join(models_for(modality)) or "none"
        raise GenlabError(
            f"{name}: models {' and '.join(impls)}, not {modality} data (models for {modality}: {fits})"
        )
    return impls[modality]


def build(name: str, params, meta: dict):
    return implementation(name, meta.get("kind", "images")).from_meta(params, meta)


def save(model, name: str, meta: dict, path: str | Path) -> None:
    save_checkpoint(
        {"model": name, "params": model.params.model_dump(), "meta": meta, "state_dict": model.state_dict()},
        path,
    )


def load(path: str | Path, device: str = "cpu"):
    """(name, model) from a checkpoint written by ``save``, in eval mode on ``device``."""
    name, model, _ = load_with_meta(path, device)
    return name, model


def load_with_meta(path: str | Path, device: str = "cpu"):
    """(name, model, meta): ``load``'s, and the description of the data it was trained on."""
    ckpt = load_checkpoint(path, "model", "train", device)
    with building_from(path, "model checkpoint", "train"):
        name, meta = ckpt["model"], ckpt["meta"]
        if name not in names():
            raise GenlabError(f"{path}: a checkpoint of model {name!r}, which this genlab does not have")
        model = build(name, params_class(name).model_validate(ckpt["params"]), meta)
        model.load_state_dict(ckpt["state_dict"])
    return name, model.to(device).eval(), meta
