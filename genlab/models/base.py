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
- completion: ``complete`` (the hidden part of images drawn given the rest) and
  ``completion_log_prob`` (its conditional likelihood), where the model has them;
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
from genlab.errors import GenlabError
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

    def finish_fit(self, train: torch.Tensor, val: torch.Tensor) -> dict:
        """Anything fitted after the weights (a latent sampler, a mixing weight chosen on ``val``, say); returns what to log."""
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
        """The model for prepared data described by ``meta`` (its ``meta.json``); a class-conditional
        one (``conditional: true`` in its params) gets the data's number of classes."""
        if getattr(params, "conditional", False):
            n_classes = conditional_classes(cls, meta)
            if not cls.trains_by_gradient:
                return PerClass(cls, params, tuple(meta["shape"]), meta["n_levels"], n_classes)
            return cls(params, tuple(meta["shape"]), meta["n_levels"], n_classes=n_classes)
        return cls(params, tuple(meta["shape"]), meta["n_levels"])

    @property
    def conditional(self) -> bool:
        """Whether the model is of p(x | class) (``conditional: true``; labelled images)."""
        return bool(getattr(self.params, "conditional", False))

    def add_class_prior(self) -> None:
        """A class-conditional model's p(y), the buffer ``log_class_prior`` (float64; uniform until
        ``fit_class_prior``)."""
        self.register_buffer("log_class_prior", torch.full((self.n_classes,), -math.log(self.n_classes), dtype=torch.float64))

    def draw_classes(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` classes drawn from the model's p(y)."""
        return draw(self.log_class_prior.expand(n, -1), generator)

    def fit_class_prior(self, labels: torch.Tensor) -> None:
        """A class-conditional model's p(y): the training labels' frequencies, into its ``log_class_prior``."""
        counts = torch.bincount(labels.long().cpu(), minlength=self.n_classes).double()
        self.log_class_prior.copy_((counts / counts.sum()).log().to(self.log_class_prior.device))

    def class_likelihood_metrics(self, x: torch.Tensor, y: torch.Tensor, params, generator: torch.Generator) -> dict:
        """A class-conditional model's ``nll_given_class`` (-log p(x | its label)) on the test split, as
        ``likelihood_metrics`` gives ``nll``. Default: none."""
        return {}

    def inputs(self, split) -> Tensors:
        """What the model trains on from a split of the prepared data: ``split.model_input()``, and
        for a class-conditional model the images and their labels."""
        return (split.x, split.y.long()) if self.conditional else split.model_input()

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

    # -- completion ------------------------------------------------------------------
    def complete(self, x: torch.Tensor, hidden: torch.Tensor, generator: torch.Generator, steps: int) -> torch.Tensor | None:
        """Images ``x`` (N, *shape) with the values where ``hidden`` (N, D), over ``x.flatten(1)``, is
        True drawn from the model given the visible ones, which come back unchanged; ``steps``
        bounds an iterative method (a Markov chain, an optimisation). None: the model cannot
        complete under this mask (the default)."""
        return None

    def completion_log_prob(self, x: torch.Tensor, hidden: torch.Tensor, k: int, generator: torch.Generator,
                            batch_size: int = 64, steps: int = 0) -> tuple[torch.Tensor, str] | None:
        """log p(x_hidden | x_visible) per image (float64 nats) and how it was computed: ``"exact"``,
        or an estimate named as such (``k`` importance samples, ``batch_size`` images at a time,
        ``steps`` as in ``complete`` where it draws completions). None: the model has no such number
        under this mask (the default)."""
        return None

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


def conditional_classes(cls, meta: dict) -> int:
    """The number of classes a class-conditional model of ``cls`` conditions on, or one line when
    the data have no labels to condition on."""
    name = cls.__module__.rsplit(".", 1)[-1]
    n = int(meta.get("n_classes") or 0)
    if meta.get("kind", "images") != "images" or n < 2:
        raise GenlabError(f"{name}.conditional: true needs labelled images of at least two classes; "
                          f"these data have {'no labels' if n < 2 else 'no images'} (set it to false)")
    return n


class PerClass(GenerativeModel):
    """A class-conditional closed-form model of images: one fit of the model ``cls`` per class, on that
    class's training images, and p(y) the classes' training frequencies. p(x | y) is the class's
    model, exact; p(x) = sum_y p(y) p(x | y), exact; completion sums over the classes too:
    p(x_h | x_v) = sum_y p(y | x_v) p(x_h | x_v, y), where the class's model has it."""

    trains_by_gradient = False
    MAX_BYTES = 2**31  # the tables of every class together (a Markov chain's are the largest)

    def __init__(self, cls, params: Section, shape, n_levels, n_classes: int):
        super().__init__(params, shape, n_levels)
        self.modalities = cls.modalities
        self.n_classes = int(n_classes)
        self.parts = torch.nn.ModuleList(cls(params, shape, n_levels) for _ in range(self.n_classes))
        size = sum(b.numel() * b.element_size() for b in self.parts.buffers())
        if size > self.MAX_BYTES:
            name = cls.__module__.rsplit(".", 1)[-1]
            raise GenlabError(f"{name}.conditional: one model per class of {self.n_classes} needs {size / 2**30:.1f} GiB "
                              f"of tables; set it to false or use fewer levels")
        self.add_class_prior()

    def fit(self, train, val) -> dict:
        (x, y), (vx, vy) = train, val
        self.fit_class_prior(y)
        logs = {}
        for c, part in enumerate(self.parts):
            mine = y == c
            if not bool(mine.any()):
                raise GenlabError(f"conditional: class {c} has no training images")
            for key, value in part.fit(x[mine], vx[vy == c]).items():
                logs[f"{key}_class{c}"] = value
        return logs

    def uncounted_flop(self, what: str, n: int) -> int:
        """Each class's model: every class scores an image (nll), one draws it (sample), each fits its share."""
        if what == "fit":
            return self.n_classes * self.parts[0].uncounted_flop("fit", max(1, n // self.n_classes))
        return self.parts[0].uncounted_flop(what, n) * (self.n_classes if what == "nll" else 1)

    def _by_class(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x | y) of every image under every class, (N, classes)."""
        return torch.stack([part.log_prob(x) for part in self.parts], 1)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return torch.logsumexp(self._by_class(x) + self.log_class_prior.to(x.device), 1)

    @torch.no_grad()
    def class_likelihood_metrics(self, x, y, params, generator) -> dict:
        nll = -self._by_class(x).gather(1, y.long().to(x.device)[:, None])[:, 0].double()
        summary = nll_summary(nll, self.dim)
        return {"nll_given_class": summary["nll"], "nll_given_class_stderr": summary["nll_stderr"]}

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, sampler: str | None = None, labels=None) -> torch.Tensor:
        """n draws of the classes ``labels``, or of classes drawn from p(y) first."""
        if labels is None:
            labels = self.draw_classes(n, generator)
        labels = torch.as_tensor(labels).long()
        out = torch.zeros((n, *self.shape), dtype=torch.uint8, device=self.device)
        for c, part in enumerate(self.parts):
            mine = (labels == c).nonzero()[:, 0]
            if len(mine):
                out[mine.to(out.device)] = part.sample(len(mine), generator).to(out.dtype)
        return out

    def _visible_by_class(self, x, hidden, generator):
        """(log p(x_v | y), (N, classes); log p(x_h | x_v, y), (N, classes)), or None where a class's model has no conditional."""
        cond = [part.completion_log_prob(x, hidden, 0, generator) for part in self.parts]
        if any(c is None for c in cond):
            return None
        given = torch.stack([c[0] for c in cond], 1)
        return self._by_class(x) - given, given

    def completion_log_prob(self, x, hidden, k=0, generator=None, batch_size=64, steps=0):
        """Exact where every class's model is: log sum_y p(y) p(x | y) - log sum_y p(y) p(x_v | y)."""
        parts = self._visible_by_class(x, hidden, generator)
        if parts is None:
            return None
        visible, given = parts
        prior = self.log_class_prior.to(visible.device)
        return torch.logsumexp(visible + given + prior, 1) - torch.logsumexp(visible + prior, 1), "exact"

    @torch.no_grad()
    def complete(self, x, hidden, generator, steps):
        """A class from p(y | x_v), then that class's model completes."""
        parts = self._visible_by_class(x, hidden, generator)
        if parts is None:
            return None
        logits = parts[0] + self.log_class_prior.to(parts[0].device)
        labels = draw(logits - logits.logsumexp(1, keepdim=True), generator)
        out = x.clone()
        for c, part in enumerate(self.parts):
            mine = (labels == c).nonzero()[:, 0]
            if len(mine):
                out[mine] = part.complete(x[mine], hidden[mine], generator, steps).to(out.dtype)
        return out


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
        if getattr(params, "conditional", False):
            conditional_classes(cls, meta)  # one line: music has no classes to condition on
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
