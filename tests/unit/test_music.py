"""Music: the readers and their one-line errors, the prepared folder, and the models' exact,
normalised frame probabilities (every one of the 2^K frames of a toy roll, a known chord chain)."""

import json
import math

import numpy as np
import pytest
import torch

from genlab.config.params import DataParams, parse_params
from genlab.data.midi import MusicError, write_midi
from genlab.data.modality import MUSIC
from genlab.data.music import pieces_of, read_pianoroll_json
from genlab.data.prepare import load_prepared, prepare
from genlab.models import registry
from genlab.models.base import music_summary
from genlab.training.loop import train_model
from helpers import toy_meta_and_data

MODELS = ["independent", "markov", "ar"]
TINY_AR = {"arch": "gru", "width": 16, "layers": 1, "context": 4, "epochs": 2, "batch_size": 4}


def write_json(path, data):
    path.write_text(json.dumps(data))
    return path


def jsb_like(n_pieces=(6, 3, 3), seed=0):
    rng = np.random.default_rng(seed)
    chords = [[60, 64, 67], [62, 65, 69], [55, 59, 62, 67], [57, 60, 64]]
    piece = lambda: [chords[i] for i in rng.integers(len(chords), size=rng.integers(5, 12))]
    return {s: [piece() for _ in range(n)] for s, n in zip(("train", "valid", "test"), n_pieces)}


# -- readers -------------------------------------------------------------------------------------
def test_pianoroll_json_keeps_its_split_and_maps_pitches_to_keys(tmp_path):
    data = {"train": [[[21, 108], []]], "valid": [[[60]]], "test": [[[60, 61], [62]]]}
    parts, dropped = read_pianoroll_json(write_json(tmp_path / "m.json", data))
    assert dropped == 0 and [len(parts[s]) for s in ("train", "val", "test")] == [1, 1, 1]
    assert parts["train"][0].shape == (2, 88) and parts["train"][0][0, [0, 87]].tolist() == [1, 1]
    assert parts["train"][0][1].sum() == 0  # a silent frame
    assert np.flatnonzero(parts["test"][0][0]).tolist() == [39, 40]


@pytest.mark.parametrize(
    "data, message",
    [
        ([1, 2], "expected an object with train, valid and test"),
        ({"train": [], "valid": [[[60]]], "test": [[[60]]]}, "train: expected a non-empty list of pieces"),
        ({"train": [[[60]]], "test": [[[60]]]}, "no 'valid' list of pieces"),
        ({"train": [[]], "valid": [[[60]]], "test": [[[60]]]}, "train[0]: a piece with no frames"),
        ({"train": [[[60], 60]], "valid": [[[60]]], "test": [[[60]]]}, "train[0][1]: a frame must be a list of MIDI pitches"),
        ({"train": [[[60.5]]], "valid": [[[60]]], "test": [[[60]]]}, "train[0][0]: a MIDI pitch must be an integer"),
        ({"train": [[[60]]], "valid": [[[60]]], "test": [[[60, 12]]]}, "test[0][0]: pitch 12 is outside 21..108"),
    ],
)
def test_a_json_of_the_wrong_structure_is_one_line_naming_the_file(tmp_path, data, message):
    path = write_json(tmp_path / "m.json", data)
    with pytest.raises(MusicError) as err:
        read_pianoroll_json(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value) and "\n" not in str(err.value)


def test_out_of_range_pitches_can_be_dropped_and_counted(tmp_path):
    path = write_json(tmp_path / "m.json", {"train": [[[10, 60], [120]]], "valid": [[[60]]], "test": [[[60]]]})
    parts, dropped = read_pianoroll_json(path, "drop")
    assert dropped == 2 and parts["train"][0].sum() == 1


def test_not_json_and_missing_files(tmp_path):
    (tmp_path / "bad.json").write_bytes(b"\x80not json")
    with pytest.raises(MusicError, match="bad.json: not a JSON file"):
        read_pianoroll_json(tmp_path / "bad.json")
    with pytest.raises(MusicError, match="nope.json: no such file"):
        read_pianoroll_json(tmp_path / "nope.json")


def midi_folder(root, n=5, seed=0):
    rng = np.random.default_rng(seed)
    root.mkdir(exist_ok=True)
    for i in range(n):
        roll = (rng.random((12, 88)) < 0.04).astype(np.uint8)
        roll[-1, 40] = 1
        write_midi(roll, root / f"p{i}.mid")
    return root


def params(**kw):
    return DataParams(**kw)


