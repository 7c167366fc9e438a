"""Documentation generated from the params schema, so that defaults are stated once.

``python -m genlab.config.docs params`` prints ``params.yaml`` (every key of every section, its
default and its description as a comment); ``python -m genlab.config.docs params-doc`` prints
``docs/params.md`` and ``python -m genlab.config.docs metrics-doc`` prints ``docs/metrics.md``,
each page whole. The docs test checks that the committed files are exactly what these print.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import yaml
from pydantic import BaseModel

from genlab.config.params import DEFAULT_MODELS, CoreParams, schema
from genlab.models import registry

HEADER = """\
# genlab pipeline params, generated from the schema by `python -m genlab.config.docs params`
# (change values with `dvc exp run -S key=value`; tests/unit/test_docs.py checks that the committed
# file is exactly the generated one, so the defaults are stated once, in the schema).
# Each section is read by the stages named beside it, and each stage depends on its whole
# sections, so `dvc exp run -S vae.lr=1e-4` reruns only the VAE's stages. Every key is
# documented in docs/params.md.
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


# Every key a metrics file can hold: (where it appears, what it means). docs/metrics.md's table is
# generated from this; the docs test checks every committed metrics file against it.
METRICS = {
    "nll": ("likelihood", "negative log-likelihood of the test split, nats per example (text: per character; music: per frame, every frame of every test piece, the first included): exact for the baselines and `pixelcnn`; upper bounds for the VAE (the importance-weighted bound of Burda et al. 2015 with k = `iw_samples`, log-weights in float64 reduced with logsumexp), `flow` (the importance-weighted dequantisation bound with `dequant_draws` draws) and `diffusion` (the variational bound of Ho et al. 2020)"),
    "nll_stderr": ("likelihood", "standard error of `nll` over the test examples (music: over test pieces, a ratio estimate)"),
    "bits_per_dim": ("likelihood", "`nll` / (D ln 2), D values per example; discrete data only"),
    "n_test": ("likelihood", "test examples scored (text: test characters; music: test frames)"),
    "neg_elbo": ("likelihood", "VAE: the negative ELBO (the k = 1 bound), nats per example; always >= `nll`"),
    "recon": ("likelihood", "VAE: the reconstruction term -E_q[log p(x|z)] (averaged over the k draws)"),
    "kl": ("likelihood", "VAE: KL(q(z|x) || p(z)), analytic under N(0, I), a k-draw mean under the learnt prior; `neg_elbo = recon + kl`"),
    "iw_samples": ("likelihood", "VAE: the k used for `nll`"),
    "dequant_bound": ("likelihood", "flow: the single-draw dequantisation bound E_q[-log p((x+u)/L) + log q(u|x)] + D log L (what training minimises), averaged over the same draws; always >= `nll`"),
    "nll_prior": ("likelihood", "diffusion: the bound's prior term L_T = KL(q(x_T|x_0) || N(0, I)), nats per image (closed form)"),
    "nll_diffusion": ("likelihood", "diffusion: the bound's sum over t = 2..T of KL(q(x_t-1|x_t, x_0) || p(x_t-1|x_t)), nats per image, each term at one draw of x_t"),
    "nll_decoder": ("likelihood", "diffusion: the bound's decoder term -log p(x_0|x_1), a discretised Gaussian over exactly the data's levels; `nll = nll_prior + nll_diffusion + nll_decoder`"),
    "vlb_timesteps": ("likelihood", "diffusion: T where the bound sums every t, else the t drawn per test image (a stratified, unbiased estimate whose noise is in `nll_stderr`)"),
    "dequant_draws": ("likelihood", "flow: the dequantisation draws u ~ q(u|x) per test image behind `nll` (`flow.eval_draws`)"),
    "features": ("images", "the feature space of the sample metrics: `classifier` or `self_supervised` (`evaluate.features`); rows measured in different spaces are not comparable"),
    "fid": ("images", "Fréchet distance between Gaussians fitted to the features (`features`) of the samples and of the test split (torchmetrics, our features)"),
    "fid_stderr": ("images", "bootstrap standard error of `fid`: its standard deviation over 100 seeded resamplings of both sets; the noise of the finite sets scored, not the spread that retraining with another seed adds (the report calls a change within 2 standard errors \"within noise\")"),
    "kid": ("images", "kernel inception distance (unbiased MMD², cubic polynomial kernel); can be slightly negative when the sets match"),
    "precision": ("images", "Kynkäänniemi et al. 2019, k = `k_precision`: share of samples inside the test images' k-NN balls"),
    "recall": ("images", "the same, the other way: share of test images inside the samples' k-NN balls"),
    "density": ("images", "Naeem et al. 2020, k = `k_density`: mean count of real balls holding a sample, over k"),
    "coverage": ("images", "Naeem et al. 2020: share of real balls holding at least one sample"),
    "inception_score": ("images", "exp E KL(p(y|x) || p(y)) in the classifier's predictions (at most the number of classes); in the classifier's features only"),
    "classes_covered": ("images", "classes predicted for at least one sample; in the classifier's features only"),
    "fid_shuffled": ("images", "`real` only: the FID of a known-bad reference, the real row's images with each one's pixels shuffled, in the same features; the summary warns when it is not above the real row's `fid` by 2 combined standard errors"),
    "fid_shuffled_stderr": ("images", "`real` only: the bootstrap standard error of `fid_shuffled`"),
    "labels": ("images", "`real` only: `labelled, k classes` or `unlabelled`"),
    "nn_distance_ratio": ("images", "pixel space: median distance from a sample to its nearest training image, over the same for test images (about 1 for new images, 0 for copies)"),
    "exact_copy_rate": ("images", "share of samples identical to a training image"),
    "n_samples": ("images, text", "samples scored (the same for every row, `real` included; text: test windows for `real`)"),
    "nll_given_class": ("images", "class-conditional models (`conditional: true`): -log p(x given its label) on the test split, nats per image, exact for the closed-form models and the PixelCNN, and the same kind of bound as `nll` for the VAE; `nll` stays -log p(x) = -log sum_y p(y) p(x given y), comparable with every other model's"),
    "nll_given_class_stderr": ("images", "standard error of `nll_given_class` over the test images"),
    "class_accuracy": ("images", "class-conditional models: share of the samples drawn for a class (`generate.n_samples` shared evenly among the classes; `class_samples` of them) that the feature classifier assigns to that class; a model that ignores the class scores about 1 / classes; `real`: the classifier's accuracy on the test images, the reference (not a bound: samples easier to classify than real images score above it)"),
    "class_samples": ("images", "class-conditional models: samples drawn for `class_accuracy`, the same number of each class"),
    "complete_nll_<mask>": ("images", "nats of the hidden part of a test image given its visible part, -log p(x_h given x_v), mean over the first `complete_n_images` test images, for each mask of `completion.masks` (`bottom` half, `centre` square of half the side, `random` half of the pixels; docs/data.md): exact for `independent`, `mixture` (through the posterior over its components), `markov` (`previous`: the forward algorithm over the chain, any mask; `left_up`: `bottom` only) and `pixelcnn` (`bottom` only, whose rows follow the visible ones in its order); for the VAE an importance-sampled estimate (`complete_nll_method`); absent where the model has no such number (GAN, flow, diffusion)"),
    "complete_nll_<mask>_stderr": ("images", "standard error of `complete_nll_<mask>` over the completed images"),
    "complete_nll_method": ("images", "how `complete_nll_<mask>` was computed: `exact`, or the estimate's name (VAE: self-normalised importance sampling with k = `evaluate.iw_samples` codes, its proposal built from `completion.steps`-step completions: consistent as k grows, neither a bound nor unbiased; docs/models.md gives its spread)"),
    "complete_accuracy_<mask>": ("images", "labelled images: share of the model's completions (one per test image) that the feature classifier gives the original image's label; `real`: its accuracy on the original images, the ceiling (the same under every mask)"),
    "masked_accuracy_<mask>": ("images", "`real` only: the classifier's accuracy on the masked inputs, the hidden pixels at level 0: what the visible part alone tells it; a completion worth having scores above it"),
    "complete_n_images": ("images", "test images completed (`completion.n_images`, or the whole test split if smaller)"),
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
    "continuation_nll": ("music", "nats per frame of the true continuations of the continued test pieces (the first `generate.continuations` longer than `generate.primer_frames`) given their primers: every frame after the primer given all frames before it in its piece, the same exact terms as `nll` kept to those frames"),
    "continuation_nll_stderr": ("music", "standard error of `continuation_nll` over the continued pieces (a ratio estimate, as `nll_stderr`)"),
    "continuation_pieces": ("music", "test pieces continued"),
    "continuation_frames": ("music", "frames of their true continuations, scored by `continuation_nll`"),
    "primer_frames": ("music", "the primer's frames (`generate.primer_frames`)"),
    "continuation_pitch_class_tv": ("music", "total variation distance between the pitch-class histograms of the drawn continuations and of the true ones (pooled); 0 = the same"),
    "continuation_key_distance": ("music", "mean over pieces of the total variation distance between the pitch-class histograms of the primer and of its continuation (drawn; the `real` row: the true continuation): 0 = the primer's pitch classes in the same shares; read against the real row"),
    "n_pieces": ("music", "samples (real row: validation pieces) scored"),
    "frames_compared": ("music", "per-piece features use the first this many frames of every sample and piece: the median test piece's length, or the samples' length if shorter"),
    "note": ("any", "why some metrics are missing (no labels, continuous values, text)"),
    "n_parameters": ("cost", "values the model learnt: its trained parameters (weight averages such as EMA copies not counted again); a closed-form model: every value of the tables it fitted (probabilities; a Markov chain's n-gram keys and counts)"),
    "checkpoint_bytes": ("cost", "size of `models/<model>/model.pt`, bytes"),
    "train_steps": ("cost", "optimisation steps of the training run (0: fitted in closed form)"),
    "train_flop": ("cost", "floating-point operations of the whole training run, counted by PyTorch's counter (`torch.utils.flop_counter`: matrix products, convolutions and attention, 2 per multiply-add, forward and backward) on the first step and the first validation and scaled by the examples trained and validated on; closed-form models add one operation per value counted or looked up (`genlab.metrics.cost`)"),
    "sample_flop": ("cost", "the same for drawing one sample (counted over 16; text and music: one sample of `generate.length` characters or frames), closed-form models adding one operation per level a value is drawn over"),
    "nll_flop": ("cost", "the same for scoring one test example (image, row, character or frame) as `nll` does: the exact likelihood or the model's bound with the `evaluate` params"),
}


