"""`make bench-mnist`: the pipeline's stages on dynamically binarised MNIST, with a config chosen
for quality (bench/mnist/params.yaml), in bench/mnist/, apart from the committed digits results.

Writes bench/mnist/metrics/ (models/<model>.json, real.json, summary.md) and bench/mnist/run.json (wall time per stage, machine).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.pipeline import run_stages  # noqa: E402
from genlab import cli  # noqa: E402

HERE = ROOT / "bench" / "mnist"


def main(args: argparse.Namespace) -> None:
    run = run_stages(HERE, args.params)
    print(f"bench-mnist: {run['total_seconds']:.0f} s; metrics in {HERE / 'metrics'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml", help="params file inside bench/mnist/")
    cli.run(main, parser.parse_args())
