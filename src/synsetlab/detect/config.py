"""The typed configuration of a detector training run: schemas only.

A run's config is a :class:`DetectorConfig`, filled from a detector recipe
(``synsetlab/detect/recipes/*.yaml``) and overrides by :func:`resolve_detector_config`, and
written with every run (``config.yaml``) and in its checkpoints. The optimiser and schedule are
the classifiers' (:class:`~synsetlab.train.config.OptimConfig`,
:class:`~synsetlab.train.config.ScheduleConfig`). This module is a leaf: it imports no module
that trains.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from synsetlab.errors import UserError
from synsetlab.train.config import EXECUTION_FIELDS, OptimConfig, ScheduleConfig


class DetectorError(UserError, ValueError):
    """A detector cannot be built, trained or used as asked; the message says what to do."""


class DetectorConfig(BaseModel):
    """Everything that decides a detector run's result. Units in the comments."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: A detector of :data:`synsetlab.detect.models.DETECTORS`: torchvision's
    #: ``fasterrcnn_mobilenet_v3_large_fpn``, ``fasterrcnn_mobilenet_v3_large_320_fpn``,
    #: ``fasterrcnn_resnet50_fpn``, or ``fasterrcnn`` over any timm backbone.
    model: str = "fasterrcnn_mobilenet_v3_large_fpn"
    #: Extra keyword arguments of torchvision's ``FasterRCNN`` (``rpn_batch_size_per_image``,
    #: ``box_detections_per_img``, ...).
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    #: ``fasterrcnn`` only: the timm backbone and its constructor's keyword arguments. With
    #: ``backbone_from``, the checkpoint's architecture and kwargs (a backbone named here
    #: must be the checkpoint's).
    backbone: str | None = None
    backbone_kwargs: dict[str, Any] = Field(default_factory=dict)
    #: ``fasterrcnn`` only: the backbone's feature levels (timm ``out_indices``) under the FPN.
    out_indices: tuple[int, ...] = (1, 2, 3, 4)
    #: ``fasterrcnn`` only: channels of the FPN's outputs, and of the box head's two layers.
    fpn_channels: int = Field(default=256, ge=1)
    box_head_size: int = Field(default=1024, ge=1)
    #: A synsetlab classification checkpoint (``synsetlab train`` or ``pretrain``) whose
    #: weights start the backbone: the pretrain-then-fine-tune story.
    backbone_from: str | None = None
    #: A local weights file (state dict, timm or torchvision weights) for the backbone.
    backbone_weights: str | None = None
    #: Anchor side per FPN level, pixels of the resized image (``None``: the model's own).
    anchor_sizes: tuple[int, ...] | None = None
    #: RoI feature extraction of the box head: ``align`` (RoIAlign, torchvision's) or
    #: ``pool`` (RoI max pooling, as Fast R-CNN).
    roi_op: Literal["align", "pool"] = "align"
    #: Images are resized so that their short side is ``min_size`` pixels and their long side
    #: at most ``max_size`` (``None``: the model's own, 800/1333 or 320/640).
    min_size: int | None = Field(default=None, ge=8)
    max_size: int | None = Field(default=None, ge=8)
    #: Channel mean and std on the 0-1 scale (``None``: the backbone checkpoint's, else
    #: ImageNet's); the run records what it used.
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    #: Backbone stages trained when it starts from weights (the others and every batch norm
    #: are frozen, as torchvision does); from scratch every layer trains (``None``: 3).
    trainable_backbone_layers: int | None = Field(default=None, ge=0)
    #: Passes over the training split.
    epochs: int = Field(default=12, ge=1)
    #: Images per optimiser step, over all processes together.
    batch_size: int = Field(default=8, ge=1)
    seed: int = 0
    optim: OptimConfig = OptimConfig(lr=0.02, weight_decay=1e-4)
    schedule: ScheduleConfig = ScheduleConfig()
    #: Probability of a horizontal flip of a training image (with its boxes).
    hflip: float = Field(default=0.5, ge=0, le=1)
    #: Train on the boxes of this fraction of the training images that have boxes (a seeded
    #: draw; the others leave the run, since their objects would teach "background"). Images
    #: without boxes stay as negatives.
    box_fraction: float = Field(default=1.0, gt=0, le=1)
    #: Mixed precision (autocast), as :class:`~synsetlab.train.config.TrainConfig`'s:
    #: ``auto`` turns it on where the device computes ``amp_dtype`` natively.
    amp: bool | Literal["auto"] = "auto"
    amp_dtype: Literal["bfloat16", "float16"] = "bfloat16"
    train_split: str = "train"
    val_split: str | None = "val"
    #: Validate (DET mean AP) every this many epochs (and after the last).
    eval_every: int = Field(default=1, ge=1)
    # Fields below change how a run is executed, never its result: a resume may change them.
    #: Stop after this many optimiser steps in all.
    max_steps: int | None = Field(default=None, ge=1)
    #: Also write ``last.pt`` every this many steps (always at epoch ends).
    save_every_steps: int | None = Field(default=None, ge=1)
    #: Data-loading processes per training process.
    workers: int = Field(default=2, ge=0)
    #: torch's intra-op threads on the CPU (``None``: chosen for the machine).
    threads: int | None = Field(default=None, ge=1)
    #: ``auto``: CUDA when available, else CPU.
    device: str = "auto"
    #: Process-group backend under torchrun (``auto``: NCCL on CUDA, gloo on the CPU).
    dist_backend: Literal["auto", "nccl", "gloo"] = "auto"

    @model_validator(mode="after")
    def _one_weights_source(self) -> DetectorConfig:
        if self.backbone_from and self.backbone_weights:
            raise ValueError("backbone_from and backbone_weights both start the backbone: give one")
        if self.min_size and self.max_size and self.max_size < self.min_size:
            raise ValueError(f"max_size {self.max_size} is below min_size {self.min_size}")
        return self


#: Fields a resumed run may change: they decide how the run executes, not its result (the
#: classifiers' execution fields, which a detector run has alike).
DETECTOR_EXECUTION_FIELDS = EXECUTION_FIELDS

__all__ = ["DETECTOR_EXECUTION_FIELDS", "DetectorConfig", "DetectorError"]
