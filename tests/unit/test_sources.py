"""Every data source on small generated files, and every kind of bad input."""

import gzip
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from genlab.config.params import DataParams
from genlab.data.prepare import load_prepared, prepare
from genlab.data.sources import DataError, load
from helpers import ROOT, write_idx


def idx_folder(tmp_path, gz=True, n_train=60, n_test=20):
    rng = np.random.default_rng(0)
    folder = tmp_path / "mnist"
    folder.mkdir(parents=True)
    write_idx(folder / "train-images-idx3-ubyte", rng.integers(0, 256, (n_train, 6, 5), dtype=np.uint8), gz=gz)
    write_idx(folder / "train-labels-idx1-ubyte", (np.arange(n_train) % 3).astype(np.uint8), gz=gz)
    write_idx(folder / "t10k-images-idx3-ubyte", rng.integers(0, 256, (n_test, 6, 5), dtype=np.uint8), gz=False)
    write_idx(folder / "t10k-labels-idx1-ubyte", (np.arange(n_test) % 3).astype(np.uint8), gz=False)
    return folder


@pytest.mark.parametrize("gz", [True, False])
def test_idx_source_keeps_the_t10k_files_as_test_split(tmp_path, gz):
    folder = idx_folder(tmp_path, gz=gz)
    meta = prepare(DataParams(source="idx", path=str(folder)), tmp_path / "prepared")
    assert meta["shape"] == [1, 6, 5] and meta["n_levels"] == 256 and meta["n_classes"] == 3
    assert meta["counts"] == {"train": 54, "val": 6, "test": 20}
    data = load_prepared(tmp_path / "prepared")
    raw_test = load(DataParams(source="idx", path=str(folder))).test_x
    assert np.array_equal(data.test.x.numpy(), raw_test)


def test_dynamic_and_static_binarization(tmp_path):
    folder = idx_folder(tmp_path)
    dyn = prepare(DataParams(source="idx", path=str(folder), binarize="dynamic"), tmp_path / "d")
    assert dyn["n_levels"] == 2 and dyn["grey_levels"] == 256
    data = load_prepared(tmp_path / "d")
    assert set(np.unique(data.train.x.numpy())) <= {0, 1} and data.train.x_grey.max() > 1
    assert set(np.unique(data.test.x.numpy())) <= {0, 1} and data.val.x_grey is None
    again = load_prepared(prepare(DataParams(source="idx", path=str(folder), binarize="dynamic"), tmp_path / "e") and tmp_path / "e")
    assert np.array_equal(again.test.x.numpy(), data.test.x.numpy())  # the test set is binarized once, seeded
    static = prepare(DataParams(source="idx", path=str(folder), binarize="static"), tmp_path / "s")
    assert static["n_levels"] == 2 and load_prepared(tmp_path / "s").train.x_grey is None


def test_npz_sources(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (50, 4, 4), dtype=np.uint8)
    y = np.arange(50) % 2
    np.savez(tmp_path / "a.npz", x=x, y=y)
    np.savez(tmp_path / "b.npz", x, y)  # arr_0, arr_1
    np.savez(tmp_path / "c.npz", images=rng.integers(0, 256, (50, 4, 4, 3), dtype=np.uint8), labels=y)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(50, 3)))
    for name, kw, shape, levels in [
        ("a", {}, (1, 4, 4), 256),
        ("b", {}, (1, 4, 4), 256),
        ("c", {"x_key": "images", "y_key": "labels"}, (3, 4, 4), 256),
        ("d", {}, (3,), 0),
    ]:
        raw = load(DataParams(source="npz", path=str(tmp_path / f"{name}.npz"), **kw))
        assert raw.x.shape[1:] == shape and raw.n_levels == levels, name
    assert load(DataParams(source="npz", path=str(tmp_path / "a.npz"))).y.tolist() == y.tolist()


def make_images(root, mode="L", sizes=((8, 8),), per_class=6, ext="png"):
    for c in ("cat", "dog"):
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            size = sizes[i % len(sizes)]
            colour = (i * 20) if mode == "L" else (i * 20, 10, 200)
            Image.new(mode, size, colour).save(root / c / f"{i}.{ext}")


