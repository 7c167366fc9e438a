"""What every stage script shares: argument parsing, params loading and one-line errors."""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from genlab import registry
from genlab.errors import GenlabError


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
    p.add_argument("--model", required=required, choices=registry.names(), help="which model of the pipeline")


def run(main: Callable[[argparse.Namespace], None], args: argparse.Namespace) -> None:
    """Run a stage; an expected failure prints one line on stderr and exits 1."""
    try:
        main(args)
    except GenlabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
