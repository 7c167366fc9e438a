"""Samples and pictures from a trained model: the sample array, a grid, reconstructions, interpolations;
for continuous values a histogram; for text a readable samples.txt, for music MIDI files, a
piano-roll grid and WAV audio. ``WRITERS``, at the end, says which function writes the samples
of each kind of data (``genlab.data.modality``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from genlab import paths
from genlab.config.params import GenerateParams
from genlab.data import midi, modality
from genlab.data.images import image_grid
from genlab.data.prepare import Prepared
from genlab.data.text import Vocab
from genlab.io import atomic_file, write_npz
from genlab.metrics.samples import histogram
from genlab.models.base import GenerativeModel, MusicModel, SequenceModel


def save_grid(images: torch.Tensor, n_levels: int, path: str | Path, nrow: int) -> None:
    """Save images (N, C, H, W) with levels 0..n_levels-1 as one PNG grid."""
    with atomic_file(path) as tmp:
        image_grid(images, n_levels, nrow).save(tmp, format="png")


@torch.no_grad()
def draw_samples(
    model: GenerativeModel, n: int, generator: torch.Generator, sampler: str | None = None, chunk: int = 1000
) -> torch.Tensor:
    return torch.cat([model.sample(min(chunk, n - i), generator, sampler) for i in range(0, n, chunk)]).cpu()


@torch.no_grad()
def draw_all(model: GenerativeModel, params: GenerateParams, generator: torch.Generator, out: Path) -> dict[str, torch.Tensor]:
    """Draw the samples and write samples.npz: ``x`` and, for a model with several samplers
    (``model.samplers``), ``x_<name>`` for each, ``x`` being the draws of the one
    ``params.sampler`` names (each sampler draws once)."""
    if model.samplers:
        arrays = {f"x_{name}": draw_samples(model, params.n_samples, generator, name) for name in model.samplers}
        arrays = {"x": arrays[f"x_{model.default_sampler}"], **arrays}
    else:
        arrays = {"x": draw_samples(model, params.n_samples, generator)}
    write_npz(out / paths.SAMPLES_FILE, **{k: v.numpy() for k, v in arrays.items()})
    return arrays


@torch.no_grad()
def generate_values(model: GenerativeModel, data: Prepared, params: GenerateParams, generator: torch.Generator, out: Path) -> dict:
    """Continuous values: samples.npz and histogram.csv, the generated values against the test values."""
    samples = draw_all(model, params, generator, out)["x"]
    rows = histogram(samples.flatten(1).numpy(), data.test.x.flatten(1).numpy())
    with atomic_file(out / "histogram.csv") as tmp:
        tmp.write_text("value,real,generated\n" + "".join(f"{r['value']:.6g},{r['real']:.6g},{r['generated']:.6g}\n" for r in rows))
    return {"n_samples": len(samples), "files": [paths.SAMPLES_FILE, "histogram.csv"]}


@torch.no_grad()
def generate_images(model: GenerativeModel, data: Prepared, params: GenerateParams, generator: torch.Generator, out: Path) -> dict:
    """Images: samples.npz and samples.png and, where the model has them, a grid per alternative
    sampler, reconstructions.png (test images above their reconstructions) and interpolation.png."""
    arrays = draw_all(model, params, generator, out)
    samples, test = arrays["x"], data.test.x
    n_grid = min(params.grid_size, len(samples))
    written = [paths.SAMPLES_FILE]
    for key, images in arrays.items():
        if key == f"x_{model.default_sampler}":
            continue  # the same images as samples.png
        png = "samples.png" if key == "x" else f"samples_{key[2:]}.png"
        save_grid(images[:n_grid], model.n_levels, out / png, nrow=math.ceil(math.sqrt(n_grid)))
        written.append(png)
    device = model.device
    x = test[: params.n_reconstructions].to(device)
    reconstructions = model.reconstruct(x)
    if reconstructions is not None:
        pairs = torch.cat([x.float(), reconstructions.float()])  # originals on top, reconstructions below
        save_grid(pairs, model.n_levels, out / "reconstructions.png", nrow=len(x))
        written.append("reconstructions.png")
    rows = min(8, len(test) // 2)
    strip = model.interpolation_strip(test.to(device), rows, params.interpolation_steps, generator)
    if strip is not None:
        save_grid(strip.flatten(0, 1), model.n_levels, out / "interpolation.png", nrow=params.interpolation_steps)
        written.append("interpolation.png")
    return {"n_samples": len(samples), "files": written}


def write_figures(model: GenerativeModel, meta: dict, out: Path) -> list[str]:
    """The model's pictures of itself (``figures``), e.g. the Markov chain's transition matrix."""
    written = []
    for name, picture in model.figures(meta).items():
        with atomic_file(out / name) as tmp:
            picture.save(tmp, format="png")
        written.append(name)
    return written


def write_text(out: Path, codes: np.ndarray, vocab: Vocab, shown: str, temperature: float) -> list[str]:
    """samples.npz (``x``: (n, length) codes, the prompt excluded) and samples.txt, every sample
    under a header line, ``shown`` (the prompt) first; the files written."""
    write_npz(out / paths.SAMPLES_FILE, x=codes.astype(vocab.dtype()))
    with atomic_file(out / paths.SAMPLES_TEXT_FILE) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            for i, s in enumerate(codes, 1):
                fh.write(f"=== sample {i} of {len(codes)} (temperature {temperature:g}) ===\n{shown}{vocab.decode(s)}\n\n")
    return [paths.SAMPLES_FILE, paths.SAMPLES_TEXT_FILE]


@torch.no_grad()
def generate_text(
    model: SequenceModel, data: Prepared, params: GenerateParams, generator: torch.Generator, out: Path, chunk: int = 1000
) -> dict:
    """samples.npz and samples.txt (``write_text``); plus the model's figures."""
    meta = data.meta
    vocab = Vocab.of_meta(meta)
    prompt = torch.from_numpy(vocab.encode(params.prompt))
    n = params.n_samples
    samples = torch.cat([
        model.sample_stream(min(chunk, n - i), params.length, generator, params.temperature, prompt).cpu()
        for i in range(0, n, chunk)
    ])
    written = write_text(out, samples.numpy(), vocab, vocab.decode(prompt.numpy()), params.temperature)
    return {"n_samples": n, "files": [*written, *write_figures(model, meta, out)]}


