"""One comparison table of every model and the real reference row."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from genlab import paths
from genlab.config.sections import MASKS
from genlab.errors import GenlabError
from genlab.io import atomic_file, write_json

COLUMNS = [
    "nll", "nll_stderr", "bits_per_dim", "nll_given_class", "fid", "fid_stderr", "kid", "precision", "recall", "density",
    "coverage", "inception_score", "classes_covered", "class_accuracy", "nn_distance_ratio", "exact_copy_rate", "n_samples",
    "ks_statistic", "ks_pvalue", "wasserstein", "ks_pvalue_true", "n_generated",
    "bits_per_char", "perplexity", "novelty_char8", "novelty_char16", "novelty_word3", "longest_copy", "distinct_2",
    "oov_rate",
    "bits_per_frame", "polyphony", "pitch_class_tv", "pitch_range", "scale_consistency", "chord_copy_rate",
    "oa_pitch_count", "oa_pitch_class_hist", "unseen_rate", "continuation_nll", "continuation_pitch_class_tv",
    "continuation_key_distance",
]
# The known-bad reference (genlab.evaluation.features.shuffled) must stand out from real images by
# this many combined bootstrap standard errors: the z of the report's verdicts
# (genlab.report.compare.NOISE_Z), about a two-sided 95 % level.
SEPARATION_Z = 2.0
COST_COLUMNS = ["n_parameters", "checkpoint_bytes", "train_steps", "train_flop", "sample_flop", "nll_flop"]
COMPLETION_KEYS = ("complete_nll_", "complete_accuracy_", "masked_accuracy_")  # then the mask's name


def completion_columns(columns) -> list[str]:
    """The completion metrics among ``columns`` (genlab.evaluation.completion), mask by mask: each
    mask's nll, accuracy and the real row's masked accuracy."""
    return [f"{prefix}{m}" for m in MASKS for prefix in COMPLETION_KEYS if f"{prefix}{m}" in columns]


def read_metrics(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise GenlabError(f"{path}: cannot read metrics ({exc}); run its evaluate stage") from None


def summary_table(metrics_dir: str | Path, models: list[str], real: str | Path) -> pd.DataFrame:
    """Rows: each model (``<metrics_dir>/<model>.json``), then `real`; sorted by nll (rows
    without one, like `real`, last)."""
    metrics_dir = Path(metrics_dir)
    rows = {name: read_metrics(metrics_dir / f"{name}.json") for name in models}
    rows["real"] = read_metrics(Path(real))
    table = pd.DataFrame.from_dict(rows, orient="index")
    if "class_accuracy" in table and table["class_accuracy"].drop(index="real").isna().all():
        table = table.drop(columns="class_accuracy")  # the real row's reference, with no class-conditional model to read it
    table = table.reindex(columns=[c for c in COLUMNS if c in table.columns] + completion_columns(table.columns)
                          + [c for c in COST_COLUMNS if c in table.columns])
    table.index.name = "model"
    return table.sort_values("nll", na_position="last", kind="stable") if "nll" in table else table


HEADLINE = ("nll", "fid")  # each model's headline metrics: what `make exp-show` shows per experiment


def headline(table: pd.DataFrame) -> dict:
    """{row: {metric: value}} of the headline metrics each row has (a GAN has no nll, text no fid):
    short column names (``vae.nll``) for ``dvc exp show``, whose full names would not fit a terminal."""
    out = {}
    for name, row in table.iterrows():
        values = {m: float(row[m]) for m in HEADLINE if m in row and pd.notna(row[m])}
        if values:
            out[str(name)] = values
    return out


def sample_excerpts(samples_dir: str | Path, models: list[str], lines: int = 4) -> dict[str, str]:
    """The first lines of each model's first text sample (``<samples_dir>/<model>/samples.txt``), where there is one."""
    out = {}
    for name in models:
        path = Path(samples_dir) / name / paths.SAMPLES_TEXT_FILE
        if path.exists():
            with open(path, encoding="utf-8") as fh:
                head = [fh.readline() for _ in range(lines + 1)][1:]  # under the header line
            out[name] = "".join(head).rstrip("\n")
    return out


