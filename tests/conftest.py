"""Fixtures every test file may use. Plain helpers are in helpers.py (`from helpers import ...`);
genlab itself is installed (`pip install -e .`), and pytest's `pythonpath` (pyproject.toml)
makes `stages`, `bench` and these helpers importable."""

import os

import pytest
import torch

from helpers import subprocess_env


def pytest_configure(config):
    """Under pytest-xdist, each worker and the stages it starts get their share of the cores
    (``GENLAB_THREADS``, ``OMP_NUM_THREADS``) instead of every one taking all of them: two
    workers of two threads each on two cores spend their time waiting for each other (measured
    here: two tiny pipelines side by side, 189 s with two threads each, 140 s with one). Results
    on the CPU do not depend on the count. A ``GENLAB_THREADS`` already set is left as it is."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1 and "GENLAB_THREADS" not in os.environ:
        share = max(1, len(os.sched_getaffinity(0)) // workers)
        os.environ["GENLAB_THREADS"] = os.environ["OMP_NUM_THREADS"] = str(share)
        torch.set_num_threads(share)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def env_with_venv():
    """The environment for subprocesses (this test's own copy, to change at will): this
    interpreter's bin first on PATH, no PYTHONPATH."""
    return subprocess_env()


@pytest.fixture(scope="module")
def env():
    """The environment for the subprocesses of a module's end-to-end tests (``env_with_venv``,
    once per module)."""
    return subprocess_env()


@pytest.fixture(scope="session")
def prepared_digits(tmp_path_factory):
    """The digits, prepared with the default data params (read only)."""
    from genlab.config.params import DataParams
    from genlab.data.prepare import load_prepared, prepare

    out = tmp_path_factory.mktemp("digits") / "prepared"
    prepare(DataParams(), out)
    return load_prepared(out)

