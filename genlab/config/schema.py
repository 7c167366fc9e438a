"""Base classes of the params schema, shared by ``genlab.config.params`` and the models' own sections.

Every section takes finite numbers only (NaN and infinities are refused), a number never as
``true``/``false``, and no integer beyond a C int (``MAX_INT``), so no value overflows torch,
NumPy or scikit-learn. Sizes that a stage allocates memory for have their own, generous upper
bounds, set in each field with the limits below; they are far above any value in use and
reject only what would exhaust memory at once (``hidden: [1000000000000]``) with one line
naming the key, instead of a stage crashing.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator


def _scalar_types(annotation) -> set:
    """The scalar types an annotation takes: list[int] -> {int}, Optional[float] -> {float, NoneType}."""
    if get_origin(annotation) is Literal:
        return {type(a) for a in get_args(annotation)}
    if get_origin(annotation) is Annotated:
        return _scalar_types(get_args(annotation)[0])
    args = get_args(annotation)
    return set().union(*map(_scalar_types, args)) if args else {annotation}


def _scalars(v) -> list:
    return list(v) if isinstance(v, (list, tuple)) else [v]


class Section(BaseModel):
    """One section of params.yaml; an unknown (misspelt) key is an error, never ignored."""

    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False)

    # The limits (class attributes, not keys; see the module's docstring). Each is far above
    # any value in use: the point is a one-line error instead of a crash or an exhausted machine.
    MAX_INT: ClassVar[int] = 2**31 - 1  # every integer: seeds too (a seed plus the small offsets added to it stays a valid seed for torch, NumPy and scikit-learn, < 2**32)
    MAX_WIDTH: ClassVar[int] = 2**15  # a layer's width or a latent dimension: a width x width weight stays under 2**31 entries
    MAX_CONV_WIDTH: ClassVar[int] = 1024  # the first conv layer's channels (the deepest layers have 8 times as many)
    MAX_SAMPLES: ClassVar[int] = 10**6  # samples or values drawn (importance samples too)
    MAX_LENGTH: ClassVar[int] = 10**6  # symbols or frames in one sampled sequence
    MAX_COMPONENTS: ClassVar[int] = 1024  # components of a mixture

    @field_validator("*", mode="before")
    @classmethod
    def _no_boolean_for_a_number(cls, v, info: ValidationInfo):
        types = _scalar_types(cls.model_fields[info.field_name].annotation)
        if bool not in types and types & {int, float} and any(isinstance(x, bool) for x in _scalars(v)):
            raise ValueError("Input should be a number, not a boolean")
        return v

    @field_validator("hidden", check_fields=False)  # every section's `hidden`: layer widths
    @classmethod
    def _widths(cls, v):
        if isinstance(v, list) and any(not 1 <= h <= cls.MAX_WIDTH for h in v):
            raise ValueError(f"every width must be between 1 and {cls.MAX_WIDTH} (got {v})")
        return v

    @field_validator("*")
    @classmethod
    def _fits_a_c_int(cls, v):
        if any(type(x) is int and not -cls.MAX_INT - 1 <= x <= cls.MAX_INT for x in _scalars(v)):
            raise ValueError(f"Input should fit a C int, -{cls.MAX_INT + 1} to {cls.MAX_INT}")
        return v


class GradientParams(Section):
    """What the shared training loop reads from a model trained by gradient steps."""

    seed: int = Field(0, ge=0, description="seed of the initialisation, batch order and training noise")
    lr: float = Field(1e-3, gt=0, description="Adam learning rate")
    batch_size: int = Field(64, ge=1, description="training batch size")
    epochs: int = Field(500, ge=1, description="most epochs")
    patience: int = Field(30, ge=1, description="epochs without a better validation loss before stopping")
    weight_decay: float = Field(0.0, ge=0, description="Adam weight decay")
    lr_schedule: Literal["constant", "cosine"] = Field(
        "constant", description="cosine: the lr falls along a half cosine to lr_final * lr over `epochs`"
    )
    lr_final: float = Field(0.01, ge=0, le=1, description="final lr as a fraction of lr (lr_schedule: cosine)")
    max_steps: int | None = Field(
        None, ge=1, description="most optimisation steps in all (null: no cap); training stops there, validates and keeps "
        "its best weights: a deterministic budget (never a clock) that keeps a model's cost bounded on large data"
    )
