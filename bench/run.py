"""genlab's speed, measured side by side in one process: `make bench` (python -m bench.run).

Everything is a ratio against something measured in the same run on the same machine, so
the numbers hold when the machine is noisy: the fp32 GEMM peak, genlab's own training step
(the library code the train stage runs) against the conventional PIL + ToTensor +
DataLoader loop with the same model, batch and optimiser, and the batched IWAE evaluation.
Each figure is the median of several repeats, timed in turns with the others after a warm-up
(a slow spell of the machine hits them all alike). Prints a table and writes it to
bench/results.md, the committed record (with the command, the machine, the date and the wall
time), and the figures to bench/results.json (not tracked). Nothing here is asserted by the
test suite.

``--device cuda`` measures the same on the GPU (`make bench DEVICE=cuda`): the peak is then the
GPU's fp32 GEMM at ``--precision`` (highest: IEEE float32; high: TF32), the data and the
model live on the GPU, and every timed function ends with a device synchronisation.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from bench.results import key_value_table, write_results
from genlab import runtime
from genlab.config.params import EvaluateParams
from genlab.io import write_json
from genlab.models.vae import VAE
from genlab.training.loop import default_step, make_adam

ROOT = Path(__file__).resolve().parents[1]
MNIST = ROOT.parent / "shared" / "data" / "mnist"


def synced(fn, device: torch.device):
    """``fn`` followed by a wait for the device, so that its wall time is the device's work too."""
    if device.type != "cuda":
        return fn

    def run():
        fn()
        torch.cuda.synchronize(device)

    return run


def interleaved(fns: dict, repeats: int, warmup: int = 1) -> dict:
    """Median wall time of each function, timed in turns (a, b, c, a, b, c, ...) after `warmup`
    untimed runs of each: a slow spell of a shared machine then hits every measurement alike
    instead of one of them, so the ratios between them hold."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: statistics.median(ts) for name, ts in times.items()}


def gemm(n: int, times: int = 4, device="cpu"):
    """`times` fp32 n x n matrix products, and their FLOP."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    out = torch.empty(n, n, device=device)

    def run():
        for _ in range(times):
            torch.mm(a, b, out=out)

    return run, times * 2 * n**3


