"""Fixtures every test file may use. Plain helpers are in helpers.py (`from helpers import ...`);
genlab itself is installed (`pip install -e .`), and pytest's `pythonpath` (pyproject.toml)
makes `stages`, `bench` and these helpers importable."""

import pytest
import torch

from helpers import subprocess_env


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

