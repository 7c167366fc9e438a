"""Documentation generated from the params schema, so that defaults are stated once.

``python -m genlab.config.docs params`` prints ``params.yaml`` (every key of every section, its
default and its description as a comment); ``python -m genlab.config.docs table`` prints the
README's params table and ``python -m genlab.config.docs metrics`` its metrics table. ``tests/test_docs.py`` checks that the committed files hold exactly
what these print.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import yaml
from pydantic import BaseModel

from genlab.models import registry
from genlab.config.params import DEFAULT_MODELS, CoreParams, schema

HEADER = """\
# genlab pipeline params, generated from the schema by `python -m genlab.config.docs params`
# (change values with `dvc exp run -S key=value`; tests/test_docs.py checks that the committed
# file is exactly the generated one, so the defaults are stated once, in the schema).
# Each section is read by the stages named beside it, and each stage depends on its whole
# sections, so `dvc exp run -S vae.lr=1e-4` reruns only the VAE's stages. Every key is
# documented in README.md.
"""


def _value(v) -> str:
    """A YAML scalar or flow list that PyYAML reads back as the same value (1e-06 would be a string)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return np.format_float_positional(v, trim="0")
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, str) and (not v or yaml.safe_load(v) != v):
        return json.dumps(v)  # "" would read back as null
    return str(v)


def model_order() -> list[str]:
    """The default models first, in their order, then every other model."""
    return [*DEFAULT_MODELS, *(m for m in registry.names() if m not in DEFAULT_MODELS)]


def _sections():
    """(name, description, section model or None for a top-level value) in file order."""
    full = schema(tuple(registry.names()))()
    for name, field in CoreParams.model_fields.items():
        yield name, field.description, getattr(full, name)
    for name in model_order():
        yield name, f"`train@{name}`, `generate@{name}`, `evaluate@{name}`", getattr(full, name)


def params_yaml() -> str:
    lines = [HEADER]
    for name, description, value in _sections():
        if not isinstance(value, BaseModel):
            lines.append(f"{name}: {_value(value)}  # {description}\n")
            continue
        lines.append(f"\n{name}:  # {description}\n")
        for key, field in type(value).model_fields.items():
            lines.append(f"  {key}: {_value(getattr(value, key))}  # {field.description}\n")
    return "".join(lines)


def params_table() -> str:
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for name, description, value in _sections():
        if not isinstance(value, BaseModel):
            rows.append(f"| `{name}` | `{_value(value)}` | {description} |")
            continue
        for key, field in type(value).model_fields.items():
            rows.append(f"| `{name}.{key}` | `{_value(getattr(value, key))}` | {field.description} |")
    return "\n".join(rows) + "\n"


