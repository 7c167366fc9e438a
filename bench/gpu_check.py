"""`make gpu-check`: every stage on CUDA, with each model's metrics and the timings.

Runs, in a scratch folder (``--work``, default /tmp/genlab-gpu-check), the stages in-process as
`dvc repro` would (bench/pipeline.py), each on ``--device`` (default cuda):

1. the default digits pipeline (params.yaml, all its models, and `diffusion`) at ``precision: highest``, then
   again at ``precision: high`` (TF32), with each model's nll and FID beside the committed CPU
   metrics (metrics/models/*.json) and the differences;
2. the MNIST benchmark config (bench/mnist/params.yaml: every model in it, the classifier,
   evaluation), end to end and timed (target: at most 5 minutes on one H200, the
   VAE's test nll within 0.3 nats of the CPU run's 83.92); ``--skip-mnist`` leaves it out;
3. `make bench`'s throughput figures on the device (``bench.run --device``).

PyTorch's deterministic mode is on throughout (genlab.runtime), so an op without a
deterministic CUDA kernel raises here rather than in production. Writes ``<work>/gpu_check.json``
(and a copy under ``--out``) and prints a table. ``--quick`` shrinks every config to a few
steps (on the CPU too: the test suite runs it that way to keep the script working).

On the lent GPU machine, which lacks pydantic and DVCLive and the ../shared folder, install the
cp312 wheels and carry MNIST (docs/gpu-and-clusters.md), then:
``python3 -m bench.gpu_check --mnist-path .mnist --out $OUT``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import yaml

from bench.pipeline import run_stages
from genlab.io import write_json
from genlab.report.markdown import md_table

ROOT = Path(__file__).resolve().parents[1]

MNIST_CPU_NLL = 83.92  # bench/mnist/params.yaml on this project's 2-core CPU (docs/benchmarks.md, "MNIST")
QUICK = {
    "vae": {"epochs": 2, "patience": 2, "hidden": [32], "latent_dim": 2, "train_k": 1},
    "gan": {"epochs": 2, "eval_every": 1, "n_eval": 20, "hidden": [16], "latent_dim": 4},
    "mixture": {"max_iter": 3},
    "pixelcnn": {"epochs": 1, "layers": 2, "width": 8},
    "flow": {"epochs": 1, "width": 8, "depth": 1, "checker_steps": 1, "eval_draws": 2},
    "diffusion": {"max_steps": 3, "width": 8, "channel_mult": [1, 1], "timesteps": 20, "sample_steps": 4, "val_draws": 16},
    "classifier": {"epochs": 2, "hidden": [32], "feature_dim": 8},
    "generate": {"n_samples": 40, "grid_size": 16, "n_reconstructions": 4, "interpolation_steps": 3},
    "evaluate": {"iw_samples": 10, "n_samples": 30, "kid_subsets": 5},
    "completion": {"n_images": 30, "steps": 5},
}


def config(source: Path, device: str, precision: str, quick: bool, data_path: Path | None = None,
           extra_models: tuple[str, ...] = ()) -> dict:
    params = yaml.safe_load(source.read_text())
    params.update(device=device, precision=precision)
    params["models"] = list(params.get("models", [])) + [m for m in extra_models if m not in params.get("models", [])]
    if data_path is not None:
        params.setdefault("data", {})["path"] = str(data_path)
    if quick:
        for section, values in QUICK.items():
            if section in params.get("models", []) or section in ("classifier", "generate", "evaluate", "completion"):
                params.setdefault(section, {}).update(values)
        if params.get("data", {}).get("source") == "idx":  # a small slice of MNIST is not an option: use digits
            params["data"] = {"source": "digits", "path": str(ROOT / "data" / "raw")}
    return params


def pipeline(folder: Path, params: dict) -> dict:
    """The stages in ``folder`` with ``params``: {"seconds": ..., "metrics": {model: {...}}}."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    here = os.getcwd()
    try:
        run = run_stages(folder)
    finally:
        os.chdir(here)
    metrics = {m: json.loads((folder / "metrics/models" / f"{m}.json").read_text()) for m in params["models"]}
    return {"seconds": run["seconds"], "total_seconds": run["total_seconds"], "metrics": metrics}