N_AUDIO = 4  # samples rendered as WAV
AUDIO_SECONDS = 30.0  # at most, each
ROLLS_SHOWN = 16  # piano rolls in samples.png, at most


def write_music(out: Path, rolls: np.ndarray, steps: int, shown: int, pieces: Sequence[np.ndarray] | None = None) -> list[str]:
    """samples.npz (``x``: the (n, length, K) uint8 piano rolls), every piece as a MIDI file
    (midi/sample_0001.mid, ...), WAV audio of the first ``N_AUDIO`` (audio/sample_0001.wav, ...;
    sine tones, at most ``AUDIO_SECONDS`` each) and samples.png (the first ``shown`` pieces'
    first 128 frames), played at ``steps`` frames per quarter note and 120 quarter notes a
    minute. The pieces are the rolls unless given (a primer before each sample, say); the files
    written."""
    pieces = rolls if pieces is None else pieces
    n = len(rolls)
    write_npz(out / paths.SAMPLES_FILE, x=rolls)
    (out / "midi").mkdir()
    (out / "audio").mkdir()
    width = len(str(n))
    for i, roll in enumerate(pieces, 1):
        midi.write_midi(roll, out / "midi" / f"sample_{i:0{width}d}.mid", steps)
    for i, roll in enumerate(pieces[:N_AUDIO], 1):
        midi.write_wav(out / "audio" / f"sample_{i:0{width}d}.wav", roll, steps, max_seconds=AUDIO_SECONDS)
    midi.pianoroll_grid(pieces[:shown], ncol=min(4, shown)).save(out / "samples.png", format="png")
    return [paths.SAMPLES_FILE, f"midi/ ({n} files)", f"audio/ ({min(n, N_AUDIO)} files)", "samples.png"]


@torch.no_grad()
def generate_music(
    model: MusicModel, data: Prepared, params: GenerateParams, generator: torch.Generator, out: Path, chunk: int = 1000
) -> dict:
    """Piano rolls written by ``write_music``, at the data's ``steps_per_beat``; samples.png shows
    at most ``params.grid_size`` and ``ROLLS_SHOWN``."""
    n = params.n_samples
    samples = torch.cat([
        model.sample_pieces(min(chunk, n - i), params.length, generator, params.temperature).cpu()
        for i in range(0, n, chunk)
    ]).numpy()
    files = write_music(out, samples, int(data.meta.get("steps_per_beat", 1)), min(params.grid_size, ROLLS_SHOWN, n))
    return {"n_samples": n, "files": files}


# -- what writes the samples of each kind of data --------------------------------------
Writer = Callable[[GenerativeModel, Prepared, GenerateParams, torch.Generator, Path], dict]  # -> n_samples, files

WRITERS: dict[str, Writer] = {
    modality.IMAGES.name: generate_images,
    modality.CONTINUOUS.name: generate_values,
    modality.TEXT.name: generate_text,
    modality.MUSIC.name: generate_music,
}


def generate(model: GenerativeModel, data: Prepared, params: GenerateParams, generator: torch.Generator, out: Path) -> dict:
    """Write the samples of ``model`` into ``out`` as its kind of data has them; return how many and which files."""
    return WRITERS[data.modality.name](model, data, params, generator, out)
