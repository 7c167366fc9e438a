"""`make bench-completion`: how far the numbers of image completion can be trusted, on the digits.

Reads the trained models of this repository's pipeline (run `make repro` or `dvc repro` first; the
committed metrics/models/<model>.json are what it reports beside) and measures, on the same test
images and masks as `evaluate` (`completion:` of params.yaml):

1. **The completion table** of the committed metrics: `complete_nll_<mask>` (exact, or the VAE's
   estimate) and `complete_accuracy_<mask>`, with the real row's ceiling and masked-input floor.
2. **The VAE's estimate**: `complete_nll` under `bottom` for k = 1,000 and 10,000
   importance samples, proposals built from completions of 50, 200 and 1,000 chain steps, two
   seeds each: how much the estimate moves with what is left to chance and to its settings.
3. **Completion by iteration** (the VAE's Metropolis-within-Gibbs chain, the GAN's latent
   optimisation): `complete_accuracy_bottom` after 0, 50, 200 and 1,000 steps.

Writes bench/completion/results.md.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from bench.results import write_results
from genlab import cli, paths
from genlab.config.params import load_params
from genlab.data.prepare import load_prepared
from genlab.evaluation import completion as C
from genlab.evaluation import features
from genlab.models import registry
from genlab.report.markdown import md_table

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "completion" / "results.md"
STEPS, KS, SEEDS = (50, 200, 1000), (1000, 10000), (0, 1)
ITERATIONS = (0, 50, 200, 1000)


def committed_table(models: list[str], masks: list[str]) -> str:
    rows = []
    for name in [*models, "real"]:
        path = Path(paths.model_metrics(name)) if name != "real" else Path(paths.REAL_METRICS)
        m = json.loads(path.read_text())
        cells = [name]
        for mask in masks:
            nll = m.get(f"complete_nll_{mask}")
            se = m.get(f"complete_nll_{mask}_stderr")
            cells.append("" if nll is None else f"{nll:.2f} ± {se:.2f}")
            acc = m.get(f"complete_accuracy_{mask}")
            floor = m.get(f"masked_accuracy_{mask}")
            cells.append("" if acc is None else f"{acc:.3f}" + ("" if floor is None else f" (masked {floor:.3f})"))
        cells.append(m.get("complete_nll_method", ""))
        rows.append(cells)
    header = ["model"] + [f"{k} {mask}" for mask in masks for k in ("complete_nll", "complete_accuracy")] + ["complete_nll_method"]
    return md_table(header, rows, cell=str)


def estimate_table(vae, x: torch.Tensor, params) -> str:
    rows = []
    for mask in ("bottom",):
        hidden = C.hidden_mask(mask, vae.shape, len(x), params.completion.seed)
        for steps in STEPS:
            for k in KS:
                values = []
                for seed in SEEDS:
                    logp, _ = vae.completion_log_prob(x, hidden, k, torch.Generator().manual_seed(seed),
                                                      params.evaluate.batch_size, steps)
                    values.append(-logp.mean().item())
                rows.append([mask, str(steps), f"{k:,}", *(f"{v:.3f}" for v in values)])
                print(f"  vae {mask} steps {steps} k {k}: " + ", ".join(f"{v:.3f}" for v in values), flush=True)
    return md_table(["mask", "chain steps", "k", *(f"seed {s}" for s in SEEDS)], rows, cell=str)


def iteration_table(models: dict, x: torch.Tensor, y: torch.Tensor, classifier, params) -> str:
    hidden = C.hidden_mask("bottom", (x.shape[1], x.shape[2], x.shape[3]), len(x), params.completion.seed)
    rows = []
    for name, model in models.items():
        cells = [name]
        for steps in ITERATIONS:
            done = model.complete(x, hidden, torch.Generator().manual_seed(params.completion.seed), steps)
            cells.append(f"{classifier.accuracy(done, y):.3f}")
        rows.append(cells)
    return md_table(["model", *(f"{s} steps" for s in ITERATIONS)], rows, cell=str)


def main(args) -> None:
    start = time.perf_counter()
    params = load_params(ROOT / "params.yaml", models="all")
    data = load_prepared(paths.PREPARED)
    x = C.test_images(data, params.completion)
    y = data.test.y[: len(x)]
    classifier = features.load("classifier")
    trained = {name: registry.load(paths.checkpoint(name), "cpu")[1] for name in ("vae", "gan")}
    print("the VAE's estimate", flush=True)
    estimate = estimate_table(trained["vae"], x, params)
    print("completion by iteration", flush=True)
    iterations = iteration_table(trained, x, y, classifier, params)
    sections = [
        (f"The committed digits metrics ({len(x)} test images; nats of the hidden part per image ± standard error)",
         committed_table(params.models, list(params.completion.masks))),
        (f"The VAE's estimate of complete_nll (nats, mean over the {len(x)} images)", estimate),
        ("complete_accuracy_bottom by steps of the VAE's chain and the GAN's latent optimisation", iterations),
    ]
    text = write_results(RESULTS, "Image completion on the digits", "make bench-completion", sections,
                         time.perf_counter() - start)
    print(text)


if __name__ == "__main__":
    cli.run(main, cli.parser(__doc__).parse_args())
