"""The typed configuration of a training run, filled from a recipe YAML and overrides.

A recipe is a YAML file of this package's ``recipes/`` folder (or any path) holding a partial
:class:`TrainConfig`; overrides (CLI flags, ``--set section.key=value``) are applied on top,
and the resolved config is written with every run (``config.yaml``), as timm's ``args.yaml``.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Collection
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from synsetlab.data.transforms import TransformConfig
from synsetlab.errors import UserError
from synsetlab.train.adversarial import AdversarialConfig
from synsetlab.train.checkpoint import saved_config
from synsetlab.train.distill import DistillConfig


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


#: Fields a resumed run may change: they decide how the run executes, not its result.
EXECUTION_FIELDS = frozenset(
    {"max_steps", "save_every_steps", "workers", "threads", "device", "dist_backend"}
)


class RecipeError(UserError, ValueError):
    """A recipe or override cannot be read or does not fit :class:`TrainConfig`."""


def recipe_names() -> list[str]:
    """The recipes shipped with the package."""
    folder = resources.files("synsetlab.train") / "recipes"
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


def load_recipe(name_or_path: str) -> dict[str, Any]:
    """A recipe's raw values: a shipped recipe by name, or a YAML file by path."""
    path = Path(name_or_path).expanduser()
    if path.suffix in (".yaml", ".yml") and path.is_file():
        text = path.read_text(encoding="utf-8")
    else:
        resource = resources.files("synsetlab.train") / "recipes" / f"{name_or_path}.yaml"
        if not resource.is_file():
            raise RecipeError(
                f"no recipe {name_or_path!r}; shipped recipes: {', '.join(recipe_names())}, "
                "or give the path of a .yaml file"
            )
        text = resource.read_text(encoding="utf-8")
    try:
        values = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise RecipeError(f"recipe {name_or_path!r} is not valid YAML: {e}") from e
    if not isinstance(values, dict):
        raise RecipeError(f"recipe {name_or_path!r} must be a mapping of config fields")
    values.pop("description", None)
    return values


def parse_assignment(text: str) -> tuple[list[str], Any]:
    """``"optim.lr=0.05"`` -> ``(["optim", "lr"], 0.05)``; the value is read as YAML."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise RecipeError(f"override {text!r} is not KEY=VALUE (e.g. optim.lr=0.05)")
    return key.strip().split("."), yaml.safe_load(raw)


def resolve_config(
    recipe: str | dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
    assignments: list[str] = (),  # type: ignore[assignment]
    *,
    resume: Path | None = None,
) -> TrainConfig:
    """The config of a recipe (a name, a YAML path, or the values themselves, e.g. a
    checkpoint's config; none: the defaults, or with ``resume`` that checkpoint's own config
    less its execution fields), then ``overrides`` (dotted keys -> values, ``None`` values
    ignored), then ``assignments`` (``"section.key=value"`` strings)."""
    saved = saved_config(resume, execution=EXECUTION_FIELDS) if resume is not None else None
    if recipe is None:
        recipe = saved
    if isinstance(recipe, dict):
        values: dict[str, Any] = copy.deepcopy(recipe)
    else:
        values = load_recipe(recipe) if recipe else {}
    items = [(key.split("."), v) for key, v in (overrides or {}).items() if v is not None]
    items += [parse_assignment(a) for a in assignments]
    for path, value in items:
        target = values
        for part in path[:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise RecipeError(f"{'.'.join(path)}: {part} is not a section")
        target[path[-1]] = value
    try:
        config = TrainConfig.model_validate(values)
    except ValidationError as e:
        raise RecipeError(f"invalid training config ({describe(e)})") from e
    return inherit_amp(config, saved)


def inherit_amp(config: TrainConfig, saved: dict[str, Any] | None) -> TrainConfig:
    """``config`` resuming a run saved with ``saved`` (its config): ``amp: auto`` keeps the
    precision the run chose when it started, wherever it resumes (the choice depends on the
    machine, and a resume must continue the same computation)."""
    if config.amp == "auto" and saved is not None and isinstance(saved.get("amp"), bool):
        return config.model_copy(update={"amp": saved["amp"]})
    return config


def describe(error: ValidationError) -> str:
    """Every problem of a validation error, as ``"field.path: message; ..."``."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in error.errors()
    )


def config_changes(
    old: dict[str, Any], new: BaseModel, ignore: Collection[str] = EXECUTION_FIELDS
) -> dict[str, tuple[Any, Any]]:
    """The fields that differ between a saved config and ``new`` (a :class:`TrainConfig`, or
    another run config), except ``ignore``: dotted name -> (saved value, new value), sorted
    by name."""
    with contextlib.suppress(ValidationError):  # fields added since count at their defaults
        old = type(new).model_validate(old).model_dump(mode="json")
    before, after = _flatten(old), _flatten(new.model_dump(mode="json"))
    return {
        key: (before.get(key), after.get(key))
        for key in sorted(set(before) | set(after))
        if key not in ignore and before.get(key) != after.get(key)
    }


def check_resume(
    changes: dict[str, tuple[Any, Any]],
    same_version: bool,
    *,
    force: bool,
    error: type[ValueError],
) -> bool:
    """Refuse (``error``) a resume whose config (see :func:`config_changes`) or dataset
    version changed, naming each change, unless ``force``. Returns whether anything changed:
    then the run carries on under the new settings."""
    listed = [f"{key} ({_short(a)} -> {_short(b)})" for key, (a, b) in changes.items()]
    if not same_version:
        listed.append("dataset version")
    if listed and not force:
        raise error(
            f"the config differs from the checkpoint's in {', '.join(listed)}: resuming would "
            "not continue the same run. Pass --force to resume anyway (weights and optimiser "
            "state carry on under the new settings), or start a new run"
        )
    return bool(listed)


def _short(value: Any) -> str:
    """A config value as the refusal of a changed config shows it."""
    text = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict) and key != "model_kwargs":
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
