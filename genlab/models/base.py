"""What every genlab model provides: the one interface the training loop and the stages call.

A model is a module ``genlab/models/<name>.py`` whose ``MODEL`` is a subclass of
``GenerativeModel`` (or a tuple of them, one per kind of data) with its params section as
the nested class ``Params``. Every hook below has a documented default, so a model writes
only what it does differently:

- training: either by gradient steps through the shared loop (``trains_by_gradient = True``,
  the ``Trainable`` hooks below: ``loss``, or ``make_optimizers`` + ``train_step``,
  ``validation_score``, ``snapshot``, ``begin_fit``, ``finish_fit``), or in closed form
  (``trains_by_gradient = False`` and ``fit``);
- sampling: ``sample`` (every model), ``samplers`` (alternative ways, each scored);
- likelihood: ``log_prob`` (exact) or ``likelihood_metrics`` (a bound), on the data's scale;
  ``has_likelihood = False`` for a model without one (a GAN);
- pictures: ``reconstruct`` and ``interpolation_strip`` (None: the model has none);
- ``needs_features``: the training stage attaches the frozen feature network of the sample
  metrics (``attach_features``; the classifier or the self-supervised network) before fitting.

Data arrive as tensors: uint8 images (N, C, H, W) with ``n_levels`` levels, or float64
values (N, F) with ``n_levels == 0``. A model of sequences (text) subclasses
``SequenceModel`` instead: its data are one long 1-D tensor of codes per split. A model of
music subclasses ``MusicModel``: its data are pieces of piano-roll frames.
"""

from __future__ import annotations

import itertools
import math
from typing import ClassVar

import torch

from genlab.config.schema import GradientParams, Section
from genlab.nn.discrete import draw
from genlab.nn.optim import check_finite, make_adam
from genlab.runtime import all_sum, world

Tensors = torch.Tensor | tuple[torch.Tensor, ...]


def _as_tuple(data: Tensors, device) -> tuple[torch.Tensor, ...]:
    return tuple(t.to(device) for t in (data if isinstance(data, tuple) else (data,)))


@torch.no_grad()
def mean_loss(model: torch.nn.Module, data: tuple[torch.Tensor, ...], batch_size: int) -> float:
    """The mean loss over ``data``; with several processes each scores its share and the sums
    are added over the ranks."""
    model.eval()
    rank, size = world()
    if size > 1:
        data = tuple(t[rank::size] for t in data)
    device = data[0].device
    total, n = torch.zeros((), dtype=torch.float64, device=device), len(data[0])
    for start in range(0, n, batch_size):  # summed on the device in float64, read once
        batch = tuple(t[start : start + batch_size] for t in data)
        total = total + model.loss(*batch).double() * len(batch[0])
    total = all_sum(torch.stack([total, torch.tensor(float(n), dtype=torch.float64, device=device)]))
    return total[0].item() / total[1].item()


