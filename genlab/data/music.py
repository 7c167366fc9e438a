"""Music: pieces as binary piano rolls, read from a JSON file or a folder of MIDI files; chords.

A piece is a piano roll, uint8 (T, K) with K = 88 keys (MIDI pitches 21..108, column k is
pitch 21 + k), one row per time step (frame), 1 where a key sounds. Two sources:

- ``pianoroll``: a JSON file ``{"train": [...], "valid": [...], "test": [...]}`` (``val`` is
  accepted for ``valid``), each piece a list of frames, each frame a list of MIDI pitches:
  the format of the JSB Chorales benchmark (Boulanger-Lewandowski et al. 2012). Its own
  split is kept. JSON, never a pickle: a file from elsewhere must not be able to run code.
- ``midi``: a folder of ``.mid``/``.midi`` files (sub-folders included, sorted), each file one
  piece (``genlab.data.midi.read_midi``: non-drum instruments merged, ``data.steps_per_beat``
  frames per quarter note), split by file: seeded, ``data.val_fraction`` and
  ``data.test_fraction`` of the files.

Pitches outside 21..108 stop preprocessing naming the file (``data.out_of_range: error``) or
are left out and counted in ``meta.json`` (``drop``); a MIDI file that cannot be read stops
it too, or with ``data.skip_bad_files: true`` is skipped and listed.

Prepared music (``data/prepared``): per split ``x`` (frames of every piece one after another,
uint8 (F, K)), ``lengths`` (frames per piece) and ``codes`` (int32 (F,): each frame's chord,
the index of the same frame among the training split's distinct frames, most frequent
first, or ``n_chords`` for a frame training never saw). ``meta.json``: ``kind: music``,
``shape: [K]``, ``n_levels: 2``, ``n_chords``, ``unseen_rate`` (share of validation and
test frames that are no training chord), frame and piece counts per split.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

import genlab.data.midi
from genlab.data.midi import KEYS, LOWEST, MusicError, read_midi
from genlab.io import atomic_dir, write_json, write_npz
from genlab.nn.discrete import draw

SPLITS = ("train", "val", "test")
JSON_SPLITS = {"train": ("train",), "val": ("valid", "val"), "test": ("test",)}
MIDI_SUFFIXES = (".mid", ".midi")


# -- reading ------------------------------------------------------------------------------
def _roll_of_frames(frames, where: str, out_of_range: str) -> tuple[np.ndarray, int]:
    """A piano roll from a list of frames of MIDI pitches; (roll, notes dropped)."""
    if not isinstance(frames, list):
        raise MusicError(f"{where}: a piece must be a list of frames (got {type(frames).__name__})")
    if not frames:
        raise MusicError(f"{where}: a piece with no frames")
    if len(frames) > genlab.data.midi.MAX_FRAMES:  # as many as a MIDI file may give
        raise MusicError(f"{where}: {len(frames):,} frames, past the {genlab.data.midi.MAX_FRAMES:,} genlab reads of one piece")
    roll = np.zeros((len(frames), KEYS), dtype=np.uint8)
    dropped = 0
    for t, frame in enumerate(frames):
        if not isinstance(frame, list):
            raise MusicError(f"{where}[{t}]: a frame must be a list of MIDI pitches (got {frame!r:.40})")
        for pitch in frame:
            integral = isinstance(pitch, int) or (isinstance(pitch, float) and pitch.is_integer())  # not inf
            if isinstance(pitch, bool) or not integral:
                raise MusicError(f"{where}[{t}]: a MIDI pitch must be an integer (got {pitch!r:.40})")
            k = int(pitch) - LOWEST
            if not 0 <= k < KEYS:
                if out_of_range == "error":
                    raise MusicError(
                        f"{where}[{t}]: pitch {int(pitch)} is outside {LOWEST}..{LOWEST + KEYS - 1} "
                        f"(data.out_of_range: drop leaves such notes out)"
                    )
                dropped += 1
                continue
            roll[t, k] = 1
    return roll, dropped


def read_pianoroll_json(path: str | Path, out_of_range: str = "error") -> tuple[dict[str, list[np.ndarray]], int]:
    """({split: [rolls]}, notes dropped) from a JSON file with train/valid/test lists of pieces."""
    path = Path(path)
    if not path.is_file():
        raise MusicError(f"{path}: no such file" + (" (a folder: data.source midi reads folders)" if path.is_dir() else ""))
    def no_constants(name):
        raise ValueError(f"{name} is not a number JSON allows")

    try:
        raw = json.loads(path.read_bytes(), parse_constant=no_constants)
    except (OSError, ValueError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise MusicError(f"{path}: not a JSON file ({(str(exc).splitlines() or [type(exc).__name__])[0]})") from None
    except RecursionError:
        raise MusicError(f"{path}: not a JSON file (nested too deeply)") from None
    if not isinstance(raw, dict):
        raise MusicError(f"{path}: expected an object with train, valid and test lists of pieces (got {type(raw).__name__})")
    out, dropped = {}, 0
    for split, names in JSON_SPLITS.items():
        key = next((k for k in names if k in raw), None)
        if key is None:
            raise MusicError(f"{path}: no {names[0]!r} list of pieces (the keys are train, valid, test)")
        pieces = raw[key]
        if not isinstance(pieces, list) or not pieces:
            raise MusicError(f"{path}: {key}: expected a non-empty list of pieces")
        rolls = []
        for i, piece in enumerate(pieces):
            roll, d = _roll_of_frames(piece, f"{path}: {key}[{i}]", out_of_range)
            rolls.append(roll)
            dropped += d
        out[split] = rolls
    return out, dropped


def midi_files(path: str | Path) -> list[Path]:
    path = Path(path)
    if not path.is_dir():
        raise MusicError(f"{path}: no such folder" + (" (a file: data.source midi reads a folder of MIDI files)" if path.exists() else ""))
    files = sorted(f for f in path.rglob("*") if f.is_file() and f.suffix.lower() in MIDI_SUFFIXES)
    if not files:
        raise MusicError(f"{path}: no .mid or .midi files in the folder")
    return files


def read_midi_folder(path, steps_per_beat: int, out_of_range: str, skip_bad_files: bool):
    """(rolls, their files relative to ``path``, notes dropped, skipped files with why)."""
    rolls, names, skipped, dropped = [], [], [], 0
    for f in midi_files(path):
        try:
            roll, d = read_midi(f, steps_per_beat, out_of_range)
        except MusicError as exc:
            if not skip_bad_files:
                raise
            skipped.append(str(exc))
            continue
        rolls.append(roll)
        names.append(str(f.relative_to(path)))
        dropped += d
    if not rolls:
        raise MusicError(f"{path}: none of the MIDI files could be read ({len(skipped)} skipped)")
    return rolls, names, dropped, skipped


def split_files(n: int, val_fraction: float, test_fraction: float, seed: int, path) -> dict[str, np.ndarray]:
    """A seeded split of n pieces by file: at least one in each split."""
    n_test, n_val = round(n * test_fraction), round(n * val_fraction)
    if min(n_test, n_val) < 1 or n - n_test - n_val < 1:
        raise MusicError(
            f"{path}: {n} pieces are too few for val_fraction={val_fraction}, test_fraction={test_fraction} "
            f"(each split needs a file)"
        )
    order = np.random.default_rng(seed).permutation(n)
    return {"test": np.sort(order[:n_test]), "val": np.sort(order[n_test : n_test + n_val]), "train": np.sort(order[n_test + n_val :])}


# -- chords --------------------------------------------------------------------------------
def chord_table(train: np.ndarray) -> np.ndarray:
    """The distinct frames of the training roll (F, K), most frequent first (ties: in byte order)."""
    table, counts = np.unique(train, axis=0, return_counts=True)
    return table[np.argsort(-counts, kind="stable")]


def chord_codes(x: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Each frame's index in ``table``, or ``len(table)`` for a frame not in it; int64 (F,)."""
    index = {row.tobytes(): i for i, row in enumerate(np.ascontiguousarray(table, dtype=np.uint8))}
    unseen = len(table)
    return np.fromiter((index.get(r.tobytes(), unseen) for r in np.ascontiguousarray(x, dtype=np.uint8)), dtype=np.int64, count=len(x))


