"""Music: pitch names, MIDI round trips, bad files, audio and pictures of piano rolls."""

import numpy as np
import pretty_midi
import pytest
from scipy.io import wavfile

from genlab.data.midi import (
    KEYS,
    LOWEST,
    MusicError,
    pianoroll_grid,
    pitch_name,
    read_midi,
    roll_to_midi,
    synthesize,
    write_midi,
    write_wav,
)
from genlab.errors import GenlabError
from helpers import random_roll


def one_note_file(path, pitch=60, drum_pitch=None):
    """A file with one piano note (unless pitch is None) and, if asked, one drum note."""
    pm = pretty_midi.PrettyMIDI(resolution=480, initial_tempo=120.0)
    if drum_pitch is not None:
        drums = pretty_midi.Instrument(program=0, is_drum=True)
        drums.notes.append(pretty_midi.Note(100, drum_pitch, 0.0, 2.0))  # 4 beats
        pm.instruments.append(drums)
    if pitch is not None:
        piano = pretty_midi.Instrument(program=0)
        piano.notes.append(pretty_midi.Note(80, pitch, 0.5, 1.0))  # beat 1, one beat long
        pm.instruments.append(piano)
    pm.write(str(path))
    return path


def test_pitch_names():
    assert pitch_name(60) == "C4"
    assert pitch_name(61) == "C#4"
    assert pitch_name(LOWEST) == "A0"
    assert pitch_name(LOWEST + KEYS - 1) == "C8"
    assert pitch_name(0) == "C-1"
    assert pitch_name(69) == "A4"


@pytest.mark.parametrize("steps", [1, 4])
def test_round_trip_is_exact(tmp_path, steps):
    roll = random_roll()
    write_midi(roll, tmp_path / "r.mid", steps_per_beat=steps)
    back, dropped = read_midi(tmp_path / "r.mid", steps_per_beat=steps)
    assert dropped == 0
    assert back.dtype == np.uint8 and back.shape == roll.shape
    np.testing.assert_array_equal(back, roll)


def test_trailing_silence_is_lost(tmp_path):
    roll = np.zeros((10, KEYS), np.uint8)
    roll[2:5, 40] = 1
    write_midi(roll, tmp_path / "r.mid")
    back, _ = read_midi(tmp_path / "r.mid")
    np.testing.assert_array_equal(back, roll[:5])


def test_held_notes_are_one_note():
    roll = np.zeros((12, KEYS), np.uint8)
    roll[0:5, 10] = 1  # one note of 5 frames
    roll[7:9, 10] = 1  # the same key again, after a rest
    roll[3:12, 50] = 1
    roll[11, 0] = 1
    pm = roll_to_midi(roll, steps_per_beat=2, tempo=120.0)
    notes = sorted((n.pitch, n.start, n.end) for inst in pm.instruments for n in inst.notes)
    assert len(pm.instruments) == 1 and pm.instruments[0].program == 0
    assert notes == [
        (LOWEST, 2.75, 3.0),  # a frame is a quarter of a second
        (LOWEST + 10, 0.0, 1.25),
        (LOWEST + 10, 1.75, 2.25),
        (LOWEST + 50, 0.75, 3.0),
    ]
    assert {n.velocity for n in pm.instruments[0].notes} == {80}


def test_tempo_does_not_change_the_roll(tmp_path):
    roll = random_roll(seed=1)
    write_midi(roll, tmp_path / "slow.mid", steps_per_beat=2, tempo=90.0)
    write_midi(roll, tmp_path / "fast.mid", steps_per_beat=2, tempo=150.0)
    slow, _ = read_midi(tmp_path / "slow.mid", steps_per_beat=2)
    fast, _ = read_midi(tmp_path / "fast.mid", steps_per_beat=2)
    np.testing.assert_array_equal(slow, fast)
    np.testing.assert_array_equal(slow, roll)


def test_steps_per_beat_scales_time(tmp_path):
    one_note_file(tmp_path / "n.mid", pitch=60)  # beat 1 to beat 2 at 120 bpm
    coarse, _ = read_midi(tmp_path / "n.mid", steps_per_beat=1)
    fine, _ = read_midi(tmp_path / "n.mid", steps_per_beat=4)
    assert coarse.shape == (2, KEYS) and fine.shape == (8, KEYS)
    assert coarse[:, 60 - LOWEST].tolist() == [0, 1]
    assert fine[:, 60 - LOWEST].tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert coarse.sum() == 1 and fine.sum() == 4