class Trainable(torch.nn.Module):
    """What the shared loop calls on a model. Every hook has a default; a model with one
    objective overrides ``loss`` only, one with several (a GAN) ``make_optimizers`` and
    ``train_step``, and one selected by another criterion ``validation_score``."""

    trains_by_gradient: ClassVar[bool] = True  # False: the model fits in closed form (``fit``)
    validation_metric: ClassVar[str] = "loss"  # the name ``validation_score`` is logged under
    params: GradientParams

    def loss(self, *batch: torch.Tensor) -> torch.Tensor:
        """Mean training objective over a batch (nats per example for a generative model)."""
        raise NotImplementedError(f"{type(self).__name__} has no loss")

    def make_optimizers(self) -> list[torch.optim.Optimizer]:
        """Default: one Adam over every parameter."""
        return [make_adam(self.parameters(), self.params)]

    def train_step(self, batch: tuple, optimizers: list) -> dict[str, torch.Tensor]:
        """Default: one step on ``loss``; returns the (detached) losses to log."""
        (opt,) = optimizers
        loss = check_finite(self.objective(*batch))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss.detach()}

    def validation_score(self, val: tuple, epoch: int) -> float | None:
        """Lower is better; None on epochs it is not measured. Default: the mean ``loss``, with the
        same seeded draws every epoch (a stochastic loss such as a VAE's bound would otherwise add
        its own noise to the choice of the best epoch)."""
        device = next(self.parameters()).device
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):  # the training
            torch.manual_seed(self.params.seed)  # stream (CPU and CUDA) goes on unchanged afterwards
            return mean_loss(self, val, 4 * self.params.batch_size)

    def step_cap(self) -> int | None:
        """The most optimisation steps the loop runs (None: no cap). Default: the section's
        ``max_steps``; a model may derive it from the data's size when that is left null."""
        return self.params.max_steps

    def snapshot(self):
        """A picture (PIL image) to log at every validation, or None (the default)."""
        return None

    def training_state(self) -> dict:
        """What a resumed run needs besides the weights: the state of generators the model keeps
        itself (tensors and plain types). Default: nothing."""
        return {}

    def restore_training_state(self, state: dict) -> None:
        """Put back what ``training_state`` returned."""

    def distribute(self, wrap) -> None:
        """With several processes, wrap what trains in DistributedDataParallel (``wrap``), kept out
        of the model's own modules so that its state_dict does not change. Default: ``loss``,
        through a module whose forward it is; ``objective`` then calls the wrapper. A model with
        its own ``train_step`` (the GAN) wraps its parts and calls them."""
        self.__dict__["_ddp"] = wrap(LossOf(self))

    def undistribute(self) -> None:
        for key in [k for k in self.__dict__ if k.startswith("_ddp")]:
            del self.__dict__[key]

    def objective(self, *batch: torch.Tensor) -> torch.Tensor:
        """``loss``, through DistributedDataParallel when training with several processes."""
        ddp = self.__dict__.get("_ddp")
        return self.loss(*batch) if ddp is None else ddp(*batch)

    def training_batches(self, train: Tensors, val: Tensors) -> tuple[Tensors, Tensors, object]:
        """(what the loop batches, what it validates on, a batch transform or None). Default: the
        examples as they are. A sequence model turns one long text into windows here: the loop
        then permutes window offsets, and the transform cuts each batch's windows afresh."""
        return train, val, None

    def begin_fit(self, train: torch.Tensor) -> None:
        """Anything taken from the training data before the first step (a standardisation, say)."""

    def finish_fit(self, train: torch.Tensor) -> dict:
        """Anything fitted after the weights (a latent sampler, say); returns what to log."""
        return {}


class LossOf(torch.nn.Module):
    """A module whose forward is ``model.loss``: what DistributedDataParallel wraps."""

    def __init__(self, model: Trainable):
        super().__init__()
        self.model = model

    def forward(self, *batch: torch.Tensor) -> torch.Tensor:
        return self.model.loss(*batch)


