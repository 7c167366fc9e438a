"""The registry finds models by their module alone and knows which kinds of data each models.
(A model added the way CONTRIBUTING.md says, end to end: test_adding_a_model.py.)"""

from pathlib import Path

import pytest
import torch

from genlab.errors import GenlabError
from genlab.models import registry
from genlab.models.base import GenerativeModel


def test_models_are_discovered_from_their_modules():
    """Every public module of genlab/models/ but base and registry is a model (a model added the
    documented way needs no edit here)."""
    folder = Path(registry.__file__).parent
    modules = sorted(p.stem for p in folder.glob("*.py") if not p.stem.startswith("_") and p.stem not in ("base", "registry"))
    assert registry.names() == modules
    assert set(SHIPPED) <= set(modules)


SHIPPED = ["ar", "diffusion", "flow", "gan", "gaussian", "independent", "markov", "mixture", "pixelcnn", "vae"]


def test_which_models_apply_to_which_data():
    shipped = lambda kind: [m for m in registry.models_for(kind) if m in SHIPPED]
    assert shipped("images") == ["diffusion", "flow", "gan", "independent", "markov", "mixture", "pixelcnn", "vae"]
    assert shipped("continuous") == ["flow", "gaussian", "vae"]
    assert shipped("text") == ["ar", "independent", "markov"]


def test_a_model_given_data_it_cannot_model_stops_in_one_line():
    with pytest.raises(GenlabError) as info:
        registry.implementation("gan", "continuous")
    assert str(info.value) == "gan: models images, not continuous data (models for continuous: flow, gaussian, vae)"
    with pytest.raises(GenlabError, match="unknown model 'glow'; known: ar, diffusion, flow, gan, "):
        registry.implementations("glow")


def test_every_model_declares_what_the_stages_call():
    for name in registry.names():
        for modality, cls in registry.implementations(name).items():
            assert issubclass(cls, GenerativeModel) and modality in cls.modalities
            assert cls.Params is registry.params_class(name)
            if not cls.trains_by_gradient:
                assert cls.fit is not GenerativeModel.fit, name


def test_save_and_load_round_trip(tmp_path):
    params = registry.params_class("independent")()
    meta = {"shape": [1, 2, 2], "n_levels": 3, "kind": "images"}
    model = registry.build("independent", params, meta)
    model.fit(torch.randint(0, 3, (20, 1, 2, 2), dtype=torch.uint8), None)
    registry.save(model, "independent", meta, tmp_path / "m.pt")
    name, again = registry.load(tmp_path / "m.pt")
    assert name == "independent" and torch.equal(again.log_probs, model.log_probs)

