"""`make bench-text`: the pipeline's stages on tiny-shakespeare, read in place from ../shared/data,
with the split of the text benchmark (train the first 90 %, validation the next 5 %, test the
last 5 %) and bench/text/params.yaml, in bench/text/, apart from the committed digits results.

Writes bench/text/metrics/ (models/<model>.json, real.json, summary.md), bench/text/samples/,
bench/text/run.json (wall time per stage, machine), bench/text/sweep.md: the Markov chain's
validation nll over orders and discounts, the sweep its defaults were chosen by;
bench/text/parts.md: where the ar mixes in a chain (ar.ngram), its network alone, its chain alone
and the mixture on the validation and test text; then the committed record
bench/text/results.md (those tables, the machine, the date and the wall time).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from bench.pipeline import run_and_sweep, write_table
from genlab import cli, paths
from genlab.data.prepare import load_prepared
from genlab.models import registry
from genlab.models._ngram import NGram, fit_ngram

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "bench" / "text"
ORDERS = range(2, 11)  # markov.order: characters of history
DISCOUNTS = (None, 0.7, 0.8, 0.9)


def sweep(folder: Path) -> str:
    """Validation (and, for the record, test) nats per character of the Kneser-Ney chain over
    orders and discounts, on the prepared text in ``folder``; the best on validation is marked."""
    data = load_prepared(folder / "data" / "prepared")
    train, val, test = (s.x.long().numpy() for s in (data.train, data.val, data.test))
    V = data.n_levels
    rows = []
    for order in ORDERS:
        for discount in DISCOUNTS if order in (5, 6, 7, 8) else (None,):
            args = dict(vocab_size=V, order=order + 1, method="kneser_ney", discount=discount)
            chain = NGram(fit_ngram(train, **args), **args)
            v = -chain.log_prob_stream(val, train[-order:]).mean()
            t = -chain.log_prob_stream(test, val[-order:]).mean()
            rows.append((order, "estimated" if discount is None else f"{discount:g}", v, t))
    best = min(rows, key=lambda r: r[2])
    header = ["markov.order", "discount", "val nll (nats/char)", "test nll (nats/char)"]
    cells = [[str(o), d, f"{v:.4f}{' (best)' if (o, d) == best[:2] else ''}", f"{t:.4f}"] for o, d, v, t in rows]
    return write_table(folder / "sweep.md", header, cells)


@torch.no_grad()
def parts(folder: Path) -> str:
    """Nats per character of the trained ar's network alone, its chain alone and their mixture
    (what the pipeline scores) on the validation text (the weight was fit there) and the test
    text, each after the text before it, as the evaluate stage scores; one line where the ar
    mixes in no chain."""
    data = load_prepared(folder / "data" / "prepared")
    _, model = registry.load(folder / paths.model_dir("ar") / paths.CHECKPOINT_FILE)
    if not model.mixed:
        return "The ar mixes in no chain (ar.ngram: 0).\n"
    train, val, test = (s.x.long() for s in (data.train, data.val, data.test))
    h = model.history
    before_val, before_test = train[len(train) - h :], torch.cat([train, val])[-h:]
    w = model.chain_weight.item()
    scorers = [("the network alone", model.net_log_prob_stream), (f"the chain alone (order {model.params.ngram})",
               model.chain.log_prob_stream), (f"the mixture, w = {w:.4f} (the ar's metrics)", model.log_prob_stream)]
    cells = [[name, f"{-score(val, before_val).mean().item():.4f}", f"{-score(test, before_test).mean().item():.4f}"]
             for name, score in scorers]
    return write_table(folder / "parts.md", ["ar", "val nll (nats/char)", "test nll (nats/char)"], cells)


def main(args: argparse.Namespace) -> None:
    run_and_sweep(HERE, "text", args.params, "Text benchmark: tiny-shakespeare (`make bench-text`)", lambda: sweep(HERE),
                  "the Markov chain's order and discount",
                  more=[("The ar's network and chain (ar.ngram), parts.md", lambda: parts(HERE))])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml", help="params file inside bench/text/")
    cli.run(main, parser.parse_args())