def metrics_table() -> str:
    rows = ["| key | where | meaning |", "|---|---|---|"]
    rows += [f"| `{key}` | {where} | {meaning} |" for key, (where, meaning) in METRICS.items()]
    return "\n".join(rows) + "\n"


GENERATED = "<!-- Generated by `python -m genlab.config.docs {what} > docs/{page}`: edit {source}, not this page. -->\n"

PARAMS_INTRO = """\
# Params

Every param is in `params.yaml`, which holds every key of every section, so
`dvc exp run -S section.key=value` works for each. The file is generated from the schema
(`python -m genlab.config.docs params > params.yaml`): the shared sections are declared in
`genlab/config/params.py`, and each model's section is the `Params` class in its module
`genlab/models/<model>.py`. This page is generated from the same schema, so it cannot drift
from the defaults.

The schema checks types and ranges and rejects unknown keys and sections. A stage validates the
shared sections and the sections of the models it runs, and a bad value stops it before it
writes anything, with one line and exit code 1:

```
error: params.yaml: vae.lr: Input should be greater than 0 (got -1)
error: params.yaml: vae.lrr: unknown key
```

Each stage depends on whole sections ([the stage table](../README.md#the-pipeline)), so a
change under `vae:` reruns only the VAE's stages ([Comparing runs](comparing-runs.md#what-reruns)).
How the models' defaults were chosen is in [Models](models.md); the benchmarks' own params are
in `bench/<name>/params.yaml` ([Benchmarks](benchmarks.md)).

"""

