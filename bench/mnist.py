"""`make bench-mnist`: the pipeline's stages on dynamically binarized MNIST, with a config chosen
for quality (bench/mnist/params.yaml), in bench/mnist/, apart from the committed digits results.

Writes bench/mnist/metrics/ (models/<model>.json, real.json, summary.md) and bench/mnist/run.json
(wall time per stage, machine), then the committed record bench/mnist/results.md (the summary
table, the stage times, the machine, the date and the wall time).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench.pipeline import results_sections, run_stages
from bench.results import write_results
from genlab import cli

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "bench" / "mnist"


def main(args: argparse.Namespace) -> None:
    start = time.perf_counter()
    run = run_stages(HERE, args.params)
    print(f"bench-mnist: {run['total_seconds']:.0f} s; metrics in {HERE / 'metrics'}")
    write_results(HERE / "results.md", "MNIST benchmark (`make bench-mnist`)",
                  f"python -m bench.mnist --params {args.params}", results_sections(HERE, run),
                  time.perf_counter() - start, run["device"])
    print(f"results in {HERE / 'results.md'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml", help="params file inside bench/mnist/")
    cli.run(main, parser.parse_args())
