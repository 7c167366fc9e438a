"""Base classes of the params schema, shared by ``genlab.params`` and the models' own sections."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Section(BaseModel):
    """One section of params.yaml; an unknown (misspelt) key is an error, never ignored."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


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
