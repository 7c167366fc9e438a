"""The evaluate stage's library side: every metric of one model, or of the real reference row.

What is scored depends on the kind of data (``genlab.data.modality``); ``SCORERS``, at the end,
says which functions score a model and the real row for each kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from genlab.config.params import CoreParams
from genlab.data import modality
from genlab.data.music import pieces_of
from genlab.data.prepare import Prepared, read_tensors
from genlab.data.text import Vocab
from genlab.errors import GenlabError
from genlab.evaluation import classes as K
from genlab.evaluation import completion as C
from genlab.evaluation import features as F
from genlab.evaluation.continuation import FILE as CONTINUATIONS
from genlab.evaluation.continuation import continuation_metrics, real_continuation_metrics
from genlab.metrics import samples as M
from genlab.metrics.cost import counting, n_parameters
from genlab.metrics.music import music_sample_metrics
from genlab.metrics.text import text_sample_metrics
from genlab.models.base import GenerativeModel, MusicModel, SequenceModel, music_summary, sequence_summary


@dataclass(frozen=True)
class Setting:
    """What scoring draws on besides the data and the samples: the params (``evaluate:``; the real
    row of text and music also reads ``generate:``, the normal example ``data:``), the frozen
    feature network of images (``genlab.evaluation.features``: the classifier or the
    self-supervised network; ``space`` names which), a seeded generator (for a model's
    likelihood bound), and on labelled images the classifier (whose labels a completion should keep)."""

    params: CoreParams
    network: torch.nn.Module | None = None  # predict(x) -> (features, logits or None)
    space: str | None = None  # "classifier" or "self_supervised"
    generator: torch.Generator | None = None
    classifier: torch.nn.Module | None = None  # labelled images: the classifier, for completions' accuracy


def n_scored(params, data: Prepared) -> int:
    """How many samples every row is scored on: evaluate.n_samples, else the validation split's size."""
    return params.n_samples or len(data.val.x)


def load_samples(path: str | Path) -> dict[str, torch.Tensor]:
    """The arrays of a samples file and, where the generate stage wrote them beside it, of
    completions.npz (``completed_<mask>``), classes.npz (``class_x``, ``class_y``) and continuations.npz
    (``continued``, ``continued_lengths``)."""
    out = read_tensors(path, "cannot read samples", "; run the generate stage")
    for name in (C.FILE, K.FILE, CONTINUATIONS):
        beside = Path(path).parent / name
        if beside.exists():
            out.update(read_tensors(beside, "cannot read samples", "; run the generate stage"))
    return out


def continuous_metrics(samples: torch.Tensor, data: Prepared, true_normal=None) -> dict:
    """Continuous values: every generated value against the test split (KS, Wasserstein, moments;
    the training values' moments beside them)."""
    out = M.value_metrics(
        samples.flatten(1).numpy(), data.test.x.flatten(1).numpy(), true_normal, train=data.train.x.flatten(1).numpy()
    )
    out["note"] = "continuous values: the image metrics are skipped"
    return out


def sample_metrics(samples: torch.Tensor, data: Prepared, setting: Setting) -> dict:
    """Score the first n samples against the test split (features) and the train split (memorisation)."""
    params = setting.params.evaluate
    n = n_scored(params, data)
    if len(data.val.x) < n:
        raise GenlabError(
            f"evaluate.n_samples: {n} is more than the validation split's {len(data.val.x)} images, "
            f"which the real reference row scores with the same n; lower it"
        )
    if len(samples) < n:
        raise GenlabError(
            f"evaluate: {len(samples)} samples but {n} are scored (evaluate.n_samples or the validation "
            f"split's size); raise generate.n_samples"
        )
    samples = samples[:n]
    out: dict = {"n_samples": n, "features": setting.space}
    real_feats, _ = setting.network.predict(data.test.x)
    fake_feats, fake_logits = setting.network.predict(samples)
    out.update(
        M.feature_metrics(
            real_feats.cpu(), fake_feats.cpu(), None if fake_logits is None else fake_logits.cpu(),
            k_precision=params.k_precision, k_density=params.k_density, kid_subsets=params.kid_subsets,
        )
    )
    out.update(M.memorisation(samples.cpu(), data.train.x, data.test.x))
    return out