def test_midi_folder_split_by_file_and_bad_files(tmp_path):
    folder = midi_folder(tmp_path / "midi")
    meta = prepare(params(source="midi", path=str(folder), val_fraction=0.2, test_fraction=0.2), tmp_path / "prep")
    assert meta["pieces"] == {"train": 3, "val": 1, "test": 1} and meta["skipped_files"] == []
    assert sorted(sum(meta["files"].values(), [])) == [f"p{i}.mid" for i in range(5)]
    (folder / "p9.mid").write_bytes(b"MThd garbage")
    before = (tmp_path / "prep/meta.json").read_text()
    with pytest.raises(MusicError) as err:
        prepare(params(source="midi", path=str(folder), val_fraction=0.2, test_fraction=0.2), tmp_path / "prep")
    assert str(err.value).startswith(f"{folder / 'p9.mid'}: not a readable MIDI file") and "\n" not in str(err.value)
    assert (tmp_path / "prep/meta.json").read_text() == before  # nothing overwritten
    meta = prepare(params(source="midi", path=str(folder), val_fraction=0.2, test_fraction=0.2, skip_bad_files=True), tmp_path / "prep")
    assert len(meta["skipped_files"]) == 1 and "p9.mid" in meta["skipped_files"][0]


def test_empty_and_too_small_midi_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(MusicError, match="empty: no .mid or .midi files in the folder"):
        prepare(params(source="midi", path=str(tmp_path / "empty")), tmp_path / "prep")
    folder = midi_folder(tmp_path / "two", n=2)
    with pytest.raises(MusicError, match="2 pieces are too few"):
        prepare(params(source="midi", path=str(folder)), tmp_path / "prep")


def test_prepared_music_chords_and_unseen_rate(tmp_path):
    data = {"train": [[[60], [62], [60]]], "valid": [[[60], [64]]], "test": [[[62], [62], [65], [60]]]}
    meta = prepare(params(source="pianoroll", path=str(write_json(tmp_path / "m.json", data))), tmp_path / "prep")
    assert meta["kind"] == "music" and meta["n_chords"] == 2 and meta["counts"] == {"train": 3, "val": 2, "test": 4}
    assert meta["unseen_rate"] == {"val": 0.5, "test": 0.25}
    d = load_prepared(tmp_path / "prep")
    assert d.modality is MUSIC and d.train.codes.tolist() == [0, 1, 0] and d.test.codes.tolist() == [1, 1, 2, 0]
    assert [len(p) for p in pieces_of(d.test.x.numpy(), d.test.lengths.numpy())] == [4]


# -- exact, normalised frame probabilities (the toy pieces: helpers.toy_meta_and_data) -------------
def fitted(name, sections, meta, train, val, tmp_path):
    """Model ``name`` with params ``sections``, fitted (closed form, or the shared loop), in eval mode."""
    model = registry.build(name, parse_params(sections, models=[name]).model_params(name), meta)
    train_model(model, train, val, live_dir=tmp_path / "live", progress=False)
    return model.eval()


def tiny_ar(arch: str | None) -> dict:
    """TINY_AR with ``arch`` "gru", "transformer", or either + "+keys" (the autoregressive head over keys)."""
    net, _, head = (arch or "gru").partition("+")
    return {**TINY_AR, "arch": net, "heads": 2, "output": head or "chords"}


AR_ARCHS = [("ar", "gru"), ("ar", "transformer"), ("ar", "gru+keys"), ("ar", "transformer+keys"), ("ar", "gru+both"), ("ar", "transformer+both")]


@pytest.mark.parametrize("name, arch", [("independent", None), ("markov", None), *AR_ARCHS])
def test_all_frames_of_a_toy_roll_sum_to_one(name, arch, tmp_path):
    """After histories of 0 to 9 frames: longer than ar.context (4), so ar's later windows count too."""
    frames, table, meta, train, val, inputs = toy_meta_and_data(np.random.default_rng(0))
    ar = tiny_ar(arch)
    model = fitted(name, {"ar": ar, "markov": {"order": 2}}, meta, train, val, tmp_path)
    long = [frames[i] for i in (6, 9, 12, 3, 15, 1, 6, 9)]
    for prefix in ([], [frames[3]], [frames[3], frames[15]], [frames[6], frames[9], frames[12]], long, long + [frames[0]]):  # 15, 0: unseen
        candidates = [np.array(prefix + [f], dtype=np.uint8).reshape(-1, 4) for f in frames]
        x, codes, lengths = inputs(candidates)
        lp = model.frame_log_probs(x, codes, lengths).reshape(16, -1)[:, -1]
        assert torch.isfinite(lp).all()
        assert abs(lp.exp().sum().item() - 1) < 1e-9, (name, len(prefix), lp.exp().sum().item())
        if prefix:  # the earlier frames are scored the same whatever comes next
            assert torch.allclose(model.frame_log_probs(x, codes, lengths).reshape(16, -1)[:, :-1], model.frame_log_probs(x, codes, lengths).reshape(16, -1)[:1, :-1].expand(16, -1))


