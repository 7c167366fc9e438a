"""`make bench-mnist`: the pipeline's stages on dynamically binarised MNIST, with a config chosen
for quality (bench/mnist/params.yaml), in bench/mnist/, apart from the committed digits results.

Writes bench/mnist/metrics/*.json and bench/mnist/run.json (wall time per stage, machine).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from genlab import cli  # noqa: E402
from genlab.io import write_json  # noqa: E402
from genlab.params import load_params  # noqa: E402
from stages import classifier, evaluate, generate, preprocess, train  # noqa: E402

HERE = ROOT / "bench" / "mnist"


def main(args: argparse.Namespace) -> None:
    os.chdir(HERE)
    params = load_params(args.params)
    ns = lambda **kw: argparse.Namespace(params=args.params, **kw)  # noqa: E731
    times = {}

    def timed(name, fn, **kw):
        t = time.perf_counter()
        fn(ns(**kw))
        times[name] = round(time.perf_counter() - t, 1)

    timed("preprocess", preprocess.main)
    timed("classifier", classifier.main)
    for m in params.models:
        timed(f"train@{m}", train.main, model=m)
        timed(f"generate@{m}", generate.main, model=m)
        timed(f"evaluate@{m}", evaluate.main, model=m, real=False)
    timed("real", evaluate.main, model=None, real=True)
    write_json(HERE / "run.json", {
        "seconds": times,
        "total_seconds": round(sum(times.values()), 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}",
        "params": args.params,
    })
    print(f"bench-mnist: {sum(times.values()):.0f} s; metrics in {HERE / 'metrics'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml", help="params file inside bench/mnist/")
    cli.run(main, parser.parse_args())
