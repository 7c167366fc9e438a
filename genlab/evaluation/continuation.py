"""Continuing music: the opening frames of test pieces, continued by each model to the piece's
length, and how well that was done.

``generate.primer_frames`` P: the first ``generate.continuations`` test pieces longer than P are
cut after P frames, and every music model draws the rest of each piece's length given that
primer (at ``generate.temperature``). ``generate`` writes continuations.npz (``continued``: every
piece's primer and continuation, one after another; ``continued_lengths``) and continuations/:
one MIDI file per piece (primer, then continuation) and WAV audio of the first few.

``evaluate`` reports ``continuation_nll``: nats per frame of the true continuations given their
primers (every frame after the primer, each given all the frames before it in its piece: the
same exact terms as ``nll``, kept to those frames), with its standard error over pieces;
``continuation_pitch_class_tv``: the pitch-class histogram of the drawn continuations against the
true ones; and ``continuation_key_distance``: how far, in pitch classes, each continuation strays
from its own primer (the real row: the true continuations', what staying in key looks like).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from genlab.config.sections import GenerateParams
from genlab.data import midi, modality
from genlab.data.music import pieces_of
from genlab.data.prepare import Prepared
from genlab.io import write_npz
from genlab.metrics.music import key_distance, pitch_class_tv
from genlab.models.base import music_summary

FILE = "continuations.npz"
FOLDER = "continuations"
N_AUDIO = 4  # continuations rendered as WAV
SEED_OFFSET = 2_000_003  # their generator: generate.seed plus this, apart from the samples'


def continued(data: Prepared, params: GenerateParams) -> list[int]:
    """Indices of the test pieces that are continued: the first ``continuations`` longer than the primer."""
    if params.primer_frames == 0:
        return []
    long_enough = (data.test.lengths > params.primer_frames).nonzero()[:, 0].tolist()
    return long_enough[: params.continuations]


@torch.no_grad()
def write_continuations(model, data: Prepared, params: GenerateParams, out: Path) -> list[str]:
    """Continue the chosen test pieces (see the module); returns the files written (none for other
    data, or when no piece is longer than the primer)."""
    if data.modality.name != modality.MUSIC.name:
        return []
    chosen = continued(data, params)
    if not chosen:
        return []
    P = params.primer_frames
    pieces = pieces_of(data.test.x.numpy(), data.test.lengths.numpy())
    gen = torch.Generator(device=model.device).manual_seed(params.seed + SEED_OFFSET)
    rolls = []
    for i in chosen:
        primer = torch.from_numpy(np.ascontiguousarray(pieces[i][:P])).to(model.device)
        rest = model.sample_pieces(1, len(pieces[i]) - P, gen, params.temperature, primer)[0].cpu().numpy()
        rolls.append(np.concatenate([pieces[i][:P], rest]).astype(np.uint8))
    write_npz(out / FILE, continued=np.concatenate(rolls), continued_lengths=np.array([len(r) for r in rolls]))
    folder = out / FOLDER
    folder.mkdir()
    steps = int(data.meta.get("steps_per_beat", 1))
    for i, roll in zip(chosen, rolls):
        midi.write_midi(roll, folder / f"test_{i + 1:04d}.mid", steps)
    for i, roll in list(zip(chosen, rolls))[:N_AUDIO]:
        midi.write_wav(folder / f"test_{i + 1:04d}.wav", roll, steps)
    return [FILE, f"{FOLDER}/ ({len(rolls)} MIDI files, {min(N_AUDIO, len(rolls))} WAV)"]


def _primer_and_rest(data: Prepared, params: GenerateParams, chosen: list[int]):
    pieces = pieces_of(data.test.x.numpy(), data.test.lengths.numpy())
    P = params.primer_frames
    return [pieces[i][:P] for i in chosen], [pieces[i][P:] for i in chosen]


def continuation_metrics(data: Prepared, samples: dict, params: GenerateParams, log_probs: torch.Tensor) -> dict:
    """``continuation_nll`` (from ``log_probs``: the model's exact log p(frame | the frames before it)
    for every test frame) and, where continuations.npz's arrays are in ``samples``, how the drawn
    continuations compare with the true ones."""
    chosen = continued(data, params)
    if not chosen:
        return {}
    P = params.primer_frames
    per_piece = log_probs.double().split(data.test.lengths.long().tolist())
    rest = torch.cat([per_piece[i][P:] for i in chosen])
    lengths = torch.tensor([len(per_piece[i]) - P for i in chosen])
    summary = music_summary(rest, lengths)
    out = {"continuation_nll": summary["nll"], "continuation_nll_stderr": summary["nll_stderr"],
           "continuation_pieces": len(chosen), "continuation_frames": int(lengths.sum()), "primer_frames": P}
    if "continued" in samples:
        rolls = pieces_of(samples["continued"].numpy(), samples["continued_lengths"].numpy())
        primers, truth = _primer_and_rest(data, params, chosen)
        drawn = [r[P:] for r in rolls]
        out["continuation_pitch_class_tv"] = pitch_class_tv(drawn, truth)
        out["continuation_key_distance"] = key_distance(primers, drawn)
    return out


def real_continuation_metrics(data: Prepared, params: GenerateParams) -> dict:
    """The real row: how far the true continuations stray from their primers in pitch classes."""
    chosen = continued(data, params)
    if not chosen:
        return {}
    primers, truth = _primer_and_rest(data, params, chosen)
    return {"continuation_key_distance": key_distance(primers, truth), "continuation_pieces": len(chosen)}