METRICS_INTRO = """\
# Metrics

`evaluate@<model>` writes `metrics/models/<model>.json` and `real` writes `metrics/real.json`,
with the flat keys below. Likelihoods are on the test split, for the models that have one, in
nats; [Models](models.md#likelihood-conventions) gives their conventions per kind of data.
Sample metrics score n samples against the test split: images in a frozen feature network's
features and in pixel space, continuous values by two-sample tests, text and music by
statistics of the sequences ([Bring your own data](data.md)).

**The same n for every row.** Every row is scored on the same n samples
(`evaluate.n_samples`, by default the size of the validation split: 180 on the digits) against
the whole test split. The `real` row scores held-out data (the validation split) with the same
code and n, so it shows what "as good as real data" looks like at this n. Read every sample
metric against it.

**The feature networks.** Inception weights cannot be downloaded here and are the wrong
features for 8x8 grey digits. So the image sample metrics are computed in the features of a
network trained on the data's own train split, frozen, and stored as a DVC output; numbers are
comparable only between runs in the same features, and every metrics file names them
(`features`). `evaluate.features` chooses:

- `classifier`: the `classifier` stage's MLP, trained on the labels (early stopping on
  validation loss), its penultimate features (`classifier.feature_dim` wide).
  `metrics/classifier.json` holds `val_accuracy`, `test_accuracy`, `n_test` and `feature_dim`.
  It needs labelled images of at least two classes.
- `self_supervised`: the `self_supervised` stage's small convolutional encoder, trained without
  labels by SimCLR's contrastive loss (two augmented views of each image told apart from the
  other images'; `self_supervised:` params), its encoder's output (`self_supervised.feature_dim`
  wide). `metrics/self_supervised.json` holds its validation loss and steps. The Inception
  Score and `classes_covered` need class predictions and are left out.
- `auto` (the default): the classifier where there are at least two classes, else
  self-supervised. A flat folder of images, or one class folder, is unlabelled.

On the digits the two spaces rank the seven default models' FIDs the same way (Spearman 1.0;
[Data](data.md#unlabelled-images)). **Features are checked, not trusted:** the `real` row also
scores a known-bad reference, its own images with each one's pixels shuffled (`fid_shuffled`),
and the summary warns when the features cannot tell those from real images by more than the
noise (the difference under 2 combined bootstrap standard errors, the same z as the report's
"within noise"). The feature networks do not apply to text, music and values.

**Which way is better.** Lower is better for `nll`, `bits_per_*`, `fid`, `kid` and
`pitch_class_tv`. Higher is better for precision, recall, density and coverage (up to the real
row's). Novelty, copying and musical statistics are best near the real row's.

"""

