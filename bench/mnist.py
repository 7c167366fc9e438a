"""`make bench-mnist`: the pipeline's stages on dynamically binarized MNIST, with a config chosen
for quality (bench/mnist/params.yaml), in bench/mnist/, apart from the committed digits results.

Writes bench/mnist/metrics/ (models/<model>.json, real.json, summary.md) and bench/mnist/run.json
(wall time per stage, machine), then the committed record bench/mnist/results.md (the summary
table, the stage times, the machine, the date and the wall time). `--models a,b --set k=v --results F`
runs only those models, with those params changed and writes the record to bench/mnist/F.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import yaml

from bench.pipeline import apply_settings, results_sections, run_stages
from bench.results import write_results
from genlab import cli

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "bench" / "mnist"


def main(args: argparse.Namespace) -> None:
    start = time.perf_counter()
    params_file, command = args.params, f"python -m bench.mnist --params {args.params}"
    if args.models or args.set:  # a subset of the models, or changed params: a params file of its own (not tracked)
        params = yaml.safe_load((HERE / args.params).read_text())
        params["models"] = args.models.split(",") if args.models else params["models"]
        apply_settings(params, args.set)
        params_file = "params-run.yaml"
        (HERE / params_file).write_text(yaml.safe_dump(params, sort_keys=False))
        command += (f" --models {args.models}" if args.models else "") + "".join(f" --set {k}" for k in args.set)
        command += f" --results {args.results}"
    run = run_stages(HERE, params_file)
    print(f"bench-mnist: {run['total_seconds']:.0f} s; metrics in {HERE / 'metrics'}")
    write_results(HERE / args.results, "MNIST benchmark (`make bench-mnist`)", command, results_sections(HERE, run),
                  time.perf_counter() - start, run["device"])
    print(f"results in {HERE / args.results}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml", help="params file inside bench/mnist/")
    parser.add_argument("--models", default=None, help="run only these models (comma-separated; default: the params file's)")
    parser.add_argument("--set", action="append", default=[], help="a param to change, section.key=value (repeatable)")
    parser.add_argument("--results", default="results.md", help="the results file written inside bench/mnist/")
    cli.run(main, parser.parse_args())
