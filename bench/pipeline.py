"""Run the pipeline's stages in-process in a folder (as `dvc repro` would, without DVC), timed."""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch
import yaml

from bench.results import duration, stage_table, write_results
from genlab import paths
from genlab.config.params import load_params
from genlab.io import atomic_file, write_json
from genlab.report.collect import read_tsv
from genlab.report.markdown import md_table
from genlab.runtime import resolve_device
from stages import classifier, evaluate, generate, preprocess, self_supervised, summary, train


def apply_settings(params: dict, settings: list[str]) -> dict:
    """``params`` (a params.yaml as a dict) with each ``section.key=value`` (or ``key=value``) of
    ``settings`` set, the value read as YAML, as `dvc exp run -S` does."""
    for setting in settings:
        name, value = setting.split("=", 1)
        section, _, key = name.partition(".")
        if key:
            params.setdefault(section, {})[key] = yaml.safe_load(value)
        else:
            params[section] = yaml.safe_load(value)
    return params


def run_stages(folder: Path, params_file: str = "params.yaml") -> dict:
    """Every stage of the pipeline for the models of ``params_file`` (relative to ``folder``),
    in DVC's order; writes ``folder/run.json`` (wall time per stage, machine) and returns it."""
    os.chdir(folder)
    params = load_params(params_file)
    ns = lambda **kw: argparse.Namespace(params=params_file, **kw)
    times = {}

    def timed(name, fn, **kw):
        t = time.perf_counter()
        fn(ns(**kw))
        times[name] = round(time.perf_counter() - t, 1)

    timed("preprocess", preprocess.main)
    timed("classifier", classifier.main)
    timed("self_supervised", self_supervised.main)
    for m in params.models:
        timed(f"train@{m}", train.main, model=m)
        timed(f"generate@{m}", generate.main, model=m)
        timed(f"evaluate@{m}", evaluate.main, model=m, real=False)
    timed("real", evaluate.main, model=None, real=True)
    timed("summary", summary.main)
    run = {
        "seconds": times,
        "total_seconds": round(sum(times.values()), 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}",
        "params": params_file,
        "device": resolve_device(params.device),
    }
    write_json(folder / "run.json", run)
    return run


def write_table(path: Path, header: list[str], rows: list[list[str]]) -> str:
    """A markdown table written to ``path`` (atomically); returns its text."""
    table = md_table(header, rows, cell=str)
    with atomic_file(path) as tmp:
        tmp.write_text(table)
    return table


def sampling_table(folder: Path, run: dict) -> str | None:
    """Samples per second of each model's generate stage: the draws it made (``generate.n_samples``
    with each of the model's samplers) over its wall time; None without a params file."""
    from genlab.models import registry

    try:
        params = yaml.safe_load((folder / run.get("params", "params.yaml")).read_text())
        n = int(params["generate"]["n_samples"])
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError):
        return None
    rows = []
    for stage, seconds in run["seconds"].items():
        if not stage.startswith("generate@") or seconds <= 0:
            continue
        model = stage.split("@", 1)[1]
        impls = registry.implementations(model) if model in registry.names() else {}
        samplers = max((len(c.samplers) for c in impls.values()), default=0) or 1
        rows.append([model, f"{n:,} x {samplers}", f"{seconds:,.1f}", f"{n * samplers / seconds:,.1f}"])
    return md_table(["model", "samples drawn (x samplers)", "seconds", "samples per second"], rows, cell=str) if rows else None


def val_curve(live_dir: Path) -> list[float]:
    """The validation loss after each epoch that DVCLive logged in ``live_dir`` (its one val/ curve)."""
    files = sorted((live_dir / "plots" / "metrics" / "val").glob("*.tsv"))
    return [value for _, value in read_tsv(files[0].read_bytes())[1]] if files else []


def training_table(folder: Path, run: dict) -> str | None:
    """For each model trained by gradient steps (``folder``/models/<model>/train.json with a
    validation loss): its epochs, the best epoch and validation loss (what the checkpoint is
    chosen by), the validation loss after the last epoch, its training dtype and seconds; None
    when no model was trained so."""
    rows = []
    for stage, seconds in run["seconds"].items():
        if not stage.startswith("train@"):
            continue
        model = stage.split("@", 1)[1]
        try:
            summary = json.loads((folder / paths.model_dir(model) / "train.json").read_text())
        except (OSError, ValueError):
            continue
        if summary.get("best_val_loss") is None:
            continue
        curve = val_curve(folder / paths.model_dir(model) / "live")
        rows.append([model, str(summary["epochs"]), str(summary["best_epoch"]), f"{summary['best_val_loss']:.4f}",
                     f"{curve[-1]:.4f}" if curve else "", str(summary.get("train_dtype", "")), f"{seconds:,.1f}"])
    header = ["model", "epochs", "best epoch", "best val loss", "last val loss", "train dtype", "seconds"]
    return md_table(header, rows, cell=str) if rows else None


def results_sections(folder: Path, run: dict) -> list[tuple[str, str]]:
    """A pipeline benchmark's tables for its results file: the summary stage's table
    (``folder``/metrics/summary.md, what it printed), the wall time of each stage, each gradient-
    trained model's validation (the checkpoint is chosen on it) and each model's samples per second."""
    sections = [("Metrics (metrics/summary.md)", (folder / paths.SUMMARY_MD).read_text()),
                ("Wall time per stage (run.json)", stage_table(run))]
    training = training_table(folder, run)
    if training:
        sections.append(("Training (models/<model>/train.json, validation loss per DVCLive)", training))
    sampling = sampling_table(folder, run)
    return sections + ([("Sampling speed (generate stages)", sampling)] if sampling else [])


def run_and_sweep(folder: Path, name: str, params_file: str, title: str, sweep, sweep_title: str, more=()) -> None:
    """A pipeline benchmark with a sweep (`make bench-text`, `make bench-music`): every stage, then
    ``sweep()`` (its table, also in ``folder``/sweep.md), then each (title, function) of ``more``
    (a table each, timed), then ``folder``/results.md with all of them."""
    start = time.perf_counter()
    run = run_stages(folder, params_file)
    print(f"bench-{name}: {run['total_seconds']:.0f} s; metrics in {folder / 'metrics'}")
    t = time.perf_counter()
    table = sweep()
    swept = time.perf_counter() - t
    print(table, end="")
    print(f"sweep: {swept:.0f} s; in {folder / 'sweep.md'}")
    sections = results_sections(folder, run) + [(f"Sweep of {sweep_title} (sweep.md, {duration(swept)})", table)]
    for more_title, make in more:
        t = time.perf_counter()
        table = make()
        print(table, end="")
        sections.append((f"{more_title} ({duration(time.perf_counter() - t)})", table))
    write_results(folder / "results.md", title, f"python -m bench.{name} --params {params_file}", sections,
                  time.perf_counter() - start, run["device"])
    print(f"results in {folder / 'results.md'}")