def test_imagefolder_grey_rgb_and_resize(tmp_path):
    make_images(tmp_path / "grey")
    raw = load(DataParams(source="imagefolder", path=str(tmp_path / "grey")))
    assert raw.x.shape == (12, 1, 8, 8) and raw.y.tolist() == [0] * 6 + [1] * 6
    make_images(tmp_path / "rgb", mode="RGB", ext="jpg", sizes=((10, 6), (12, 12)))
    raw = load(DataParams(source="imagefolder", path=str(tmp_path / "rgb"), image_size=[6, 5]))
    assert raw.x.shape == (12, 3, 6, 5) and raw.x.dtype == np.uint8


def test_csv_source_with_and_without_labels(tmp_path):
    (tmp_path / "t.csv").write_text("a,b,label\n" + "".join(f"{i},{i * 0.5},{i % 2}\n" for i in range(30)))
    raw = load(DataParams(source="csv", path=str(tmp_path / "t.csv")))
    assert raw.x.shape == (30, 2) and raw.n_levels == 0 and raw.y.tolist()[:3] == [0, 1, 0]
    raw = load(DataParams(source="csv", path=str(tmp_path / "t.csv"), label_column=None))
    assert raw.x.shape == (30, 3) and raw.y is None


def test_integer_columns_are_dequantized_seeded_and_kept_for_fresh_noise(tmp_path):
    # column a: counts (integers), b: halves (not integers), label: not a value column
    (tmp_path / "t.csv").write_text("a,b,label\n" + "".join(f"{i % 7},{i * 0.5},{i % 2}\n" for i in range(40)))
    params = DataParams(source="csv", path=str(tmp_path / "t.csv"))
    meta = prepare(params, tmp_path / "p")
    assert meta["kind"] == "continuous" and meta["dequantized_columns"] == [0]
    data = load_prepared(tmp_path / "p")
    for split in (data.train, data.val, data.test):
        frac = split.x[:, 0] - split.x[:, 0].floor()
        assert (frac > 0).all() and (split.x[:, 0].floor() <= 6).all()  # x + u, u in (0, 1)
        assert (split.x[:, 1] * 2 == (split.x[:, 1] * 2).round()).all()  # b left alone
    assert torch.equal(data.train.x_int, data.train.x.floor().where(torch.tensor([True, False]), data.train.x))
    assert data.val.x_int is None
    prepare(params, tmp_path / "q")
    assert torch.equal(load_prepared(tmp_path / "q").test.x, data.test.x)  # seeded
    # the training loop's transform draws fresh noise on column a only
    from genlab.training.loop import fresh_training_data

    x, transform = fresh_training_data(data)
    g = torch.Generator().manual_seed(0)
    a, b = transform((x,), g)[0], transform((x,), g)[0]
    assert not torch.equal(a, b) and torch.equal(a.floor()[:, 0], x[:, 0]) and torch.equal(a[:, 1], x[:, 1])
    assert torch.equal(x, data.train.x_int)  # not changed in place
    off = prepare(DataParams(source="csv", path=str(tmp_path / "t.csv"), dequantize=False), tmp_path / "r")
    assert off["dequantized_columns"] == [] and load_prepared(tmp_path / "r").train.x_int is None
    assert fresh_training_data(load_prepared(tmp_path / "r")) is None
    assert "dequantized_columns" not in prepare(DataParams(), tmp_path / "d")  # images: not on this scale


def test_normal_source_is_seeded():
    a = load(DataParams(source="normal", n=200, mean=3.0, std=2.0))
    b = load(DataParams(source="normal", n=200, mean=3.0, std=2.0))
    assert np.array_equal(a.x, b.x) and a.x.shape == (200, 1)
    assert abs(a.x.mean() - 3.0) < 0.5 and abs(a.x.std() - 2.0) < 0.5