def test_json_constants_and_overlong_midi_files_are_one_line(tmp_path, monkeypatch):
    (tmp_path / "nan.json").write_text('{"train": [[[NaN]]], "valid": [[[60]]], "test": [[[60]]]}')
    with pytest.raises(MusicError, match="nan.json: not a JSON file .*NaN is not a number JSON allows"):
        read_pianoroll_json(tmp_path / "nan.json")
    import genlab.data.midi

    folder = midi_folder(tmp_path / "midi", n=1)
    monkeypatch.setattr(genlab.data.midi, "MAX_FRAMES", 5)
    with pytest.raises(MusicError, match="p0.mid: a note ends at frame 12, past the 5 frames"):
        genlab.data.midi.read_midi(folder / "p0.mid")


@pytest.mark.parametrize("name", MODELS)
def test_samples_are_rolls_and_seeded(name, tmp_path):
    frames, table, meta, train, val, inputs = toy_meta_and_data(np.random.default_rng(2))
    model = fitted(name, {"ar": TINY_AR}, meta, train, val, tmp_path)
    a = model.sample_pieces(5, 20, torch.Generator().manual_seed(0))
    b = model.sample_pieces(5, 20, torch.Generator().manual_seed(0))
    assert a.shape == (5, 20, 4) and a.dtype == torch.uint8 and torch.equal(a, b)
    if name != "independent":  # the chord models draw training chords, or rarely an escaped frame
        seen = {r.tobytes() for r in table}
        share = np.mean([r.tobytes() in seen for r in a.reshape(-1, 4).numpy()])
        assert share > 0.5


def test_music_summary_counts_every_frame_and_the_first():
    lp = torch.log(torch.tensor([0.5, 0.25, 0.5, 0.125, 0.5]))
    out = music_summary(lp, torch.tensor([2, 3]))
    assert out["n_test"] == 5 and out["n_test_pieces"] == 2
    assert out["nll"] == pytest.approx(-lp.sum().item() / 5) and out["bits_per_frame"] == pytest.approx(out["nll"] / math.log(2))


def test_models_that_do_not_fit_music_say_so():
    from genlab.errors import GenlabError
    with pytest.raises(GenlabError, match="gan: models images, not music data"):
        registry.build("gan", parse_params({}, models=["gan"]).gan, {"kind": "music", "shape": [88], "n_levels": 2, "n_chords": 3})


@pytest.mark.parametrize("name, arch", [("markov", None), *AR_ARCHS])
def test_sampling_draws_from_the_distribution_the_likelihood_scores(name, arch, tmp_path, monkeypatch):
    """Every frame drawn while sampling (through the window restarts of `ar`: 12 frames, context 4)
    has exactly the probability `frame_log_probs` gives it afterwards."""
    from genlab.data.music import ChordEscape

    frames, table, meta, train, val, inputs = toy_meta_and_data(np.random.default_rng(4))
    from genlab.models.ar import MusicAR

    model = fitted(name, {"ar": tiny_ar(arch), "markov": {"order": 2}}, meta, train, val, tmp_path)
    seen, draw, draw_frames = [], ChordEscape.draw, MusicAR.draw_frames

    def recording(self, chord_log_probs, generator, temperature=1.0):
        frames_, codes_ = draw(self, chord_log_probs, generator, temperature)
        seen.append(self.mix(chord_log_probs.gather(1, codes_.clamp(max=self.n_chords - 1).unsqueeze(1)).squeeze(1), frames_, codes_))
        return frames_, codes_

    def recording_frames(self, out, generator, temperature=1.0):  # a head over the keys: its own score
        frames_, codes_ = draw_frames(self, out, generator, temperature)
        if self.by_keys:
            seen.append(self.frame_log_prob(out, frames_, codes_))
        return frames_, codes_

    monkeypatch.setattr(ChordEscape, "draw", recording)
    monkeypatch.setattr(MusicAR, "draw_frames", recording_frames)
    pieces = model.sample_pieces(3, 12, torch.Generator().manual_seed(1))
    sampled = torch.stack(seen, 1)  # (3, 12): log p of each drawn frame, as sampling saw it
    x, codes, lengths = inputs(list(pieces.numpy()))
    scored = model.frame_log_probs(x, codes, lengths).reshape(3, 12)
    assert torch.allclose(sampled.double(), scored, atol=1e-5), (sampled - scored).abs().max()
