"""The import arrows run one way (CONTRIBUTING.md, "Layout"): each genlab package imports only
packages below it, models never import the loop, the evaluation, the report or the registry,
and the library never imports the stages. Read from the source (ast), function bodies included."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Low to high; a module may import its own level and those below it.
LEVELS = [
    {"genlab.errors", "genlab.paths", "genlab.io", "genlab.runtime", "genlab.config.schema", "genlab.config.sections"},
    {"genlab.nn", "genlab.metrics"},
    {"genlab.data"},
    {"genlab.models"},
    {"genlab.training"},
    {"genlab.config", "genlab.cli"},  # params composes the models' sections; cli names the models
    {"genlab.evaluation"},
    {"genlab.report"},
    {"genlab.trained"},  # a trained model used outside the pipeline: genlab.load, `genlab sample`
    {"genlab", "genlab.__main__"},  # the package's face: `genlab.load`, `python -m genlab`
]


def level(module: str) -> int:
    """The level of a module: its longest prefix found in LEVELS."""
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        prefix = ".".join(parts[:i])
        for n, names in enumerate(LEVELS):
            if prefix in names:
                return n
    raise AssertionError(f"{module} is in no level of LEVELS")


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted((ROOT / "genlab").rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


def imported(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules() else node.module for a in node.names}
    return {m for m in found if m.split(".")[0] in ("genlab", "stages")}


@pytest.mark.parametrize("module", sorted(modules()))
def test_imports_run_downwards(module):
    path = modules()[module]
    for target in imported(path):
        assert not target.startswith("stages"), f"{module} imports the stage {target}"
        assert level(target) <= level(module), f"{module} (level {level(module)}) imports {target} (level {level(target)})"


def test_models_import_neither_the_loop_nor_the_registry():
    for name, path in modules().items():
        if name.startswith("genlab.models.") and name != "genlab.models.registry":
            bad = {t for t in imported(path) if t.startswith(("genlab.training", "genlab.evaluation", "genlab.report",
                                                              "genlab.models.registry", "genlab.config.params"))}
            assert not bad, f"{name} imports {sorted(bad)}"


def test_the_top_level_holds_at_most_six_modules():
    top = sorted(p.name for p in (ROOT / "genlab").glob("*.py") if p.name != "__main__.py")  # `python -m genlab`
    assert len(top) <= 6, top
