"""dvc.yaml's code dependencies are precise and complete: every genlab module a stage imports
(and, for the per-model stages, every module its model imports) is among the stage's deps,
and no stage depends on the whole genlab/ folder or on another model's module, so editing one
model reruns only that model's stages. The imports are read from the source (ast), function
bodies included."""

import ast

import pytest
import yaml

from genlab.models import registry
from helpers import ROOT

DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
SCRIPTS = {"preprocess": "preprocess", "classifier": "classifier", "self_supervised": "self_supervised", "train": "train", "generate": "generate",
           "evaluate": "evaluate", "real": "evaluate", "summary": "summary",
           "tidy": "tidy"}


def module_file(name: str) -> str | None:
    """genlab.x.y -> genlab/x/y.py (or its package's __init__.py); None outside the project."""
    if name.split(".")[0] not in ("genlab", "stages"):
        return None
    path = ROOT / name.replace(".", "/")
    if (path / "__init__.py").exists():
        return str((path / "__init__.py").relative_to(ROOT))
    return str(path.with_suffix(".py").relative_to(ROOT)) if path.with_suffix(".py").exists() else None


def imports(file: str) -> set[str]:
    """The project modules a file imports, anywhere in it, with the packages they sit in."""
    found = set()
    for node in ast.walk(ast.parse((ROOT / file).read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # importing genlab.models.base runs genlab/__init__ too
                f = module_file(".".join(parts[:i]))
                if f:
                    found.add(f)
    return found


def closure(*files: str) -> set[str]:
    seen, todo = set(), list(files)
    while todo:
        f = todo.pop()
        if f not in seen:
            seen.add(f)
            todo += imports(f)
    return seen


def code_deps(stage: str, model: str = "") -> set[str]:
    return {d.replace("${item.model}", model) for d in DVC[stage]["deps"] if d.startswith(("genlab", "stages"))}


@pytest.mark.parametrize("stage", ["preprocess", "classifier", "self_supervised", "real", "summary", "tidy"])
def test_every_imported_module_is_a_dependency(stage):
    used = closure(f"stages/{SCRIPTS[stage]}.py") - {"stages/__init__.py"}
    missing = used - code_deps(stage)
    assert not missing, f"{stage} imports {sorted(missing)}, which dvc.yaml does not list"
    assert not (code_deps(stage) - used), f"{stage} lists modules it does not import"


@pytest.mark.parametrize("model", registry.names())
@pytest.mark.parametrize("stage", ["train", "generate", "evaluate"])
def test_per_model_stages_depend_on_their_model_and_its_imports(stage, model):
    deps = code_deps(stage, model)
    used = closure(f"stages/{SCRIPTS[stage]}.py", f"genlab/models/{model}.py") - {"stages/__init__.py"}
    missing = used - deps
    assert not missing, f"{stage}@{model} imports {sorted(missing)}, which dvc.yaml does not list"


def test_the_shared_model_blocks_are_what_models_import():
    """The blocks every per-model stage lists (beside its own model) are exactly what some model uses."""
    shared = set.intersection(*(code_deps(s) for s in ("train", "generate", "evaluate")))
    stage_only = set.union(*(closure(f"stages/{SCRIPTS[s]}.py") for s in ("train", "generate", "evaluate")))
    by_models = set.union(*(closure(f"genlab/models/{m}.py") for m in registry.names()))
    listed_for_models = shared - stage_only - {"genlab/models/.py"}
    assert listed_for_models <= by_models, sorted(listed_for_models - by_models)


def test_no_stage_depends_on_the_whole_library_or_another_model():
    for stage, spec in DVC.items():
        deps = set(spec["deps"])
        assert not deps & {"genlab", "genlab/", "genlab/models", "stages"}, stage
        models = {d for d in deps if d.startswith("genlab/models/")}
        shared = {"genlab/models/base.py", "genlab/models/__init__.py", "genlab/models/registry.py", "genlab/models/${item.model}.py"}
        assert all(m in shared or m.startswith("genlab/models/_") for m in models), stage


def test_preprocess_and_summary_import_no_model():
    for script in ("preprocess", "summary", "classifier"):
        not_models = {"genlab/models/__init__.py", "genlab/models/registry.py", "genlab/models/base.py"}  # no model module
        assert not any(f.startswith("genlab/models/") and f not in not_models for f in closure(f"stages/{script}.py")), script


# -- the pipeline's paths: genlab/paths.py and dvc.yaml say the same -------------------------
MODEL = "${item.model}"


def declared(spec: dict, *fields: str) -> set[str]:
    """The paths a stage lists under ``fields`` (entries are a path or {path: options})."""
    return {p for f in fields for entry in spec.get(f, []) for p in ([entry] if isinstance(entry, str) else entry)}


def within(path: str, listed: set[str]) -> bool:
    """``path`` is a listed path or inside one."""
    return any(path == d or path.startswith(d + "/") for d in listed)


def holds(path: str, listed: set[str]) -> bool:
    """``path`` is a folder of listed outputs (samples/ of samples/<model>)."""
    return any(d.startswith(path + "/") for d in listed)


def pipeline_paths() -> dict[str, str]:
    """{name: path} of genlab.paths: its constants and, called with dvc.yaml's ``${item.model}``,
    its functions; the names ending in _FILE (a file's name in its folder) aside."""
    import inspect

    from genlab import paths

    out = {}
    for name, value in vars(paths).items():
        if name.startswith("_") or name.endswith("_FILE") or name == "annotations":
            continue
        if isinstance(value, str):
            out[name] = value
        elif inspect.isfunction(value) and value.__module__ == paths.__name__:
            out[name] = value(MODEL)
    return out


def writers(path: str) -> list[str]:
    return [s for s, spec in DVC.items() if within(path, declared(spec, "outs", "metrics"))
            or holds(path, declared(spec, "outs", "metrics"))]


@pytest.mark.parametrize("name", sorted(pipeline_paths()))
def test_every_path_of_genlab_paths_is_written_by_one_stage(name):
    path = pipeline_paths()[name]
    assert len(writers(path)) == 1, f"genlab.paths.{name} ({path}) is an output of {writers(path) or 'no stage'} in dvc.yaml"


def test_every_output_in_dvc_yaml_is_a_path_of_genlab_paths():
    known = set(pipeline_paths().values())
    for stage, spec in DVC.items():
        missing = declared(spec, "outs", "metrics") - known
        assert not missing, f"{stage} writes {sorted(missing)}, which genlab/paths.py does not name"


@pytest.mark.parametrize("script", sorted(set(SCRIPTS.values()) - {"tidy"}))  # tidy: folders, not paths
def test_every_path_a_stage_script_uses_is_declared_by_its_stages(script):
    """The paths a script names (``paths.X``, ``paths.f(...)``) are deps or outputs of the stages
    that run it (the evaluate script: evaluate@<model> and real)."""
    names = {node.attr for node in ast.walk(ast.parse((ROOT / f"stages/{script}.py").read_text()))
             if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "paths"}
    assert names, f"stages/{script}.py names no path of genlab.paths"
    every = pipeline_paths()
    listed = set().union(*(declared(DVC[s], "deps", "outs", "metrics") for s, f in SCRIPTS.items() if f == script))
    for name in sorted(names - {n for n in names if n.endswith("_FILE")}):
        assert within(every[name], listed) or holds(every[name], listed), \
            f"stages/{script}.py uses paths.{name} ({every[name]}), which its stages do not list in dvc.yaml"
