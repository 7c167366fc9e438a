"""The pipeline's stages on other data: the 1-D normal example, 28x28 binarized IDX with a
convolutional VAE, the conv VAE on digits, a flat folder of unlabelled colour images. The stage functions run in-process in a
temporary folder (the DVC wiring itself is covered by test_pipeline.py)."""

import argparse
import csv
import json

import numpy as np
import pytest
import yaml

from helpers import ROOT, write_idx
from stages import classifier, evaluate, generate, preprocess, self_supervised, summary, train

pytestmark = pytest.mark.slow


def run_pipeline(folder, monkeypatch, models, **sections):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["models"] = models
    sections.setdefault("completion", {"n_images": 24, "steps": 5})  # completing every test image for 200 steps: minutes
    for name, values in sections.items():
        params.setdefault(name, {}).update(values)
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(folder)
    ns = lambda **kw: argparse.Namespace(params="params.yaml", **kw)
    preprocess.main(ns())
    classifier.main(ns())
    self_supervised.main(ns())
    for m in models:
        train.main(ns(model=m))
        generate.main(ns(model=m))
        evaluate.main(ns(model=m, real=False))
    evaluate.main(ns(model=None, real=True))
    summary.main(ns())
    read = lambda path: json.loads((folder / path).read_text())
    return {**{m: read(f"metrics/models/{m}.json") for m in models}, "real": read("metrics/real.json")}


def test_normal_example_end_to_end(tmp_path, monkeypatch):
    metrics = run_pipeline(
        tmp_path, monkeypatch, ["vae", "gaussian"],
        data={"source": "normal"},
        vae={"epochs": 30, "hidden": [16], "latent_dim": 1, "gmm_components": 2},
    )
    for m in ("vae", "gaussian"):
        keys = {"nll", "ks_statistic", "ks_pvalue", "wasserstein", "generated_mean", "generated_std",
                "test_mean", "test_std", "ks_pvalue_true"}
        assert keys <= set(metrics[m]) and "bits_per_dim" not in metrics[m] and "fid" not in metrics[m]
        assert np.isfinite(metrics[m]["nll"]) and metrics[m]["n_generated"] >= 1000
        rows = list(csv.DictReader(open(tmp_path / "samples" / m / "histogram.csv")))
        assert len(rows) == 30 and set(rows[0]) == {"value", "real", "generated"}
    assert "ks_statistic" in metrics["real"]
    # the fitted Gaussian's sample moments follow its fit to the training values
    train_x = np.load(tmp_path / "data" / "prepared" / "train.npz")["x"]
    assert abs(metrics["gaussian"]["generated_mean"] - train_x.mean()) < 0.15


def test_conv_vae_on_28x28_dynamically_binarized_idx(tmp_path, monkeypatch):
    folder = tmp_path / "raw"
    rng = np.random.default_rng(0)
    folder.mkdir()
    for split, n in (("train", 120), ("t10k", 40)):
        write_idx(folder / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), gz=True)
        write_idx(folder / f"{split}-labels-idx1-ubyte", (np.arange(n) % 2).astype(np.uint8), gz=True)
    work = tmp_path / "work"
    work.mkdir()
    metrics = run_pipeline(
        work, monkeypatch, ["vae", "independent"],
        data={"source": "idx", "path": str(folder), "binarize": "dynamic"},
        vae={"arch": "conv", "conv_width": 4, "epochs": 2, "latent_dim": 2, "gmm_components": 2, "train_k": 1},
        classifier={"epochs": 2, "hidden": [8], "feature_dim": 4},
        generate={"n_samples": 20, "grid_size": 4},
        evaluate={"iw_samples": 5, "n_samples": 12, "kid_subsets": 2},
    )
    for m in ("vae", "independent"):
        assert metrics[m]["nll"] < 784 * np.log(2) * 1.5 and "bits_per_dim" in metrics[m]
        assert metrics[m]["n_samples"] == 12
    samples = np.load(work / "samples" / "vae" / "samples.npz")["x"]
    assert samples.shape == (20, 1, 28, 28) and set(np.unique(samples)) <= {0, 1}


def test_conv_vae_on_digits(tmp_path, monkeypatch):
    metrics = run_pipeline(
        tmp_path, monkeypatch, ["vae"],
        vae={"arch": "conv", "conv_width": 8, "epochs": 2, "latent_dim": 4, "gmm_components": 2},
        classifier={"epochs": 2},
        evaluate={"iw_samples": 10},
    )
    assert metrics["vae"]["nll"] <= metrics["vae"]["neg_elbo"] and metrics["vae"]["nll"] < 181.3


