"""Defaults are stated once, in the schema: params.yaml, docs/params.md and docs/metrics.md are
generated from it (python -m genlab.config.docs) and must be exactly what it prints."""

import yaml

from genlab.config import docs
from genlab.config.params import CoreParams, parse_params, schema
from genlab.models import registry
from helpers import ROOT


def flat_keys(d: dict, prefix: str = "") -> set[str]:
    out = set()
    for k, v in d.items():
        out |= flat_keys(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k}
    return out


def test_params_yaml_is_what_the_schema_generates():
    assert (ROOT / "params.yaml").read_text() == docs.params_yaml(), "run: python -m genlab.config.docs params > params.yaml"


def test_params_yaml_holds_every_key_of_every_section_with_its_default():
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    defaults = parse_params({}, models="all").model_dump()
    assert flat_keys(raw) == flat_keys(defaults)  # so `dvc exp run -S section.key=value` works for every key
    assert parse_params(raw, models="all").model_dump() == defaults


def test_params_page_is_what_the_schema_generates():
    page = (ROOT / "docs" / "params.md").read_text()
    assert page == docs.params_doc(), "run: python -m genlab.config.docs params-doc > docs/params.md"
    assert docs.params_table() in page


def test_every_field_is_described():
    full = schema(tuple(registry.names()))
    sections = [full.model_fields[n].annotation for n in full.model_fields if n not in ("device", "precision", "checkpoint_every", "models")]
    assert all(CoreParams.model_fields[n].description for n in CoreParams.model_fields)
    for section in sections:
        for key, field in section.model_fields.items():
            assert field.description, f"{section.__name__}.{key} has no description"


def test_generated_values_read_back_as_the_same_types():
    assert docs._value(1e-6) == "0.000001" and yaml.safe_load(docs._value(1e-6)) == 1e-6  # not the string '1e-06'
    assert docs._value(0.0) == "0.0" and docs._value([256, 256]) == "[256, 256]" and docs._value(None) == "null"


def test_metrics_page_is_generated_and_covers_every_committed_metric():
    import json
    import re

    page = (ROOT / "docs" / "metrics.md").read_text()
    assert page == docs.metrics_doc(), "run: python -m genlab.config.docs metrics-doc > docs/metrics.md"
    assert docs.metrics_table() in page
    patterns = [re.compile("^" + re.escape(k).replace(re.escape("<sampler>"), r"\w+").replace(re.escape("<mask>"), "[a-z]+") + "$")
                for k in docs.METRICS]
    for path in [*(ROOT / "metrics" / "models").glob("*.json"), ROOT / "metrics" / "real.json"]:
        for key in json.loads(path.read_text()):
            assert any(p.match(key) for p in patterns), f"{path.name}: {key} is not documented in genlab.config.docs.METRICS"


def test_dvc_yaml_registers_the_models_as_generated():
    """DVC's model registry: dvc.yaml's artifacts section holds the generated `model` entry of every
    model of the default list at least (a model just added may wait for its entry), each as generated."""
    from genlab.config.params import DEFAULT_MODELS

    text = (ROOT / "dvc.yaml").read_text()
    artifacts = yaml.safe_load(text)["artifacts"]
    generated = docs.artifact_entries()
    assert docs.ARTIFACTS_MARK in text and set(DEFAULT_MODELS) <= set(artifacts) <= set(generated)
    assert all(artifacts[m] == generated[m] for m in artifacts), "run: python -m genlab.config.docs artifacts"
    assert text.endswith(docs.artifacts_yaml()) == (set(artifacts) == set(generated))
    assert artifacts["vae"] == {
        "path": "models/vae/model.pt", "type": "model",
        "desc": "genlab vae: The variational autoencoder (Kingma and Welling 2014); trained by train@vae",
        "labels": ["vae", "images", "continuous", "digits"],
        "meta": {"metrics": "metrics/models/vae.json", "card": "metrics/models/vae.md", "load": "genlab.load('models/vae')"},
    }
