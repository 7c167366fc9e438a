"""A trained model outside the pipeline: load it, draw samples, score data.

    import genlab
    m = genlab.load("models/vae")        # a model's name, its folder, or its model.pt
    images = m.sample(16, seed=0)        # uint8 (16, C, H, W), the data's levels
    m.nll(images)                        # nats per image: exact, or the model's bound

What ``sample`` returns is the data in its user's terms: uint8 images shaped like the data (the
data's levels, 0..n_levels-1), float64 rows for continuous values (the data's own scale),
strings for text, uint8 piano rolls (length, 88) for music. Loading reads the checkpoint
weights-only; the pipeline's files are only read. ``genlab sample`` (``genlab.trained.command``) is
the same from the command line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genlab import paths
from genlab.errors import GenlabError


def resolve(model: str | Path) -> Path:
    """The checkpoint file that ``model`` names: a model's name (``models/<name>/model.pt`` under
    the current folder), a model folder, or a checkpoint file; one line where there is none."""
    path = Path(model)
    if not path.exists() and path.name == str(model) and (Path(paths.model_dir(str(model))).exists()):
        path = Path(paths.model_dir(str(model)))
    if path.is_dir():
        path = path / paths.CHECKPOINT_FILE
    if not path.is_file():
        where = f" (nor {paths.model_dir(str(model))})" if Path(str(model)).name == str(model) else ""
        raise GenlabError(f"{model}: no trained model there{where}; give a model's name in a pipeline that has trained it "
                          f"(`dvc repro train@<model>`), a model folder or its {paths.CHECKPOINT_FILE}")
    return path


@dataclass
class Trained:
    """A trained genlab model (``model``, its ``name``) and what it was trained on (``meta``: the
    prepared data's description: kind, shape, levels, vocabulary, ...)."""

    name: str
    model: torch.nn.Module
    meta: dict
    path: Path

    @property
    def kind(self) -> str:
        return self.meta.get("kind", "images")

    def __repr__(self) -> str:
        shape = "x".join(str(s) for s in self.meta.get("shape", ()))
        return f"<genlab {self.name}: {self.kind} {shape}, {self.meta.get('n_levels')} levels, from {self.path}>"

    # -- sampling -------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, seed: int = 0, *, sampler: str | None = None, temperature: float = 1.0,
               length: int = 500, prompt: str = "", primer=None, label: int | None = None):
        """``n`` samples drawn with ``seed`` (the same seed, the same samples, on a CPU): images
        uint8 (n, C, H, W); continuous values float64 (n, F); text, a list of ``n`` strings of
        ``length`` characters continuing ``prompt``; music, uint8 (n, ``length``, 88) piano rolls,
        each continuing ``primer`` (a MIDI file's path, or a piano roll (frames, 88)) if given.
        ``sampler`` picks one of the model's samplers (``model.samplers``); ``temperature``
        sharpens (< 1) or flattens (> 1) text and music; ``label``, the class a class-conditional
        model draws (else each sample's class is drawn from the training frequencies)."""
        from genlab import runtime

        n = _count(n, "n")
        gen = runtime.generator(seed, self.model.device)
        if self.kind == "text":
            from genlab.data.text import Vocab

            vocab = Vocab.of_meta(self.meta)
            codes = torch.from_numpy(vocab.encode(prompt))
            out = self.model.sample_stream(n, _count(length, "length"), gen, _temperature(temperature), codes).cpu()
            return [vocab.decode(row) for row in out.numpy()]
        if self.kind == "music":
            roll = None if primer is None else torch.from_numpy(self.primer_roll(primer))
            return self.model.sample_pieces(n, _count(length, "length"), gen, _temperature(temperature), roll).cpu().numpy()
        if sampler is not None and sampler not in self.model.samplers:
            have = ", ".join(self.model.samplers) or "only its own"
            raise GenlabError(f"sampler {sampler!r}: {self.name} has {have}")
        extra = {}
        if label is not None:
            classes = getattr(self.model, "n_classes", 0) if self.model.conditional else 0
            if not classes:
                raise GenlabError(f"label: {self.name} is not class-conditional (train it with {self.name}.conditional: true)")
            if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or not 0 <= label < classes:
                raise GenlabError(f"label: a class 0..{classes - 1}, not {label!r}")
            extra["labels"] = torch.full((min(1000, n),), int(label), device=self.model.device)
        x = torch.cat([self.model.sample(min(1000, n - i), gen, sampler, **{k: v[: min(1000, n - i)] for k, v in extra.items()})
                       for i in range(0, n, 1000)]).cpu()
        if self.kind == "continuous":
            return x.double().numpy()
        return x.round().clamp(0, self.model.n_levels - 1).to(torch.uint8).numpy()

    def primer_roll(self, primer) -> np.ndarray:
        """A music primer as a piano roll (frames, keys) uint8: read from a MIDI file at the data's
        ``steps_per_beat`` (notes outside the piano dropped), or an array of 0/1 frames."""
        keys = int(self.meta["shape"][0])
        if isinstance(primer, (str, Path)):
            from genlab.data.midi import read_midi

            roll, _ = read_midi(primer, int(self.meta.get("steps_per_beat", 1)), out_of_range="drop")
        else:
            roll = np.asarray(primer)
        if roll.ndim != 2 or roll.shape[1] != keys or not np.isin(roll, (0, 1)).all():
            raise GenlabError(f"primer: a piano roll of 0/1 frames (frames, {keys}) expected, not shape {roll.shape}")
        return roll.astype(np.uint8)

    # -- completion -------------------------------------------------------------------------------
    @torch.no_grad()
    def complete(self, x, mask="bottom", seed: int = 0, steps: int = 200) -> np.ndarray:
        """Images ``x`` (n, C, H, W, or one image) with the part ``mask`` hides drawn by the model
        given the rest, as the evaluate stage completes test images: uint8, shaped like ``x``, the
        visible part unchanged. ``mask``: `bottom`, `centre` or `random` (seeded by ``seed``), or a
        boolean array, True where hidden, shaped (H, W), like one image, or like ``x``. ``steps``:
        the VAE's chain steps, the GAN's optimisation steps."""
        from genlab import runtime
        from genlab.config.sections import MASKS
        from genlab.evaluation.completion import hidden_mask

        if self.kind != "images":
            raise GenlabError(f"{self.name}: completes images only (this model is of {self.kind})")
        data = self._data(x)
        C, H, W = self.model.shape
        if isinstance(mask, str):
            if mask not in MASKS:
                raise GenlabError(f"mask {mask!r}: one of {', '.join(MASKS)}, or a boolean array")
            hidden = hidden_mask(mask, self.model.shape, len(data), seed)
        else:
            m = torch.as_tensor(np.asarray(mask)).bool()
            if m.shape == (H, W):
                m = m.expand(C, H, W)
            if tuple(m.shape) == (C, H, W):
                m = m.expand(len(data), C, H, W)
            if tuple(m.shape) != (len(data), C, H, W):
                raise GenlabError(f"mask of shape {tuple(m.shape)}: ({H}, {W}), ({C}, {H}, {W}) or like the images expected")
            hidden = m.reshape(len(data), -1)
        out = self.model.complete(data, hidden.to(data.device), runtime.generator(seed, self.model.device), _count(steps, "steps"))
        if out is None:
            raise GenlabError(f"{self.name}: cannot complete under this mask (docs/conditional.md says which model completes what)")
        return out.cpu().to(torch.uint8).numpy().reshape(np.shape(x))

    # -- likelihood -------------------------------------------------------------------------------
    def log_prob(self, x) -> np.ndarray:
        """The exact log-likelihood in nats (float64), per image or row; for text (a string), per
        character. Models whose likelihood is a bound (the VAE, the flow, diffusion) say so: their
        ``nll`` gives it."""
        self._needs_likelihood()
        if self.kind == "text":
            return self.model.log_prob_stream(self._codes(x), torch.zeros(0, dtype=torch.long)).double().cpu().numpy()
        if self.kind == "music":
            raise GenlabError(f"{self.name}: log_prob of music outside the pipeline is not supported yet")
        try:
            with torch.no_grad():
                return self.model.log_prob(self._data(x)).double().cpu().numpy()
        except NotImplementedError:
            raise GenlabError(f"{self.name}: its likelihood is a bound, not exact; nll(x) gives the bound") from None

    def nll(self, x, seed: int = 0) -> float:
        """Mean negative log-likelihood in nats per image or row (per character for text): exact
        where the model has it, else the bound the evaluate stage reports (its default
        ``evaluate`` params; ``seed`` seeds a bound's draws)."""
        self._needs_likelihood()
        if self.kind == "text":
            return float(-self.log_prob(x).mean())
        if self.kind == "music":
            raise GenlabError(f"{self.name}: nll of music outside the pipeline is not supported yet")
        from genlab import runtime
        from genlab.config.params import EvaluateParams

        with torch.no_grad():
            out = self.model.likelihood_metrics(self._data(x), EvaluateParams(), runtime.generator(seed, self.model.device))
        return float(out["nll"])

    def _needs_likelihood(self) -> None:
        if not self.model.has_likelihood:
            raise GenlabError(f"{self.name}: has no likelihood (it is scored on its samples only)")

    def _data(self, x) -> torch.Tensor:
        """``x`` as the model takes it, or one line on what is wrong with it."""
        t = torch.as_tensor(np.asarray(x))
        shape = tuple(self.meta["shape"])
        if t.ndim == len(shape):
            t = t.unsqueeze(0)
        if tuple(t.shape[1:]) != shape:
            raise GenlabError(f"{self.name}: data of shape {tuple(t.shape)}, not (n, {', '.join(map(str, shape))}) as it was trained on")
        if self.kind == "continuous":
            return t.to(torch.float64).to(self.model.device)
        levels = self.model.n_levels
        if t.is_floating_point() and not torch.equal(t, t.round()) or len(t) and (t.min() < 0 or t.max() >= levels):
            raise GenlabError(f"{self.name}: images of whole levels 0..{levels - 1} expected (the data's {levels} levels)")
        return t.to(torch.uint8).to(self.model.device)

    def _codes(self, text) -> torch.Tensor:
        from genlab.data.text import Vocab

        if not isinstance(text, str):
            raise GenlabError(f"{self.name}: text models score a string")
        return torch.from_numpy(Vocab.of_meta(self.meta).encode(text)).to(self.model.device)


def _count(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise GenlabError(f"{name}: a whole number of at least 1, not {value!r}")
    return int(value)


def _temperature(value) -> float:
    if not isinstance(value, (int, float)) or not value > 0:
        raise GenlabError(f"temperature: a number above 0, not {value!r}")
    return float(value)


def load(model: str | Path, device: str = "cpu") -> Trained:
    """The trained model ``model`` names (a model's name, its folder or checkpoint file), in
    eval mode on ``device``: ``.sample(n, seed=...)``, ``.log_prob(x)``, ``.nll(x)``."""
    from genlab import runtime
    from genlab.models import registry

    path = resolve(model)
    name, net, meta = registry.load_with_meta(path, runtime.resolve_device(device))
    return Trained(name, net, meta, path)