def bad_inputs(tmp_path):
    """(params, the file the message must name, a word of the problem) for every bad input."""
    cases = []
    folder = idx_folder(tmp_path)
    write_idx(folder / "t10k-images-idx3-ubyte", np.zeros((20, 6, 5), np.uint8), magic_dims=2)
    cases.append((dict(source="idx", path=str(folder)), "t10k-images-idx3-ubyte", "magic"))
    f2 = idx_folder(tmp_path / "t")
    data = (f2 / "train-images-idx3-ubyte.gz").read_bytes()
    (f2 / "train-images-idx3-ubyte.gz").write_bytes(data[: len(data) // 2])
    cases.append((dict(source="idx", path=str(f2)), "train-images-idx3-ubyte.gz", "cannot read"))
    f3 = idx_folder(tmp_path / "l")
    write_idx(f3 / "t10k-labels-idx1-ubyte", np.zeros(19, np.uint8))
    cases.append((dict(source="idx", path=str(f3)), "t10k-labels-idx1-ubyte", "19 labels for 20 images"))
    f4 = idx_folder(tmp_path / "r")
    raw = gzip.decompress((f4 / "train-images-idx3-ubyte.gz").read_bytes())
    with gzip.open(f4 / "train-images-idx3-ubyte.gz", "wb") as fh:
        fh.write(raw[:-7])
    cases.append((dict(source="idx", path=str(f4)), "train-images-idx3-ubyte.gz", "truncated"))
    (tmp_path / "empty").mkdir()
    cases.append((dict(source="imagefolder", path=str(tmp_path / "empty")), "empty", "no images"))
    make_images(tmp_path / "notimg")
    (tmp_path / "notimg" / "cat" / "notes.txt").write_text("hello")
    cases.append((dict(source="imagefolder", path=str(tmp_path / "notimg")), "notes.txt", "not a PNG"))
    make_images(tmp_path / "corrupt")
    (tmp_path / "corrupt" / "dog" / "9.png").write_bytes(b"\x89PNG not really")
    cases.append((dict(source="imagefolder", path=str(tmp_path / "corrupt")), "9.png", "cannot read"))
    make_images(tmp_path / "sizes", sizes=((8, 8), (9, 8)))
    cases.append((dict(source="imagefolder", path=str(tmp_path / "sizes")), "1.png", "image_size"))
    make_images(tmp_path / "modes")
    Image.new("RGB", (8, 8), (1, 2, 3)).save(tmp_path / "modes" / "dog" / "7.png")
    cases.append((dict(source="imagefolder", path=str(tmp_path / "modes")), "7.png", "RGB"))
    (tmp_path / "nan.csv").write_text("a,b\n1,2\n3,nan\n")
    cases.append((dict(source="csv", path=str(tmp_path / "nan.csv")), "nan.csv", "column 'b' row 2"))
    (tmp_path / "text.csv").write_text("a,b\n1,2\n3,four\n")
    cases.append((dict(source="csv", path=str(tmp_path / "text.csv")), "text.csv", "'four'"))
    (tmp_path / "norows.csv").write_text("a,b\n")
    cases.append((dict(source="csv", path=str(tmp_path / "norows.csv")), "norows.csv", "no rows"))
    (tmp_path / "blank.csv").write_text("")
    cases.append((dict(source="csv", path=str(tmp_path / "blank.csv")), "blank.csv", "empty"))
    cases.append((dict(source="npz", path=str(tmp_path / "missing.npz")), "missing.npz", "no such file"))
    cases.append((dict(source="idx", path=str(tmp_path / "nowhere")), "nowhere", "no such folder"))
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    cases.append((dict(source="npz", path=str(tmp_path / "bad.npz")), "bad.npz", "not a readable"))
    np.savez(tmp_path / "nan.npz", x=np.array([[1.0], [np.nan]]))
    cases.append((dict(source="npz", path=str(tmp_path / "nan.npz")), "nan.npz", "non-finite"))
    return cases


def test_every_bad_input_is_one_line_naming_the_file(tmp_path):
    for params, name, problem in bad_inputs(tmp_path):
        with pytest.raises(DataError) as info:
            load(DataParams(**params))
        message = str(info.value)
        assert "\n" not in message and name in message and problem in message, (params, message)


def test_bad_input_through_the_stage_leaves_earlier_outputs(tmp_path, env_with_venv):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    env_with_venv["PYTHONPATH"] = str(ROOT)
    run = lambda: subprocess.run(
        [sys.executable, "-m", "stages.preprocess"], cwd=tmp_path, env=env_with_venv, capture_output=True, text=True
    )
    assert run().returncode == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "data" / "prepared").iterdir()}
    (tmp_path / "t.csv").write_text("a,b\n1,2\n3,x\n")
    params["data"].update(source="csv", path="t.csv")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    proc = run()
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "t.csv" in proc.stderr
    assert "Traceback" not in proc.stderr
    after = {p.name: p.read_bytes() for p in (tmp_path / "data" / "prepared").iterdir()}
    assert after == before
    assert json.loads(after["meta.json"])["source"] == "digits"
