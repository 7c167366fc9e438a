"""One comparison table of every model and the real reference row."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from genlab.errors import GenlabError
from genlab.io import atomic_file

COLUMNS = [
    "nll", "nll_stderr", "bits_per_dim", "fid", "kid", "precision", "recall", "density", "coverage",
    "inception_score", "classes_covered", "nn_distance_ratio", "exact_copy_rate", "n_samples",
    "ks_statistic", "ks_pvalue", "wasserstein", "ks_pvalue_true", "n_generated",
]


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
    table = table.reindex(columns=[c for c in COLUMNS if c in table.columns])
    table.index.name = "model"
    return table.sort_values("nll", na_position="last", kind="stable") if "nll" in table else table


def write_summary(table: pd.DataFrame, csv_path: str | Path, md_path: str | Path) -> str:
    with atomic_file(csv_path) as tmp:
        table.to_csv(tmp, float_format="%.6g")
    shown = table.astype(object).where(table.notna(), None)  # blank, not "nan", where a metric is undefined
    markdown = shown.to_markdown(floatfmt=".4g", missingval="") + "\n"
    with atomic_file(md_path) as tmp:
        tmp.write_text(markdown)
    return markdown
