"""`make bench-8bit`: the default pipeline, every default model and param, on real 8-bit 28x28
grey images read from ../shared/data, timed per stage.

`--data kmnist` (the default): the first 4,000 KMNIST test images (Clanuwat et al. 2018), data
genlab was not tuned on. `--data fashion`: the 1,900 Fashion-MNIST images (the 1,000-image test
subset and the 900-image sprite), on which the 8-bit defaults were chosen. Each runs in
bench/images8/<data>/ (not tracked): raw.npz, params.yaml (the repository's params.yaml with
data.source npz and data.path raw.npz, nothing else changed), then the stages' outputs,
metrics/summary.md and run.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.pipeline import run_stages  # noqa: E402
from genlab import cli  # noqa: E402
from genlab.errors import GenlabError  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"


def kmnist() -> tuple[np.ndarray, np.ndarray]:
    with np.load(SHARED / "kmnist" / "kmnist-test-imgs.npz") as x, np.load(SHARED / "kmnist" / "kmnist-test-labels.npz") as y:
        return x["arr_0"][:4000], y["arr_0"][:4000]


def fashion() -> tuple[np.ndarray, np.ndarray]:
    parts = [np.load(SHARED / "fashion_mnist" / f) for f in
             ("fashion_kaggle_test_subset1000.npz", "fashion_sprite900_from_readme.npz")]
    return np.concatenate([p["images"] for p in parts]), np.concatenate([p["labels"] for p in parts])


DATA = {"kmnist": kmnist, "fashion": fashion}


def main(args: argparse.Namespace) -> None:
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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=sorted(DATA), default="kmnist", help="which images (default: %(default)s)")
    cli.run(main, parser.parse_args())