def test_drums_are_ignored(tmp_path):
    one_note_file(tmp_path / "d.mid", pitch=64, drum_pitch=36)
    roll, dropped = read_midi(tmp_path / "d.mid")
    assert dropped == 0
    assert roll.shape == (2, KEYS)  # the drum note's 4 beats do not count either
    assert np.argwhere(roll).tolist() == [[1, 64 - LOWEST]]


def test_only_drums_is_no_notes(tmp_path):
    path = one_note_file(tmp_path / "d.mid", pitch=None, drum_pitch=36)
    with pytest.raises(MusicError, match="no notes") as info:
        read_midi(path)
    assert str(info.value).startswith(str(path))
    assert issubclass(MusicError, GenlabError)


def test_out_of_range_pitch(tmp_path):
    path = tmp_path / "low.mid"
    pm = pretty_midi.PrettyMIDI(resolution=480)
    inst = pretty_midi.Instrument(program=0)
    inst.notes += [pretty_midi.Note(80, 12, 0.0, 0.5), pretty_midi.Note(80, 60, 0.5, 1.0)]
    pm.instruments.append(inst)
    pm.write(str(path))
    with pytest.raises(MusicError) as info:
        read_midi(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "pitch 12" in message and "C0" in message
    assert "data.out_of_range: drop" in message and "\n" not in message
    roll, dropped = read_midi(path, out_of_range="drop")
    assert dropped == 1
    assert np.argwhere(roll).tolist() == [[1, 60 - LOWEST]]
    with pytest.raises(ValueError):
        read_midi(path, out_of_range="clip")


def test_every_note_dropped_is_no_notes(tmp_path):
    path = one_note_file(tmp_path / "high.mid", pitch=120)
    with pytest.raises(MusicError, match="no notes"):
        read_midi(path, out_of_range="drop")


@pytest.mark.parametrize("kind", ["truncated", "garbage", "empty"])
def test_unreadable_files(tmp_path, kind):
    path = tmp_path / f"{kind}.mid"
    if kind == "truncated":
        write_midi(random_roll(), path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "garbage":
        path.write_bytes(b"this is not a MIDI file\n" * 20)
    else:
        path.write_bytes(b"")
    with pytest.raises(MusicError) as info:
        read_midi(path)
    message = str(info.value)
    assert message.startswith(f"{path}: not a readable MIDI file (")
    assert "\n" not in message


def test_missing_file(tmp_path):
    with pytest.raises(MusicError) as info:
        read_midi(tmp_path / "nowhere.mid")
    assert str(info.value).startswith(str(tmp_path / "nowhere.mid"))


def test_bad_rolls_are_refused():
    with pytest.raises(ValueError):
        roll_to_midi(np.zeros((4, 87), np.uint8))
    with pytest.raises(ValueError):
        roll_to_midi(np.zeros((4, KEYS), np.uint8), steps_per_beat=0)


def test_synthesize_length_and_cap():
    rate = 8000
    roll = random_roll(frames=8)
    audio = synthesize(roll, steps_per_beat=1, tempo=120.0, sample_rate=rate)
    assert audio.dtype == np.int16 and audio.ndim == 1
    seconds = 8 * 0.5  # a frame is a beat, half a second at 120 bpm
    assert seconds * rate <= audio.shape[0] <= (seconds + 1) * rate + 1
    assert np.abs(audio.astype(np.int32)).max() == round(0.9 * 32767)
    capped = synthesize(random_roll(frames=200), sample_rate=rate, max_seconds=2.0)
    assert 2.0 * rate <= capped.shape[0] <= 3.0 * rate + 1
    silent = synthesize(np.zeros((4, KEYS), np.uint8), sample_rate=rate)
    assert silent.dtype == np.int16 and silent.shape == (2 * rate,) and not silent.any()


def test_write_wav(tmp_path):
    write_wav(tmp_path / "a.wav", random_roll(frames=4), steps_per_beat=2, sample_rate=8000)
    rate, audio = wavfile.read(tmp_path / "a.wav")
    assert rate == 8000 and audio.dtype == np.int16 and audio.ndim == 1
    assert 2.0 * 8000 <= audio.shape[0] <= 3.0 * 8000 + 1


def test_pianoroll_grid_size_and_pixels():
    cell = 3
    rolls = np.zeros((6, 50, KEYS), np.uint8)
    rolls[4, 10, 60 - LOWEST] = 1  # the 5th roll: 2nd row, 1st column
    picture = pianoroll_grid(rolls, ncol=4, cell=cell)
    assert picture.mode == "RGB"
    assert picture.size == (4 * 50 * cell + 3 * 2, 2 * KEYS * cell + 2)
    pixels = np.asarray(picture.convert("L"))
    top = KEYS * cell + 2  # the second row's first pixel row
    y = top + (KEYS - 1 - (60 - LOWEST)) * cell + 1
    assert pixels[y, 10 * cell + 1] < 64  # the note is dark
    assert pixels[y, 11 * cell + 1] > 200  # the next frame is not
    assert pixels[y - cell, 10 * cell + 1] > 200  # nor the key above
    assert pixels[top - 1, 0] == pixels[top - 2, 0] != 255  # the grey gap between the rows
    # a list of rolls of different lengths, cut to max_frames
    picture = pianoroll_grid([rolls[0], rolls[1][:20], np.ones((300, KEYS), np.uint8)], max_frames=64, cell=1)
    assert picture.size == (3 * 64 + 2 * 2, KEYS)


def long_piece(path, ticks_per_beat=10_080, beats=1_120, voices=5, bpm=120):
    """A long piece at a fine resolution, as a notation library writes it: ``voices`` tracks of
    one note a beat (voice v at pitch 48 + 7 v, a rest every 8th beat), 1,120 beats at 120 bpm
    (9 min 20 s), its last tick past 11 million: past pretty_midi's fixed guard of 10 million."""
    import mido

    midi = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat)
    conductor = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0)])
    conductor.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
    midi.tracks.append(conductor)
    for v in range(voices):
        track = mido.MidiTrack([mido.Message("program_change", channel=v, program=52, time=0)])
        rest = 0
        for beat in range(beats):
            if beat % 8 == 7:
                rest += ticks_per_beat
                continue
            pitch = 48 + 7 * v
            track.append(mido.Message("note_on", channel=v, note=pitch, velocity=70, time=rest))
            track.append(mido.Message("note_off", channel=v, note=pitch, velocity=0, time=ticks_per_beat))
            rest = 0
        midi.tracks.append(track)
    midi.save(path)
    return path


