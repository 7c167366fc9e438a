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
    "perplexity", "exact_copy_rate", "bits_per_frame", "pitch_class_tv", "oov_rate", "unseen_rate", "nll_given_class",
    "continuation_nll", "continuation_pitch_class_tv",
}
HIGHER = {
    "precision", "recall", "density", "coverage", "inception_score", "classes_covered", "oa_pitch_count",
    "oa_pitch_class_hist", "val_accuracy", "test_accuracy", "class_accuracy",
}
LOWER_PREFIXES = ("fid_", "val_fid_", "complete_nll_")
HIGHER_PREFIXES = ("complete_accuracy_",)
# Measured in a feature space (the file's ``features``): not comparable across spaces.
FEATURE_KEYS = {"fid", "kid", "precision", "recall", "density", "coverage", "inception_score", "classes_covered"}
NOISE_Z = 2.0  # a change within this many standard errors (both sides' <key>_stderr) is "within noise"


def better(key: str) -> int:
    """-1 where lower is better, +1 where higher is, 0 where neither (a standard error has none)."""
    if key.endswith("_stderr"):
        return 0
    if key in LOWER or key.startswith(LOWER_PREFIXES):
        return -1
    return 1 if key in HIGHER or key.startswith(HIGHER_PREFIXES) else 0


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
    noise: float | None = None  # the change's standard error, from both sides' <key>_stderr where they have one
    other_features: bool = False  # the two sides were measured in different feature spaces

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
        """`better`, `worse`, `same`, `within noise` (a change within ``NOISE_Z`` standard errors of
        the difference), or "" where the metric has no direction or a side lacks it."""
        if self.old is not None and self.new is not None and not self.changed:
            return "same"
        if not self.numeric:
            return ""
        if self.other_features:
            return "other features"
        way = better(self.key)
        if not way:
            return ""
        if self.noise is not None and abs(self.new - self.old) <= NOISE_Z * self.noise:
            return "within noise"
        return "better" if (self.new - self.old) * way > 0 else "worse"


def metric_model(path: str) -> str:
    """metrics/models/vae.json -> vae; metrics/real.json -> real."""
    return PurePosixPath(path).stem


def metric_rows(diff: dict, order: list[str], key_order: dict[str, list[str]] | None = None,
                training: dict | None = None) -> list[MetricRow]:
    """`dvc metrics diff --all` (``{path: {key: {old, new}}}``) as rows: models in ``order`` then
    the rest; keys in ``key_order[path]`` (the workspace file's order) then the rest, sorted.
    ``training`` ({model: {key: sd}}): the spread that retraining with another seed adds to each
    metric (``training_noise``), counted into every row's noise beside the standard errors."""
    rows = []
    for path in diff:
        known = (key_order or {}).get(path, [])
        rank = {k: i for i, k in enumerate(known)}
        for key in sorted(diff[path], key=lambda k: (rank.get(k, len(rank)), k)):
            d = diff[path][key]
            model = metric_model(path)
            sd = (training or {}).get(model, {}).get(key)
            rows.append(MetricRow(model, key, d.get("old"), d.get("new"), noise_of(diff[path], key, sd),
                                  other_features=in_features(key) and features_differ(diff[path])))
    model_rank = {m: i for i, m in enumerate(order)}
    return sorted(rows, key=lambda r: (model_rank.get(r.model, len(model_rank)), r.model))  # stable


def in_features(key: str) -> bool:
    """Whether ``key`` is measured in the image feature space (FID, KID, precision, ...)."""
    return key.removesuffix("_stderr") in FEATURE_KEYS or key.startswith(LOWER_PREFIXES)


def features_differ(diff: dict) -> bool:
    """Whether a metrics file's two sides name different feature spaces (``features``): their
    sample metrics are then not comparable, and the report says so instead of a verdict."""
    f = diff.get("features", {})
    return f.get("old") is not None and f.get("new") is not None and f.get("old") != f.get("new")


def noise_of(diff: dict, key: str, training_sd: float | None = None) -> float | None:
    """The standard error of ``key``'s change: both sides' standard errors (``<key>_stderr``) and,
    given the spread retraining adds (``training_sd``, one run's), that of each side's training;
    None where neither is known."""
    se = diff.get(f"{key}_stderr", {})
    parts = [v for v in (se.get("old"), se.get("new")) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]
    if len(parts) < 2:
        parts = []
    if training_sd is not None and math.isfinite(training_sd):
        parts += [training_sd, training_sd]
    return math.sqrt(sum(v * v for v in parts)) if parts else None


def training_noise(root, source: str | None) -> dict:
    """{model: {key: sd}} from ``root``/bench/noise/spread.json (`make bench-noise`) where it was
    measured on the data source the workspace uses (``source``), else {}."""
    import json
    from pathlib import Path

    try:
        spread = json.loads((Path(root) / "bench" / "noise" / "spread.json").read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(spread, dict) or spread.get("data") != source:
        return {}
    return {m: {k: r["sd"] for k, r in rows.items()} for m, rows in (spread.get("models") or {}).items()}


def flat_diff(diff: dict) -> dict:
    """DVC's ``{"diff": {file: {key: {...}}}}`` less its wrapper, errors ignored."""
    return diff.get("diff", diff) if isinstance(diff, dict) else {}

def param_value(v) -> str:
    return "—" if v is None else str(v)