def committed_cpu_metrics(models: list[str]) -> dict:
    out = {}
    for m in models:
        path = ROOT / "metrics/models" / f"{m}.json"
        if path.exists():
            out[m] = json.loads(path.read_text())
    return out


def compare(runs: dict[str, dict], keys=("nll", "fid")) -> list[list[str]]:
    """Rows: model, then each run's value of each key."""
    models = list(next(iter(runs.values())).keys())
    rows = []
    for m in models:
        row = [m]
        for key in keys:
            for metrics in runs.values():
                v = metrics.get(m, {}).get(key)
                row.append("-" if v is None else f"{v:.3f}")
        rows.append(row)
    return rows


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog="\n".join(__doc__.splitlines()[1:]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu", "auto"])
    p.add_argument("--work", default="/tmp/genlab-gpu-check", help="scratch folder (default: %(default)s)")
    p.add_argument("--out", default=None, help="also copy gpu_check.json here")
    p.add_argument("--quick", action="store_true", help="a few steps of everything: checks the script, measures nothing")
    p.add_argument("--skip-mnist", action="store_true", help="leave out the MNIST benchmark config")
    p.add_argument("--mnist-path", default=None,
                   help="the MNIST IDX folder (default: bench/mnist/params.yaml's, ../shared/data/mnist)")
    args = p.parse_args(argv)

    import torch

    work = Path(args.work)
    started = time.perf_counter()
    info = {"torch": torch.__version__, "device": args.device}
    if args.device != "cpu" and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["capability"] = ".".join(map(str, torch.cuda.get_device_capability(0)))
    print(json.dumps(info), flush=True)
    results: dict = {"info": info}

    digits = {}
    for precision in ("highest", "high"):
        params = config(ROOT / "params.yaml", args.device, precision, args.quick, ROOT / "data" / "raw", ("diffusion",))
        digits[precision] = pipeline(work / f"digits-{precision}", params)
        print(f"digits, precision {precision}: {digits[precision]['total_seconds']:.1f} s", flush=True)
    results["digits"] = digits
    cpu = committed_cpu_metrics(list(digits["highest"]["metrics"]))
    runs = {"cpu (committed)": cpu, "highest": digits["highest"]["metrics"], "high (TF32)": digits["high"]["metrics"]}
    header = ["model"] + [f"{k} {name}" for k in ("nll", "fid") for name in runs]
    results["digits_table"] = md_table(header, compare(runs), cell=str).rstrip("\n")
    print(results["digits_table"], flush=True)

    if not args.skip_mnist:
        source = ROOT / "bench/mnist/params.yaml"
        mnist_path = Path(args.mnist_path).resolve() if args.mnist_path else \
            (source.parent / yaml.safe_load(source.read_text())["data"]["path"]).resolve()
        params = config(source, args.device, "highest", args.quick, mnist_path)
        mnist = pipeline(work / "mnist", params)
        results["mnist"] = mnist
        vae = mnist["metrics"].get("vae", {}).get("nll")
        print(f"MNIST config: {mnist['total_seconds']:.1f} s end to end; VAE test nll {vae} (CPU {MNIST_CPU_NLL})", flush=True)
        print(json.dumps(mnist["seconds"]), flush=True)

    from bench.run import run

    sizes = dict(gemm_n=256, steps=3, repeats=1, n_images=512, iwae_images=4, k=10) if args.quick else \
        dict(gemm_n=8192, steps=200, n_images=60000, iwae_images=512)
    results["throughput"] = {prec: run(**sizes, repro=False, device=args.device, precision=prec) for prec in ("highest", "high")}
    for prec, r in results["throughput"].items():
        print(f"bench ({prec}): gemm {r['gemm_gflops']:.0f} GFLOP/s; train {r['train_images_per_s']:.0f} images/s "
              f"({r['train_fraction_of_peak']:.3f} of peak); IWAE {r['iwae_samples_per_s']:.0f} samples/s "
              f"({r['iwae_fraction_of_peak']:.3f} of peak)", flush=True)
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    write_json(work / "gpu_check.json", results)
    if args.out:
        write_json(Path(args.out) / "gpu_check.json", results)
    print(f"gpu-check: {results['total_seconds']:.0f} s in all; {work / 'gpu_check.json'}", flush=True)
    return results


if __name__ == "__main__":
    main()
