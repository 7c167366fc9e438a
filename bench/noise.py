"""`make bench-noise`: how much the metrics move when only the training seed changes.

Runs the repository's pipeline (its params.yaml: the digits and the default models) once per seed
in bench/noise/seed<N>/, with every trained model's `seed` set to N and nothing else changed (the
feature classifier, the sampling and the scoring keep their seeds, so the rows differ by training
alone). Writes bench/noise/spread.json (each model's metrics per seed, their mean and standard
deviation) and bench/noise/results.md; both are committed. `make report` reads spread.json: a
change of a metric within the noise it records is called "within noise", not better or worse.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path

import yaml

from bench.pipeline import run_stages
from bench.results import write_results
from genlab import cli, paths
from genlab.errors import GenlabError
from genlab.evaluation.summary import COST_COLUMNS
from genlab.io import atomic_file

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "bench" / "noise"
SPREAD = HERE / "spread.json"
SKIPPED = {"n_test", "n_samples", "iw_samples", "classes_covered", *COST_COLUMNS}  # counts and costs: no training noise
SHOWN = ["nll", "fid", "kid", "precision", "recall", "coverage"]


def seeded(params: dict, seed: int) -> dict:
    """``params`` with the `seed` of every model of its list set to ``seed``."""
    for model in params["models"]:
        if "seed" in (params.get(model) or {}):
            params[model]["seed"] = seed
    return params


def spread(runs: dict[int, dict[str, dict]]) -> dict:
    """{model: {metric: {values, mean, sd}}} over the seeds' metric files (``runs[seed][model]``):
    the numeric metrics every seed has, less counts and costs."""
    models = sorted(set.intersection(*(set(r) for r in runs.values())))
    out = {}
    for m in models:
        keys = set.intersection(*(set(r[m]) for r in runs.values()))
        rows = {}
        for k in sorted(keys - SKIPPED):
            values = [runs[s][m][k] for s in sorted(runs)]
            if all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
                rows[k] = {"values": values, "mean": statistics.fmean(values), "sd": statistics.stdev(values)}
        out[m] = rows
    return out


def table(result: dict) -> str:
    header = ["model", *(f"{k} (mean ± sd, range)" for k in SHOWN)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for m, rows in result["models"].items():
        cells = [m]
        for k in SHOWN:
            r = rows.get(k)
            cells.append("" if r is None else f"{r['mean']:.3g} ± {r['sd']:.2g} ({min(r['values']):.3g} – {max(r['values']):.3g})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(args: argparse.Namespace) -> None:
    start = time.perf_counter()
    seeds = [int(s) for s in args.seeds.split(",")]
    if len(seeds) < 2:
        raise GenlabError("--seeds: at least two seeds, to measure a spread")
    base = yaml.safe_load((ROOT / "params.yaml").read_text())
    runs, seconds = {}, {}
    for seed in seeds:
        folder = HERE / f"seed{seed}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "params.yaml").write_text(yaml.safe_dump(seeded(yaml.safe_load(yaml.safe_dump(base)), seed), sort_keys=False))
        seconds[seed] = run_stages(folder)["total_seconds"]
        runs[seed] = {m: json.loads((folder / paths.model_metrics(m)).read_text()) for m in base["models"]}
    result = {"data": base["data"]["source"], "models_list": base["models"], "seeds": seeds, "models": spread(runs)}
    with atomic_file(SPREAD) as tmp:
        tmp.write_text(json.dumps(result, indent=1) + "\n")
    write_results(HERE / "results.md", "Training noise (`make bench-noise`)",
                  f"python -m bench.noise --seeds {args.seeds}",
                  [(f"Each metric over the training seeds {', '.join(map(str, seeds))} (bench/noise/spread.json)", table(result)),
                   ("Wall time per seed", "\n".join(f"- seed {s}: {t:.0f} s" for s, t in seconds.items()) + "\n")],
                  time.perf_counter() - start)
    print(f"results in {HERE / 'results.md'}, {SPREAD}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3", help="the training seeds (default: %(default)s)")
    cli.run(main, parser.parse_args())
