"""`make bench-music`: the pipeline's stages on the JSB Chorales (quarter-note frames), read in
place from ../shared/data, with the benchmark's own split (229 train, 76 validation, 77 test
chorales; Boulanger-Lewandowski et al. 2012) and bench/music/params.yaml, in bench/music/,
apart from the committed digits results.

Writes bench/music/metrics/ (models/<model>.json, real.json, summary.md), bench/music/samples/
(MIDI, WAV, piano rolls), bench/music/run.json (wall time per stage, machine) and
bench/music/sweep.md: the chord chain's validation nll over orders, the sweep its order was
chosen by; then `ar` trained with each output head (`ar.output`), the comparison its head was
chosen by (validation nll), and with its own head under training seeds 1 and 2; then the committed record bench/music/results.md (those tables,
the measured models beside the published ones with each one's convention, the machine, the date
and the wall time).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench.pipeline import run_and_sweep, write_table
from genlab import cli, runtime
from genlab.config.params import load_params
from genlab.data.prepare import load_prepared
from genlab.models import registry
from genlab.models.base import music_summary
from genlab.report.markdown import md_table
from genlab.training.loop import train_model

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "bench" / "music"
ORDERS = range(1, 13)  # markov.order: chords of history
OUTPUTS = ("chords", "keys", "both")  # ar.output
SEEDS = (0, 1, 2)  # ar.seed: the chosen output's run-to-run spread
# Test nats per frame on the quarter-note JSB Chorales as published (quoted in ../shared/docs/evaluation.md).
PUBLISHED = [
    ("RNN-NADE", "≈ 5.56 (later papers quote 5.19)", "Boulanger-Lewandowski et al. 2012, as quoted", "all 88 keys, every frame"),
    ("RNN-RBM", "≈ 6.27", "Boulanger-Lewandowski et al. 2012, as quoted", "all 88 keys, every frame"),
    ("Deep Markov Model", "6.93", "Krishnan et al. 2017", "a variational bound, not an exact nll"),
    ("TCN / GRU / LSTM / RNN", "8.10 / 8.43 / 8.45 / 8.91", "Bai et al. 2018, as quoted", "skips each piece's first frame (about 0.03 nats)"),
]


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


def heads(folder: Path, params_file: str, seeds: tuple[int, ...] = SEEDS) -> str:
    """`ar` as the params file has it, trained once with each ``ar.output`` (the choice: validation
    nll), then with its own output under the other training ``seeds`` (the run-to-run noise a
    difference must beat): validation and test nats per frame, and the training time."""
    data = load_prepared(folder / "data" / "prepared")
    base = load_params(folder / params_file, models=["ar"]).ar
    runs = [(o, base.seed) for o in OUTPUTS] + [(base.output, s) for s in seeds if s != base.seed]
    rows = []
    for output, seed in runs:
        runtime.setup("cpu", seed)  # as the train stage seeds before it builds: the params' own row is its model
        model = registry.build("ar", base.model_copy(update={"output": output, "seed": seed}), data.meta)
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            train_model(model, data.train.model_input(), data.val.model_input(), live_dir=Path(tmp) / "live", progress=False)
        seconds = time.perf_counter() - start
        model.eval()
        v, t = (music_summary(model.frame_log_probs(*s.model_input()), s.lengths)["nll"] for s in (data.val, data.test))
        rows.append((output, seed, v, t, seconds))
    best = min(rows[: len(OUTPUTS)], key=lambda r: r[2])
    header = ["ar.output", "seed", "val nll (nats/frame)", "test nll (nats/frame)", "training"]
    return md_table(header, [[o, str(seed), f"{v:.4f}{' (best)' if (o, seed) == best[:2] else ''}", f"{t:.4f}", f"{s:.0f} s"]
                             for o, seed, v, t, s in rows], cell=str)


def published(folder: Path) -> str:
    """The models measured in this run beside the published results, each with its convention."""
    rows = []
    for path in sorted((folder / "metrics" / "models").glob("*.json"), key=lambda p: json.loads(p.read_text())["nll"]):
        m = json.loads(path.read_text())
        rows.append([f"genlab `{path.stem}`", f"{m['nll']:.3f} ± {m['nll_stderr']:.3f}", "measured in this run",
                     "all 88 keys, every test frame, each piece's first frame included"])
    rows += [list(r) for r in PUBLISHED]
    return md_table(["model", "test nll (nats/frame)", "source", "convention"], rows, cell=str)



def main(args: argparse.Namespace) -> None:
    run_and_sweep(HERE, "music", args.params, "Music benchmark: JSB Chorales (`make bench-music`)", lambda: sweep(HERE, args.params),
                  "the chord chain's order",
                  more=[("The `ar` output head on validation", lambda: heads(HERE, args.params)),
                        ("Against published results", lambda: published(HERE))])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml", help="params file inside bench/music/")
    cli.run(main, parser.parse_args())
