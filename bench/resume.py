"""`make bench-resume`: a training killed halfway (SIGKILL) and resumed, against the same training uninterrupted.

Runs the train stage (`python -m stages.train`) three times in bench/resume/, on the prepared
data of a benchmark config (default: bench/mnist, whose `make bench-mnist` must have run once):
uninterrupted (T seconds); again, killed at T/2; then once more, which resumes from the saved
state (R seconds). Writes bench/resume/result.json: T, when it was killed, the epoch it resumed
from, R, R/T and whether the resumed run's outputs (checkpoint, train.json, DVCLive curves) are
byte-identical to the uninterrupted run's; then the committed record bench/resume/results.md
(that table, the machine, the date and the wall time).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from bench.results import key_value_table, write_results
from genlab.io import write_json

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "bench" / "resume"


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def clear(folder: Path) -> None:
    """Empty ``folder`` (made if missing) for a fresh start, but for its committed results.md."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in folder.iterdir():
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.name != "results.md":
            path.unlink()


def train(model: str, kill_after: float | None = None) -> tuple[float, str]:
    """One run of the train stage in HERE: (seconds, its output); killed after ``kill_after`` s."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "stages.train", "--model", model], cwd=HERE, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if kill_after is not None:
        try:
            out, _ = proc.communicate(timeout=kill_after)
            raise SystemExit(f"bench-resume: the run ended before the kill at {kill_after:.0f} s:\n{out}")
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate()
    seconds = time.perf_counter() - start
    if kill_after is None and proc.returncode != 0:
        raise SystemExit(f"bench-resume: the train stage failed:\n{out}")
    return seconds, out


def main(args: argparse.Namespace) -> None:
    start = time.perf_counter()
    source = ROOT / "bench" / args.config
    prepared = source / "data" / "prepared"
    if not (prepared / "meta.json").exists():
        raise SystemExit(f"bench-resume: {prepared} is missing; run `make bench-{args.config}` first")
    clear(HERE)
    (HERE / "data").mkdir(parents=True)
    (HERE / "data" / "prepared").symlink_to(prepared)
    params = yaml.safe_load((source / "params.yaml").read_text())
    params["device"] = "cpu"
    params[args.model] = {**params.get(args.model, {}), "epochs": args.epochs, "patience": args.epochs}
    (HERE / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = HERE / "models" / args.model

    whole, _ = train(args.model)
    expected = digest(out)
    shutil.rmtree(out)
    _, _ = train(args.model, kill_after=whole / 2)
    state = HERE / "models" / f".{args.model}.resume.pt"
    if not state.exists():
        raise SystemExit("bench-resume: the killed run saved no state")
    resumed, log = train(args.model)
    found = re.search(r"resuming from epoch (\d+)", log)
    result = {
        "config": args.config,
        "model": args.model,
        "epochs": args.epochs,
        "uninterrupted_seconds": round(whole, 1),
        "killed_after_seconds": round(whole / 2, 1),
        "resumed_from_epoch": int(found.group(1)) if found else None,
        "resumed_seconds": round(resumed, 1),
        "resumed_fraction": round(resumed / whole, 3),
        "byte_identical": digest(out) == expected,
        "state_deleted": not state.exists(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
    }
    write_json(HERE / "result.json", result)
    print("\n".join(f"{k}: {v}" for k, v in result.items()))
    write_results(HERE / "results.md", "A killed training, resumed (`make bench-resume`)",
                  f"python -m bench.resume --config {args.config} --model {args.model} --epochs {args.epochs}",
                  [("Result (result.json)", key_value_table(result))], time.perf_counter() - start)
    print(f"results in {HERE / 'results.md'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="mnist", help="the benchmark whose prepared data and params to use (bench/<config>/)")
    parser.add_argument("--model", default="vae")
    parser.add_argument("--epochs", type=int, default=20, help="epochs of the timed training (all run: patience = epochs)")
    main(parser.parse_args())
