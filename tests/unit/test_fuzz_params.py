"""Every key of the params schema, fuzzed (issue #16): given a value of the wrong type, out of
range, huge, empty, NaN or infinite, or a string that looks like a number (``1e-05``, as
``dvc exp run -S vae.lr=1e-5`` writes it), loading params.yaml either succeeds with a usable
value or raises ParamsError in one line that names the key's dotted path.

The keys come from the schema itself (every shared section and every model's section, as
``genlab.models.registry`` finds them), so a key added later is fuzzed without an edit here.
"""

from __future__ import annotations

import math
import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from genlab.config.params import MAX_IMAGE_SIZE, ClassifierParams, ParamsError, load_params, schema
from genlab.config.schema import Section
from genlab.errors import GenlabError
from genlab.models import registry
from helpers import ROOT

FULL = schema(tuple(registry.names()))


def walk(cls: type[BaseModel], prefix: tuple[str, ...] = ()):
    """(dotted path, field) of every key: each section, then each of its keys."""
    for name, field in cls.model_fields.items():
        path = (*prefix, name)
        yield ".".join(path), field
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            yield from walk(field.annotation, path)


KEYS = dict(walk(FULL))


def scalar_types(annotation) -> set:
    """The scalar types an annotation takes: list[int] -> {int}, Optional[float] -> {float, NoneType}."""
    if typing.get_origin(annotation) is typing.Literal:
        return {type(a) for a in typing.get_args(annotation)}
    args = typing.get_args(annotation)
    return set().union(*map(scalar_types, args)) if args else {annotation}


def is_number(key: str) -> bool:
    """A key whose values are numbers (or lists of them): not text, not a choice, not a section."""
    types = scalar_types(KEYS[key].annotation)
    return bool(types & {int, float}) and not types & {str, bool}


def is_integer(key: str) -> bool:
    return is_number(key) and float not in scalar_types(KEYS[key].annotation)


# The mutations, as YAML text: what a person or DVC writes in params.yaml.
MUTATIONS = {
    "list": "[1, 2]",
    "mapping": "{a: 1}",
    "true": "true",
    "false": "false",
    "word": "abc",
    "minus_one": "-1",
    "zero": "0",
    "minus_half": "-0.5",
    "half": "0.5",
    "ten": "10",
    "1e12": "1000000000000",
    "1e30": "1" + "0" * 30,
    "1e400": "1" + "0" * 400,  # an int beyond any float
    "1e308": "1.0e+308",
    "inf": ".inf",
    "-inf": "-.inf",
    "nan": ".nan",
    "'inf'": "'inf'",
    "'nan'": "'nan'",
    "empty": "''",
    "null": "null",
    "'1e-05'": "'1e-05'",  # how DVC writes 1e-5 (PyYAML reads it as a string, quoted or not)
    "1e-05 bare": "1e-05",
    "'0.001'": "'0.001'",
    "'10'": "'10'",
    "'1e+30'": "1e+30",  # DVC's -S key=1e30
    "1000.0": "1000.0",  # DVC's -S key=1e3
    "[0]": "[0]",
    "[1e12]": "[1000000000000]",
    "[true]": "[true]",
    "[]": "[]",
}
NON_FINITE = {"inf", "-inf", "nan", "'inf'", "'nan'"}
HUGE_INTS = {"1e12", "1e30", "1e400", "[1e12]"}


def params_file(tmp_path: Path, key: str, value: str) -> Path:
    *sections, leaf = key.split(".")
    lines = [f"{'  ' * i}{s}:" for i, s in enumerate(sections)] + [f"{'  ' * len(sections)}{leaf}: {value}"]
    path = tmp_path / "params.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def load(tmp_path: Path, key: str, value: str):
    """(True, the loaded value) or (False, the error's message)."""
    try:
        params = load_params(params_file(tmp_path, key, value), models="all")
    except ParamsError as exc:
        return False, str(exc)
    got = params
    for part in key.split("."):
        got = getattr(got, part)
    return True, got