class GenerativeModel(Trainable):
    Params: ClassVar[type[Section]]
    modalities: ClassVar[tuple[str, ...]] = ()  # kinds of data it models ("images", "continuous", ...)
    trains_by_gradient: ClassVar[bool] = True  # False: closed-form ``fit``
    has_likelihood: ClassVar[bool] = True
    samplers: ClassVar[tuple[str, ...]] = ()  # alternative ways to sample, each scored on its own
    needs_features: ClassVar[bool] = False

    def __init__(self, params: Section, shape: tuple[int, ...], n_levels: int):
        super().__init__()
        self.params = params
        self.shape = tuple(int(s) for s in shape)
        self.n_levels = int(n_levels)

    @classmethod
    def from_meta(cls, params: Section, meta: dict) -> "GenerativeModel":
        """The model for prepared data described by ``meta`` (its ``meta.json``)."""
        return cls(params, tuple(meta["shape"]), meta["n_levels"])

    @property
    def device(self) -> torch.device:
        for t in itertools.chain(self.parameters(), self.buffers()):
            return t.device
        return torch.device("cpu")

    @property
    def dim(self) -> int:
        return math.prod(self.shape)

    # -- training -------------------------------------------------------------
    def fit(self, train: torch.Tensor, val: torch.Tensor) -> dict:
        """Closed-form fit on the training data (``trains_by_gradient = False``); returns what to log."""
        raise NotImplementedError(f"{type(self).__name__} trains by gradient steps, not in closed form")

    def attach_features(self, network) -> None:
        """The frozen feature network (``needs_features``; ``predict(x)`` gives (features, logits or
        None)), kept out of the state dict."""
        self.__dict__["feature_network"] = network

    # -- sampling ---------------------------------------------------------------
    def sample(self, n: int, generator: torch.Generator, sampler: str | None = None) -> torch.Tensor:
        """``n`` draws from the model, shaped like the data (with ``sampler``, one of ``samplers``)."""
        raise NotImplementedError

    @property
    def default_sampler(self) -> str | None:
        """The entry of ``samplers`` that ``sample`` uses when given none (None: no alternatives)."""
        return None

    # -- likelihood -------------------------------------------------------------
    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log-likelihood per example (float64, nats)."""
        raise NotImplementedError

    def likelihood_metrics(self, x: torch.Tensor, params, generator: torch.Generator) -> dict:
        """Test-set likelihood metrics (``params``: the evaluate section); default: the exact ``log_prob``."""
        nll = -self.log_prob(x).double()
        return nll_summary(nll, self.dim, discrete=self.n_levels > 0)

    # -- cost --------------------------------------------------------------------------
    def uncounted_flop(self, what: str, n: int) -> int:
        """Operations PyTorch's FLOP counter does not see (``genlab.metrics.cost``) for ``what``
        (``"fit"``, ``"sample"`` or ``"nll"``) on ``n`` examples (symbols of text, frames of
        music). Default: none for a model trained by gradient steps (its work is its matrix
        products); for a closed-form one, one per value counted or looked up, and one per level
        a value is drawn over."""
        if self.trains_by_gradient:
            return 0
        values = n * self.dim
        return values * max(self.n_levels, 1) if what == "sample" else values

    # -- pictures ----------------------------------------------------------------
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor | None:
        """Reconstructions of x in levels (floats allowed), or None: the model has none."""
        return None

    def interpolation_strip(self, test: torch.Tensor, rows: int, steps: int, generator) -> torch.Tensor | None:
        """(rows, steps, *shape) images along straight lines in a latent space, or None."""
        return None

    def figures(self, meta: dict) -> dict:
        """Pictures of the fitted model itself ({file name: PIL image}), e.g. a transition matrix."""
        return {}


class SequenceModel(GenerativeModel):
    """A model of one long sequence of symbols 0..n_levels-1 (text: the last symbol is the unknown one).

    It gives every symbol a probability given the symbols before it, normalised over all
    ``n_levels`` symbols in every context: ``next_log_probs`` for a batch of contexts,
    ``log_prob_stream`` for a whole text scored once per symbol, and ``sample_stream`` to
    draw texts (by default one symbol at a time through ``next_log_probs``)."""

    modalities = ("text",)

    @property
    def history(self) -> int:
        """How many preceding symbols the model conditions on (0: none; a windowed model, its window)."""
        return 0

    def next_log_probs(self, context: torch.Tensor) -> torch.Tensor:
        """(B, n_levels) float64 log-probabilities of the next symbol after each row of ``context``
        (B, history) int64, oldest first; -1 marks no symbol (the start of a text)."""
        raise NotImplementedError

    def log_prob_stream(self, x: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        """float64 log p(x_t | what precedes it) for every symbol of ``x`` (T,), each scored once;
        ``history`` (H,) are the symbols just before ``x`` (the end of the text before it)."""
        h = self.history
        stream = torch.cat([history[-h:] if h else history[:0], x]).long()
        pad = torch.full((h,), -1, dtype=torch.long, device=stream.device)
        padded = torch.cat([pad, stream])
        start = len(stream) - len(x)
        out = []
        for a in range(0, len(x), 4096):
            b = min(a + 4096, len(x))
            pos = torch.arange(start + a, start + b, device=stream.device)
            ctx = padded[pos.unsqueeze(1) + torch.arange(h, device=stream.device)]  # (b - a, h)
            out.append(self.next_log_probs(ctx).gather(1, stream[pos].unsqueeze(1)).squeeze(1))
        return torch.cat(out)

    @torch.no_grad()
    def sample_stream(
        self, n: int, length: int, generator: torch.Generator, temperature: float = 1.0,
        prompt: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(n, length) int64 draws, each continuing ``prompt`` (codes) when given."""
        h = self.history
        ctx = torch.full((n, h), -1, dtype=torch.long, device=self.device)
        if prompt is not None and len(prompt) and h:
            tail = prompt[-h:].to(ctx.device)
            ctx[:, h - len(tail):] = tail
        out = torch.empty(n, length, dtype=torch.long, device=self.device)
        for t in range(length):
            out[:, t] = draw(self.next_log_probs(ctx), generator, temperature)
            if h:
                ctx = torch.cat([ctx[:, 1:], out[:, t : t + 1]], dim=1)
        return out


