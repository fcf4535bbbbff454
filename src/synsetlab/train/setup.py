"""Everything a run trains with, built from its config: data, model, optimiser, schedule,
EMA, loss, mixing. Libraries do the work (timm's optimisers, schedulers, EMA, mixup, losses);
this module only chooses and wires them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from timm.data import Mixup
from timm.data.random_erasing import RandomErasing
from timm.loss import BinaryCrossEntropy, SoftTargetCrossEntropy
from timm.optim import create_optimizer_v2
from timm.scheduler import create_scheduler_v2
from timm.utils import ModelEmaV3
from torch import nn

from synsetlab.blobs import BlobStore
from synsetlab.data import DeviceNormalize, ResumableSampler, VersionDataset, create_transform
from synsetlab.manifest import Manifest
from synsetlab.train.checkpoint import CheckpointError
from synsetlab.train.config import TrainConfig
from synsetlab.train.distributed import World
from synsetlab.train.loop import (
    Criterion,
    PlainCriterion,
    StepPlan,
    TrainingError,
    plan_steps,
)
from synsetlab.train.models import create_model, load_weights


def build_model(config: TrainConfig, num_classes: int) -> nn.Module:
    """The run's model, initialised from the seed (and ``config.pretrained`` when given)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = create_model(
            config.model,
            num_classes=num_classes,
            drop_rate=config.drop_rate,
            drop_path_rate=config.drop_path_rate,
            **config.model_kwargs,
        )
    if config.pretrained:
        load_pretrained(model, Path(config.pretrained))
    return model


def load_pretrained(model: nn.Module, path: Path) -> None:
    """Weights from a local file into ``model``: a synsetlab checkpoint (its EMA weights when
    kept), a timm checkpoint (``state_dict``) or a plain state dict (timm's or
    torchvision's). A head of another shape stays freshly initialised."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for unreadable files
        raise CheckpointError(f"cannot read pretrained weights {path}: {e}") from e
    if isinstance(state, dict) and "state_dict" in state:
        state = state.get("state_dict_ema") or state["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} holds no state dict")
    load_weights(model, state, strict_head=False)


def create_loss(config: TrainConfig, dataset: VersionDataset, device: torch.device) -> nn.Module:
    """Cross-entropy (smoothed, class-weighted with ``balance=loss``), its soft-target form
    under mixup/cutmix, or binary cross-entropy."""
    mixing = config.mixup > 0 or config.cutmix > 0
    if config.loss == "bce":
        return BinaryCrossEntropy(smoothing=0.0 if mixing else config.label_smoothing)
    if mixing:
        if config.balance == "loss":
            raise TrainingError("balance=loss cannot weight mixed labels: use balance=sampler")
        return SoftTargetCrossEntropy()  # mixup's soft targets carry the smoothing
    weight = None
    if config.balance == "loss":
        counts = dataset.class_counts().double()
        weight = (counts.sum() / (len(counts) * counts.clamp_min(1))).float().to(device)
    return nn.CrossEntropyLoss(weight=weight, label_smoothing=config.label_smoothing)


def sample_weights(config: TrainConfig, dataset: VersionDataset) -> torch.Tensor | None:
    """``balance=sampler``: each image drawn in inverse proportion to its class's size."""
    if config.balance != "sampler":
        return None
    counts = dataset.class_counts().double()
    return 1.0 / counts.clamp_min(1)[dataset.labels]


def create_optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    """timm's optimiser factory: no weight decay on norms and biases unless asked."""
    opt = config.optim
    return create_optimizer_v2(
        model,
        opt={"sgd": "nesterov" if opt.nesterov else "momentum"}.get(opt.name, opt.name),
        lr=opt.lr,
        weight_decay=opt.weight_decay,
        momentum=opt.momentum,
        filter_bias_and_bn=not opt.decay_norm_and_bias,
        layer_decay=opt.layer_decay,
    )


def create_scheduler(config: TrainConfig, optimizer: torch.optim.Optimizer, steps: int) -> Any:
    """timm's scheduler, updated every step (``step_update``): warmup, then cosine, step or
    constant. ``steps``: optimiser steps per epoch."""
    s = config.schedule
    stepped = s.name == "step"
    scheduler, _ = create_scheduler_v2(
        optimizer,
        sched="cosine" if s.name == "cosine" else "step",
        num_epochs=config.epochs,
        # A constant schedule is a step schedule that never decays.
        decay_epochs=s.decay_epochs if stepped else config.epochs + 1,
        decay_rate=s.decay_rate if stepped else 1.0,
        min_lr=s.min_lr,
        warmup_lr=s.warmup_lr,
        warmup_epochs=s.warmup_epochs,
        step_on_epochs=False,
        updates_per_epoch=steps,
    )
    return scheduler


@dataclass
class TrainingParts:
    """What one process trains with."""

    train_set: VersionDataset
    val_set: VersionDataset | None
    steps: StepPlan
    sampler: ResumableSampler
    normalize: DeviceNormalize
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    ema: ModelEmaV3 | None
    scaler: torch.amp.GradScaler
    criterion: Criterion
    mixup: Mixup | None
    erase: RandomErasing | None


def build_parts(
    config: TrainConfig,
    manifest: Manifest,
    blobs: BlobStore,
    device: torch.device,
    world: World,
) -> TrainingParts:
    """Datasets, sampler, model (on ``device``), optimiser, schedule, EMA, loss and mixing."""
    if device.type == "cpu" and config.amp and config.amp_dtype == "float16":
        raise TrainingError("float16 autocast is for CUDA; use --set amp_dtype=bfloat16 on CPU")
    data = config.data
    train_set = VersionDataset(
        manifest,
        config.train_split,
        blobs,
        transform=create_transform(data, train=True),
        decode_min_side=data.decode_size(train=True),
    )
    if (train_set.labels < 0).any():
        raise TrainingError(f"the {config.train_split!r} split has hidden labels: train on another")
    val_set = None
    if config.val_split and config.val_split in manifest.splits:
        val_set = VersionDataset(
            manifest,
            config.val_split,
            blobs,
            transform=create_transform(data, train=False),
            decode_min_side=data.decode_size(train=False),
        )
    steps = plan_steps(config, len(train_set), world)
    model = build_model(config, len(manifest.classes))
    if config.sync_bn and world.distributed:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model.to(device)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = create_optimizer(config, model)
    mixup = None
    if config.mixup > 0 or config.cutmix > 0:
        mixup = Mixup(
            mixup_alpha=config.mixup,
            cutmix_alpha=config.cutmix,
            label_smoothing=config.label_smoothing,
            num_classes=len(manifest.classes),
        )
    return TrainingParts(
        train_set=train_set,
        val_set=val_set,
        steps=steps,
        sampler=ResumableSampler(
            len(train_set),
            seed=config.seed,
            weights=sample_weights(config, train_set),
            num_replicas=world.size,
            rank=world.rank,
        ),
        normalize=DeviceNormalize(
            data.mean, data.std, device=device, channels_last=config.channels_last
        ),
        model=model,
        optimizer=optimizer,
        scheduler=create_scheduler(config, optimizer, steps.per_epoch),
        ema=ModelEmaV3(model, decay=config.ema_decay) if config.ema_decay else None,
        scaler=torch.amp.GradScaler(
            device.type, enabled=config.amp and config.amp_dtype == "float16"
        ),
        criterion=PlainCriterion(create_loss(config, train_set, device)),
        mixup=mixup,
        erase=(
            RandomErasing(config.random_erasing, mode="pixel", device=str(device))
            if config.random_erasing > 0
            else None
        ),
    )
