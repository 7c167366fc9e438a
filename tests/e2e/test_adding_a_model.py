"""End to end: a model added the way CONTRIBUTING.md's "Adding a model" says (the files it lists,
no other), in a copy of the repository as a clone has it (git + DVC): the registry finds it, the
schema has its section, its own test passes, and `dvc repro` runs its stages from dvc.yaml's
matrix on tiny params."""

import json
import math
import re
from pathlib import Path

import pytest
import yaml

from helpers import ROOT, TINY, copy_repository, init_repo, set_params, set_top, sh, stages_run

pytestmark = pytest.mark.slow

POOLED = '''"""A model written by a test: every pixel drawn from one categorical over the levels."""

import torch
from pydantic import Field

from genlab.config.schema import Section
from genlab.models.base import GenerativeModel


class Pooled(GenerativeModel):
    modalities = ("images",)
    trains_by_gradient = False

    class Params(Section):
        smoothing: float = Field(1.0, gt=0, description="pseudo-count of every level")

    def __init__(self, params, shape, n_levels):
        super().__init__(params, shape, n_levels)
        self.register_buffer("log_probs", torch.zeros(self.n_levels, dtype=torch.float64))

    def fit(self, train, val):
        counts = torch.bincount(train.flatten().long(), minlength=self.n_levels).double() + self.params.smoothing
        self.log_probs.copy_((counts / counts.sum()).log())
        return {}

    def log_prob(self, x):
        return self.log_probs[x.flatten(1).long()].sum(-1)

    def sample(self, n, generator, sampler=None):
        draws = torch.multinomial(self.log_probs.exp(), n * self.dim, replacement=True, generator=generator)
        return draws.reshape(n, *self.shape).to(torch.uint8)


MODEL = Pooled
'''

POOLED_TEST = '''"""The pooled model: one categorical over the levels, shared by every pixel."""

import math

import pytest
import torch

from genlab.models.pooled import Pooled


def test_probabilities_are_the_smoothed_frequencies_of_the_levels():
    x = torch.tensor([[[[0, 1], [1, 1]]]], dtype=torch.uint8)
    m = Pooled(Pooled.Params(smoothing=1.0), (1, 2, 2), 3)
    m.fit(x, None)
    assert torch.allclose(m.log_probs.exp(), torch.tensor([2.0, 4.0, 1.0], dtype=torch.float64) / 7)
    assert m.log_prob(x).item() == pytest.approx(math.log(2 / 7) + 3 * math.log(4 / 7))
'''


def adding_a_model(name: str) -> tuple[list[str], dict[str, str]]:
    """What CONTRIBUTING.md's "Adding a model" says to do for a model ``name``: the files to touch
    (its example's name replaced), and the command that generates each generated one."""
    text = (ROOT / "CONTRIBUTING.md").read_text()
    section = text[text.index("## Adding a model"):]
    section = section[: section.index("\n## ", 1)]
    example = re.search(r"genlab/models/(\w+)\.py", section).group(1)
    files = [f.replace(example, name) for f in re.findall(r"^- `([\w./-]+\.(?:py|yaml|md))`", section, re.M)]
    commands = {out: what for what, out in re.findall(r"^python -m genlab\.config\.docs ([\w-]+) > (\S+)$", section, re.M)}
    return files, commands


def test_a_model_added_as_contributing_says_is_found_and_runs_through_dvc(tmp_path, env):
    """In a copy of the repository (git + DVC), a model added by the files "Adding a model" lists,
    and nothing else: the registry finds it, the schema has its section, its test passes, and
    `dvc repro` runs train, generate and evaluate for it from dvc.yaml's matrix."""
    files, commands = adding_a_model("pooled")
    assert len(files) <= 4 and "genlab/models/pooled.py" in files, files
    repo = copy_repository(tmp_path / "repo")
    init_repo(repo, env)
    for path in files:
        target = repo / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if path == "genlab/models/pooled.py":
            target.write_text(POOLED)
        elif path.startswith("tests/"):
            target.write_text(POOLED_TEST)
        else:
            assert path in commands, f"{path}: no command generates it"
            target.write_text(sh(repo, env, "python", "-m", "genlab.config.docs", commands[path]).stdout)
    status = sh(repo, env, "git", "status", "--porcelain", "--untracked-files=all").stdout.splitlines()
    assert sorted(line[3:] for line in status) == sorted(files)  # those files and nothing else

    probe = ("import json, genlab; from genlab.models import registry; from genlab.config.params import load_params; "
             "print(json.dumps([genlab.__file__, registry.names(), load_params('params.yaml', models=['pooled']).pooled.smoothing]))")
    where, names, smoothing = json.loads(sh(repo, env, "python", "-c", probe).stdout)
    assert Path(where).resolve().is_relative_to(repo.resolve())  # the copy's genlab, not the installed one
    assert "pooled" in names and smoothing == 1.0
    assert yaml.safe_load((repo / "params.yaml").read_text())["pooled"] == {"smoothing": 1.0}
    test = next(f for f in files if f.startswith("tests/"))
    assert "1 passed" in sh(repo, env, "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", test).stdout

    set_params(repo, **TINY)
    set_top(repo, models=["pooled"])
    proc = sh(repo, env, "dvc", "repro")
    assert stages_run(proc) == {"preprocess", "classifier", "self_supervised", "real", "train@pooled", "generate@pooled",
                                "evaluate@pooled", "summary"}
    pooled = json.loads((repo / "metrics" / "models" / "pooled.json").read_text())
    assert math.isfinite(pooled["nll"]) and pooled["nll"] < 64 * math.log(17) and "fid" in pooled  # < uniform
    assert "| pooled" in (repo / "metrics" / "summary.md").read_text()
