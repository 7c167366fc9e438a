"""Compare experiments in a terminal: one row per experiment, the params that differ and each model's headline metrics.

Runs DVC's own table, ``dvc exp show --only-changed``, dropping every column but the experiment,
the params and the short headline metrics of metrics/headline.json (``vae.nll``, ``vae.fid``,
``real.fid``, ...; written by the summary stage). Unchanged columns go, as --only-changed does.
Further arguments go to ``dvc exp show`` as they are (e.g. ``-A``, ``--sort-by vae.nll``, ``--md``).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from genlab import paths
from genlab.evaluation.summary import HEADLINE


def drop_pattern(params_file: str | Path = "params.yaml", rows: list[str] | None = None) -> str:
    """A regex for ``--drop`` matching every column to leave out: all but Experiment, the params
    (top-level keys of ``params_file``, or ``params.yaml:<key>`` where a name collides with a
    metric's) and the headline metrics of ``rows`` (every row of the headline file when None)."""
    try:
        params = yaml.safe_load(Path(params_file).read_text()) or {}
    except (OSError, yaml.YAMLError):
        params = {}
    if rows is None:
        import json

        try:
            rows = list(json.loads(Path(paths.HEADLINE_METRICS).read_text()))
        except (OSError, ValueError):
            rows = []
    sections = "|".join(re.escape(k) for k, v in params.items() if isinstance(v, dict)) or "(?!)"
    scalars = "|".join(re.escape(k) for k, v in params.items() if not isinstance(v, dict)) or "(?!)"
    headline = "|".join(re.escape(r) for r in rows) or "(?!)"
    metrics = "|".join(HEADLINE)
    # a section's keys are `vae.lr`; a top-level value is its name alone (a dep named like a
    # section, the tidy stage's `data`, is dropped)
    return rf"^(?!Experiment$|(params\.yaml:)?(({sections})\.|({scalars})$)|({headline})\.({metrics})$)"


def command(extra: list[str]) -> list[str]:
    return ["dvc", "exp", "show", "--no-pager", "--only-changed", "--drop", drop_pattern(), *extra]


def main() -> None:
    if "-h" in sys.argv[1:] or "--help" in sys.argv[1:]:
        print(__doc__.strip())
        return
    cmd = command(sys.argv[1:])
    sys.exit(subprocess.run(cmd).returncode)


if __name__ == "__main__":
    main()