def sampler_fids(model: GenerativeModel, samples: dict, data: Prepared, setting: Setting) -> dict:
    """FID of each alternative sampler, against test (``fid_<s>``) and validation (``val_fid_<s>``).

    The validation numbers are what a default sampler is chosen by; the test ones are reported.
    """
    n = n_scored(setting.params.evaluate, data)
    test_feats, _ = setting.network.predict(data.test.x)
    val_feats, _ = setting.network.predict(data.val.x)
    out = {}
    for name in model.samplers:
        feats, _ = setting.network.predict(samples[f"x_{name}"][:n])
        out[f"fid_{name}"] = M.fid(test_feats.cpu(), feats.cpu())
        out[f"val_fid_{name}"] = M.fid(val_feats.cpu(), feats.cpu())
    return out


def likelihood(model: GenerativeModel, data: Prepared, setting: Setting) -> dict:
    """The model's likelihood metrics on the test split, where it has a likelihood."""
    if not model.has_likelihood:
        return {}
    with counting() as c:
        out = dict(model.likelihood_metrics(data.test.x.to(model.device), setting.params.evaluate, setting.generator))
    return {**out, "nll_flop": per_unit(c.total + model.uncounted_flop("nll", len(data.test.x)), len(data.test.x))}


def per_unit(flop: int, n: int) -> int:
    """FLOP per example (image, row, character or frame), rounded to the nearest whole one."""
    return (2 * flop + n) // (2 * n)


COST_SAMPLES = 16  # samples drawn to count the FLOP of one (a separate seeded draw)


@torch.no_grad()
def cost_metrics(model: GenerativeModel, data: Prepared, setting: Setting) -> dict:
    """What the model costs apart from training: ``n_parameters`` and ``sample_flop``, the FLOP of
    one sample (counted over ``COST_SAMPLES`` drawn with their own generator, so the scored
    samples are untouched; text and music: one sample of ``generate.length`` symbols or frames)."""
    gen = torch.Generator(device=model.device).manual_seed(setting.params.evaluate.seed)
    n, length = COST_SAMPLES, setting.params.generate.length
    with counting() as c:
        if isinstance(model, SequenceModel):
            model.sample_stream(n, length, gen)
        elif isinstance(model, MusicModel):
            model.sample_pieces(n, length, gen)
        else:
            model.sample(n, gen)
    units = n * length if isinstance(model, (SequenceModel, MusicModel)) else n
    return {"n_parameters": n_parameters(model), "sample_flop": per_unit(c.total + model.uncounted_flop("sample", units), n)}


def true_normal(params: CoreParams) -> tuple[float, float] | None:
    """The (mean, std) the data were drawn from, when known: the normal example."""
    return (params.data.mean, params.data.std) if params.data.source == "normal" else None


# -- images ----------------------------------------------------------------------------
@torch.no_grad()
def score_images(model: GenerativeModel, data: Prepared, samples: dict[str, torch.Tensor], setting: Setting) -> dict:
    """Likelihood on the test split, the sample metrics in the feature network's features and
    memorisation; for a model with several samplers, each one's FID; the completions' metrics
    (``genlab.evaluation.completion``) and a class-conditional model's (``genlab.evaluation.classes``;
    ``samples`` holds completions.npz's and classes.npz's arrays too)."""
    metrics = likelihood(model, data, setting)
    metrics.update(sample_metrics(samples["x"], data, setting))
    if model.samplers:
        metrics.update(sampler_fids(model, samples, data, setting))
    metrics.update(C.completion_metrics(model, data, samples, setting.params, setting.classifier, setting.generator))
    metrics.update(K.class_metrics(model, data, samples, setting.params, setting.classifier, setting.generator))
    return metrics


