"""The typed schema of ``params.yaml``.

A stage loads the file once through :func:`load_params`, validating the shared sections
(``device``, ``models``, ``data``, ``classifier``, ``generate``, ``evaluate``) and the
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
from typing import Iterable, Literal, Optional, Union

import yaml
from pydantic import Field, ValidationError, create_model, field_validator

from genlab.models import registry
from genlab.errors import GenlabError
from genlab.config.schema import GradientParams, Section

PARAMS_FILE = "params.yaml"
MAX_IMAGE_SIZE = 4096  # `data.image_size`: a generous limit on the resized images' sides
DEFAULT_MODELS = ["vae", "independent", "markov", "mixture", "gan"]


class ParamsError(GenlabError):
    """A value in params.yaml is missing, of the wrong type or out of range."""


class DataParams(Section):
    source: Literal["digits", "idx", "npz", "imagefolder", "csv", "normal", "text", "pianoroll", "midi"] = Field(
        "digits",
        description="the reader: `digits`, `idx`, `npz`, `imagefolder`, `csv`, `normal`, `text`, `pianoroll` or `midi` (see Bring your own data)",
    )
    path: str = Field(
        "data/raw", min_length=1,
        description="the raw data's file or folder (`text`: a UTF-8 file, or a folder of `.txt` files; `pianoroll`: a JSON file; `midi`: a folder of MIDI files); a dependency of `preprocess`",
    )
    seed: int = Field(0, ge=0, description="seed of the split, binarisation, dequantisation and the normal source")
    val_fraction: float = Field(
        0.1, gt=0, lt=1,
        description="validation share of the whole data set (`text`: the characters after the training text; `midi`: of the files; `pianoroll`: ignored, the file has its split)",
    )
    test_fraction: float = Field(
        0.2, gt=0, lt=1,
        description="test share of the whole data set; the two add to less than 1 (ignored by `idx` and `pianoroll`; `text`: the last characters; `midi`: of the files)",
    )
    binarize: Literal["none", "static", "dynamic"] = Field(
        "none", description="`none`, `static` or `dynamic`: Bernoulli pixels from grey levels"
    )
    dequantize: bool = Field(True, description="continuous data: integer-valued columns get uniform noise U(0, 1)")
    image_size: Optional[Union[int, list[int]]] = Field(
        None, description="`imagefolder`: resize to this size, or `[height, width]`"
    )
    x_key: Optional[str] = Field(None, description="`npz`: the images' array (default `x`, else `arr_0`)")
    y_key: Optional[str] = Field(None, description="`npz`: the labels' array (default `y`, else `arr_1`, else none)")
    label_column: Optional[str] = Field("label", description="`csv`: the label column (ignored if absent)")
    steps_per_beat: int = Field(1, ge=1, le=96, description="music: frames per beat (a quarter note); `midi` quantises to it, MIDI and WAV output play at it")
    out_of_range: Literal["error", "drop"] = Field(
        "error", description="music: a pitch outside MIDI 21-108 (the 88 keys) stops `preprocess` naming the file (`error`) or is left out and counted (`drop`)"
    )
    skip_bad_files: bool = Field(False, description="`midi`: skip a file that cannot be used (unreadable, no notes, a pitch out of range under `error`; listed in meta.json) instead of stopping")
    n: int = Field(100, ge=10, le=Section.MAX_SAMPLES, description="`normal`: how many values")
    # mean and std within +-1e12: the values, their squares and sums stay finite (in float32 too)
    mean: float = Field(0.0, ge=-1e12, le=1e12, description="`normal`: their mean")
    std: float = Field(1.0, gt=0, le=1e12, description="`normal`: their standard deviation")

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
        if v is not None and (len(sizes) not in (1, 2) or min(sizes) < 1 or max(sizes) > MAX_IMAGE_SIZE):
            raise ValueError(f"one size or [height, width], each from 1 to {MAX_IMAGE_SIZE} (got {v})")
        return v


class ClassifierParams(GradientParams):
    """The frozen feature classifier of the sample metrics (trained by the shared loop)."""

    hidden: list[int] = Field(default_factory=lambda: [256], min_length=1, description="hidden layer widths")
    feature_dim: int = Field(64, ge=2, le=Section.MAX_WIDTH, description="width of the penultimate layer: the sample metrics' feature space")
    dropout: float = Field(0.2, ge=0, lt=1, description="dropout before every layer but the first")
    patience: int = Field(20, ge=1, description="epochs without a better validation loss before stopping")


class GenerateParams(Section):
    seed: int = Field(0, ge=0, description="seed of the samples")
    n_samples: int = Field(1000, ge=1, le=Section.MAX_SAMPLES, description="samples drawn per model (and per sampler)")
    grid_size: int = Field(64, ge=1, description="samples in each picture")
    n_reconstructions: int = Field(16, ge=1, description="test images in the reconstructions picture")
    interpolation_steps: int = Field(10, ge=2, le=1000, description="images along each interpolation line")
    length: int = Field(500, ge=1, le=Section.MAX_LENGTH, description="sequences: symbols per sample (the real row's test windows have this length too)")
    # at least 1e-6 (already greedy): smaller ones overflow float32 logits / temperature, and sampling fails
    temperature: float = Field(1.0, ge=1e-6, description="sequences: sample from p^(1/temperature), renormalised; 1 is the model itself")
    prompt: str = Field("", description="text: every sample continues this prompt (characters outside the vocabulary become the unknown symbol)")


class EvaluateParams(Section):
    seed: int = Field(0, ge=0, description="seed of the importance samples")
    iw_samples: int = Field(1000, ge=1, le=Section.MAX_SAMPLES, description="k of the importance-weighted bound")
    batch_size: int = Field(
        4, ge=1, description="test examples per IWAE chunk: k x batch_size decoder passes at once"
    )
    n_samples: Optional[int] = Field(
        None, ge=2, description="samples scored per row; `null`: the size of the validation split"
    )
    k_precision: int = Field(3, ge=1, description="k of precision and recall")
    k_density: int = Field(5, ge=1, description="k of density and coverage")
    kid_subsets: int = Field(100, ge=1, description="random subsets KID is averaged over (each half the smaller set)")


class DistributedParams(Section):
    nproc_per_node: int = Field(1, ge=1, le=1024, description="training processes per machine (torchrun's `--nproc_per_node`; on GPUs one per GPU); more than one process in all runs the `classifier` and `train@*` stages of models trained by gradient steps under torchrun, each process with its share of every epoch")
    nnodes: int = Field(1, ge=1, le=2**16, description="machines taking part (torchrun's `--nnodes`); each runs the same stage with the same params")
    rdzv_endpoint: str = Field("127.0.0.1:29400", pattern=r"^[^:\s]+:[0-9]{1,5}$", description="`host:port` of the first machine (node rank 0, the one that runs DVC and writes the outputs), which the others reach, when `nnodes` > 1; each other machine sets `GENLAB_NODE_RANK` (1, 2, ...)")

    @field_validator("rdzv_endpoint")
    @classmethod
    def _port(cls, v):
        if int(v.rsplit(":", 1)[1]) > 65535:
            raise ValueError(f"the port must be at most 65535 (got {v!r})")
        return v


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
    generate: GenerateParams = Field(default_factory=GenerateParams, description="`generate@*`")
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
