"""The typed schema of ``params.yaml``.

Every stage loads the whole file once through :func:`load_params`. Values that
``dvc exp run -S key=value`` writes (``1e-05`` as a string, ``16`` as an int for
a float, ...) are coerced to the intended type; anything that cannot be, a value
out of range or an unknown key raises :class:`ParamsError` with one line that
names the key and the problem.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional, Union

import yaml
from pydantic import Field, ValidationError, create_model, field_validator

from genlab.classifier import ClassifierParams
from genlab.errors import GenlabError
from genlab.registry import MODELS
from genlab.schema import Section

PARAMS_FILE = "params.yaml"


class ParamsError(GenlabError):
    """A value in params.yaml is missing, of the wrong type or out of range."""


class DataParams(Section):
    source: Literal["digits", "idx", "npz", "imagefolder", "csv", "normal"] = "digits"
    path: str = Field("data/raw", min_length=1, description="the raw data (idx, npz, imagefolder, csv)")
    seed: int = Field(0, ge=0)
    val_fraction: float = Field(0.1, gt=0, lt=1)
    test_fraction: float = Field(0.2, gt=0, lt=1)
    binarize: Literal["none", "static", "dynamic"] = "none"
    dequantize: bool = Field(True, description="continuous data: integer-valued columns get uniform noise U(0, 1)")
    image_size: Optional[Union[int, list[int]]] = None
    x_key: Optional[str] = None
    y_key: Optional[str] = None
    label_column: Optional[str] = "label"
    n: int = Field(100, ge=10, description="how many values the normal source draws")
    mean: float = 0.0
    std: float = Field(1.0, gt=0)

    @field_validator("test_fraction")
    @classmethod
    def _fractions_leave_a_train_split(cls, v, info):
        val = info.data.get("val_fraction")
        if val is not None and val + v >= 1:
            raise ValueError(f"val_fraction + test_fraction must be < 1 (got {val} + {v})")
        return v

    @field_validator("image_size")
    @classmethod
    def _size(cls, v):
        sizes = [v] if isinstance(v, int) else v
        if v is not None and (len(sizes) not in (1, 2) or min(sizes) < 1):
            raise ValueError(f"one size or [height, width], each >= 1 (got {v})")
        return v


class GenerateParams(Section):
    seed: int = Field(0, ge=0)
    n_samples: int = Field(1000, ge=1)
    grid_size: int = Field(64, ge=1)
    n_reconstructions: int = Field(16, ge=1)
    interpolation_steps: int = Field(10, ge=2)


class EvaluateParams(Section):
    seed: int = Field(0, ge=0)
    iw_samples: int = Field(1000, ge=1)
    batch_size: int = Field(4, ge=1, description="test images per IWAE chunk (k x batch_size decoder passes at once)")
    n_samples: Optional[int] = Field(None, ge=2, description="samples scored per model; null: the validation split's size")
    k_precision: int = Field(3, ge=1, description="k of precision and recall")
    k_density: int = Field(5, ge=1, description="k of density and coverage")
    kid_subsets: int = Field(100, ge=1)


class _CoreParams(Section):
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    models: list[str] = Field(default_factory=lambda: ["vae", "independent", "markov", "mixture", "gan"], min_length=1)
    data: DataParams = Field(default_factory=DataParams)
    generate: GenerateParams = Field(default_factory=GenerateParams)
    evaluate: EvaluateParams = Field(default_factory=EvaluateParams)
    classifier: ClassifierParams = Field(default_factory=ClassifierParams)

    @field_validator("models")
    @classmethod
    def _registered(cls, v):
        unknown = [m for m in v if m not in MODELS]
        if unknown:
            raise ValueError(f"unknown model {unknown[0]!r}; known: {', '.join(MODELS)}")
        return v

    def model_params(self, name: str) -> Section:
        return getattr(self, name)


# One section per registered model, each the model's own schema (``Model.Params``).
Params = create_model(
    "Params",
    __base__=_CoreParams,
    **{name: (cls.Params, Field(default_factory=cls.Params)) for name, cls in MODELS.items()},
)


def _describe(err: dict) -> str:
    key = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        return f"{key}: unknown key"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return f"{key}: {msg} (got {err['input']!r})"


def parse_params(raw: object, source: str = PARAMS_FILE) -> Params:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamsError(f"{source}: expected a mapping of sections, got {type(raw).__name__}")
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(_describe(e) for e in exc.errors())
        raise ParamsError(f"{source}: {problems}") from None


def load_params(path: str | Path = PARAMS_FILE) -> Params:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ParamsError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0]
        raise ParamsError(f"{path}: not valid YAML ({first})") from None
    return parse_params(raw, str(path))


def resolve_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ParamsError("device: 'cuda' was asked for but no CUDA device is available")
    return name