def mnist_like(n: int) -> torch.Tensor:
    """Binarized MNIST training images if ../shared/data/mnist is there, else random binary ones."""
    path = MNIST / "train-images-idx3-ubyte.gz"
    if path.exists():
        from genlab.data.sources import read_idx

        x = torch.from_numpy(read_idx(path, 3)[:n].copy())[:, None]
        return (x >= 128).to(torch.uint8)
    return torch.randint(0, 2, (n, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def reference_vae() -> VAE:
    """The reference MLP VAE of pytorch/examples, 784-400-20, in genlab's VAE with Bernoulli pixels."""
    return VAE(VAE.Params(hidden=[400], latent_dim=20, train_k=1, batch_size=128, lr=1e-3), (1, 28, 28), 2)


def linear_macs(module: torch.nn.Module) -> int:
    return sum(m.in_features * m.out_features for m in module.modules() if isinstance(m, torch.nn.Linear))


def train_genlab(model: VAE, x: torch.Tensor, steps: int) -> callable:
    """`steps` training steps of genlab's loop body: in-memory uint8 batches, the shared step."""
    opts = [make_adam(model.parameters(), model.params)]
    gen = torch.Generator().manual_seed(0)
    bs = model.params.batch_size

    def run():
        model.train()
        order = torch.randperm(len(x), generator=gen).to(x.device)
        for i in range(steps):
            idx = order[(i * bs) % (len(x) - bs) :][:bs]
            default_step(model, (x[idx],), opts)

    return run


class PILDataset(torch.utils.data.Dataset):
    """torchvision's MNIST dataset, item for item: a uint8 tensor of images and one of targets;
    each item becomes a PIL image and goes through the transform (ToTensor)."""

    def __init__(self, x: torch.Tensor):
        from torchvision import transforms

        self.data = x[:, 0] * 255
        self.targets = torch.zeros(len(x), dtype=torch.int64)
        self.transform = transforms.ToTensor()

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index):
        from PIL import Image

        img, target = self.data[index], int(self.targets[index])
        img = Image.fromarray(img.numpy(), mode="L")
        return self.transform(img), target


def train_reference(model: VAE, x: torch.Tensor, steps: int) -> callable:
    """The conventional loop: DataLoader over PIL images (num_workers=0, as on a laptop), each
    batch copied to the model's device."""
    opt = make_adam(model.parameters(), model.params)
    loader = torch.utils.data.DataLoader(PILDataset(x.cpu()), batch_size=model.params.batch_size, shuffle=True, num_workers=0)
    device = next(model.parameters()).device

    def run():
        model.train()
        it = iter(loader)
        for _ in range(steps):
            images, _ = next(it)
            loss = model.loss(images.round().to(torch.uint8).to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    return run


def iwae(model: VAE, x: torch.Tensor, k: int, chunk: int) -> callable:
    params = EvaluateParams(iw_samples=k, batch_size=chunk)
    gen = torch.Generator(device=x.device).manual_seed(0)
    return lambda: model.likelihood_metrics(x, params, gen)


def repro_noop_seconds() -> float | None:
    """Wall time of `dvc repro` on the up-to-date pipeline (None if it is not up to date)."""
    dvc = Path(sys.executable).parent / "dvc"
    status = subprocess.run([dvc, "status"], cwd=ROOT, capture_output=True, text=True)
    if "up to date" not in status.stdout:
        return None
    t = time.perf_counter()
    subprocess.run([dvc, "repro"], cwd=ROOT, capture_output=True, check=True)
    return time.perf_counter() - t


def run(gemm_n=2048, steps=60, repeats=7, n_images=12800, iwae_images=64, k=1000, chunk=4, repro=True,
        device="cpu", precision="highest") -> dict:
    device = runtime.setup(device, 0, precision)  # what every stage does first: seeds, deterministic kernels
    threads = torch.get_num_threads()
    x = mnist_like(n_images).to(device)

    model = reference_vae().to(device)
    fwd_macs = linear_macs(model.encoder) + linear_macs(model.decoder)
    step_flop = 3 * 2 * fwd_macs  # a training step: three times the forward pass
    decoder_flop = 2 * linear_macs(model.decoder)
    bs = model.params.batch_size
    evaluated = reference_vae().to(device)  # the IWAE evaluation runs on a model in eval mode
    evaluated.eval()
    gemm_run, gemm_flop = gemm(gemm_n, device=device)
    fns = {
        "gemm": gemm_run,
        "train": train_genlab(model, x, steps),
        "reference": train_reference(reference_vae().to(device), x, steps),
        "iwae": iwae(evaluated, x[:iwae_images], k, chunk),
    }
    t = interleaved({name: synced(fn, device) for name, fn in fns.items()}, repeats)
    peak = gemm_flop / t["gemm"] / 1e9
    train_ips, ref_ips = steps * bs / t["train"], steps * bs / t["reference"]
    iwae_sps = iwae_images * k / t["iwae"]

    results = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "precision": precision if device.type == "cuda" else "highest (cpu)",
        "threads": threads,
        "gemm_gflops": peak,
        "train_images_per_s": train_ips,
        "train_fraction_of_peak": train_ips * step_flop / 1e9 / peak,
        "reference_images_per_s": ref_ips,
        "speedup_vs_reference": train_ips / ref_ips,
        "iwae_samples_per_s": iwae_sps,
        "iwae_fraction_of_peak": iwae_sps * decoder_flop / 1e9 / peak,
        "train_step_mflop_per_image": step_flop / 1e6,
        "iwae_decoder_mflop_per_sample": decoder_flop / 1e6,
        "repro_noop_s": repro_noop_seconds() if repro and device.type == "cpu" else None,
        "data": "binarized MNIST" if (MNIST / "train-images-idx3-ubyte.gz").exists() else "random binary 28x28",
    }
    return results


def table(results: dict) -> str:
    width = max(map(len, results))
    lines = []
    for key, value in results.items():
        shown = f"{value:,.3f}" if isinstance(value, float) else str(value)
        lines.append(f"{key:<{width}}  {shown}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "bench" / "results.json"))
    p.add_argument("--results", help="the results file to write (default: bench/results.md; with --quick, none)")
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks that the code runs, measures nothing")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"], help="where to measure (default: %(default)s)")
    p.add_argument("--precision", default="highest", choices=["highest", "high"], help="CUDA fp32 matmuls: IEEE or TF32")
    args = p.parse_args(argv)
    start = time.perf_counter()
    sizes = dict(gemm_n=256, steps=3, repeats=1, n_images=512, iwae_images=4, k=10, repro=False) if args.quick else {}
    if not args.quick and args.device != "cpu":
        sizes = dict(gemm_n=8192, steps=200, n_images=60000, iwae_images=512)  # enough work to fill a GPU
    results = run(**sizes, device=args.device, precision=args.precision)
    write_json(args.out, results)
    print(table(results))
    path = args.results or (None if args.quick else ROOT / "bench" / "results.md")
    if path is not None:
        command = " ".join(["python -m bench.run", *(["--quick"] if args.quick else []),
                            f"--device {args.device}", f"--precision {args.precision}"])
        device = "cuda" if results["device"] != "cpu" else "cpu"
        write_results(path, "Speed (`make bench`)", command, [("Figures (bench/results.json)", key_value_table(results))],
                      time.perf_counter() - start, device)
        print(f"results in {path}")
    return results


if __name__ == "__main__":
    main()
