"""The evaluate stage's library side: every metric of one model, or of the real reference row."""

from __future__ import annotations

from pathlib import Path

import torch

from genlab.metrics import samples as M
from genlab.evaluation.classifier import Classifier
from genlab.data.prepare import Prepared, read_tensors
from genlab.errors import GenlabError
from genlab.models.base import GenerativeModel, MusicModel, SequenceModel, music_summary, sequence_summary
from genlab.data.music import pieces_of
from genlab.metrics.music import music_sample_metrics
from genlab.data.text import Vocab
from genlab.metrics.text import text_sample_metrics


def n_scored(params, data: Prepared) -> int:
    """How many samples every row is scored on: evaluate.n_samples, else the validation split's size."""
    return params.n_samples or len(data.val.x)


def load_samples(path: str | Path) -> dict[str, torch.Tensor]:
    return read_tensors(path, "cannot read samples", "; run the generate stage")


def continuous_metrics(samples: torch.Tensor, data: Prepared, true_normal=None) -> dict:
    """Continuous values: every generated value against the test split (KS, Wasserstein, moments;
    the training values' moments beside them)."""
    out = M.value_metrics(
        samples.flatten(1).numpy(), data.test.x.flatten(1).numpy(), true_normal, train=data.train.x.flatten(1).numpy()
    )
    out["note"] = "continuous values: the image metrics are skipped"
    return out


def sample_metrics(samples: torch.Tensor, data: Prepared, classifier: Classifier | None, params) -> dict:
    """Score the first n samples against the test split (features) and the train split (memorisation)."""
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
    out: dict = {"n_samples": n}
    if classifier is None:
        out["note"] = "no labels: the classifier-based sample metrics are skipped"
    else:
        real_feats, _ = classifier.predict(data.test.x)
        fake_feats, fake_logits = classifier.predict(samples)
        out.update(
            M.feature_metrics(
                real_feats.cpu(), fake_feats.cpu(), fake_logits.cpu(),
                k_precision=params.k_precision, k_density=params.k_density, kid_subsets=params.kid_subsets,
            )
        )
    out.update(M.memorisation(samples.cpu(), data.train.x, data.test.x))
    return out


def sampler_fids(model: GenerativeModel, samples: dict, data: Prepared, classifier: Classifier, params) -> dict:
    """FID of each alternative sampler, against test (``fid_<s>``) and validation (``val_fid_<s>``).

    The validation numbers are what a default sampler is chosen by; the test ones are reported.
    """
    n = n_scored(params, data)
    test_feats, _ = classifier.predict(data.test.x)
    val_feats, _ = classifier.predict(data.val.x)
    out = {}
    for name in model.samplers:
        feats, _ = classifier.predict(samples[f"x_{name}"][:n])
        out[f"fid_{name}"] = M.fid(test_feats.cpu(), feats.cpu())
        out[f"val_fid_{name}"] = M.fid(val_feats.cpu(), feats.cpu())
    return out


@torch.no_grad()
def evaluate_model(
    model: GenerativeModel,
    data: Prepared,
    samples: dict[str, torch.Tensor],
    classifier: Classifier | None,
    params,
    generator: torch.Generator,
    true_normal: tuple[float, float] | None = None,
) -> dict:
    """Likelihood on the test split and the sample metrics that fit the data; ``true_normal``:
    the (mean, std) the data were drawn from, when known."""
    metrics: dict = {}
    if model.has_likelihood:
        metrics.update(model.likelihood_metrics(data.test.x.to(model.device), params, generator))
    if data.continuous:
        metrics.update(continuous_metrics(samples["x"], data, true_normal))
        return metrics
    metrics.update(sample_metrics(samples["x"], data, classifier, params))
    if classifier is not None and model.samplers:
        metrics.update(sampler_fids(model, samples, data, classifier, params))
    return metrics


def evaluate_real(data: Prepared, classifier: Classifier | None, params) -> dict:
    """The reference row: the validation split scored as if it were samples, with the same code and n."""
    if data.continuous:
        return continuous_metrics(data.val.x, data)
    return sample_metrics(data.val.x, data, classifier, params)


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
def evaluate_text_model(model: SequenceModel, data: Prepared, samples: torch.Tensor) -> dict:
    """Exact nats per character over the whole test text (each scored once, the text before it as
    history), and the sample metrics of the model's samples."""
    logp = model.log_prob_stream(data.test.x.long().to(model.device), text_history(model, data).to(model.device))
    metrics = sequence_summary(logp.cpu())
    metrics["oov_rate"] = data.meta["oov_rate"]["test"]
    metrics.update(text_metrics(samples, data))
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
def evaluate_music_model(model: MusicModel, data: Prepared, samples: torch.Tensor) -> dict:
    """Exact nats per frame over every test frame (the first of each piece included) and the
    sample metrics of the model's samples."""
    x, codes, lengths = data.test.model_input()
    metrics = music_summary(model.frame_log_probs(x, codes, lengths).cpu(), lengths)
    metrics["unseen_rate"] = data.meta["unseen_rate"]["test"]
    metrics.update(music_metrics(samples.numpy(), data, samples.shape[1]))
    return metrics


def evaluate_music_real(data: Prepared, length: int) -> dict:
    """The real row of music: the validation pieces scored as if they were samples (held-out
    music against the test pieces: what a perfect model's samples would score)."""
    return music_metrics(pieces_of(data.val.x.numpy(), data.val.lengths.numpy()), data, length)