def test_a_long_high_resolution_file_is_read(tmp_path):
    import mido

    path = long_piece(tmp_path / "long.mid")
    midi = mido.MidiFile(path)
    assert midi.length > 9 * 60 and max(sum(m.time for m in track) for track in midi.tracks) > 10**7
    roll, dropped = read_midi(path, steps_per_beat=4)
    assert dropped == 0 and roll.shape == (1_119 * 4, KEYS)  # the last beat is a rest
    for v in range(5):
        key = roll[:, 48 + 7 * v - LOWEST]
        expected = np.tile([1] * 28 + [0] * 4, 140)[: 1_119 * 4]
        np.testing.assert_array_equal(key, expected)
    assert roll.sum() == 5 * 980 * 4


def test_more_frames_than_memory_allows_is_said_so(tmp_path, monkeypatch):
    import genlab.data.midi

    path = long_piece(tmp_path / "long.mid", beats=64)
    monkeypatch.setattr(genlab.data.midi, "MAX_FRAMES", 100)
    with pytest.raises(MusicError) as info:
        read_midi(path, steps_per_beat=2)
    message = str(info.value)
    assert message.startswith(f"{path}: a note ends at frame 126, past the 100 frames")
    assert "more frames than memory allows at data.steps_per_beat 2" in message and "\n" not in message
    assert read_midi(path, steps_per_beat=1)[0].shape == (63, KEYS)


def test_a_folder_with_long_pieces_goes_through_preprocess_whole(tmp_path):
    from genlab.config.params import DataParams
    from genlab.data.prepare import prepare

    folder = tmp_path / "pieces"
    folder.mkdir()
    for i in range(2):
        long_piece(folder / f"long_{i}.mid", voices=5 - i)
    for i in range(4):
        write_midi(random_roll(frames=24, seed=i), folder / f"short_{i}.mid", steps_per_beat=2)
    params = DataParams(source="midi", path=str(folder), steps_per_beat=2, val_fraction=0.2, test_fraction=0.2, skip_bad_files=True)
    meta = prepare(params, tmp_path / "prepared")
    assert meta["skipped_files"] == []
    assert sorted(sum(meta["files"].values(), [])) == [f"long_{i}.mid" for i in range(2)] + [f"short_{i}.mid" for i in range(4)]
    assert sum(meta["pieces"].values()) == 6