def test_more_scored_samples_than_the_validation_split_is_a_clear_error(tmp_path, monkeypatch):
    import pytest

    from genlab.errors import GenlabError

    with pytest.raises(GenlabError, match=r"evaluate.n_samples: 500 is more than the validation split's 180"):
        run_pipeline(
            tmp_path, monkeypatch, ["independent"],
            classifier={"epochs": 1}, generate={"n_samples": 600}, evaluate={"n_samples": 500},
        )


def test_integer_table_is_dequantized_end_to_end(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    counts = rng.poisson([3.0, 8.0], size=(200, 2))
    (tmp_path / "counts.csv").write_text("a,b\n" + "".join(f"{a},{b}\n" for a, b in counts))
    metrics = run_pipeline(
        tmp_path, monkeypatch, ["vae", "gaussian"],
        data={"source": "csv", "path": str(tmp_path / "counts.csv")},
        vae={"epochs": 5, "hidden": [16], "latent_dim": 1, "gmm_components": 2},
    )
    meta = json.loads((tmp_path / "data" / "prepared" / "meta.json").read_text())
    assert meta["dequantized_columns"] == [0, 1]
    for m in ("vae", "gaussian"):
        assert np.isfinite(metrics[m]["nll"]) and "ks_statistic" in metrics[m] and "fid" not in metrics[m]
    # a density on x + u bounds the discrete likelihood from above; a Poisson(3) x Poisson(8)
    # has entropy 1.98 + 2.47 = 4.45 nats, so no honest model of these counts can score below it
    assert metrics["gaussian"]["nll"] > 4.3


def test_normal_example_with_the_readme_command_is_not_under_dispersed(tmp_path, monkeypatch):
    # docs/data.md's command: dvc exp run -S data.source=normal -S 'models=[vae,gaussian]'
    #   -S vae.hidden=[32,32] -S vae.latent_dim=1 (everything else the defaults).
    metrics = run_pipeline(
        tmp_path, monkeypatch, ["vae", "gaussian"], data={"source": "normal"}, vae={"hidden": [32, 32], "latent_dim": 1}
    )
    for m in ("vae", "gaussian"):
        ratio = metrics[m]["generated_std"] / metrics[m]["train_std"]
        assert 0.9 <= ratio <= 1.1, (m, ratio)
        assert metrics[m]["ks_pvalue"] > 0.05, m


def test_a_flat_folder_of_colour_images_is_unlabelled_and_the_gan_trains_on_it(tmp_path, monkeypatch):
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(100):  # smooth colour blobs: something with structure for the features to see
        yy, xx = np.mgrid[0:8, 0:8]
        cy, cx = rng.uniform(1, 7, 2)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 6.0)
        colour = rng.uniform(0.3, 1.0, 3)
        Image.fromarray((255 * blob[..., None] * colour).astype(np.uint8)).save(folder / f"img{i:03d}.png")
    work = tmp_path / "work"
    work.mkdir()
    metrics = run_pipeline(
        work, monkeypatch, ["independent", "gan"],
        data={"source": "imagefolder", "path": str(folder)},
        self_supervised={"epochs": 2, "batch_size": 16, "width": 4, "feature_dim": 8},
        gan={"epochs": 2, "eval_every": 1, "n_eval": 12},
        generate={"n_samples": 20, "grid_size": 4},
        evaluate={"n_samples": 8, "kid_subsets": 2},
    )
    meta = json.loads((work / "data" / "prepared" / "meta.json").read_text())
    assert meta["labels"] == "unlabelled" and not meta["has_labels"]
    assert json.loads((work / "metrics" / "classifier.json").read_text())["note"].startswith("unlabelled images")
    assert (work / "models" / "self_supervised" / "network.pt").exists()
    for row in ("independent", "gan", "real"):
        assert metrics[row]["features"] == "self_supervised" and np.isfinite(metrics[row]["fid"])
        assert "inception_score" not in metrics[row]  # no classes to predict
    assert "fid_shuffled" in metrics["real"] and metrics["real"]["labels"] == "unlabelled"
    summary_md = (work / "metrics" / "summary.md").read_text()
    assert "unlabelled" in summary_md and "self-supervised network's features" in summary_md
