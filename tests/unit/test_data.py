import json

import numpy as np
import pytest

from genlab.config.params import DataParams
from genlab.data.examples import split_indices
from genlab.data.prepare import load_prepared, prepare
from genlab.data.sources import digits as digits_source


def test_digits_source_is_uint8_with_17_levels():
    raw = digits_source(DataParams())
    assert raw.x.dtype == np.uint8 and raw.x.shape == (1797, 1, 8, 8)
    assert raw.x.max() == 16 and raw.n_levels == 17


def test_split_is_stratified_disjoint_complete_and_reproducible():
    raw = digits_source(DataParams())
    p = DataParams()
    a = split_indices(len(raw.x), raw.y, p)
    b = split_indices(len(raw.x), raw.y, p)
    for s in a:
        assert np.array_equal(a[s], b[s])
    together = np.concatenate(list(a.values()))
    assert len(together) == len(raw.x) == len(np.unique(together))
    assert len(a["test"]) == round(0.2 * 1797) and len(a["val"]) == round(0.1 * 1797)
    overall = np.bincount(raw.y, minlength=10) / len(raw.y)
    for s, idx in a.items():
        share = np.bincount(raw.y[idx], minlength=10) / len(idx)
        # stratified: every class within one example of its overall share
        assert np.all(np.abs(share - overall) * len(idx) <= 1.0 + 1e-9), s
    c = split_indices(len(raw.x), raw.y, DataParams(seed=1))
    assert not np.array_equal(a["test"], c["test"])


def test_prepare_writes_compact_arrays_and_metadata(tmp_path):
    meta = prepare(DataParams(), tmp_path / "prepared")
    on_disk = json.loads((tmp_path / "prepared" / "meta.json").read_text())
    assert on_disk == meta
    assert meta["shape"] == [1, 8, 8] and meta["n_levels"] == 17
    assert meta["counts"] == {"train": 1258, "val": 180, "test": 359}
    data = load_prepared(tmp_path / "prepared")
    assert data.train.x.dtype.is_floating_point is False and data.train.x.element_size() == 1
    assert len(data.test.x) == len(data.test.y) == 359
    assert not list((tmp_path).glob(".*tmp*"))


def test_too_small_split_is_an_error():
    from genlab.errors import GenlabError

    with pytest.raises(GenlabError, match="too few"):
        split_indices(5, None, DataParams(val_fraction=0.01, test_fraction=0.01))


def test_every_kind_of_data_is_prepared_scored_and_written():
    """Each source is prepared as one kind of data, and the evaluation layer has each kind's entries."""
    from typing import get_args

    from genlab.data import modality
    from genlab.evaluation.evaluate import SCORERS
    from genlab.evaluation.generate import WRITERS

    for source in get_args(DataParams.model_fields["source"].annotation):
        assert source in modality.for_source(source).sources
    assert set(SCORERS) == set(WRITERS) == set(modality.MODALITIES)


def test_preprocess_describes_each_kind_in_one_line(tmp_path):
    from genlab.data import modality

    meta = prepare(DataParams(), tmp_path / "prep")
    assert modality.of(meta).describe(meta) == f"digits (1, 8, 8), 17 levels, labelled, 10 classes; train {meta['counts']['train']}, " \
        f"val {meta['counts']['val']}, test {meta['counts']['test']}"


@pytest.mark.parametrize("n, channels, size, levels, nrow", [
    (40, 1, 8, 17, 8), (1, 1, 8, 17, 8), (7, 3, 12, 256, 3), (5, 4, 40, 256, 2), (2, 2, 8, 2, 8), (9, 1, 28, 2, 4),
])
def test_an_image_grid_is_torchvisions_byte_for_byte(n, channels, size, levels, nrow):
    """image_grid lays out what make_grid + to_pil_image did (padding 2, grey 0.5, grey images as
    RGB, values truncated to bytes; one image alone without a border), without importing torchvision."""
    import torch
    import torch.nn.functional as F
    from torchvision.transforms.functional import to_pil_image
    from torchvision.utils import make_grid

    from genlab.data.images import MIN_PIXELS, image_grid

    gen = torch.Generator().manual_seed(n)
    images = torch.randint(0, levels, (n, channels, size, size), generator=gen) + 0.37 * torch.rand(n, channels, size, size, generator=gen)
    x = (images / (levels - 1)).clamp(0, 1)
    if size < MIN_PIXELS:
        x = F.interpolate(x, scale_factor=MIN_PIXELS // size, mode="nearest")
    want = to_pil_image(make_grid(x, nrow=nrow, padding=2, pad_value=0.5))
    got = image_grid(images, levels, nrow)
    assert (got.mode, got.size) == (want.mode, want.size)
    assert np.array_equal(np.asarray(got), np.asarray(want))
