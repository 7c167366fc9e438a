"""Class-conditional models (`conditional: true`): one closed-form model per class, exact and
normalised; the VAE and the GAN given the class; the metrics of drawing the class asked for."""

import math

import pytest
import torch
from test_completion import brute_force, every_image

from genlab.config.params import parse_params
from genlab.errors import GenlabError
from genlab.evaluation import classes as K
from genlab.evaluation import completion as C
from genlab.models import registry
from genlab.models.base import PerClass
from genlab.models.independent import Independent
from genlab.training.loop import train_model

SHAPE, LEVELS = (1, 2, 2), 3
META = {"kind": "images", "shape": list(SHAPE), "n_levels": LEVELS, "has_labels": True, "n_classes": 3}


def labelled(n=90, seed=0):
    """Images whose first pixel is their label (0, 1, 2), the rest noisy around it."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = (y[:, None] + torch.randint(-1, 2, (n, 4), generator=g)).clamp(0, 2)
    x[:, 0] = y
    return x.to(torch.uint8).view(n, *SHAPE), y


def build(name, **params):
    p = parse_params({name: {"conditional": True, **params}}, models=[name])
    torch.manual_seed(0)
    return registry.build(name, p.model_params(name), META)


class FirstPixel:
    """A classifier that reads the label off the first pixel."""

    def accuracy(self, x, y):
        return (x.flatten(1)[:, 0].long() == y.long()).double().mean().item()


@pytest.mark.parametrize("name", ["independent", "mixture", "markov"])
def test_one_closed_form_model_per_class_exact_and_normalised(name):
    model = build(name, **({"n_components": 2} if name == "mixture" else {}))
    assert isinstance(model, PerClass) and model.conditional
    x, y = labelled()
    model.fit((x, y), (x, y))
    images = every_image(SHAPE, LEVELS)
    assert model.log_prob(images).exp().sum().item() == pytest.approx(1.0, abs=1e-9)
    assert model.log_class_prior.exp().tolist() == pytest.approx([1 / 3] * 3)
    # p(x | y) is the class's own model, fitted on its images alone
    alone = registry.build(name, registry.params_class(name)(**({"n_components": 2} if name == "mixture" else {})), META)
    alone.fit(x[y == 1], x[y == 1])
    ones = torch.ones(len(images), dtype=torch.long)
    got = model.class_likelihood_metrics(images, ones, None, None)["nll_given_class"]
    assert got == pytest.approx(-alone.log_prob(images).double().mean().item(), abs=1e-9)
    # completion sums over the classes, exactly
    hidden = C.hidden_mask("bottom", SHAPE, len(images))
    logp, method = model.completion_log_prob(images, hidden)
    assert method == "exact" and logp.tolist() == pytest.approx(brute_force(model, images, hidden).tolist(), abs=1e-9)


def test_the_class_asked_for_is_drawn_and_unasked_classes_follow_their_frequencies():
    model = build("independent", smoothing=1e-9)  # no mass on levels a class never shows
    x, y = labelled()
    keep = (y != 2) | (torch.arange(len(y)) < 30)  # class 2 rarer: 10 of 70
    model.fit((x[keep], y[keep]), (x, y))
    asked = torch.tensor([0, 1, 2] * 100)
    drawn = model.sample(300, torch.Generator().manual_seed(0), labels=asked)
    assert FirstPixel().accuracy(drawn, asked) == 1.0  # every class's model puts its label in the first pixel
    free = model.sample(7000, torch.Generator().manual_seed(1))
    share = (free.flatten(1)[:, 0] == 2).double().mean().item()
    assert share == pytest.approx(10 / 70, abs=0.015)


def test_a_model_that_ignores_the_class_scores_one_over_the_classes():
    model = build("independent")
    x, y = labelled(3000)
    shuffled = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(0))]  # labels that say nothing
    model.fit((x, shuffled), (x, shuffled))
    asked = torch.arange(3).repeat_interleave(1000)
    drawn = model.sample(3000, torch.Generator().manual_seed(0), labels=asked)
    samples = {"class_x": drawn, "class_y": asked}
    data = type("D", (), {"test": type("S", (), {"x": x[:30], "y": y[:30]})()})()
    params = parse_params({}, models=[])
    out = K.class_metrics(model, data, samples, params, FirstPixel(), None)
    assert out["class_accuracy"] == pytest.approx(1 / 3, abs=0.04) and out["class_samples"] == 3000
    assert "nll_given_class" in out


def test_conditional_on_unlabelled_images_is_one_line():
    meta = {**META, "has_labels": False, "n_classes": 0}
    p = parse_params({"vae": {"conditional": True}}, models=["vae"])
    with pytest.raises(GenlabError, match=r"^vae.conditional: true needs labelled images of at least two classes; these data have no labels"):
        registry.build("vae", p.model_params("vae"), meta)


@pytest.mark.parametrize("name, params", [
    ("vae", {"hidden": [16], "latent_dim": 2, "epochs": 2, "gmm_components": 2}),
    ("gan", {"hidden": [16], "latent_dim": 4, "epochs": 2, "eval_every": 1, "n_eval": 20}),
])
def test_the_vae_and_the_gan_train_sample_and_reload_given_the_class(name, params, tmp_path):
    model = build(name, **params)
    x, y = labelled(60)
    if model.needs_features:
        model.attach_features(type("F", (), {"predict": lambda self, images: (images.flatten(1).float(), None)})())
    keep = (y != 2) | (torch.arange(len(y)) < 30)
    train_model(model, model.inputs(type("S", (), {"x": x[keep], "y": y[keep]})()), (x, y), live_dir=None, progress=False)
    assert model.log_class_prior.exp().tolist() == pytest.approx([20 / 50, 20 / 50, 10 / 50])  # fitted before training
    model.eval()
    asked = torch.tensor([0, 1, 2, 2])
    drawn = model.sample(4, torch.Generator().manual_seed(0), labels=asked)
    assert drawn.shape == (4, *SHAPE) and drawn.dtype == torch.uint8
    path = tmp_path / "model.pt"
    registry.save(model, name, META, path)
    _, again = registry.load(path)
    assert again.n_classes == 3 and torch.equal(again.sample(4, torch.Generator().manual_seed(0), labels=asked), drawn)
    if name == "vae":
        out = model.class_likelihood_metrics(x[:8], y[:8], parse_params({}).evaluate.model_copy(update={"iw_samples": 4}), None)
        full = model.likelihood_metrics(x[:8], parse_params({}).evaluate.model_copy(update={"iw_samples": 4}), None)
        assert math.isfinite(out["nll_given_class"]) and math.isfinite(full["nll"])
    assert model.complete(x[:2], C.hidden_mask("bottom", SHAPE, 2), torch.Generator(), 2) is None  # not built yet


def test_class_samples_are_written_per_class_only_for_a_conditional_model(tmp_path):
    x, y = labelled()
    params = parse_params({"generate": {"n_samples": 30, "seed": 1}}).generate
    plain = Independent(Independent.Params(), SHAPE, LEVELS)
    plain.fit(x, x)
    assert K.write_class_samples(plain, None, params, tmp_path) == []
    model = build("independent")
    model.fit((x, y), (x, y))
    assert K.write_class_samples(model, None, params, tmp_path) == [K.FILE, K.PICTURE]
    import numpy as np

    arrays = np.load(tmp_path / K.FILE)
    assert arrays["class_y"].tolist() == [0] * 10 + [1] * 10 + [2] * 10
    assert (arrays["class_x"][:, 0, 0, 0] == arrays["class_y"]).all()


def test_a_loaded_conditional_model_draws_the_label_asked_for(tmp_path):
    import genlab

    x, y = labelled()
    model = build("independent", smoothing=1e-9)
    model.fit((x, y), (x, y))
    path = tmp_path / "model.pt"
    registry.save(model, "independent", META, path)
    drawn = genlab.load(path).sample(12, seed=0, label=2)
    assert drawn.shape == (12, *SHAPE) and (drawn[:, 0, 0, 0] == 2).all()
    with pytest.raises(GenlabError, match=r"^label: a class 0\.\.2, not 3"):
        genlab.load(path).sample(2, label=3)
    plain = Independent(Independent.Params(), SHAPE, LEVELS)
    plain.fit(x, x)
    registry.save(plain, "independent", META, tmp_path / "plain.pt")
    with pytest.raises(GenlabError, match=r"^label: independent is not class-conditional"):
        genlab.load(tmp_path / "plain.pt").sample(2, label=1)


def test_the_summary_shows_class_accuracy_only_beside_a_class_conditional_model(tmp_path):
    import json

    from genlab.evaluation.summary import summary_table

    (tmp_path / "m").mkdir()
    (tmp_path / "real.json").write_text(json.dumps({"fid": 1.0, "class_accuracy": 0.97}))
    (tmp_path / "m" / "vae.json").write_text(json.dumps({"nll": 80.0, "fid": 3.0}))
    assert "class_accuracy" not in summary_table(tmp_path / "m", ["vae"], tmp_path / "real.json")
    (tmp_path / "m" / "vae.json").write_text(json.dumps({"nll": 80.0, "fid": 3.0, "class_accuracy": 0.9}))
    assert summary_table(tmp_path / "m", ["vae"], tmp_path / "real.json")["class_accuracy"].tolist() == [0.9, 0.97]


@pytest.mark.parametrize("kind", ["music", "text"])
def test_conditional_on_music_or_text_is_one_line(kind):
    meta = {"kind": kind, "shape": [88] if kind == "music" else [1], "n_levels": 2 if kind == "music" else 30,
            "has_labels": False, "n_classes": 0, "n_chords": 5, "vocab": list("ab")}
    p = parse_params({"markov": {"conditional": True}}, models=["markov"])
    with pytest.raises(GenlabError, match=r"^markov.conditional: true needs labelled images"):
        registry.build("markov", p.model_params("markov"), meta)


def test_the_conditional_pixelcnn_is_exact_given_the_class_and_over_classes():
    """Random weights (class biases included): p(x | y) sums to one over every image for each class,
    p(x) too, and sampling with a class draws from p(x | y) (same generator, same draws as scoring)."""
    model = build("pixelcnn", layers=2, width=8).double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.5)
    images = every_image(SHAPE, LEVELS)
    for c in range(3):
        given = model.log_prob_given(images, torch.full((len(images),), c))
        assert given.exp().sum().item() == pytest.approx(1.0, abs=1e-9)
    assert model.log_prob(images).exp().sum().item() == pytest.approx(1.0, abs=1e-9)
    drawn = model.sample(3000, torch.Generator().manual_seed(0), labels=torch.full((3000,), 2))
    logp = model.log_prob_given(images, torch.full((len(images),), 2))
    freqs = torch.tensor([(drawn.flatten(1) == im.flatten()).all(1).double().mean().item() for im in images])
    assert (freqs - logp.exp()).abs().max().item() < 0.04


def test_no_model_shadows_the_training_inputs_hook():
    """The train stage calls ``model.inputs(split)`` on every model: a model's own method of that name
    (the autoregressive model once had one, for its shifted windows) would break its training."""
    import importlib

    from genlab.models.base import GenerativeModel

    for name in registry.names():
        found = importlib.import_module(f"genlab.models.{name}").MODEL
        for cls in found if isinstance(found, tuple) else (found,):
            assert cls.inputs is GenerativeModel.inputs, f"{name}: {cls.__name__} overrides inputs"
