"""The configuration of a self-supervised pretraining run: schemas only, a leaf as
:mod:`synsetlab.train.config` is (resolved by
:func:`synsetlab.train.ssl.pretrain.resolve_ssl_config`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from synsetlab.errors import UserError
from synsetlab.train.config import TORCHVISION_PREFIX

#: The split name the pretraining images are gathered under.
UNLABELLED = "unlabelled"
#: The methods :data:`synsetlab.train.ssl.methods.METHODS` implements.
METHOD_NAMES = ("simclr", "moco")


#: Fields that change how a run executes, never its result: a resume may change them.
SSL_EXECUTION_FIELDS = frozenset({"workers", "threads", "device"})


class SSLError(UserError, ValueError):
    """A pretraining run cannot start or go on as asked; the message says what to change."""


class SSLConfig(BaseModel):
    """Everything that decides a pretraining run. Units in the comments."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: A key of :data:`METHOD_NAMES`: ``simclr`` or ``moco`` (MoCo v2).
    method: str = "simclr"
    #: timm model name of the backbone (torchvision models are not supported here).
    model: str = "resnet18"
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    #: Splits whose images (never labels) are pretrained on. The default includes val: its
    #: pixels are then seen, so val figures are transductive; the test split stays out unless
    #: named here.
    splits: tuple[str, ...] = ("train", "val")
    #: Also pretrain on the version's unlabelled images: those the catalog held without one
    #: label when the version was frozen (no class given, or candidates never settled).
    use_unlabelled: bool = False
    #: Side of the square views, in pixels.
    image_size: int = Field(default=64, ge=8)
    #: RandomResizedCrop's smallest crop, as a fraction of the picture's area.
    min_scale: float = Field(default=0.2, gt=0, le=1)
    #: Colour jitter strength s (SimCLR): brightness, contrast, saturation 0.8 s, hue 0.2 s,
    #: applied with probability 0.8.
    color_jitter: float = Field(default=0.5, ge=0, le=1.25)
    #: Probabilities of turning a view grey and of blurring it (kernel ~10% of the side).
    grayscale: float = Field(default=0.2, ge=0, le=1)
    blur: float = Field(default=0.5, ge=0, le=1)
    #: Passes over the images.
    epochs: int = Field(default=100, ge=1)
    #: Images per step (each seen as two views).
    batch_size: int = Field(default=256, ge=2)
    #: ``adamw``, or ``sgd`` with momentum 0.9 (no LARS).
    optimizer: Literal["adamw", "sgd"] = "adamw"
    #: Peak learning rate of a cosine schedule after a linear warmup.
    lr: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=1e-4, ge=0)
    warmup_epochs: int = Field(default=1, ge=0)
    #: Temperature of the NT-Xent / InfoNCE logits.
    temperature: float = Field(default=0.2, gt=0)
    #: Hidden and output widths of the projection head.
    proj_hidden_dim: int = Field(default=512, ge=1)
    proj_dim: int = Field(default=128, ge=1)
    #: MoCo: momentum of the key encoder's moving average; negatives kept in the queue.
    moco_momentum: float = Field(default=0.99, ge=0, lt=1)
    queue_size: int = Field(default=4096, ge=1)
    #: k-NN evaluation on val every this many epochs (and after the last); 0: never.
    knn_every: int = Field(default=1, ge=0)
    knn_k: int = Field(default=20, ge=1)
    knn_temperature: float = Field(default=0.07, gt=0)
    seed: int = 0
    # Fields below change how a run executes, never its result.
    #: Data-loading processes.
    workers: int = Field(default=0, ge=0)
    #: torch's intra-op threads on the CPU (``None``: as training chooses them, see
    #: :func:`synsetlab.train.hardware.choose_threads`).
    threads: int | None = Field(default=None, ge=1)
    #: ``auto``: CUDA when available, else CPU.
    device: str = "auto"

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        if value not in METHOD_NAMES:
            raise ValueError(f"unknown method {value!r}: one of {', '.join(METHOD_NAMES)}")
        return value

    @field_validator("model")
    @classmethod
    def _timm_model(cls, value: str) -> str:
        if value.startswith(TORCHVISION_PREFIX):
            raise ValueError(f"{value!r}: pretraining takes timm backbones, not torchvision's")
        return value