def finite_numbers(value) -> bool:
    """No NaN, infinity or integer beyond a C int anywhere in a loaded value (a section: all its keys)."""
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, dict):
        return all(finite_numbers(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(finite_numbers(v) for v in value)
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return abs(value) <= Section.MAX_INT
    return True


def test_the_keys_come_from_every_section_of_every_model():
    assert len(KEYS) > 100
    for section in ["data", "classifier", "generate", "evaluate", "distributed", *registry.names()]:
        assert section in KEYS and any(k.startswith(section + ".") for k in KEYS)
    assert {"vae.lr", "vae.hidden", "data.n", "ar.context", "generate.n_samples", "evaluate.iw_samples"} <= set(KEYS)


@pytest.mark.parametrize("key", list(KEYS))
def test_every_mutation_loads_or_is_one_line_naming_the_key(key, tmp_path):
    problems = []
    outcome = {}
    for name, value in MUTATIONS.items():
        ok, got = outcome[name] = load(tmp_path, key, value)
        if not ok:
            if "\n" in got or "\r" in got:
                problems.append(f"{name}: more than one line: {got!r}")
            if f" {key}: " not in got and f" {key}." not in got:
                problems.append(f"{name}: the message does not name {key}: {got!r}")
            continue
        if not finite_numbers(got):
            problems.append(f"{name}: accepted as {got!r}")
        if name in NON_FINITE and not isinstance(got, (str, BaseModel)):
            problems.append(f"{name}: a non-finite value accepted as {got!r}")
        if name in HUGE_INTS and is_integer(key):
            problems.append(f"{name}: a huge size accepted as {got!r}")
        if name in ("true", "false", "[true]") and is_number(key):
            problems.append(f"{name}: a boolean accepted as the number {got!r}")
    if is_number(key):  # a number written as a string loads as the number itself, or fails as it does
        for text, number in [("'1e-05'", "1.0e-05"), ("1e-05 bare", "1.0e-05"), ("'0.001'", "0.001"), ("'10'", "10"), ("'1e+30'", "1.0e+30")]:
            as_number = load(tmp_path, key, number)
            if outcome[text][0] != as_number[0] or (as_number[0] and outcome[text][1] != as_number[1]):
                problems.append(f"{text} gives {outcome[text]!r} but {number} gives {as_number!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("key", list(KEYS))
def test_every_default_written_out_loads_as_itself(key, tmp_path):
    default = FULL().model_dump()
    for part in key.split("."):
        default = default[part]
    ok, got = load(tmp_path, key, yaml.safe_dump(default, default_flow_style=True).strip().removesuffix("..."))
    assert ok, got
    assert (got.model_dump() if isinstance(got, BaseModel) else got) == default


# Sizes a stage allocates memory for: each has a generous upper bound, so that a typo of a few
# digits is one line instead of an exhausted machine. (key, its largest value, a list of widths?)
SIZES = [
    ("data.n", Section.MAX_SAMPLES),
    ("classifier.feature_dim", Section.MAX_WIDTH),
    ("generate.n_samples", Section.MAX_SAMPLES),
    ("generate.length", Section.MAX_LENGTH),
    ("generate.interpolation_steps", 1000),
    ("evaluate.iw_samples", Section.MAX_SAMPLES),
    ("distributed.nproc_per_node", 1024),
    ("distributed.nnodes", 2**16),
    ("vae.latent_dim", Section.MAX_WIDTH),
    ("vae.conv_width", Section.MAX_CONV_WIDTH),
    ("vae.train_k", Section.MAX_SAMPLES),
    ("vae.logistic_components", Section.MAX_COMPONENTS),
    ("vae.prior_components", Section.MAX_COMPONENTS),
    ("vae.gmm_components", Section.MAX_COMPONENTS),
    ("gan.latent_dim", Section.MAX_WIDTH),
    ("gan.conv_width", Section.MAX_CONV_WIDTH),
    ("gan.n_eval", Section.MAX_SAMPLES),
    ("ar.context", 2**16),
    ("ar.layers", 1024),
    ("ar.width", Section.MAX_WIDTH),
    ("mixture.n_components", Section.MAX_COMPONENTS),
]
WIDTHS = [key for key in KEYS if key.endswith(".hidden")]


@pytest.mark.parametrize("key, largest", SIZES + [(key, Section.MAX_WIDTH) for key in WIDTHS] + [("data.image_size", MAX_IMAGE_SIZE)])
def test_sizes_have_generous_upper_bounds(key, largest, tmp_path):
    write = (lambda n: f"[{n}]") if key in WIDTHS else str
    ok, got = load(tmp_path, key, write(largest))
    assert ok, got
    for too_big_or_small in [largest + 1, 0, -1]:
        ok, got = load(tmp_path, key, write(too_big_or_small))
        assert not ok and f" {key}: " in got and "\n" not in got


@pytest.mark.parametrize("key, value", [
    ("data.mean", "1.0e+13"), ("data.mean", "-1.0e+13"), ("data.std", "1.0e+13"),  # their squares overflow long before 1e308
    ("independent.smoothing", "1.0e+308"), ("markov.smoothing", "1.0e+308"), ("mixture.smoothing", "1.0e+308"),  # the summed counts become inf
    ("gaussian.ridge", "1.0e+308"),
    ("generate.temperature", "1.0e-300"),  # float32 logits / temperature overflow: sampling fails
    ("distributed.rdzv_endpoint", "'host:99999'"),
    ("vae.seed", "4294967296"),  # scikit-learn takes seeds below 2**32
])
def test_values_that_overflow_later_are_refused_at_once(key, value, tmp_path):
    ok, got = load(tmp_path, key, value)
    assert not ok and f" {key}: " in got and "\n" not in got


def test_every_params_file_of_the_repository_is_valid():
    for path in [ROOT / "params.yaml", *sorted((ROOT / "bench").rglob("params.yaml"))]:
        load_params(path, models="all")


def test_what_dvc_writes_loads_as_the_intended_numbers(tmp_path):
    """`dvc exp run -S` rewrites params.yaml through Hydra and ruamel: 1e-5 becomes `1e-05`, which
    PyYAML (YAML 1.1: a float needs a dot) reads as a string; 1e3 becomes the float 1000.0; nan and
    inf become .nan and .inf."""
    hydra = pytest.importorskip("dvc.utils.hydra")
    path = tmp_path / "params.yaml"
    path.write_text((ROOT / "params.yaml").read_text())
    hydra.apply_overrides(str(path), ["vae.lr=1e-5", "gaussian.ridge=1e-7", "mixture.tol=1e30", "vae.batch_size=1e3", "vae.latent_dim=8"])
    raw = yaml.safe_load(path.read_text())
    assert (raw["vae"]["lr"], raw["gaussian"]["ridge"], raw["mixture"]["tol"]) == ("1e-05", "1e-07", "1e+30")
    assert raw["vae"]["batch_size"] == 1000.0 and raw["vae"]["latent_dim"] == 8
    params = load_params(path, models="all")
    assert (params.vae.lr, params.gaussian.ridge, params.mixture.tol) == (1e-05, 1e-07, 1e30)
    assert (params.vae.batch_size, params.vae.latent_dim) == (1000, 8) and type(params.vae.batch_size) is int
    for override, key in [("generate.temperature=nan", "generate.temperature"), ("gan.lr=inf", "gan.lr"),
                          ("vae.hidden=[64,1e12]", "vae.hidden"), ("vae.seed=true", "vae.seed")]:
        path.write_text((ROOT / "params.yaml").read_text())
        hydra.apply_overrides(str(path), [override])
        with pytest.raises(ParamsError) as info:
            load_params(path, models="all")
        assert f" {key}: " in str(info.value) and "\n" not in str(info.value)


# -- accepted boundary values build a model, or stop in one line ------------------------------
METAS = {
    "images": {"kind": "images", "shape": [1, 4, 4], "n_levels": 3},
    "binary": {"kind": "images", "shape": [1, 3, 5], "n_levels": 2},
    "continuous": {"kind": "continuous", "shape": [2], "n_levels": 0},
    "text": {"kind": "text", "shape": [], "n_levels": 5},
    "music": {"kind": "music", "shape": [4], "n_levels": 2, "n_chords": 3},
}
SMALL = {"vae": {"hidden": [8], "latent_dim": 2}, "gan": {"hidden": [8], "latent_dim": 2},
         "ar": {"width": 16, "layers": 1, "context": 8, "heads": 2}}  # quick to build; the key under test overrides


def boundary_values(field) -> list:
    """The accepted values at the edges of a field's range (its existing upper limits of at most
    100 included, the size limits not: those would allocate what they are there to prevent)."""
    ann = field.annotation
    if typing.get_origin(ann) is typing.Literal:
        return list(typing.get_args(ann))
    if ann is bool:
        return [False, True]
    if typing.get_origin(ann) is list:
        return [[1], [1, 1]]
    limits = {k: getattr(m, k) for m in field.metadata for k in ("ge", "gt", "le", "lt") if getattr(m, k, None) is not None}
    types = scalar_types(ann)
    out = [None] if type(None) in types else []
    if int in types and float not in types:
        low = limits.get("ge", limits["gt"] + 1 if "gt" in limits else 0)
        out += [low, low + 1] + ([limits["le"]] if limits.get("le", math.inf) <= 100 else [])
    elif float in types:
        if "gt" in limits:
            out += ["1e-05", math.nextafter(limits["gt"], math.inf)]
        if "ge" in limits:
            out.append(limits["ge"])
        if "lt" in limits:
            out.append(math.nextafter(limits["lt"], -math.inf))
        if limits.get("le", math.inf) <= 100:
            out.append(limits["le"])
    return out


BUILDS = [
    (name, key, value)
    for name in registry.names()
    for key, field in registry.params_class(name).model_fields.items()
    for value in boundary_values(field)
]


@pytest.mark.parametrize("name", registry.names())
def test_boundary_values_build_each_model_or_stop_in_one_line(name):
    problems = []
    for model, key, value in BUILDS:
        if model != name:
            continue
        params = registry.params_class(name).model_validate({**SMALL.get(name, {}), key: value})
        for kind in registry.implementations(name):
            for meta in (m for m in METAS.values() if m["kind"] == kind):
                try:
                    registry.build(name, params, meta)
                except GenlabError as exc:
                    if "\n" in str(exc):
                        problems.append(f"{key}={value!r} on {kind}: {exc!r}")
                except Exception as exc:  # anything else is a crash
                    problems.append(f"{key}={value!r} on {kind}: {type(exc).__name__}: {exc}")
    assert not problems, "\n".join(problems)


def test_boundary_values_build_the_classifier():
    from genlab.evaluation.classifier import Classifier

    for key, field in ClassifierParams.model_fields.items():
        for value in boundary_values(field):
            Classifier(ClassifierParams.model_validate({key: value}), (1, 4, 4), 3, 10)