def piece_starts(lengths) -> np.ndarray:
    """The first frame of each piece in the concatenated roll."""
    lengths = np.asarray(lengths, dtype=np.int64)
    return np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)


def pieces_of(x, lengths) -> list:
    """The concatenated roll cut back into pieces."""
    return [x[a : a + n] for a, n in zip(piece_starts(lengths).tolist(), np.asarray(lengths).tolist())]


# -- the prepared folder -------------------------------------------------------------------
def prepare_music(params, out_dir: str | Path) -> dict:
    """Read, split and encode the pieces; write the prepared folder; return its metadata."""
    meta: dict = {"source": params.source, "path": str(params.path), "kind": "music"}
    if params.source == "pianoroll":
        parts, dropped = read_pianoroll_json(params.path, params.out_of_range)
        meta["steps_per_beat"] = params.steps_per_beat  # the file does not say: taken as given
    else:
        rolls, names, dropped, skipped = read_midi_folder(params.path, params.steps_per_beat, params.out_of_range, params.skip_bad_files)
        index = split_files(len(rolls), params.val_fraction, params.test_fraction, params.seed, params.path)
        parts = {s: [rolls[i] for i in index[s]] for s in SPLITS}
        meta["steps_per_beat"] = params.steps_per_beat
        meta["files"] = {s: [names[i] for i in index[s]] for s in SPLITS}
        meta["skipped_files"] = skipped
    x = {s: np.concatenate(parts[s]) for s in SPLITS}
    lengths = {s: np.array([len(r) for r in parts[s]], dtype=np.int64) for s in SPLITS}
    table = chord_table(x["train"])
    codes = {s: chord_codes(x[s], table) for s in SPLITS}
    meta.update({
        "shape": [KEYS],
        "lowest_pitch": LOWEST,
        "n_levels": 2,
        "n_chords": len(table),
        "unseen_rate": {s: float(np.mean(codes[s] == len(table))) for s in ("val", "test")},
        "out_of_range": params.out_of_range,
        "dropped_notes": int(dropped),
        "has_labels": False,
        "n_classes": 0,
        "counts": {s: int(len(x[s])) for s in SPLITS},
        "pieces": {s: int(len(lengths[s])) for s in SPLITS},
    })
    with atomic_dir(out_dir) as tmp:
        for s in SPLITS:
            write_npz(tmp / f"{s}.npz", x=x[s], lengths=lengths[s], codes=codes[s].astype(np.int32))
        write_json(tmp / "meta.json", meta)
    return meta



