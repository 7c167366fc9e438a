"""The two revisions' metrics side by side: which way each metric is better, how values and changes
are written, and the rows of `dvc metrics diff` in the report's order."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import PurePosixPath

# Which way is better. A metric in neither set (counts, means, ratios best near the real row's)
# is shown with its change and no direction.
LOWER = {
    "nll", "bits_per_dim", "neg_elbo", "fid", "kid", "ks_statistic", "wasserstein", "bits_per_char",
    "perplexity", "exact_copy_rate", "bits_per_frame", "pitch_class_tv", "oov_rate", "unseen_rate",
}
HIGHER = {
    "precision", "recall", "density", "coverage", "inception_score", "classes_covered", "oa_pitch_count",
    "oa_pitch_class_hist", "val_accuracy", "test_accuracy",
}
LOWER_PREFIXES = ("fid_", "val_fid_")


def better(key: str) -> int:
    """-1 where lower is better, +1 where higher is, 0 where neither."""
    if key in LOWER or key.startswith(LOWER_PREFIXES):
        return -1
    return 1 if key in HIGHER else 0


def fmt(value, signed: bool = False) -> str:
    """A metric value with at least two decimals and four significant digits (integers as they are)."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:+d}" if signed else str(value)
    if not math.isfinite(value):
        return str(value)
    if 0 < abs(value) < 1e-3:
        return f"{value:+.3e}" if signed else f"{value:.3e}"
    decimals = 2 if value == 0 else max(2, 3 - math.floor(math.log10(abs(value))))
    return f"{value:+.{decimals}f}" if signed else f"{value:.{decimals}f}"


@dataclass
class MetricRow:
    model: str
    key: str
    old: object
    new: object

    @property
    def numeric(self) -> bool:
        """Both sides finite numbers (a NaN, a string or a missing side has no change to compute)."""
        return all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (self.old, self.new)
        )

    @property
    def changed(self) -> bool:
        same_nan = all(isinstance(v, float) and math.isnan(v) for v in (self.old, self.new))
        return self.old != self.new and not same_nan

    @property
    def change(self) -> str:
        if self.old is None:
            return "new"
        if self.new is None:
            return "removed"
        if not self.changed:
            return ""
        if not self.numeric:
            return "changed"
        d = self.new - self.old
        rel = f" ({d / abs(self.old):+.1%})" if self.old and d else ""
        return fmt(d, signed=True) + rel

    @property
    def verdict(self) -> str:
        """`better`, `worse`, `same`, or "" where the metric has no direction or a side lacks it."""
        if self.old is not None and self.new is not None and not self.changed:
            return "same"
        if not self.numeric:
            return ""
        way = better(self.key)
        if not way:
            return ""
        return "better" if (self.new - self.old) * way > 0 else "worse"


def metric_model(path: str) -> str:
    """metrics/models/vae.json -> vae; metrics/real.json -> real."""
    return PurePosixPath(path).stem


def metric_rows(diff: dict, order: list[str], key_order: dict[str, list[str]] | None = None) -> list[MetricRow]:
    """`dvc metrics diff --all` (``{path: {key: {old, new}}}``) as rows: models in ``order`` then
    the rest; keys in ``key_order[path]`` (the workspace file's order) then the rest, sorted."""
    rows = []
    for path in diff:
        known = (key_order or {}).get(path, [])
        rank = {k: i for i, k in enumerate(known)}
        for key in sorted(diff[path], key=lambda k: (rank.get(k, len(rank)), k)):
            d = diff[path][key]
            rows.append(MetricRow(metric_model(path), key, d.get("old"), d.get("new")))
    model_rank = {m: i for i, m in enumerate(order)}
    return sorted(rows, key=lambda r: (model_rank.get(r.model, len(model_rank)), r.model))  # stable


def flat_diff(diff: dict) -> dict:
    """DVC's ``{"diff": {file: {key: {...}}}}`` less its wrapper, errors ignored."""
    return diff.get("diff", diff) if isinstance(diff, dict) else {}

def param_value(v) -> str:
    return "—" if v is None else str(v)
