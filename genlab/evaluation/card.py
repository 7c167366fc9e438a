"""A model card per trained model (``metrics/models/<model>.md``), written by its evaluate stage
from what the pipeline knows: the data, the params, the training, the test metrics with their
conventions, a picture or excerpt of its samples, its known limits, and how to load and sample it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

from genlab import paths

HEADLINE = ["nll", "nll_stderr", "bits_per_dim", "bits_per_char", "bits_per_frame", "fid", "fid_stderr", "precision",
            "recall", "coverage", "novelty_char8", "pitch_class_tv", "n_samples", "n_test"]
COST = ["n_parameters", "checkpoint_bytes", "train_steps", "train_flop", "sample_flop", "nll_flop"]
BOUNDS = {  # what `nll` is where it is not the exact likelihood
    "neg_elbo": "an upper bound on the test NLL: the importance-weighted bound (Burda et al. 2015) with k = `iw_samples`",
    "dequant_bound": "an upper bound on the test NLL: the flow's dequantisation bound",
    "nll_prior": "an upper bound on the test NLL: the diffusion model's variational bound (Ho et al. 2020)",
}
UNITS = {"images": "images", "continuous": "rows", "text": "characters", "music": "pieces"}


def data_hash(folder: str | Path) -> str:
    """sha256 over the prepared data's files (names and contents, in order)."""
    digest = hashlib.sha256()
    for f in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        digest.update(f.relative_to(folder).as_posix().encode() + b"\0" + f.read_bytes())
    return digest.hexdigest()


def _value(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 10_000:
        return f"{v:,}" if abs(v) < 10**9 else f"{v:.3e}"
    return str(v)


def model_card(name: str, model, meta: dict, metrics: dict, trained: dict, prepared: str | Path) -> str:
    """The card's markdown. ``model``: the trained model (its params and kind); ``meta``: the
    prepared data's description; ``metrics``: its metrics file; ``trained``: its train.json."""
    kind = meta.get("kind", "images")
    shape = "x".join(map(str, meta.get("shape", []))) or "one symbol"
    counts = meta.get("counts") or meta.get("pieces") or {}
    split = ", ".join(f"{k} {v:,}" for k, v in counts.items())
    lines = [f"# {name}: model card", "",
             f"Written by `evaluate@{name}` from what the pipeline knows (`genlab/evaluation/card.py`); every run rewrites it.", "",
             "## Data", "",
             f"- source: `{meta.get('source')}` ({kind}{', ' + str(meta.get('path')) if meta.get('path') else ''}), "
             f"shape {shape}, {meta.get('n_levels')} levels" + (f", binarization `{meta['binarize']}`" if meta.get("binarize") not in (None, "none") else ""),
             f"- split: {split}" if split else "- split: see data/prepared/meta.json",
             f"- prepared data (`{paths.PREPARED}`) sha256: `{data_hash(prepared)}`", "",
             "## Params", "", "```yaml", yaml.safe_dump({name: model.params.model_dump()}, sort_keys=False).rstrip(), "```", "",
             "## Training", ""]
    if trained.get("steps"):
        lines.append(f"- {trained['steps']:,} optimisation steps, {trained.get('epochs')} epochs; the weights of epoch "
                     f"{trained.get('best_epoch')} (best on validation) kept")
    else:
        lines.append("- fitted in closed form on the training split")
    lines += [f"- `{k}`: {_value(metrics[k])}" for k in COST if k in metrics]
    lines += ["", "## Test metrics", "", "| metric | value |", "|---|---|"]
    lines += [f"| `{k}` | {_value(metrics[k])} |" for k in HEADLINE if k in metrics]
    lines += ["", f"Every metric: `{paths.model_metrics(name)}` ([what each means](../../docs/metrics.md)).", "", "## Samples", ""]
    samples = Path(paths.samples_dir(name))
    if kind == "text" and (samples / paths.SAMPLES_TEXT_FILE).exists():
        head = (samples / paths.SAMPLES_TEXT_FILE).read_text(encoding="utf-8").split("\n\n")[0].split("\n", 1)[-1][:400]
        fence = "~~~~" if "```" in head else "```"
        lines += [f"The beginning of its first sample (`{paths.samples_text(name)}`):", "", f"{fence}text", head, fence]
    else:
        lines += [f"![{name}'s samples](../../{paths.samples_dir(name)}/samples.png)", "",
                  f"(`{paths.samples_dir(name)}/`: every sample" + (", MIDI and WAV files)" if kind == "music" else ")")]
    lines += ["", "## Known limits", ""]
    bound = next((text for key, text in BOUNDS.items() if key in metrics), None)
    if "nll" not in metrics:
        lines.append("- no likelihood: the model is scored on its samples only")
    elif bound:
        lines.append(f"- `nll` is {bound}, not the exact likelihood")
    else:
        lines.append("- `nll` is the exact likelihood of the test split")
    if counts.get("train"):
        lines.append(f"- trained on {counts['train']:,} {UNITS.get(kind, 'examples')} of one data set: it models that data, nothing else")
    if "fid" in metrics:
        where = ("a self-supervised network trained on this data without its labels" if metrics.get("features") == "self_supervised"
                 else "a classifier trained on this data")
        lines.append(f"- the sample metrics are measured on {metrics.get('n_samples')} samples in the features of {where}; `fid_stderr` is the noise of that finite set, and retraining with another seed "
                     "moves them further (`make bench-noise`)")
    lines += ["", "## Use it", "", "```sh", f"genlab sample {name} -n 16 --seed 0 --out samples-{name}", "```", "",
              "```python", "import genlab", f'm = genlab.load("{paths.model_dir(name)}")', "x = m.sample(16, seed=0)", "```", ""]
    return "\n".join(lines)
