"""Music as binary piano rolls: reading and writing MIDI files, listening, pictures.

A piano roll is a numpy uint8 array of shape (T, 88): one row per time step (frame),
column k is MIDI pitch ``LOWEST + k`` (A0..C8), 1 = the key is sounding. Time is counted
in beats (quarter notes, MIDI's ticks-per-quarter unit), ``steps_per_beat`` frames per
beat, so a roll does not depend on the tempo of the file it came from: notes are
quantized by their ticks, not their seconds. Velocities, drums, pedals and pitch bends are
left out; all the other instruments of a file are merged into one roll.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from genlab.errors import GenlabError, one_line
from genlab.io import atomic_file

if TYPE_CHECKING:  # imported where used: importing genlab does not load pretty_midi (nor mido)
    import pretty_midi
    from PIL import Image

LOWEST = 21  # MIDI pitch of key 0 (A0)
KEYS = 88  # key 87 is MIDI pitch 108 (C8)
RESOLUTION = 480  # ticks per quarter note of the files written here
VELOCITY = 80  # of every note written
OUT_OF_RANGE = ("error", "drop")
MAX_FRAMES = 2**20  # frames of one piece read from a file (92 MB as a roll): more than memory allows

_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


class MusicError(GenlabError):
    """A music file that cannot be used."""


def pitch_name(pitch: int) -> str:
    """The scientific name of a MIDI pitch: 60 -> "C4" (middle C), 61 -> "C#4", 21 -> "A0"."""
    pitch = int(pitch)
    return f"{_NAMES[pitch % 12]}{pitch // 12 - 1}"


def _check_steps(steps_per_beat: int) -> int:
    if int(steps_per_beat) != steps_per_beat or steps_per_beat < 1:
        raise ValueError(f"steps_per_beat must be a positive integer, not {steps_per_beat!r}")
    return int(steps_per_beat)


def _check_roll(roll) -> np.ndarray:
    roll = np.asarray(roll)
    if roll.ndim != 2 or roll.shape[1] != KEYS:
        raise ValueError(f"a piano roll has shape (T, {KEYS}), not {roll.shape}")
    return roll != 0


def _reason(exc: Exception) -> str:
    """One short line saying why a parse failed (a truncated file raises a bare EOFError)."""
    if isinstance(exc, EOFError):
        return "the file ends too early: truncated?"
    return one_line(exc)


def _notes(n: int) -> str:
    return f"{n} note" if n == 1 else f"{n} notes"


def _piano_notes(midi) -> list[tuple[int, int, int]]:
    """(pitch, start tick, end tick) of every note of a ``mido.MidiFile`` but drums (channel 10).

    Notes pair as pretty_midi pairs them: a note-off (or a note-on of velocity 0) ends every
    earlier note-on of its key and channel on its track, a note-on at the same tick stays
    open, spurious note-offs and notes never ended are left out; and come in its order, by
    instrument (program, channel and track, in the order each first ends a note). Ticks are
    counted here, not through pretty_midi's table of every tick's time, which is 8 bytes a
    tick: a long piece at a fine resolution has over 10 million ticks, and pretty_midi
    refuses such files outright (``MAX_TICK``).
    """
    by_instrument: dict[tuple[int, int, int], list[tuple[int, int, int]]] = {}
    for t, track in enumerate(midi.tracks):
        program = [0] * 16  # per channel
        sounding: dict[tuple[int, int], list[int]] = {}  # (channel, pitch) -> start ticks
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "program_change":
                program[msg.channel] = msg.program
            elif msg.type == "note_on" and msg.velocity > 0:
                sounding.setdefault((msg.channel, msg.note), []).append(tick)
            elif msg.type in ("note_on", "note_off"):
                starts = sounding.pop((msg.channel, msg.note), None)
                if starts is None:
                    continue
                ended = [start for start in starts if start != tick]
                if ended and len(ended) < len(starts):  # a note-on at this very tick goes on
                    sounding[(msg.channel, msg.note)] = [start for start in starts if start == tick]
                if ended and msg.channel != 9:
                    notes = by_instrument.setdefault((program[msg.channel], msg.channel, t), [])
                    notes += [(msg.note, start, tick) for start in ended]
    return [note for notes in by_instrument.values() for note in notes]


def read_midi(path: str | Path, steps_per_beat: int = 1, out_of_range: str = "error") -> tuple[np.ndarray, int]:
    """The piano roll (T, 88) uint8 of a MIDI file, and the number of notes dropped for lying
    outside the piano (pitches 21..108), which ``out_of_range="drop"`` allows and ``"error"`` forbids.

    All instruments but drums are merged. A note from tick a to tick b sounds in frames
    [round(a * s / r), max(round(b * s / r), that + 1)), s = ``steps_per_beat``, r = the file's
    ticks per quarter note; T is the last note's end frame. A file is refused only for what
    is wrong with it: unparseable or truncated, no notes, or more than ``MAX_FRAMES`` frames
    at ``steps_per_beat``; not for its length in ticks.
    """
    import mido

    if out_of_range not in OUT_OF_RANGE:
        raise ValueError(f"out_of_range must be one of {OUT_OF_RANGE}, not {out_of_range!r}")
    steps = _check_steps(steps_per_beat)
    path = Path(path)
    if not path.is_file():
        raise MusicError(f"{path}: no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            midi = mido.MidiFile(str(path), charset="latin1")
            notes = _piano_notes(midi)
    except Exception as exc:  # mido raises many kinds (EOFError, OSError, ValueError, KeyError, ...)
        raise MusicError(f"{path}: not a readable MIDI file ({_reason(exc)})") from None
    if midi.ticks_per_beat == 0:
        raise MusicError(f"{path}: not a readable MIDI file (its header gives 0 ticks per beat)")
    if midi.ticks_per_beat < 0:
        raise MusicError(f"{path}: time counted in SMPTE frames, not in beats: genlab reads beat-based MIDI files")

    pitches = np.array([pitch for pitch, _, _ in notes], dtype=np.int64)
    outside = (pitches < LOWEST) | (pitches >= LOWEST + KEYS)
    dropped = int(outside.sum())
    if dropped and out_of_range == "error":
        pitch = int(pitches[outside][0])
        raise MusicError(
            f"{path}: pitch {pitch} ({pitch_name(pitch)}) is outside the piano's {LOWEST}..{LOWEST + KEYS - 1} "
            f"(A0..C8), {_notes(dropped)} outside in all; data.out_of_range: drop would drop them"
        )
    kept = [note for note, out in zip(notes, outside) if not out]
    if not kept:
        more = f"; {_notes(dropped)} outside A0..C8 dropped" if dropped else ""
        raise MusicError(f"{path}: no notes (drums aside){more}")

    scale = steps / midi.ticks_per_beat
    starts = np.array([round(start * scale) for _, start, _ in kept], dtype=np.int64)
    ends = np.array([round(end * scale) for _, _, end in kept], dtype=np.int64)
    ends = np.maximum(ends, starts + 1)
    if ends.max() > MAX_FRAMES:
        raise MusicError(
            f"{path}: a note ends at frame {int(ends.max()):,}, past the {MAX_FRAMES:,} frames genlab reads from one "
            f"file: more frames than memory allows at data.steps_per_beat {steps} (lower it, or the file is corrupt)"
        )
    roll = np.zeros((int(ends.max()), KEYS), dtype=np.uint8)
    for (pitch, _, _), start, end in zip(kept, starts, ends):
        roll[start:end, pitch - LOWEST] = 1
    return roll, dropped


def roll_to_midi(
    roll: np.ndarray, steps_per_beat: int = 1, tempo: float = 120.0, program: int = 0
) -> pretty_midi.PrettyMIDI:
    """A ``pretty_midi.PrettyMIDI`` of a piano roll: one instrument (``program``, 0 = piano),
    velocity 80, a key held over frames [a, b) one note from a to b, ``tempo`` beats a minute.

    ``read_midi`` of the written file gives the same roll back, except that silent frames at
    the end are lost: MIDI has no notes there, so the read roll ends at the last note.
    """
    import pretty_midi

    on = _check_roll(roll)
    steps = _check_steps(steps_per_beat)
    if not tempo > 0:
        raise ValueError(f"tempo must be positive, not {tempo!r}")
    seconds = 60.0 / (tempo * steps)  # per frame
    pm = pretty_midi.PrettyMIDI(resolution=RESOLUTION, initial_tempo=float(tempo))
    inst = pretty_midi.Instrument(program=int(program), name="piano")
    padded = np.zeros((KEYS, on.shape[0] + 2), dtype=np.int8)
    padded[:, 1:-1] = on.T
    key_on, frame_on = np.nonzero(np.diff(padded, axis=1) == 1)  # by key, then frame
    _, frame_off = np.nonzero(np.diff(padded, axis=1) == -1)  # the same order: runs pair up
    for key, a, b in zip(key_on, frame_on, frame_off):
        inst.notes.append(pretty_midi.Note(VELOCITY, int(key) + LOWEST, int(a) * seconds, int(b) * seconds))
    inst.notes.sort(key=lambda note: (note.start, note.pitch))
    pm.instruments.append(inst)
    return pm


def write_midi(roll: np.ndarray, path: str | Path, steps_per_beat: int = 1, tempo: float = 120.0) -> None:
    """Write a piano roll as a MIDI file (see ``roll_to_midi``)."""
    pm = roll_to_midi(roll, steps_per_beat, tempo)
    with atomic_file(path) as tmp:
        pm.write(str(tmp))


def synthesize(
    roll: np.ndarray,
    steps_per_beat: int = 1,
    tempo: float = 120.0,
    sample_rate: int = 22050,
    max_seconds: float = 30.0,
) -> np.ndarray:
    """Mono int16 audio of a piano roll, offline and without a sound font: pretty_midi's sine
    waves of its first ``max_seconds``, peak at 0.9 of full scale. It lasts the roll's frames
    (up to ``max_seconds``) plus pretty_midi's one second of decay after the last note; a
    silent roll gives zeros."""
    on = _check_roll(roll)
    steps = _check_steps(steps_per_beat)
    if not tempo > 0:
        raise ValueError(f"tempo must be positive, not {tempo!r}")
    seconds = 60.0 / (tempo * steps)  # per frame
    frames = min(on.shape[0], int(np.floor(max_seconds / seconds + 1e-9)))
    on = on[:frames]
    length = int(round(frames * seconds * sample_rate))
    if not on.any():
        return np.zeros(length, dtype=np.int16)
    audio = roll_to_midi(on, steps, tempo).synthesize(fs=sample_rate, normalize=False)
    if audio.shape[0] < length:
        audio = np.pad(audio, (0, length - audio.shape[0]))
    peak = float(np.abs(audio).max())
    if peak > 0:
        audio = audio * (0.9 * 32767 / peak)
    return np.round(audio).astype(np.int16)


def write_wav(
    path: str | Path,
    roll: np.ndarray,
    steps_per_beat: int = 1,
    tempo: float = 120.0,
    sample_rate: int = 22050,
    max_seconds: float = 30.0,
) -> None:
    """Write ``synthesize(roll, ...)`` as a mono 16-bit WAV file."""
    from scipy.io import wavfile

    audio = synthesize(roll, steps_per_beat, tempo, sample_rate, max_seconds)
    with atomic_file(path) as tmp:
        wavfile.write(tmp, sample_rate, audio)


NOTE_GREY, LINE_GREY, GAP_GREY = 0, 215, 128  # dark notes, faint lines at every C, gaps between rolls


def pianoroll_grid(rolls, ncol: int = 4, max_frames: int = 128, cell: int = 3) -> Image.Image:
    """An RGB PIL picture of the first ``max_frames`` frames of each roll ((T_i, 88) arrays, or
    one (N, T, 88) array): time left to right, low keys at the bottom, ``cell`` pixels a frame
    and a key, dark notes on white, a faint line under every C, ``ncol`` rolls a row, 2 grey
    pixels between them. Every panel is as wide as the longest (cut) roll; shorter ones end in white."""
    from PIL import Image

    cut = [_check_roll(roll)[:max_frames] for roll in rolls]
    if not cut:
        raise ValueError("pianoroll_grid needs at least one roll")
    gap = 2
    width = max(1, max(on.shape[0] for on in cut))
    ncol = max(1, min(int(ncol), len(cut)))
    nrow = -(-len(cut) // ncol)
    panel_w, panel_h = width * cell, KEYS * cell
    canvas = np.full((nrow * panel_h + (nrow - 1) * gap, ncol * panel_w + (ncol - 1) * gap), GAP_GREY, np.uint8)
    line_rows = [(KEYS - 1 - k) * cell + cell - 1 for k in range(KEYS) if (k + LOWEST) % 12 == 0]
    for i, on in enumerate(cut):
        keys = np.full((KEYS, width), 255, np.uint8)
        keys[:, : on.shape[0]] = np.where(on.T[::-1], NOTE_GREY, 255)  # row 0 = the highest key
        panel = keys.repeat(cell, axis=0).repeat(cell, axis=1)
        panel[line_rows] = np.where(panel[line_rows] == 255, LINE_GREY, panel[line_rows])
        y, x = (i // ncol) * (panel_h + gap), (i % ncol) * (panel_w + gap)
        canvas[y : y + panel_h, x : x + panel_w] = panel
    return Image.fromarray(canvas).convert("RGB")
