"""`make bench-unlabelled`: the sample metrics without labels, in the self-supervised network's features.

Two runs of every stage, each with the repository's params.yaml (the default models):

1. **A flat folder of colour images genlab never saw**: 600 crops of 32x32 pixels, 300 from each of
   the two photographs scikit-learn ships (china.jpg, flower.jpg: `sklearn.datasets.load_sample_images`,
   read from the installed package, nothing downloaded), each photograph scaled so that its short
   side is 128 pixels, written as PNG files directly into bench/unlabelled/colour/images/ (no class
   folders: unlabelled), so `evaluate.features: auto` takes the self-supervised features. Checks:
   every image model's `fid` is in them, the independent model's is at least 5 times the real row's,
   the VAE's and the GAN's are below the independent model's.
2. **The digits in both feature spaces**: the pipeline again with `evaluate.features=self_supervised`
   in bench/unlabelled/digits/, its FIDs ranked against the classifier features' FIDs of the
   committed metrics/models/<model>.json (the same models, seeds and samples): Spearman's rank
   correlation over the default models.

Writes bench/unlabelled/results.md (both tables, the checks, the wall time per stage).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import yaml

from bench.colour import random_crops
from bench.pipeline import apply_settings, results_sections, run_stages
from bench.results import write_results
from genlab import cli, paths
from genlab.report.markdown import md_table

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "bench" / "unlabelled"
PER_PHOTO, SIZE, SHORT_SIDE = 300, 32, 128


def crops(seed: int = 0) -> np.ndarray:
    """(600, 3, 32, 32) uint8 crops of scikit-learn's two sample photographs."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    rng = np.random.default_rng(seed)
    return np.stack([c for photo in load_sample_images().images
                     for c in random_crops(Image.fromarray(photo), PER_PHOTO, rng, SIZE, SHORT_SIDE)])


def write_flat_folder(folder: Path) -> int:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    x = crops()
    for k, img in enumerate(x):
        Image.fromarray(img.transpose(1, 2, 0)).save(folder / f"{k:04d}.png")
    return len(x)


def run_in(folder: Path, settings: list[str]) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    params = apply_settings(yaml.safe_load((ROOT / "params.yaml").read_text()), settings)
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return run_stages(folder)


def fids(folder: Path, models: list[str]) -> dict[str, dict]:
    read = lambda p: json.loads(Path(p).read_text())
    rows = {m: read(folder / paths.model_metrics(m)) for m in models}
    return {**rows, "real": read(folder / paths.REAL_METRICS)}


def spearman(a: list[float], b: list[float]) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b)[0])


def colour_checks(rows: dict[str, dict]) -> str:
    real = rows["real"]["fid"]
    ind = rows.get("independent", {}).get("fid")
    checks = [["every image model's fid is in self-supervised features",
               str(all(r.get("features") == "self_supervised" and "fid" in r for r in rows.values()))]]
    if ind is not None:
        checks.append(["independent fid / real fid (>= 5)", f"{ind / real:.1f}"])
        for m in ("vae", "gan"):
            if m in rows:
                checks.append([f"{m} fid < independent fid", f"{rows[m]['fid'] < ind} ({rows[m]['fid']:.4g} < {ind:.4g})"])
    return md_table(["check", "result"], checks, cell=str)


def digits_table(ssl: dict[str, dict], models: list[str]) -> str:
    committed = {m: json.loads((ROOT / paths.model_metrics(m)).read_text()) for m in models}
    rows = [[m, f"{committed[m]['fid']:.4g}", f"{ssl[m]['fid']:.4g} ± {ssl[m]['fid_stderr']:.2g}"] for m in models]
    rho = spearman([committed[m]["fid"] for m in models], [ssl[m]["fid"] for m in models])
    rows.append(["real", f"{json.loads((ROOT / paths.REAL_METRICS).read_text())['fid']:.4g}", f"{ssl['real']['fid']:.4g}"])
    return (md_table(["model", "fid, classifier features (committed)", "fid, self-supervised features"], rows, cell=str)
            + f"\nSpearman's rank correlation over the {len(models)} models: **{rho:.3f}**\n")


def main(args: argparse.Namespace) -> None:
    start = time.perf_counter()
    colour = HERE / "colour"
    images = colour / "images"
    n = write_flat_folder(images) if not images.exists() else sum(1 for _ in images.glob("*.png"))
    run = run_in(colour, ["data.source=imagefolder", "data.path=images", *args.set])
    models = yaml.safe_load((colour / "params.yaml").read_text())["models"]
    sections = [(f"A flat folder of {n} colour images: checks", colour_checks(fids(colour, models)))]
    sections += [(f"{title} (colour)", text) for title, text in results_sections(colour, run)]
    if not args.skip_digits:
        digits = HERE / "digits"
        run_digits = run_in(digits, ["evaluate.features=self_supervised", *args.set])
        sections.insert(1, ("The digits: FIDs in both feature spaces", digits_table(fids(digits, models), models)))
        sections += [("Wall time per stage (digits, self-supervised features)", results_sections(digits, run_digits)[1][1])]
    write_results(HERE / "results.md", "Unlabelled images benchmark (`make bench-unlabelled`)",
                  "python -m bench.unlabelled" + "".join(f" --set {s}" for s in args.set), sections,
                  time.perf_counter() - start, run["device"])
    print(f"results in {HERE / 'results.md'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], help="a param to change in both runs, section.key=value (repeatable)")
    parser.add_argument("--skip-digits", action="store_true", help="only the colour folder")
    cli.run(main, parser.parse_args())
