"""Unlabelled images and the feature space of the sample metrics: flat and one-class folders are
unlabelled, `evaluate.features` resolves as documented, the known-bad reference keeps each
image's pixels, the self-supervised network trains without labels, and features that cannot
tell shuffled pixels from real images raise the summary's warning."""

import numpy as np
import pytest
import torch
from PIL import Image

from genlab.config.sections import DataParams, EvaluateParams, SelfSupervisedParams
from genlab.data import modality, sources
from genlab.data.prepare import Prepared, Split
from genlab.errors import GenlabError
from genlab.evaluation import evaluate as E
from genlab.evaluation import features
from genlab.evaluation.self_supervised import SelfSupervised, augment
from genlab.evaluation.summary import feature_check, feature_preamble, separates


def images(folder, n, size=6, colour=True, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        shape = (size, size, 3) if colour else (size, size)
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(folder / f"{i}.png")


def read(folder):
    return sources.imagefolder(DataParams(source="imagefolder", path=str(folder)))


def test_a_flat_folder_is_unlabelled_images(tmp_path):
    images(tmp_path, 5)
    (tmp_path / ".DS_Store").write_bytes(b"\0")  # what a file manager leaves behind
    raw = read(tmp_path)
    assert raw.x.shape == (5, 3, 6, 6) and raw.y is None


def test_one_class_folder_is_unlabelled_and_two_are_labelled(tmp_path):
    images(tmp_path / "cats", 4)
    assert read(tmp_path).y is None
    images(tmp_path / "dogs", 3, seed=1)
    assert read(tmp_path).y.tolist() == [0] * 4 + [1] * 3


def test_images_beside_class_folders_are_one_line(tmp_path):
    images(tmp_path / "cats", 2)
    images(tmp_path, 1)
    with pytest.raises(sources.DataError, match=r"0.png: an image beside the class sub-folders"):
        read(tmp_path)


def test_an_empty_folder_is_one_line(tmp_path):
    with pytest.raises(sources.DataError, match=r"no images \(expected"):
        read(tmp_path)


def meta(has_labels, n_classes, kind="images"):
    return {"kind": kind, "has_labels": has_labels, "n_classes": n_classes}


def test_auto_is_the_classifier_with_two_classes_else_self_supervised():
    assert features.space("auto", meta(True, 10)) == "classifier"
    assert features.space("auto", meta(True, 1)) == "self_supervised"  # one class: nothing to tell apart
    assert features.space("auto", meta(False, 0)) == "self_supervised"
    assert features.space("self_supervised", meta(True, 10)) == "self_supervised"
    assert features.space("auto", meta(False, 0, "text")) is None
    with pytest.raises(GenlabError, match=r"evaluate.features: `classifier` needs labelled images"):
        features.space("classifier", meta(False, 0))
    assert modality.labelled(meta(True, 10)) == "labelled, 10 classes" and modality.labelled(meta(False, 0)) == "unlabelled"


def test_the_shuffled_reference_keeps_each_images_pixels_and_their_colours():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.uint8).reshape(2, 3, 4, 4)
    s = features.shuffled(x, seed=0)
    assert torch.equal(s, features.shuffled(x, seed=0)) and not torch.equal(s, x)
    for i in range(2):  # the same pixels, each with its own three channels, in another order
        pixels = lambda t: sorted(map(tuple, t[i].reshape(3, -1).T.tolist()))
        assert pixels(s) == pixels(x)
    twins = features.shuffled(x[:1].repeat(2, 1, 1, 1), seed=0)
    assert not torch.equal(twins[0], twins[1])  # each image has its own permutation


def test_separation_needs_more_than_the_noise():
    assert separates(1.0, 0.2, 50.0, 3.0)
    assert not separates(1.0, 0.5, 2.0, 0.5)  # 1 < 2 x hypot(0.5, 0.5) = 1.41
    assert not separates(0.0, 0.0, 0.0, 0.0)  # constant features: both zero
    assert not separates(1.0, 0.1, float("nan"), 0.1)


