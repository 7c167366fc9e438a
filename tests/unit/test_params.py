import subprocess
import sys

import pytest
import yaml

from genlab.config.params import ParamsError, load_params, parse_params
from helpers import ROOT


def test_defaults_match_params_yaml():
    # Every key in the committed params.yaml is known, and its values are the schema's defaults.
    assert load_params(ROOT / "params.yaml").model_dump() == parse_params({}).model_dump()


@pytest.mark.parametrize(
    "raw, key, value",
    [
        ({"vae": {"lr": "1e-05"}}, "lr", 1e-5),  # how PyYAML reads what `dvc exp run -S` writes
        ({"vae": {"lr": 1}}, "lr", 1.0),
        ({"vae": {"latent_dim": "8"}}, "latent_dim", 8),
        ({"vae": {"latent_dim": 8.0}}, "latent_dim", 8),
        ({"vae": {"hidden": 128}}, "hidden", [128]),
        ({"vae": {"hidden": "[64, 32]"}}, "hidden", None),
    ],
)
def test_values_dvc_can_write_load_as_the_intended_type(raw, key, value):
    if value is None:  # a list written as a string is not a list: rejected, naming the key
        with pytest.raises(ParamsError, match="vae.hidden"):
            parse_params(raw, models="all")
        return
    got = getattr(parse_params(raw, models="all").vae, key)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize(
    "raw, key",
    [
        ({"vae": {"lr": -1}}, "vae.lr"),
        ({"vae": {"lr": 0}}, "vae.lr"),
        ({"vae": {"lr": "abc"}}, "vae.lr"),
        ({"vae": {"latent_dim": 0}}, "vae.latent_dim"),
        ({"vae": {"batch_size": 0}}, "vae.batch_size"),
        ({"vae": {"latent_dim": 2.5}}, "vae.latent_dim"),
        ({"vae": {"lrr": 0.1}}, "vae.lrr"),
        ({"vae": {"hidden": [64, 0]}}, "vae.hidden"),
        ({"data": {"val_fraction": 0}}, "data.val_fraction"),
        ({"data": {"test_fraction": 1.5}}, "data.test_fraction"),
        ({"data": {"val_fraction": 0.5, "test_fraction": 0.5}}, "data.test_fraction"),
        ({"device": "gpu"}, "device"),
        ({"models": ["vae", "nope"]}, "models"),
        ({"typo_section": {}}, "typo_section"),
    ],
)
def test_bad_values_name_the_key_in_one_line(raw, key):
    with pytest.raises(ParamsError) as info:
        parse_params(raw, models="all")
    message = str(info.value)
    assert "\n" not in message
    assert f" {key}: " in message


def test_unknown_key_is_called_unknown():
    with pytest.raises(ParamsError, match=r"vae\.lrr: unknown key"):
        parse_params({"vae": {"lrr": 0.1}}, models="all")


def test_stage_with_bad_param_exits_1_with_one_line_and_writes_nothing(tmp_path, env_with_venv):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["vae"]["lr"] = -1
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    env_with_venv["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, "-m", "stages.train", "--model", "vae"],
        cwd=tmp_path, env=env_with_venv, capture_output=True, text=True,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "vae.lr" in proc.stderr and "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]


def test_missing_input_names_the_file(tmp_path, env_with_venv):
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    env_with_venv["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, "-m", "stages.train", "--model", "vae"],
        cwd=tmp_path, env=env_with_venv, capture_output=True, text=True,
    )
    assert proc.returncode == 1
    assert "data/prepared/meta.json" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())
