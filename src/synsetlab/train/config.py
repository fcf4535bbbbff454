"""The typed configuration of a training run: schemas only.

A run's config is a :class:`TrainConfig`, filled from a recipe and overrides by
:func:`synsetlab.train.resolve.resolve_config` and written with every run (``config.yaml``), as
timm's ``args.yaml``. This module is a leaf: it imports no module of the training stack, so
that reading, validating or showing a config does not load the code that trains.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from synsetlab.data.transforms import TransformConfig

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self from Python 3.11

#: The prefix of a torchvision model name (``tv/resnet18``); other names are timm's.
TORCHVISION_PREFIX = "tv/"


class OptimConfig(BaseModel):
    """The optimiser (timm's ``create_optimizer_v2``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: ``sgd`` (momentum, optionally Nesterov), ``adamw`` or ``lamb``.
    name: Literal["sgd", "adamw", "lamb"] = "sgd"
    #: Peak learning rate, for the global batch (no automatic scaling).
    lr: float = Field(default=0.1, gt=0)
    momentum: float = Field(default=0.9, ge=0, lt=1)
    nesterov: bool = False
    weight_decay: float = Field(default=5e-4, ge=0)
    #: Decay batch-norm weights and biases too (most recipes exempt them).
    decay_norm_and_bias: bool = False
    #: Clip the gradient norm to this (``None``: no clipping).
    clip_grad: float | None = Field(default=None, gt=0)
    #: Micro-batches per optimiser step: ``batch_size`` is split into this many.
    accum_steps: int = Field(default=1, ge=1)
    #: Layer-wise learning-rate decay (fine-tuning): the last layer gets ``lr``, each one
    #: before it this factor more less.
    layer_decay: float | None = Field(default=None, gt=0, le=1)


class ScheduleConfig(BaseModel):
    """The learning-rate schedule (timm's ``create_scheduler_v2``), updated every step."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Literal["cosine", "step", "constant"] = "cosine"
    #: Linear warmup from ``warmup_lr`` to the peak, in epochs.
    warmup_epochs: int = Field(default=0, ge=0)
    warmup_lr: float = Field(default=1e-6, ge=0)
    #: Floor of the cosine.
    min_lr: float = Field(default=0.0, ge=0)
    #: Step schedule: multiply by ``decay_rate`` every ``decay_epochs``.
    decay_epochs: int = Field(default=30, ge=1)
    decay_rate: float = Field(default=0.1, gt=0)


class AdversarialConfig(BaseModel):
    """Adversarial training: each batch is attacked before the loss. Pixel units of 1/255."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: ``none``: plain training; ``fgsm``: one signed-gradient step of ``epsilon``;
    #: ``pgd``: ``steps`` projected steps from a random start (Madry et al.).
    method: Literal["none", "fgsm", "pgd"] = "none"
    #: L-inf radius in pixel units of 1/255 (4 means 4/255; ImageNet's usual 4 or 8).
    epsilon: float = Field(default=4.0, ge=0)
    #: PGD iterations per batch (each costs a forward and a backward pass).
    steps: int = Field(default=7, ge=1)
    #: PGD step in pixel units of 1/255 (``None``: ``2.5 * epsilon / steps``).
    step_size: float | None = Field(default=None, gt=0)
    #: PGD starts from a uniform point of the ball (Madry et al.) rather than the image.
    random_start: bool = True
    #: Weight of the clean loss: ``(1 - w) * adversarial + w * clean`` (Goodfellow et al.
    #: used 0.5; 0 is plain Madry training, one forward pass fewer).
    clean_weight: float = Field(default=0.0, ge=0, le=1)


class DistillConfig(BaseModel):
    """Distillation from a teacher checkpoint (``TrainConfig.distill``; ``None``: off)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Path of the teacher's training checkpoint (its EMA weights when the run kept them);
    #: it must predict the student's classes in the same order.
    teacher: str
    #: Weight of the distillation term; ``1 - alpha`` weights the loss on the labels.
    alpha: float = Field(default=0.5, ge=0, le=1)
    #: Softmax temperature of both models in the distillation term (1: plain softmax).
    temperature: float = Field(default=4.0, gt=0)


class TrainConfig(BaseModel):
    """Everything that decides a run's result. Units in the comments."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: timm model name (``timm.list_models()``), or ``tv/<name>`` for a torchvision model.
    model: str = "resnet18"
    #: Extra keyword arguments of the model constructor (timm: e.g. ``channels``).
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    #: A local weights file to start from (state dict or a synsetlab/timm checkpoint); the
    #: head keeps the rows of classes both sides share.
    pretrained: str | None = None
    #: ``linear``: train only the classifier (a linear probe); ``full``: every weight.
    finetune: Literal["full", "linear"] = "full"
    #: Keep batch-norm statistics and affine weights as pretrained (always so when linear).
    freeze_bn: bool = False
    drop_rate: float = Field(default=0.0, ge=0, lt=1)
    drop_path_rate: float = Field(default=0.0, ge=0, lt=1)
    #: Passes over the training split.
    epochs: int = Field(default=90, ge=1)
    #: Images per optimiser step, over all processes together.
    batch_size: int = Field(default=256, ge=1)
    seed: int = 0
    data: TransformConfig = TransformConfig()
    optim: OptimConfig = OptimConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    #: ``ce``: cross-entropy; ``bce``: binary cross-entropy on one-hot targets (timm's A3).
    loss: Literal["ce", "bce"] = "ce"
    label_smoothing: float = Field(default=0.0, ge=0, lt=1)
    #: Mixup and CutMix alphas (0: off); both on: one or the other per batch.
    mixup: float = Field(default=0.0, ge=0)
    cutmix: float = Field(default=0.0, ge=0)
    #: Probability of random erasing per image (after normalisation).
    random_erasing: float = Field(default=0.0, ge=0, le=1)
    #: Class balance: ``sampler`` draws images inversely to their class size; ``loss``
    #: weights the loss by inverse class frequency.
    balance: Literal["none", "sampler", "loss"] = "none"
    #: Adversarial training: FGSM or PGD on every batch (pixel units of 1/255).
    adversarial: AdversarialConfig = AdversarialConfig()
    #: Knowledge distillation from a teacher checkpoint (``None``: off).
    distill: DistillConfig | None = None
    #: Decay of an exponential moving average of the weights (``None``: no EMA).
    ema_decay: float | None = Field(default=None, gt=0, lt=1)
    #: Mixed precision (autocast): ``auto`` turns it on where the device computes
    #: ``amp_dtype`` natively (a CPU with AVX512-BF16 or AMX, a GPU from Ampere on) and trains
    #: in fp32 elsewhere, where it would be emulated and slower (:mod:`synsetlab.train.hardware`);
    #: ``true``/``false`` are obeyed. A run records what ``auto`` chose, and its resume keeps it.
    amp: bool | Literal["auto"] = "auto"
    #: bfloat16 on CPU; bfloat16 or float16 (with a gradient scaler) on CUDA.
    amp_dtype: Literal["bfloat16", "float16"] = "bfloat16"
    channels_last: bool = False
    compile: bool = False
    #: Batch-norm statistics over all processes (SyncBatchNorm; CUDA only).
    sync_bn: bool = False
    #: Read the training split from this ``webdataset`` export of the same version (pre-resized
    #: shards stream faster) instead of the blob store. A mid-epoch resume needs the same
    #: ``workers`` and number of processes (they fix the stream's order); no ``balance=sampler``.
    shards: str | None = None
    #: Samples shuffled in memory when reading shards (their order is shuffled too).
    shuffle_buffer: int = Field(default=2000, ge=0)
    train_split: str = "train"
    val_split: str | None = "val"
    #: Validate every this many epochs (and after the last).
    eval_every: int = Field(default=1, ge=1)
    # Fields below change how a run is executed, never its result: a resume may change them.
    #: Stop after this many optimiser steps in all (a budget, or to interrupt on purpose).
    max_steps: int | None = Field(default=None, ge=1)
    #: Also write ``last.pt`` every this many steps (always at epoch ends).
    save_every_steps: int | None = Field(default=None, ge=1)
    #: Data-loading processes per training process.
    workers: int = Field(default=2, ge=0)
    #: torch's intra-op threads on the CPU (``None``: ``OMP_NUM_THREADS`` when set, else the
    #: available CPUs less those the loader and the rest of the machine need; see
    #: :func:`synsetlab.train.hardware.choose_threads`). The count changes float rounding: a
    #: resume continues bit for bit with the same count.
    threads: int | None = Field(default=None, ge=1)
    #: ``auto``: CUDA when available, else CPU.
    device: str = "auto"
    #: Process-group backend under torchrun. ``auto``: NCCL on CUDA, gloo on the CPU. gloo
    #: also carries CUDA tensors (DDP and SyncBN), for clusters without NCCL or for several
    #: processes sharing one GPU, which NCCL refuses.
    dist_backend: Literal["auto", "nccl", "gloo"] = "auto"

    @model_validator(mode="after")
    def _layer_decay_needs_full(self) -> TrainConfig:
        if self.finetune == "linear" and self.optim.layer_decay is not None:
            raise ValueError(
                "optim.layer_decay scales the lr of every layer, and a linear probe "
                "(finetune: linear) trains the classifier alone: drop it, or fine-tune fully"
            )
        return self

    @model_validator(mode="after")
    def _balance_loss_needs_hard_labels(self) -> TrainConfig:
        mixing = self.mixup > 0 or self.cutmix > 0
        if self.balance == "loss" and self.loss == "ce" and mixing:
            raise ValueError("balance=loss cannot weight mixed labels: use balance=sampler")
        return self

    @model_validator(mode="after")
    def _one_criterion(self) -> TrainConfig:
        if self.distill is not None and self.adversarial.method != "none":
            raise ValueError("adversarial training and distillation cannot be combined yet")
        return self


class LoopConfig(Protocol):
    """What the run machinery shared by classifiers and detectors reads of a run's config
    (:class:`TrainConfig`, :class:`~synsetlab.detect.config.DetectorConfig`): the batch, the
    optimiser and schedule, the precision, the step budget and the execution fields."""

    @property
    def epochs(self) -> int: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def seed(self) -> int: ...
    @property
    def optim(self) -> OptimConfig: ...
    @property
    def schedule(self) -> ScheduleConfig: ...
    @property
    def amp(self) -> bool | Literal["auto"]: ...
    @property
    def amp_dtype(self) -> Literal["bfloat16", "float16"]: ...
    @property
    def max_steps(self) -> int | None: ...
    @property
    def save_every_steps(self) -> int | None: ...
    @property
    def workers(self) -> int: ...
    @property
    def threads(self) -> int | None: ...
    @property
    def device(self) -> str: ...
    @property
    def dist_backend(self) -> Literal["auto", "nccl", "gloo"]: ...
    def model_copy(
        self, *, update: Mapping[str, Any] | None = None, deep: bool = False
    ) -> Self: ...


#: Fields a resumed run may change: they decide how the run executes, not its result.
EXECUTION_FIELDS = frozenset(
    {"max_steps", "save_every_steps", "workers", "threads", "device", "dist_backend"}
)


def describe(error: ValidationError) -> str:
    """Every problem of a validation error, as ``"field.path: message; ..."``."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in error.errors()
    )


__all__ = [
    "EXECUTION_FIELDS",
    "TORCHVISION_PREFIX",
    "AdversarialConfig",
    "DistillConfig",
    "LoopConfig",
    "OptimConfig",
    "ScheduleConfig",
    "TrainConfig",
    "describe",
]
