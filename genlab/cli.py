"""What every stage script shares: argument parsing, one-line errors, and tidying up after killed runs."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator

from genlab import paths
from genlab.errors import GenlabError
from genlab.io import tidy, write_failure

# the folders that hold the pipeline's outputs, and so the leftovers of killed runs beside them
OUTPUT_FOLDERS = tuple(sorted({
    str(PurePosixPath(output).parent)
    for output in (paths.PREPARED, paths.CLASSIFIER_DIR, paths.CLASSIFIER_METRICS, paths.model_dir("m"),
                   paths.samples_dir("m"), paths.model_metrics("m"), paths.REAL_METRICS, paths.SUMMARY_CSV,
                   paths.SUMMARY_MD)
}))  # data, metrics, metrics/models, models, samples


def parser(doc: str, model_arg: bool = False) -> argparse.ArgumentParser:
    """An argument parser whose --help is the stage's docstring."""
    first, _, rest = (doc or "").strip().partition("\n")
    p = argparse.ArgumentParser(
        description=first, epilog=rest.strip() or None, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--params", default="params.yaml", help="the params file (default: %(default)s)")
    if model_arg:
        add_model_arg(p, required=True)
    return p


def add_model_arg(p, required: bool = True) -> None:
    from genlab.models import registry  # the model names, found without importing any model

    p.add_argument("--model", required=required, choices=registry.names(), help="which model of the pipeline")


def running_marker(root: str = ".") -> Path:
    """An empty file that says this process runs a stage (``data/.running-<pid>.tmp``), deleted
    when it ends. A run killed before its end leaves it: DVC, seeing the folder changed, runs
    the tidy stage, which deletes it along with whatever else the run left, even an empty
    temporary folder (which DVC would not see) beside an output that it restored."""
    return Path(root) / PurePosixPath(paths.PREPARED).parent / f".running-{os.getpid()}.tmp"


def tidy_outputs(root: str = ".") -> None:
    """Delete what killed runs left beside outputs that are in place again (``genlab.io.tidy``),
    and the running markers of runs that ended without deleting theirs."""
    own = running_marker(root)
    for marker in own.parent.glob(".running-*.tmp"):
        if marker != own:
            marker.unlink(missing_ok=True)
    tidy(root, OUTPUT_FOLDERS)


def run(main: Callable[[argparse.Namespace], None], args: argparse.Namespace) -> None:
    """Run a stage; an expected failure prints one line on stderr and exits 1: a ``GenlabError``,
    a full or read-only disk, memory running out; Ctrl-C exits 130 with one line.

    First the output folders are tidied (``tidy_outputs``): a stage that DVC restores from its
    run-cache never runs its code, so every stage that does run clears what killed runs left
    beside outputs that are in place (and the ``tidy`` stage does when no other runs); while
    the stage runs, its ``running_marker`` is there. Not in torchrun's workers: the process that
    started them has done both, and they may be writing."""
    marker = None
    try:
        with one_line_errors("the outputs of the stage are as they were before it started"):
            if not ("LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ):  # genlab.training.distributed.in_worker
                tidy_outputs()
                marker = running_marker()
                if marker.parent.is_dir():  # in a pipeline's repository (data/ holds its raw-data placeholder)
                    marker.touch()
                else:  # elsewhere (a stage run by hand in another folder) nothing is written
                    marker = None
            main(args)
    finally:
        if marker is not None:
            marker.unlink(missing_ok=True)


@contextlib.contextmanager
def one_line_errors(on_interrupt: str) -> Iterator[None]:
    """An expected failure in the block prints one line on stderr and exits 1: a ``GenlabError``,
    a full or read-only disk, memory running out; Ctrl-C exits 130 with one line (``on_interrupt``
    says what became of the outputs)."""
    try:
        yield
    except GenlabError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail(f"interrupted; {on_interrupt}", code=130)
    except (MemoryError, RuntimeError) as exc:
        if not isinstance(exc, (MemoryError, torch_oom())) and "can't allocate memory" not in str(exc):
            raise
        asked = re.search(r"allocate ([0-9]+) bytes", str(exc))
        size = f" (asked for {int(asked.group(1)) / 2**30:.3g} GiB)" if asked else ""
        fail(f"out of memory{size}; lower the sizes in the params (batch_size, hidden, n_samples, ...)")
    except OSError as exc:
        reason = write_failure(exc)
        if reason is None:
            raise
        fail(f"{exc.filename or 'a file'}: cannot write ({reason})")


def fail(message: str, code: int = 1) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def torch_oom() -> type:
    """PyTorch's out-of-memory error (a RuntimeError subclass) where this PyTorch has one."""
    import torch

    return getattr(torch, "OutOfMemoryError", MemoryError)
