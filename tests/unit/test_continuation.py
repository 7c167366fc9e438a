"""Continuing music: which test pieces are continued, the primer kept at the start of every
continuation, the exact continuation_nll against hand selection of the terms, and the key distance."""

import numpy as np
import pytest
import torch

from genlab.config.params import parse_params
from genlab.data.prepare import Prepared, Split
from genlab.evaluation import continuation as K
from genlab.metrics.music import key_distance
from genlab.models.markov import MarkovMusic


def music_data():
    """Pieces of 88-key frames over five chords: test pieces of 3, 10, 7 and 9 frames."""
    from genlab.data.music import chord_codes, chord_table

    chords = np.zeros((5, 88), np.uint8)
    for i, keys in enumerate([(39, 43, 46), (41, 44, 48), (43, 46, 50), (34, 39), (46,)]):
        chords[i, list(keys)] = 1
    rng = np.random.default_rng(0)
    train_pieces = [chords[rng.integers(5, size=12)] for _ in range(6)]
    test_pieces = [chords[np.arange(n) % 5] for n in (3, 10, 7, 9)]
    table = chord_table(np.concatenate(train_pieces))

    def split(pieces):
        x = np.concatenate(pieces)
        return Split(x=torch.from_numpy(x), y=None, lengths=torch.tensor([len(p) for p in pieces]),
                     codes=torch.from_numpy(chord_codes(x, table)))

    meta = {"kind": "music", "shape": [88], "n_levels": 2, "n_chords": len(table), "steps_per_beat": 1}
    data = Prepared(meta=meta, train=split(train_pieces), val=split(train_pieces[:2]), test=split(test_pieces))
    return data, data.train.model_input()


def test_pieces_longer_than_the_primer_are_continued_up_to_the_cap():
    data, _ = music_data()
    params = parse_params({"generate": {"primer_frames": 4, "continuations": 2}}).generate
    assert K.continued(data, params) == [1, 2]  # the first piece has 3 frames
    assert K.continued(data, params.model_copy(update={"primer_frames": 0})) == []


def test_every_continuation_starts_with_its_primer_and_has_the_pieces_length(tmp_path):
    data, train = music_data()
    model = MarkovMusic(MarkovMusic.Params(order=2), (88,), 2, n_chords=data.meta["n_chords"])
    model.fit(train, train)
    params = parse_params({"generate": {"primer_frames": 4, "seed": 3}}).generate
    files = K.write_continuations(model, data, params, tmp_path)
    assert files[0] == K.FILE and sorted(p.name for p in (tmp_path / K.FOLDER).iterdir())[:2] == ["test_0002.mid", "test_0002.wav"]
    arrays = np.load(tmp_path / K.FILE)
    assert arrays["continued_lengths"].tolist() == [10, 7, 9]
    starts = np.concatenate([[0], np.cumsum(arrays["continued_lengths"])[:-1]])
    tests = np.split(data.test.x.numpy(), np.cumsum(data.test.lengths.numpy())[:-1])
    for start, i in zip(starts, [1, 2, 3]):
        assert (arrays["continued"][start : start + 4] == tests[i][:4]).all()  # the primer, unchanged
    again = tmp_path / "again"
    again.mkdir()
    K.write_continuations(model, data, params, again)
    assert (np.load(again / K.FILE)["continued"] == arrays["continued"]).all()  # seeded


def test_continuation_nll_is_the_mean_of_the_frames_after_each_primer():
    data, _ = music_data()
    params = parse_params({"generate": {"primer_frames": 4}}).generate
    logp = -torch.arange(1, 30, dtype=torch.float64)  # frame t's term: -(t + 1), pieces of 3, 10, 7, 9
    out = K.continuation_metrics(data, {}, params, logp)
    # pieces 2-4 start at frames 3, 13, 20; their terms after 4 frames: frames 7-12, 17-19, 24-28
    kept = [*range(7, 13), *range(17, 20), *range(24, 29)]
    assert out["continuation_nll"] == pytest.approx(np.mean([t + 1 for t in kept]))
    assert out["continuation_frames"] == 14 and out["continuation_pieces"] == 3 and out["primer_frames"] == 4


def test_key_distance_by_hand():
    c, g = np.zeros((2, 88), np.uint8), np.zeros((2, 88), np.uint8)
    c[:, 60 - 21] = 1  # C4 in both frames
    g[:, 67 - 21] = 1  # G4
    both = c | g
    assert key_distance([c], [c]) == 0.0
    assert key_distance([c], [g]) == 1.0
    assert key_distance([c, c], [both, c]) == pytest.approx((0.5 + 0.0) / 2)
    assert key_distance([np.zeros((2, 88), np.uint8)], [c]) is None