# -- a Bernoulli per key, and the escape to it from chords -------------------------------------
def bernoulli_fit(x: torch.Tensor, smoothing: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(log q_k, log(1 - q_k)), float64, of a Bernoulli per key fitted to frames (F, K), with a
    pseudo-count ``smoothing`` per key and state."""
    q = (x.double().sum(0) + smoothing) / (len(x) + 2 * smoothing)
    return q.log(), (-q).log1p()


def bernoulli_log_prob(x: torch.Tensor, log_on: torch.Tensor, log_off: torch.Tensor) -> torch.Tensor:
    """log prod_k q_k^x_k (1 - q_k)^(1 - x_k) of frames (F, K), float64."""
    x = x.to(log_on.device).double()
    return x @ log_on + (1 - x) @ log_off


# -- chords and the escape to independent keys: what the chord models share ---------------------
class ChordEscape(torch.nn.Module):
    """A frame's probability as a mixture that is normalised over all 2^K frames:

        p(frame | before) = (1 - e) P(chord | before) [frame is a training chord] + e prod_k q_k^x_k (1 - q_k)^(1 - x_k),

    where P(. | before) is a model's distribution over the ``n_chords`` training chords (summing
    to one) and the escape is the per-key Bernoulli of the training frames (pseudo-count
    ``smoothing`` per key and state). The escape mass e is estimated from the data: the share of
    validation frames that are no training chord, (unseen + 1/2) / (frames + 1), so it is never
    zero and is as small as the data allow when every chord recurs.
    """

    def __init__(self, n_chords: int, keys: int):
        super().__init__()
        self.register_buffer("chords", torch.zeros(n_chords, keys, dtype=torch.uint8))
        self.register_buffer("log_on", torch.zeros(keys, dtype=torch.float64))
        self.register_buffer("log_off", torch.zeros(keys, dtype=torch.float64))
        self.register_buffer("escape", torch.tensor(0.5, dtype=torch.float64))

    @property
    def n_chords(self) -> int:
        return len(self.chords)

    def fit(self, x: torch.Tensor, codes: torch.Tensor, val_codes: torch.Tensor, smoothing: float = 0.5) -> dict:
        dev = self.chords.device
        x, codes, val_codes = x.to(dev), codes.to(dev), val_codes.to(dev)
        seen = codes < self.n_chords
        self.chords[codes[seen]] = x[seen].to(torch.uint8)
        self.log_on, self.log_off = bernoulli_fit(x, smoothing)
        unseen = int((val_codes >= self.n_chords).sum())
        self.escape.fill_((unseen + 0.5) / (len(val_codes) + 1))
        return {"escape": float(self.escape)}

    def codes_of(self, frames: torch.Tensor) -> torch.Tensor:
        """Each frame's index among the training chords, or ``n_chords`` for one that is none; int64 (F,)."""
        frames = frames.to(self.chords.device, torch.uint8)
        same = (frames.unsqueeze(1) == self.chords.unsqueeze(0)).all(-1)  # (F, n_chords)
        return torch.where(same.any(1), same.float().argmax(1), torch.full((len(frames),), self.n_chords, device=frames.device))

    def bernoulli(self, x: torch.Tensor) -> torch.Tensor:
        """log prod_k q_k^x_k (1 - q_k)^(1 - x_k) of frames (F, K), float64."""
        return bernoulli_log_prob(x, self.log_on, self.log_off)

    def mix(self, chord_log_prob: torch.Tensor, x: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """log p(frame) from log P(chord | before) of each frame's own chord (ignored where the
        frame is no training chord)."""
        e, dev = self.escape, self.escape.device
        chord_log_prob, x, codes = chord_log_prob.to(dev), x.to(dev), codes.to(dev)
        known = codes < self.n_chords
        chord = torch.where(known, chord_log_prob.double() + torch.log1p(-e), torch.full_like(chord_log_prob, -torch.inf, dtype=torch.float64))
        return torch.logaddexp(chord, self.bernoulli(x) + e.log())

    def draw(self, chord_log_probs: torch.Tensor, generator: torch.Generator, temperature: float = 1.0):
        """(frames (n, K) uint8, codes (n,) int64): each row escapes with probability e to the
        per-key Bernoulli, else draws a chord from ``chord_log_probs`` (n, n_chords) at ``temperature``."""
        n, device = len(chord_log_probs), chord_log_probs.device
        escaped = torch.rand(n, generator=generator, device=device, dtype=torch.float64) < self.escape
        bern = torch.rand(n, self.chords.shape[1], generator=generator, device=device, dtype=torch.float64) < self.log_on.exp()
        codes = draw(chord_log_probs, generator, temperature)
        frames = torch.where(escaped.unsqueeze(1), bern.to(torch.uint8), self.chords[codes])
        if escaped.any():  # an escaped frame may still be a training chord
            rows = escaped.nonzero().squeeze(1)
            same = (frames[rows].unsqueeze(1) == self.chords.unsqueeze(0)).all(-1)  # (m, n_chords)
            codes[rows] = torch.where(same.any(1), same.float().argmax(1), torch.full_like(rows, self.n_chords))
        return frames, codes
