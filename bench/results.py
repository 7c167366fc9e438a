"""Each benchmark's committed record: bench/<name>/results.md, rewritten at the end of a
successful run (a title, the command, the date, the wall time, the machine, then the tables the
run printed), so a new measurement changes a results file, not the docs that link it."""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path

import torch

from genlab.io import atomic_file
from genlab.report.markdown import md_table


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux, else what `platform` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine(device: str = "cpu") -> str:
    """One line: CPU model, architecture, cores, torch version and threads, the device."""
    where = device
    if device.startswith("cuda") and torch.cuda.is_available():
        where = f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    return (f"{cpu_model()} ({platform.machine()}), {os.cpu_count()} cores; "
            f"torch {torch.__version__}, {torch.get_num_threads()} threads; device {where}")


def duration(seconds: float) -> str:
    """``2316.4`` -> ``38 min 36 s (2,316 s)``; under a minute, ``12.3 s``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(round(seconds), 60)
    h, m = divmod(m, 60)
    text = f"{h} h {m} min {s} s" if h else f"{m} min {s} s"
    return f"{text} ({round(seconds):,} s)"


def key_value_table(values: dict) -> str:
    """A two-column markdown table of ``values`` (floats with three decimals)."""
    shown = lambda v: f"{v:,.3f}" if isinstance(v, float) else str(v)
    return md_table(["key", "value"], [[f"`{k}`", shown(v)] for k, v in values.items()], cell=str)


def stage_table(run: dict) -> str:
    """The wall time of each stage of a `bench.pipeline.run_stages` run, and their total."""
    rows = [[name, f"{s:,.1f}"] for name, s in run["seconds"].items()]
    return md_table(["stage", "seconds"], rows + [["total", f"{run['total_seconds']:,.1f}"]], cell=str)


def write_results(path: str | Path, title: str, command: str, sections: list[tuple[str, str]],
                  seconds: float, device: str = "cpu", now: datetime.datetime | None = None) -> str:
    """Write ``path`` (atomically): ``# title``, the command, date, wall time and machine, then one
    ``## heading`` and its text (a table) per entry of ``sections``; returns the text."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    lines = [
        f"# {title}", "",
        f"Written by `{command}` at the end of a successful run; rerun it to replace this file.", "",
        f"- date: {now.strftime('%Y-%m-%d %H:%M %Z').strip()}",
        f"- wall time: {duration(seconds)}",
        f"- machine: {machine(device)}",
    ]
    for heading, body in sections:
        lines += ["", f"## {heading}", "", body.rstrip("\n")]
    text = "\n".join(lines) + "\n"
    with atomic_file(path) as tmp:
        tmp.write_text(text)
    return text
