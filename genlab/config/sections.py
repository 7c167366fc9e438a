"""The pipeline's own params sections (`data`, `classifier`, `self_supervised`, `generate`,
`completion`, `evaluate`, `distributed`): plain types that the library's lower layers read, composed with the models'
sections into the params file by ``genlab.config.params``."""

from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import Field, field_validator

from genlab.config.schema import GradientParams, Section

MAX_IMAGE_SIZE = 4096  # `data.image_size`: a generous limit on the resized images' sides



class DataParams(Section):
    source: Literal["digits", "idx", "npz", "imagefolder", "csv", "normal", "text", "pianoroll", "midi"] = Field(
        "digits",
        description="the reader: `digits`, `idx`, `npz`, `imagefolder`, `csv`, `normal`, `text`, `pianoroll` or `midi` (see Bring your own data)",
    )
    path: str = Field(
        "data/raw", min_length=1,
        description="the raw data's file or folder (`text`: a UTF-8 file, or a folder of `.txt` files; `pianoroll`: a JSON file; `midi`: a folder of MIDI files); a dependency of `preprocess`",
    )
    seed: int = Field(0, ge=0, description="seed of the split, binarization, dequantization and the normal source")
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
    steps_per_beat: int = Field(1, ge=1, le=96, description="music: frames per beat (a quarter note); `midi` quantizes to it, MIDI and WAV output play at it")
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


class SelfSupervisedParams(GradientParams):
    """The self-supervised feature network of the sample metrics on unlabelled images (SimCLR's
    contrastive objective, trained by the shared loop on the train split without its labels)."""

    batch_size: int = Field(256, ge=2, description="images per step: each is drawn twice, augmented, and told apart from the other 2 x (batch_size - 1) views")
    epochs: int = Field(200, ge=1, description="most epochs")
    max_steps: Optional[int] = Field(1000, ge=1, description="most optimisation steps in all (null: no cap)")
    width: int = Field(32, ge=1, le=Section.MAX_CONV_WIDTH, description="channels of the first convolution (doubled at each halving of the image)")
    feature_dim: int = Field(64, ge=2, le=Section.MAX_WIDTH, description="width of the encoder's output: the sample metrics' feature space")
    temperature: float = Field(0.2, gt=0, le=10, description="temperature of the contrastive (NT-Xent) loss")
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
    primer_frames: int = Field(8, ge=0, le=Section.MAX_LENGTH, description="music: the opening frames of test pieces that every model continues to the piece's length (continuations/; `continuation_nll`); 0: none")
    continuations: int = Field(100, ge=1, le=Section.MAX_SAMPLES, description="music: test pieces continued (the first ones longer than `primer_frames`)")


MASKS = ("bottom", "centre", "random")


class CompletionParams(Section):
    masks: list[Literal["bottom", "centre", "random"]] = Field(
        default_factory=lambda: list(MASKS),
        description="images: the parts hidden from the test images that every model completes: `bottom` half, "
        "`centre` square of half the side, `random` half of the pixels (each image its own, seeded); [] for none",
    )
    n_images: int = Field(1000, ge=1, le=Section.MAX_SAMPLES, description="images: test images completed and scored (the first ones; fewer if the test split is smaller)")
    n_shown: int = Field(8, ge=1, le=64, description="images: test images in completions.png")
    draws_shown: int = Field(4, ge=1, le=16, description="images: completions of each in completions.png")
    steps: int = Field(200, ge=0, le=10000, description="images, models without exact conditional sampling: Metropolis-within-Gibbs steps (VAE), gradient steps on the latent code (GAN)")
    seed: int = Field(0, ge=0, description="seed of the random masks and of the completions")

    @field_validator("masks")
    @classmethod
    def _once_each(cls, v):
        if len(set(v)) < len(v):
            raise ValueError(f"a mask is listed twice (got {v})")
        return v


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
    features: Literal["auto", "classifier", "self_supervised"] = Field(
        "auto", description="images: the feature space of the sample metrics (FID, KID, precision/recall, density/coverage) and of the GAN's checkpoint choice: the `classifier` stage's (needs at least two classes), the `self_supervised` stage's (no labels needed), or `auto`: the classifier where there are at least two classes, else self-supervised"
    )


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