# Every key a metrics file can hold: (where it appears, what it means). The README's metrics
# table is generated from this; tests/test_docs.py checks every committed metrics file against it.
METRICS = {
    "nll": ("likelihood", "negative log-likelihood of the test split, nats per example (text: per character; music: per frame, every frame of every test piece, the first included): exact for the baselines; for the VAE the importance-weighted bound (Burda et al. 2015) with k = `iw_samples`, log-weights in float64 reduced with logsumexp"),
    "nll_stderr": ("likelihood", "standard error of `nll` over the test examples (music: over test pieces, a ratio estimate)"),
    "bits_per_dim": ("likelihood", "`nll` / (D ln 2), D values per example; discrete data only"),
    "n_test": ("likelihood", "test examples scored (text: test characters; music: test frames)"),
    "neg_elbo": ("likelihood", "VAE: the negative ELBO (the k = 1 bound), nats per example; always >= `nll`"),
    "recon": ("likelihood", "VAE: the reconstruction term -E_q[log p(x|z)] (averaged over the k draws)"),
    "kl": ("likelihood", "VAE: KL(q(z|x) || p(z)), analytic under N(0, I), a k-draw mean under the learnt prior; `neg_elbo = recon + kl`"),
    "iw_samples": ("likelihood", "VAE: the k used for `nll`"),
    "fid": ("images", "Fréchet distance between Gaussians fitted to the classifier features of the samples and of the test split (torchmetrics, our features)"),
    "kid": ("images", "kernel inception distance (unbiased MMD², cubic polynomial kernel); can be slightly negative when the sets match"),
    "precision": ("images", "Kynkäänniemi et al. 2019, k = `k_precision`: share of samples inside the test images' k-NN balls"),
    "recall": ("images", "the same, the other way: share of test images inside the samples' k-NN balls"),
    "density": ("images", "Naeem et al. 2020, k = `k_density`: mean count of real balls holding a sample, over k"),
    "coverage": ("images", "Naeem et al. 2020: share of real balls holding at least one sample"),
    "inception_score": ("images", "exp E KL(p(y|x) || p(y)) in the classifier's predictions (at most the number of classes)"),
    "classes_covered": ("images", "classes predicted for at least one sample"),
    "nn_distance_ratio": ("images", "pixel space: median distance from a sample to its nearest training image, over the same for test images (about 1 for new images, 0 for copies)"),
    "exact_copy_rate": ("images", "share of samples identical to a training image"),
    "n_samples": ("images, text", "samples scored (the same for every row, `real` included; text: test windows for `real`)"),
    "fid_<sampler>": ("images", "FID of each of a model's samplers against the test split (VAE: `fid_prior`, `fid_gmm`)"),
    "val_fid_<sampler>": ("images", "the same against the validation split: what a default sampler is chosen by"),
    "ks_statistic": ("continuous", "two-sample Kolmogorov–Smirnov statistic of generated against test values (mean over columns)"),
    "ks_pvalue": ("continuous", "its p-value (the smallest over columns)"),
    "wasserstein": ("continuous", "Wasserstein-1 distance of generated to test values (mean over columns)"),
    "generated_mean": ("continuous", "mean of the generated values (mean over columns)"),
    "generated_std": ("continuous", "standard deviation of the generated values (mean over columns)"),
    "test_mean": ("continuous", "the same for the test values"),
    "test_std": ("continuous", "the same for the test values"),
    "train_mean": ("continuous", "the same for the training values"),
    "train_std": ("continuous", "the same for the training values: `generated_std` should be close to it"),
    "n_generated": ("continuous", "generated values scored"),
    "ks_pvalue_true": ("continuous", "`normal` source: one-sample KS test of the generated values against N(`data.mean`, `data.std`)"),
    "bits_per_char": ("text", "`nll` / ln 2: bits per character (text's `nll` is nats per character over the whole test text, each character scored once with the text before it as history)"),
    "perplexity": ("text", "exp(`nll`): the effective number of equally likely next characters"),
    "oov_rate": ("text", "share of test characters outside the training text's vocabulary (scored as the unknown symbol)"),
    "sample_length": ("text", "characters per sample (`generate.length`); the real row's test windows have the same length"),
    "novelty_char8": ("text", "share of the samples' character 8-grams (every position) that never occur in the training text; read against the real row: far below it, copying; far above, gibberish"),
    "novelty_char16": ("text", "the same for character 16-grams"),
    "novelty_word3": ("text", "the same for word trigrams (whitespace-separated words, case and punctuation kept)"),
    "longest_copy": ("text", "mean over samples of the longest substring found verbatim in the training text, in characters"),
    "distinct_2": ("text", "distinct word bigrams over all word bigrams (Li et al. 2016), pooled over `distinct_2_samples` samples, or as many non-overlapping test windows for the real row: the same length of text"),
    "distinct_2_samples": ("text", "samples (real row: non-overlapping test windows) `distinct_2` pools: as many as fit in the test text, at most `n_samples`"),
    "bits_per_frame": ("music", "`nll` / ln 2: bits per frame (a frame: which of the 88 keys sound at one time step)"),
    "n_test_pieces": ("music", "test pieces scored"),
    "unseen_rate": ("music", "share of test frames that are no chord of the training pieces (the chord models score them through the escape to a Bernoulli per key)"),
    "polyphony": ("music", "mean number of sounding keys per frame"),
    "pitch_class_tv": ("music", "total variation distance between the pitch-class histograms (12 bins, every sounding key of every frame) of the samples and of the test pieces; 0 = the same"),
    "pitch_range": ("music", "mean over samples of the highest minus the lowest sounding pitch, semitones"),
    "scale_consistency": ("music", "mean over samples of the largest share of sounding notes that fit one major (diatonic) scale (Mogren 2016)"),
    "chord_copy_rate": ("music", "share of the samples' 4-frame windows found verbatim in the training pieces; read against the real row: far above it, copying"),
    "oa_pitch_count": ("music", "Yang & Lerch (2018) overlap area of the distributions of distances within the test pieces and between samples and test pieces, feature: distinct pitches per piece; 1 = as close as test pieces are to each other"),
    "oa_pitch_class_hist": ("music", "the same for the pitch-class histogram of each piece (Euclidean distance)"),
    "n_pieces": ("music", "samples (real row: validation pieces) scored"),
    "frames_compared": ("music", "per-piece features use the first this many frames of every sample and piece: the median test piece's length, or the samples' length if shorter"),
    "note": ("any", "why some metrics are missing (no labels, continuous values, text)"),
}


def metrics_table() -> str:
    rows = ["| key | where | meaning |", "|---|---|---|"]
    rows += [f"| `{key}` | {where} | {meaning} |" for key, (where, meaning) in METRICS.items()]
    return "\n".join(rows) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["params", "table", "metrics"], help="params.yaml, or a README table")
    args = parser.parse_args(argv)
    sys.stdout.write({"params": params_yaml, "table": params_table, "metrics": metrics_table}[args.what]())


if __name__ == "__main__":
    main()
