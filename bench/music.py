"""`make bench-music`: the pipeline's stages on the JSB Chorales (quarter-note frames), read in
place from ../shared/data, with the benchmark's own split (229 train, 76 validation, 77 test
chorales; Boulanger-Lewandowski et al. 2012) and bench/music/params.yaml, in bench/music/,
apart from the committed digits results.

Writes bench/music/metrics/ (models/<model>.json, real.json, summary.md), bench/music/samples/
(MIDI, WAV, piano rolls), bench/music/run.json (wall time per stage, machine) and
bench/music/sweep.md: the chord chain's validation nll over orders, the sweep its order was
chosen by; then the committed record bench/music/results.md (those tables, the machine, the
date and the wall time).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.pipeline import run_and_sweep, write_table
from genlab import cli
from genlab.config.params import load_params
from genlab.data.prepare import load_prepared
from genlab.models import registry
from genlab.models.base import music_summary

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "bench" / "music"
ORDERS = range(1, 13)  # markov.order: chords of history


def sweep(folder: Path, params_file: str) -> str:
    """Validation (and, for the record, test) nats per frame of the chord chain over orders, on the
    prepared pieces in ``folder``; the best on validation is marked."""
    data = load_prepared(folder / "data" / "prepared")
    base = load_params(folder / params_file, models=["markov"]).markov
    rows = []
    for order in ORDERS:
        model = registry.build("markov", base.model_copy(update={"order": order}), data.meta)
        model.fit(data.train.model_input(), data.val.model_input())
        v, t = (music_summary(model.frame_log_probs(*s.model_input()), s.lengths)["nll"] for s in (data.val, data.test))
        rows.append((order, v, t))
    best = min(rows, key=lambda r: r[1])
    header = ["markov.order", "val nll (nats/frame)", "test nll (nats/frame)"]
    cells = [[str(o), f"{v:.4f}{' (best)' if o == best[0] else ''}", f"{t:.4f}"] for o, v, t in rows]
    return write_table(folder / "sweep.md", header, cells)


def main(args: argparse.Namespace) -> None:
    run_and_sweep(HERE, "music", args.params, "Music benchmark: JSB Chorales (`make bench-music`)", lambda: sweep(HERE, args.params),
                  "the chord chain's order")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml", help="params file inside bench/music/")
    cli.run(main, parser.parse_args())