def write_summary(table: pd.DataFrame, csv_path: str | Path, md_path: str | Path, excerpts: dict[str, str] | None = None,
                  headline_path: str | Path | None = None, preamble: list[str] | None = None) -> str:
    """The comparison table as CSV and markdown (and the headline metrics); ``preamble``: paragraphs
    above the markdown table (what the sample metrics are measured in, a warning)."""
    with atomic_file(csv_path) as tmp:
        table.to_csv(tmp, float_format="%.6g")
    if headline_path is not None:
        write_json(headline_path, headline(table))
    shown = table.astype(object).where(table.notna(), None)  # blank, not "nan", where a metric is undefined
    cost = [c for c in COST_COLUMNS if c in table.columns]
    completion = completion_columns(table.columns)
    markdown = "".join(f"{line}\n\n" for line in preamble or [])
    markdown += shown.drop(columns=cost + completion).to_markdown(floatfmt=".4g", missingval="") + "\n"
    if completion:
        done = shown[completion].drop(index=[r for r in shown.index if shown.loc[r, completion].isna().all()])
        markdown += ("\nCompleting test images (docs/metrics.md): nats of the hidden part given the rest "
                     "(complete_nll, lower is better; the VAE's an estimate), and the share of completions the "
                     "classifier gives the original's label (complete_accuracy; the real row: the originals, and "
                     "masked_accuracy: the masked inputs):\n\n" + done.to_markdown(floatfmt=".4g", missingval="") + "\n")
    if cost:
        costs = shown[cost].drop(index=[r for r in shown.index if shown.loc[r, cost].isna().all()])
        markdown += ("\nWhat each model costs: parameters, checkpoint size, training steps, and FLOP of the whole "
                     "training, of one sample and of scoring one test example (counted by PyTorch's FLOP counter; "
                     "see docs/metrics.md):\n\n" + costs.to_markdown(floatfmt=".3g", missingval="") + "\n")
    for name, text in (excerpts or {}).items():
        fence = "~~~~" if "```" in text else "```"
        markdown += f"\n{name} (the first lines of {paths.samples_text(name)}):\n\n{fence}text\n{text}\n{fence}\n"
    with atomic_file(md_path) as tmp:
        tmp.write_text(markdown)
    return markdown


# -- the feature space of images: what the summary says above its table -------------------------
def separates(real_fid: float, real_stderr: float, bad_fid: float, bad_stderr: float) -> bool:
    """Whether the features tell the known-bad reference from real images: its FID above the real
    row's by more than ``SEPARATION_Z`` combined bootstrap standard errors (and finite)."""
    values = (real_fid, real_stderr, bad_fid, bad_stderr)
    if not all(math.isfinite(v) for v in values):
        return False
    return bad_fid - real_fid > SEPARATION_Z * math.hypot(real_stderr, bad_stderr)


def feature_check(real: dict) -> str | None:
    """The warning for the real row's metrics ``real`` when its features cannot tell the known-bad
    reference from real images; None when they can (or the row has no features)."""
    if "fid_shuffled" not in real:
        return None
    if separates(real["fid"], real["fid_stderr"], real["fid_shuffled"], real["fid_shuffled_stderr"]):
        return None
    return (
        f"the {real.get('features', '?')} features cannot tell pixel-shuffled images from real ones "
        f"(FID {real['fid_shuffled']:.3g} ± {real['fid_shuffled_stderr']:.2g} against the real row's "
        f"{real['fid']:.3g} ± {real['fid_stderr']:.2g}): the sample metrics measure nothing here"
    )


NAMES = {"classifier": "the feature classifier's", "self_supervised": "the self-supervised network's"}


def feature_preamble(real: dict) -> list[str]:
    """What the summary says of the feature space above its table, from the real row's metrics:
    the data (labelled or not), the space, the known-bad reference's score and, when the features
    cannot tell it from real images, a warning. Empty for data without features."""
    if "features" not in real:
        return []
    lines = [
        f"Images, {real.get('labels', 'labels unknown')}; the sample metrics (fid, kid, precision, recall, density, coverage) "
        f"are in {NAMES.get(real['features'], real['features'])} features (`evaluate.features`). Known-bad reference, the real "
        f"row's images with their pixels shuffled: FID {real['fid_shuffled']:.4g} ± {real['fid_shuffled_stderr']:.2g} against "
        f"the real row's {real['fid']:.4g} ± {real['fid_stderr']:.2g}."
    ]
    warning = feature_check(real)
    if warning:
        lines.append(f"**Warning:** {warning}.")
    return lines
