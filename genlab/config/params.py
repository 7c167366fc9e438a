"""The typed schema of ``params.yaml``.

A stage loads the file once through :func:`load_params`, validating the shared sections
(``device``, ``models``, ``data``, ``classifier``, ``self_supervised``, ``generate``, ``completion``, ``evaluate``) and the
sections of the models it reads: a model's section is its own ``Params`` class, found
through ``genlab.models.registry``, so loading params imports only those models' code. Values
that ``dvc exp run -S key=value`` writes (``1e-05`` as a string, ``16`` as an int for a
float, ...) are coerced to the intended type; anything that cannot be, a value out of
range, an unknown key or an unknown section raises :class:`ParamsError` with one line
that names the key and the problem. Every field has a description: docs/params.md's
table is generated from them (``python -m genlab.config.docs``).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Iterable, Literal, Optional

import yaml
from pydantic import Field, ValidationError, create_model, field_validator

from genlab.config.schema import GradientParams, Section  # noqa: F401 (re-exported)
from genlab.config.sections import (  # noqa: F401 (re-exported: the shared sections)
    MAX_IMAGE_SIZE,
    ClassifierParams,
    CompletionParams,
    DataParams,
    DistributedParams,
    EvaluateParams,
    GenerateParams,
    SelfSupervisedParams,
)
from genlab.errors import GenlabError
from genlab.models import registry

PARAMS_FILE = "params.yaml"
DEFAULT_MODELS = ["vae", "independent", "markov", "mixture", "gan", "pixelcnn", "flow"]


class ParamsError(GenlabError):
    """A value in params.yaml is missing, of the wrong type or out of range."""


class CoreParams(Section):
    device: Literal["cpu", "cuda", "auto"] = Field(
        "cpu", description="`cpu`, `cuda` or `auto` (the GPU when there is one); results are bit-for-bit reproducible on `cpu`"
    )
    precision: Literal["highest", "high"] = Field(
        "highest", description="CUDA float32 matmuls and convolutions: `highest` (IEEE float32) or `high` (TF32: faster, about 3 significant digits per product); no effect on `cpu`"
    )
    checkpoint_every: Optional[float] = Field(
        10.0, ge=0, description="seconds between saves of a resumable training state (at epoch ends; 0: every epoch; null: none): a killed `train@*` or `classifier` resumes where it stopped; changes no result, so no stage depends on it"
    )
    models: list[str] = Field(
        default_factory=lambda: list(DEFAULT_MODELS), min_length=1,
        description="the models the pipeline trains, samples, evaluates and summarises",
    )
    data: DataParams = Field(default_factory=DataParams, description="`preprocess`")
    classifier: ClassifierParams = Field(default_factory=ClassifierParams, description="`classifier`")
    self_supervised: SelfSupervisedParams = Field(default_factory=SelfSupervisedParams, description="`self_supervised`")
    generate: GenerateParams = Field(default_factory=GenerateParams, description="`generate@*`")
    completion: CompletionParams = Field(default_factory=CompletionParams, description="`generate@*`, `evaluate@*` and `real`: completing test images")
    evaluate: EvaluateParams = Field(default_factory=EvaluateParams, description="`evaluate@*` and `real`")
    distributed: DistributedParams = Field(default_factory=DistributedParams, description="`classifier`, `train@*`: data-parallel training (torchrun, DistributedDataParallel)")

    @field_validator("models")
    @classmethod
    def _known(cls, v):
        known = registry.names()
        unknown = [m for m in v if m not in known]
        if unknown:
            raise ValueError(f"unknown model {unknown[0]!r}; known: {', '.join(known)}")
        if len(set(v)) < len(v):
            raise ValueError(f"a model is listed twice (got {v})")
        return v

    def model_params(self, name: str) -> Section:
        """The validated section of a model this object was loaded with."""
        return getattr(self, name)


@cache
def schema(models: tuple[str, ...] = ()) -> type[CoreParams]:
    """The params class with the shared sections and those of ``models``."""
    return create_model(
        "Params",
        __base__=CoreParams,
        **{name: (registry.params_class(name), Field(default_factory=registry.params_class(name))) for name in models},
    )


def _describe(err: dict) -> str:
    key = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        return f"{key}: unknown key"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    got = "" if "(got " in msg else f" (got {err['input']!r})"  # our own validators say what they got
    return f"{key}: {msg}{got}"


def parse_params(raw: object, source: str = PARAMS_FILE, models: Iterable[str] | str = ()) -> CoreParams:
    """Validate the shared sections and those of ``models`` (``"all"``: every known model).

    Sections of other models are only checked to be known model names, so a stage never
    imports a model it does not run."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamsError(f"{source}: expected a mapping of sections, got {type(raw).__name__}")
    known = registry.names()
    wanted = tuple(known if models == "all" else models)
    raw = {k: ({} if v is None and k not in ("device", "precision", "checkpoint_every", "models") else v) for k, v in raw.items()}  # `vae:` left empty
    for key in raw:
        if key not in CoreParams.model_fields and key not in known:
            raise ParamsError(f"{source}: {key}: unknown key (neither a shared section nor a model in genlab/models)")
    try:
        return schema(wanted).model_validate({k: v for k, v in raw.items() if k in CoreParams.model_fields or k in wanted})
    except ValidationError as exc:
        problems = "; ".join(_describe(e) for e in exc.errors())
        raise ParamsError(f"{source}: {problems}") from None
    except GenlabError as exc:  # a model module without MODEL, say
        raise ParamsError(f"{source}: {exc}") from None


def load_params(path: str | Path = PARAMS_FILE, models: Iterable[str] | str = ()) -> CoreParams:
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
    return parse_params(raw, str(path), models)