def real_images(data: Prepared, setting: Setting) -> dict:
    """The reference row: the validation split scored as if it were samples, with the same code and
    n; beside it the known-bad reference (``genlab.evaluation.features``): the same images with
    their pixels shuffled, ``fid_shuffled`` and its bootstrap ``fid_shuffled_stderr``."""
    out = sample_metrics(data.val.x, data, setting)
    n = out["n_samples"]
    real_feats, _ = setting.network.predict(data.test.x)
    bad_feats, _ = setting.network.predict(F.shuffled(data.val.x[:n], setting.params.evaluate.seed))
    out["fid_shuffled"] = M.fid(real_feats.cpu(), bad_feats.cpu())
    out["fid_shuffled_stderr"] = M.fid_stderr(real_feats.cpu(), bad_feats.cpu())
    out["labels"] = modality.labelled(data.meta)
    if setting.classifier is not None and data.test.y is not None:  # what a class-conditional model's class_accuracy is read against
        out["class_accuracy"] = setting.classifier.accuracy(data.test.x, data.test.y.long())
    out.update(C.real_completion_metrics(data, setting.params.completion, setting.classifier))
    return out


# -- continuous values -----------------------------------------------------------------
@torch.no_grad()
def score_continuous(model: GenerativeModel, data: Prepared, samples: dict[str, torch.Tensor], setting: Setting) -> dict:
    """Likelihood on the test split and the two-sample tests of the generated values."""
    metrics = likelihood(model, data, setting)
    metrics.update(continuous_metrics(samples["x"], data, true_normal(setting.params)))
    return metrics


def real_continuous(data: Prepared, setting: Setting) -> dict:
    """The reference row: the validation values against the test values."""
    return continuous_metrics(data.val.x, data)