class Constant(torch.nn.Module):
    """A feature network that outputs the same features for every image."""

    def predict(self, x):
        return torch.ones(len(x), 4, dtype=torch.float32), None


class Pixels(torch.nn.Module):
    """The pixels as features: a network that can tell shuffled images from real ones."""

    def predict(self, x):
        return x.flatten(1).float(), None


def digits_prepared(n=120):
    from sklearn.datasets import load_digits

    x = torch.from_numpy(load_digits().images.astype(np.uint8))[:, None][: 3 * n]
    split = lambda part: Split(x=part, y=None)
    meta = {"kind": "images", "shape": [1, 8, 8], "n_levels": 17, "has_labels": False, "n_classes": 0}
    return Prepared(train=split(x[:n]), val=split(x[n : 2 * n]), test=split(x[2 * n :]), meta=meta)


def real_row(network):
    from genlab.config.params import CoreParams

    params = CoreParams(evaluate=EvaluateParams(kid_subsets=2))
    return E.real_images(digits_prepared(), E.Setting(params, network, "self_supervised"))


def test_constant_features_raise_the_warning_and_pixels_do_not():
    real = real_row(Constant())
    assert real["features"] == "self_supervised" and real["labels"] == "unlabelled"
    warning = feature_check(real)
    assert warning and "cannot tell pixel-shuffled images from real ones" in warning
    assert any(line.startswith("**Warning:**") for line in feature_preamble(real))
    real = real_row(Pixels())
    assert real["fid_shuffled"] > 5 * real["fid"] and feature_check(real) is None
    assert "unlabelled" in feature_preamble(real)[0] and len(feature_preamble(real)) == 1


def test_augmented_views_stay_images_and_follow_the_seed():
    x = torch.rand(5, 3, 8, 8)
    torch.manual_seed(0)
    a = augment(x)
    torch.manual_seed(0)
    assert torch.equal(a, augment(x)) and a.shape == x.shape and 0 <= a.min() and a.max() <= 1


def test_the_self_supervised_network_learns_without_labels_and_round_trips(tmp_path):
    torch.manual_seed(0)
    data = digits_prepared()
    net = SelfSupervised(SelfSupervisedParams(width=8, feature_dim=16, batch_size=32), (1, 8, 8), 17)
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    x = data.train.x
    first = net.loss(x[:32]).item()
    for _ in range(200):
        loss = net.loss(x[torch.randint(len(x), (32,))])
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.manual_seed(1)
    assert net.loss(x[:32]).item() < first - 0.3  # it learns to tell the views of one image from the others
    feats, logits = net.predict(x)
    assert feats.shape == (len(x), 16) and logits is None
    net.save(tmp_path / "network.pt", data.meta)
    back = SelfSupervised.load(tmp_path / "network.pt")
    assert torch.equal(back.predict(x)[0], feats)


def test_a_damaged_network_file_is_one_line(tmp_path):
    (tmp_path / "network.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(GenlabError, match=r"network.pt"):
        SelfSupervised.load(tmp_path / "network.pt")


@pytest.mark.slow
def test_on_the_digits_self_supervised_features_put_the_independent_model_far_above_real(tmp_path):
    from genlab.data.prepare import load_prepared, prepare
    from genlab.metrics import samples as M
    from genlab.models import registry
    from genlab.training.loop import train_model

    prepare(DataParams(), tmp_path)
    data = load_prepared(tmp_path)
    torch.manual_seed(0)
    net = SelfSupervised(SelfSupervisedParams(max_steps=300), data.meta["shape"], data.meta["n_levels"])
    train_model(net, (data.train.x,), (data.val.x,), live_dir=None, progress=False)
    independent = registry.build("independent", registry.params_class("independent")(), data.meta)
    independent.fit(data.train.x, data.val.x)
    n = len(data.val.x)
    test = net.predict(data.test.x)[0]
    fake = net.predict(independent.sample(n, torch.Generator().manual_seed(0)))[0]
    real = net.predict(data.val.x)[0]
    # measured with the default budget (1,000 steps) on the pipeline's digits: 17.5 times (0.41 against 0.023)
    assert M.fid(test, fake) > 5 * M.fid(test, real)