class MusicModel(GenerativeModel):
    """A model of pieces of music: binary piano rolls, frames of K keys (88: MIDI pitches 21-108).

    Data arrive as (x, codes, lengths): every piece's frames one after another (F, K) uint8,
    each frame's chord (its index among the training split's distinct frames, ``n_chords``
    for one training never saw) and the frames per piece. A model gives every frame an exact
    probability given the frames before it in its piece, normalised over all 2^K frames
    (``frame_log_probs``), and draws pieces frame by frame (``sample_pieces``)."""

    modalities = ("music",)

    def __init__(self, params: Section, shape, n_levels, n_chords: int = 0):
        super().__init__(params, shape, n_levels)
        self.keys = self.shape[0]
        self.n_chords = int(n_chords)

    @classmethod
    def from_meta(cls, params: Section, meta: dict) -> "MusicModel":
        return cls(params, tuple(meta["shape"]), meta["n_levels"], meta.get("n_chords", 0))

    def frame_log_probs(self, x: torch.Tensor, codes: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """float64 (F,): log p(frame t | the frames before it in its piece), the first frame of every
        piece included."""
        raise NotImplementedError

    def sample_pieces(self, n: int, length: int, generator: torch.Generator, temperature: float = 1.0,
                      primer: torch.Tensor | None = None) -> torch.Tensor:
        """(n, length, K) uint8: pieces drawn frame by frame (``temperature`` sharpens or flattens
        the model's choice at every frame; 1 is the model itself); with ``primer`` (F, K) frames,
        each piece continues them (the primer itself is not returned)."""
        raise NotImplementedError


def music_summary(log_probs: torch.Tensor, lengths: torch.Tensor) -> dict:
    """Nats per frame over every frame of every piece, the first included; its standard error
    over pieces (frames of one piece are not independent) and the counts."""
    logp = log_probs.double()
    per_piece = torch.stack([c.sum() for c in logp.split(lengths.long().tolist())])
    frames = lengths.double()
    nll = -logp.sum().item() / frames.sum().item()
    # ratio estimator over pieces: the spread of the pieces' totals around nll * their lengths
    resid = -per_piece - nll * frames
    n = len(frames)
    stderr = (resid.pow(2).sum() / (n - 1)).sqrt().item() * n ** 0.5 / frames.sum().item() if n > 1 else float("nan")
    return {"nll": nll, "nll_stderr": stderr, "bits_per_frame": nll / math.log(2), "n_test": int(frames.sum().item()), "n_test_pieces": n}


def sequence_summary(log_probs: torch.Tensor) -> dict:
    """Nats per symbol over a whole text, and the same as bits and perplexity."""
    nll = -log_probs.double().mean().item()
    return {"nll": nll, "bits_per_char": nll / math.log(2), "perplexity": math.exp(nll), "n_test": log_probs.numel()}


def nll_summary(nll: torch.Tensor, dim: int, discrete: bool = True) -> dict:
    """Mean NLL (nats per example), its standard error, and (on a discrete scale) bits per dimension."""
    n = nll.numel()
    mean = nll.mean().item()
    out = {"nll": mean, "nll_stderr": nll.std(unbiased=True).item() / math.sqrt(n) if n > 1 else float("nan")}
    if discrete:
        out["bits_per_dim"] = mean / (dim * math.log(2))
    out["n_test"] = n
    return out
