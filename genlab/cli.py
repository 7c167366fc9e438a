"""What every stage script shares: argument parsing, params loading and one-line errors."""

from __future__ import annotations

import argparse
import re
import sys
from typing import Callable

from genlab.errors import GenlabError
from genlab.io import write_failure


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


def run(main: Callable[[argparse.Namespace], None], args: argparse.Namespace) -> None:
    """Run a stage; an expected failure prints one line on stderr and exits 1: a ``GenlabError``,
    a full or read-only disk, memory running out; Ctrl-C exits 130 with one line."""
    try:
        main(args)
    except GenlabError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted; the outputs of the stage are as they were before it started", code=130)
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
