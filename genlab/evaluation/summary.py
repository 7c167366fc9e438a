"""One comparison table of every model and the real reference row."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from genlab import paths
from genlab.errors import GenlabError
from genlab.io import atomic_file, write_json

COLUMNS = [
    "nll", "nll_stderr", "bits_per_dim", "fid", "fid_stderr", "kid", "precision", "recall", "density", "coverage",
    "inception_score", "classes_covered", "nn_distance_ratio", "exact_copy_rate", "n_samples",
    "ks_statistic", "ks_pvalue", "wasserstein", "ks_pvalue_true", "n_generated",
    "bits_per_char", "perplexity", "novelty_char8", "novelty_char16", "novelty_word3", "longest_copy", "distinct_2",
    "oov_rate",
    "bits_per_frame", "polyphony", "pitch_class_tv", "pitch_range", "scale_consistency", "chord_copy_rate",
    "oa_pitch_count", "oa_pitch_class_hist", "unseen_rate",
]
COST_COLUMNS = ["n_parameters", "checkpoint_bytes", "train_steps", "train_flop", "sample_flop", "nll_flop"]


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
    table = table.reindex(columns=[c for c in COLUMNS + COST_COLUMNS if c in table.columns])
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
                  headline_path: str | Path | None = None) -> str:
    with atomic_file(csv_path) as tmp:
        table.to_csv(tmp, float_format="%.6g")
    if headline_path is not None:
        write_json(headline_path, headline(table))
    shown = table.astype(object).where(table.notna(), None)  # blank, not "nan", where a metric is undefined
    cost = [c for c in COST_COLUMNS if c in table.columns]
    markdown = shown.drop(columns=cost).to_markdown(floatfmt=".4g", missingval="") + "\n"
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