METRICS_OUTRO = """
## The summary table

`summary` writes `metrics/summary.md` and `metrics/summary.csv`: one row per model of the
`models:` list, sorted by `nll`, and the `real` row, with the columns above that apply to the
data (text: with the first lines of each model's samples). `make repro` prints it, and the
README shows it for the digits with short column names: `±` is `nll_stderr`, `IS`
`inception_score`, `classes` `classes_covered`, `nn ratio` `nn_distance_ratio`, `copies`
`exact_copy_rate`, `n` `n_samples`. It also writes `metrics/headline.json`: each row's `nll`
and `fid` where it has them, under short names (`vae.nll`), the columns `make exp-show` shows
per experiment. [Comparing runs](comparing-runs.md) compares the metrics of two revisions or
experiments.
"""


def params_doc() -> str:
    """docs/params.md, whole."""
    source = "the descriptions in the schema (genlab/config/sections.py, each model's Params) or PARAMS_INTRO in genlab/config/docs.py"
    return GENERATED.format(what="params-doc", page="params.md", source=source) + PARAMS_INTRO + params_table()


def metrics_doc() -> str:
    """docs/metrics.md, whole."""
    source = "METRICS and the text around it in genlab/config/docs.py"
    return GENERATED.format(what="metrics-doc", page="metrics.md", source=source) + METRICS_INTRO + metrics_table() + METRICS_OUTRO


ARTIFACTS_MARK = "# DVC's model registry: every model's checkpoint, generated from genlab/models"


def artifacts_yaml() -> str:
    """dvc.yaml's ``artifacts:`` section (from ``ARTIFACTS_MARK`` on): one entry of type ``model`` per
    model of the registry (``dvc artifacts get <repo> <model>``, ``dvc.api.artifacts_show``). Its
    meta names the model's metrics file and card, which hold its numbers for the same commit."""
    body = yaml.safe_dump({"artifacts": artifact_entries()}, sort_keys=False, width=1000, allow_unicode=True)
    return f"{ARTIFACTS_MARK} (python -m genlab.config.docs artifacts;\n# a test checks it): `dvc artifacts get <repo> <model>`.\n{body}"


def artifact_entries() -> dict:
    """{model: its dvc.yaml artifact entry} for every model of the registry."""
    import importlib

    from genlab import paths
    from genlab.config.sections import DataParams

    source = DataParams().source
    entries = {}
    for name in registry.names():
        doc = (importlib.import_module(f"genlab.models.{name}").__doc__ or name).strip().splitlines()[0].rstrip(".")
        entries[name] = {
            "path": paths.checkpoint(name),
            "type": "model",
            "desc": f"genlab {name}: {doc}; trained by train@{name}",
            "labels": [name, *registry.implementations(name), source],
            "meta": {"metrics": paths.model_metrics(name), "card": paths.model_card(name),
                     "load": f"genlab.load('{paths.model_dir(name)}')"},
        }
    return entries


def write_artifacts(path: str = "dvc.yaml") -> None:
    """Replace dvc.yaml's generated artifacts section (from ``ARTIFACTS_MARK`` to the end) with ``artifacts_yaml()``."""
    from pathlib import Path

    text = Path(path).read_text()
    head = text.split(ARTIFACTS_MARK)[0].rstrip("\n") + "\n\n"
    Path(path).write_text(head + artifacts_yaml())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "what",
        choices=["params", "params-doc", "metrics-doc", "artifacts"],
        help="params: params.yaml; params-doc: docs/params.md; metrics-doc: docs/metrics.md (each printed); "
        "artifacts: rewrites dvc.yaml's model registry section in place",
    )
    args = parser.parse_args(argv)
    if args.what == "artifacts":
        return write_artifacts()
    sys.stdout.write({"params": params_yaml, "params-doc": params_doc, "metrics-doc": metrics_doc}[args.what]())


if __name__ == "__main__":
    main()
