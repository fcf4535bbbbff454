"""Everything a run trains with, built from its config: data, model, optimiser, schedule,
EMA, loss and mixing (:class:`TrainingParts`). Libraries do the work (timm's optimisers,
schedulers, EMA, mixup, losses); this module only chooses and wires them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from timm.data import Mixup
from timm.data.random_erasing import RandomErasing
from timm.optim import create_optimizer_v2
from timm.scheduler import create_scheduler_v2
from timm.utils import ModelEmaV3
from torch import nn
from torch.utils.data import DataLoader

from synsetlab.blobs import BlobStore
from synsetlab.data import (
    DeviceNormalize,
    ResumableSampler,
    ShardDataset,
    VersionDataset,
    create_loader,
    create_transform,
    shard_dataset,
)
from synsetlab.errors import UserError
from synsetlab.manifest import Manifest
from synsetlab.train.config import LoopConfig, TrainConfig
from synsetlab.train.criteria import Criterion, create_criterion
from synsetlab.train.distributed import World
from synsetlab.train.finetune import load_pretrained, set_trainable
from synsetlab.train.hardware import resolve_amp
from synsetlab.train.loop import StepPlan, TrainingError, plan_steps
from synsetlab.train.models import create_model


def build_model(config: TrainConfig, classes: Sequence[str]) -> nn.Module:
    """The run's model, initialised from the seed, then from ``config.pretrained`` when given
    (see :func:`synsetlab.train.finetune.load_pretrained`); ``finetune=linear`` leaves only the
    classifier trainable."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = create_model(
            config.model,
            num_classes=len(classes),
            drop_rate=config.drop_rate,
            drop_path_rate=config.drop_path_rate,
            **config.model_kwargs,
        )
    if config.pretrained:
        load_pretrained(model, Path(config.pretrained), classes)
    set_trainable(model, config)
    return model


def sample_weights(config: TrainConfig, dataset: VersionDataset) -> torch.Tensor | None:
    """``balance=sampler``: each image drawn in inverse proportion to its class's size."""
    if config.balance != "sampler":
        return None
    counts = dataset.class_counts().double()
    return 1.0 / counts.clamp_min(1)[dataset.labels]


def check_precision(
    config: LoopConfig, device: torch.device, *, error: type[UserError] = TrainingError
) -> None:
    """Refuse, with ``error``, an autocast dtype ``device`` cannot run (``amp`` decided)."""
    if device.type == "cpu" and config.amp and config.amp_dtype == "float16":
        raise error("float16 autocast is for CUDA; use --set amp_dtype=bfloat16 on CPU")
    bf16 = config.amp and config.amp_dtype == "bfloat16"
    if bf16 and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise error(
            f"{torch.cuda.get_device_name(device)} has no bfloat16: use --set amp_dtype=float16 "
            "(with a gradient scaler) or --no-amp"
        )


def create_optimizer(config: LoopConfig, model: nn.Module) -> torch.optim.Optimizer:
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


def create_scheduler(config: LoopConfig, optimizer: torch.optim.Optimizer, steps: int) -> Any:
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

    #: The blob-store split (class counts, labels); read from it unless ``shards``.
    train_set: VersionDataset
    val_set: VersionDataset | None
    #: The training stream when the config names shards.
    shards: ShardDataset | None
    steps: StepPlan
    sampler: ResumableSampler
    #: Built once: their worker processes live as long as the run.
    train_loader: DataLoader
    val_loader: DataLoader | None
    normalize: DeviceNormalize
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    ema: ModelEmaV3 | None
    scaler: torch.amp.GradScaler
    criterion: Criterion
    mixup: Mixup | None
    erase: RandomErasing | None


def _shards(config: TrainConfig, manifest: Manifest, version_id: str, world: World) -> ShardDataset:
    """The training split streamed from ``config.shards``, checked to be this version's."""
    if config.balance == "sampler":
        raise TrainingError(
            "balance=sampler needs the blob store: drop shards, or use balance=loss"
        )
    data = config.data
    dataset = shard_dataset(
        config.shards or "", config.train_split, transform=create_transform(data, train=True),
        decode_min_side=data.decode_size(train=True), shuffle_buffer=config.shuffle_buffer,
        seed=config.seed, resampled=world.distributed,  # equal counts on every rank
        as_tensor=True,  # raw (.ppm) shards then skip PIL: create_transform takes tensors
    )  # fmt: skip
    if dataset.version is not None and dataset.version != version_id:
        raise TrainingError(
            f"{config.shards} is an export of version {dataset.version[:12]}, not "
            f"{version_id[:12]}: export this version "
            "(synsetlab export V --format webdataset OUT --short-side 256)"
        )
    if list(dataset.classes) != list(manifest.classes):
        raise TrainingError(
            f"{config.shards} orders its classes otherwise: export with --class-order sorted"
        )
    return dataset


def build_parts(
    config: TrainConfig,
    manifest: Manifest,
    blobs: BlobStore,
    device: torch.device,
    world: World,
    version_id: str = "",
) -> TrainingParts:
    """Datasets, sampler, model (on ``device``), optimiser, schedule, EMA, loss and mixing."""
    if config.sync_bn and world.distributed and device.type == "cpu":
        raise TrainingError("sync_bn needs CUDA devices (torch syncs batch norm on GPUs only)")
    if config.amp == "auto":
        config, _ = resolve_amp(config, device)
    check_precision(config, device, error=TrainingError)
    data = config.data
    train_set = VersionDataset.with_transform(manifest, config.train_split, blobs, data, train=True)
    if (train_set.labels < 0).any():
        raise TrainingError(f"the {config.train_split!r} split has hidden labels: train on another")
    val_set = None
    if config.val_split and config.val_split in manifest.splits:
        val_set = VersionDataset.with_transform(
            manifest, config.val_split, blobs, data, train=False
        )
    shards = _shards(config, manifest, version_id, world) if config.shards else None
    size = len(train_set) if shards is None else len(shards) * world.size
    steps = plan_steps(config, size, world)
    sampler = ResumableSampler(
        len(train_set),
        seed=config.seed,
        weights=sample_weights(config, train_set),
        num_replicas=world.size,
        rank=world.rank,
    )
    cuda = device.type == "cuda"
    loaders = {"workers": config.workers, "pin_memory": cuda, "persistent": True}
    if shards is None:
        train_loader = create_loader(
            train_set, batch_size=steps.micro, sampler=sampler, drop_last=True, **loaders
        )
    else:
        train_loader = create_loader(shards, batch_size=steps.micro, drop_last=True, **loaders)
    model = build_model(config, manifest.classes)
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
        sampler=sampler,
        shards=shards,
        train_loader=train_loader,
        val_loader=None
        if val_set is None
        else create_loader(val_set, batch_size=steps.per_process, **loaders),
        normalize=DeviceNormalize(
            data.mean, data.std, device=device, channels_last=config.channels_last
        ),
        model=model,
        optimizer=optimizer,
        scheduler=create_scheduler(config, optimizer, steps.per_epoch),
        ema=ModelEmaV3(model, decay=config.ema_decay) if config.ema_decay else None,
        scaler=torch.amp.GradScaler(
            device.type, enabled=config.amp is True and config.amp_dtype == "float16"
        ),
        criterion=create_criterion(config, train_set, device, manifest.classes),
        mixup=mixup,
        erase=(
            RandomErasing(config.random_erasing, mode="pixel", device=str(device))
            if config.random_erasing > 0
            else None
        ),
    )