# -- text ------------------------------------------------------------------------------
def distinct_pool(data: Prepared, n: int, length: int) -> int:
    """How many samples distinct_2 pools: as many as non-overlapping test windows fit (at most n),
    so a model's samples and the real row are compared over the same length of text."""
    return max(1, min(n, len(data.test.x) // max(1, length)))


def text_metrics(samples: torch.Tensor, data: Prepared, distinct_rows: torch.Tensor | None = None) -> dict:
    """The sample metrics of text (novelty, longest copy) against the training text, and distinct_2
    over ``distinct_rows`` (default: the first ``distinct_pool`` samples)."""
    if distinct_rows is None:
        distinct_rows = samples[: distinct_pool(data, len(samples), samples.shape[1])]
    x = samples.long().numpy()
    out = {"n_samples": int(x.shape[0]), "sample_length": int(x.shape[1])}
    decode = Vocab.of_meta(data.meta).decode
    out.update(text_sample_metrics(x, data.train.x.long().numpy(), decode, distinct_rows.long().numpy()))
    out["distinct_2_samples"] = len(distinct_rows)
    return out


def text_history(model: SequenceModel, data: Prepared) -> torch.Tensor:
    """What precedes the test text: the end of the training and validation text, as long as the model looks back."""
    h = model.history
    before = torch.cat([data.train.x, data.val.x]).long()
    return before[max(0, len(before) - h) :] if h else before[:0]


@torch.no_grad()
def score_text(model: SequenceModel, data: Prepared, samples: dict[str, torch.Tensor], setting: Setting) -> dict:
    """Exact nats per character over the whole test text (each scored once, the text before it as
    history), and the sample metrics of the model's samples."""
    with counting() as c:
        logp = model.log_prob_stream(data.test.x.long().to(model.device), text_history(model, data).to(model.device))
    metrics = sequence_summary(logp.cpu())
    metrics["nll_flop"] = per_unit(c.total + model.uncounted_flop("nll", len(data.test.x)), len(data.test.x))
    metrics["oov_rate"] = data.meta["oov_rate"]["test"]
    metrics.update(text_metrics(samples["x"], data))
    return metrics


def real_windows(test: torch.Tensor, n: int, length: int) -> torch.Tensor:
    """``n`` windows of ``length`` symbols at evenly spaced places of the test text (overlapping
    when the text is short; the whole text when it is shorter than ``length``)."""
    length = min(length, len(test))
    starts = torch.arange(n) * (len(test) - length) // max(n - 1, 1)  # integer arithmetic: exact at any size
    return test[starts.unsqueeze(1) + torch.arange(length)]


def evaluate_text_real(data: Prepared, n: int, length: int) -> dict:
    """The real row of text: ``n`` held-out test windows of ``length`` scored as if they were samples;
    distinct_2 over non-overlapping windows only (overlapping ones would repeat bigrams)."""
    windows = real_windows(data.test.x, n, length)
    m = distinct_pool(data, n, windows.shape[1])
    apart = data.test.x[: m * windows.shape[1]].view(m, -1)
    out = text_metrics(windows, data, distinct_rows=apart)
    out["oov_rate"] = data.meta["oov_rate"]["test"]
    return out


def real_text(data: Prepared, setting: Setting) -> dict:
    """The real row of text: as many test windows as samples, of the samples' length."""
    return evaluate_text_real(data, setting.params.generate.n_samples, setting.params.generate.length)


# -- music -----------------------------------------------------------------------------
def compared_frames(data: Prepared, length: int) -> int:
    """The per-piece sample metrics compare the first this many frames of every piece and sample:
    the median test piece's length, or the samples' length if shorter."""
    return int(min(length, max(1, int(data.test.lengths.double().median().item()))))


def music_metrics(pieces, data: Prepared, length: int) -> dict:
    """The sample metrics of music (``genlab.metrics.music``) of ``pieces`` against the test pieces
    and, for copying, the training pieces."""
    test = pieces_of(data.test.x.numpy(), data.test.lengths.numpy())
    train = pieces_of(data.train.x.numpy(), data.train.lengths.numpy())
    return music_sample_metrics(pieces, test, train, frames=compared_frames(data, length))


@torch.no_grad()
def score_music(model: MusicModel, data: Prepared, samples: dict[str, torch.Tensor], setting: Setting) -> dict:
    """Exact nats per frame over every test frame (the first of each piece included), the sample
    metrics of the model's samples, and how it continues test pieces (``genlab.evaluation.continuation``)."""
    x, codes, lengths = data.test.model_input()
    with counting() as c:
        logp = model.frame_log_probs(x, codes, lengths)
    metrics = music_summary(logp.cpu(), lengths)
    metrics["nll_flop"] = per_unit(c.total + model.uncounted_flop("nll", len(x)), len(x))
    metrics["unseen_rate"] = data.meta["unseen_rate"]["test"]
    rolls = samples["x"]
    metrics.update(music_metrics(rolls.numpy(), data, rolls.shape[1]))
    metrics.update(continuation_metrics(data, samples, setting.params.generate, logp.cpu()))
    return metrics


def real_music(data: Prepared, setting: Setting) -> dict:
    """The real row of music: the validation pieces scored as if they were samples (held-out
    music against the test pieces: what a perfect model's samples would score), compared over
    as many frames as the samples have."""
    out = music_metrics(pieces_of(data.val.x.numpy(), data.val.lengths.numpy()), data, setting.params.generate.length)
    return {**out, **real_continuation_metrics(data, setting.params.generate)}


# -- what each kind of data is scored by -----------------------------------------------
@dataclass(frozen=True)
class Scorer:
    model: Callable[[GenerativeModel, Prepared, dict[str, torch.Tensor], Setting], dict]  # a model and its samples
    real: Callable[[Prepared, Setting], dict]  # the real reference row


SCORERS: dict[str, Scorer] = {
    modality.IMAGES.name: Scorer(model=score_images, real=real_images),
    modality.CONTINUOUS.name: Scorer(model=score_continuous, real=real_continuous),
    modality.TEXT.name: Scorer(model=score_text, real=real_text),
    modality.MUSIC.name: Scorer(model=score_music, real=real_music),
}


def score_model(model: GenerativeModel, data: Prepared, samples: dict[str, torch.Tensor], setting: Setting) -> dict:
    """Every metric of a model, as its kind of data is scored, and what the model costs."""
    metrics = SCORERS[data.modality.name].model(model, data, samples, setting)
    return {**metrics, **cost_metrics(model, data, setting)}


def score_real(data: Prepared, setting: Setting) -> dict:
    """Every metric of the real reference row, as its kind of data is scored."""
    return SCORERS[data.modality.name].real(data, setting)
