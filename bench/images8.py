"""`make bench-8bit`: the default pipeline, every default model and param, on real 8-bit 28x28
grey images read from ../shared/data, timed per stage.

`--data kmnist` (the default): the first 4,000 KMNIST test images (Clanuwat et al. 2018), data
genlab was not tuned on. `--data fashion`: the 1,900 Fashion-MNIST images (the 1,000-image test
subset and the 900-image sprite), on which the 8-bit defaults were chosen. Each runs in
bench/images8/<data>/ (not tracked): raw.npz, params.yaml (the repository's params.yaml with
data.source npz and data.path raw.npz, nothing else changed), then the stages' outputs,
metrics/summary.md and run.json; then the committed record bench/images8/results.md for kmnist,
bench/images8/results-<data>.md for the others (the summary table, the stage times, the machine,
the date and the wall time).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import yaml

from bench.pipeline import results_sections, run_stages
from bench.results import write_results
from genlab import cli
from genlab.errors import GenlabError

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def kmnist() -> tuple[np.ndarray, np.ndarray]:
    with np.load(SHARED / "kmnist" / "kmnist-test-imgs.npz") as x, np.load(SHARED / "kmnist" / "kmnist-test-labels.npz") as y:
        return x["arr_0"][:4000], y["arr_0"][:4000]


def fashion() -> tuple[np.ndarray, np.ndarray]:
    parts = [np.load(SHARED / "fashion_mnist" / f) for f in
             ("fashion_kaggle_test_subset1000.npz", "fashion_sprite900_from_readme.npz")]
    return np.concatenate([p["images"] for p in parts]), np.concatenate([p["labels"] for p in parts])


DATA = {"kmnist": kmnist, "fashion": fashion}


def results_path(data: str) -> Path:
    """The committed record of a run on ``data``: results.md for the default images."""
    return ROOT / "bench" / "images8" / ("results.md" if data == "kmnist" else f"results-{data}.md")


def main(args: argparse.Namespace) -> None:
    start = time.perf_counter()
    folder = ROOT / "bench" / "images8" / args.data
    folder.mkdir(parents=True, exist_ok=True)
    try:
        x, y = DATA[args.data]()
    except OSError as exc:
        raise GenlabError(f"{SHARED}: cannot read the {args.data} images ({exc})") from None
    np.savez_compressed(folder / "raw.npz", x=x, y=y.astype(np.int64))
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(source="npz", path="raw.npz")
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run = run_stages(folder)  # the summary stage prints the table
    print(f"bench-8bit {args.data}: {len(x)} images, {run['total_seconds']:.0f} s; " +
          ", ".join(f"{k} {v:.0f}" for k, v in run["seconds"].items()))
    write_results(results_path(args.data), f"8-bit images benchmark: {args.data} (`make bench-8bit`)",
                  f"python -m bench.images8 --data {args.data}", results_sections(folder, run),
                  time.perf_counter() - start, run["device"])
    print(f"results in {results_path(args.data)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=sorted(DATA), default="kmnist", help="which images (default: %(default)s)")
    cli.run(main, parser.parse_args())
