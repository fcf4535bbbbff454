"""Everything a run trains with, built from its config: data, model, optimiser, schedule,
EMA, loss, mixing. Libraries do the work (timm's optimisers, schedulers, EMA, mixup, losses);
this module only chooses and wires them."""

from __future__ import annotations

from collections.abc import Sequence
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
from synsetlab.manifest import Manifest
from synsetlab.taxonomy.ilsvrc import ilsvrc2012_wnids
from synsetlab.train.adversarial import create_criterion as create_adversarial_criterion
from synsetlab.train.checkpoint import (
    CheckpointError,
    checkpoint_file,
    evaluation_weights,
    saved_config,
)
from synsetlab.train.config import EXECUTION_FIELDS, TrainConfig
from synsetlab.train.distill import create_distillation_criterion
from synsetlab.train.distributed import World
from synsetlab.train.hardware import AmpChoice, choose_amp, choose_threads, local_processes
from synsetlab.train.loop import (
    NORM_LAYERS,
    Criterion,
    StepPlan,
    TrainingError,
    plan_steps,
)
from synsetlab.train.models import ModelError, classifier_prefix, create_model, load_weights


def resolve_amp(config: TrainConfig, device: torch.device) -> tuple[TrainConfig, AmpChoice]:
    """``config`` with ``amp: auto`` decided for ``device`` (see
    :func:`synsetlab.train.hardware.choose_amp`), and the choice with its reason. A run saves
    the decided config, so that its resume trains in the same precision anywhere."""
    choice = choose_amp(config.amp, config.amp_dtype, device)
    return config.model_copy(update={"amp": choice.enabled}), choice


def hardware_notes(config: TrainConfig, device: torch.device) -> str:
    """What a run of ``config`` on ``device`` decides about the hardware, in one line: its
    precision and (on the CPU) torch's threads, each with the reason."""
    notes = [resolve_amp(config, device)[1].describe()]
    if device.type == "cpu":
        threads = choose_threads(config.threads, workers=config.workers,
                                 processes=local_processes())  # fmt: skip
        notes.append(threads.describe())
    return "; ".join(notes)


def build_model(config: TrainConfig, classes: Sequence[str]) -> nn.Module:
    """The run's model, initialised from the seed, then from ``config.pretrained`` when given
    (see :func:`load_pretrained`); ``finetune=linear`` leaves only the classifier trainable."""
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
    if config.finetune == "linear":
        head = classifier_prefix(model) + "."
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(name.startswith(head))
    elif config.freeze_bn:
        for module in model.modules():
            if isinstance(module, NORM_LAYERS):
                module.requires_grad_(False)
    return model


def read_weights(path: Path) -> tuple[dict[str, torch.Tensor], list[str] | None]:
    """A weights file's state dict and, when known, the classes its head's rows stand for.

    Accepted: a synsetlab checkpoint (its EMA weights when kept; classes recorded), a timm
    training checkpoint (``state_dict``), a plain state dict as timm or torchvision publish
    them (``.pth``/``.bin``, or ``.safetensors``). A head of 1000 rows without recorded
    classes is taken to be ImageNet-1k's, in the sorted wnid order torchvision and timm use.
    """
    path = checkpoint_file(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: Any = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch and safetensors raise several types for unreadable files
        # Not torch's own text: it advises weights_only=False, which runs the file's code.
        raise CheckpointError(
            f"cannot read pretrained weights {path} ({type(e).__name__}): it is corrupt, "
            "truncated, or not a PyTorch (.pt, .pth, .bin) or .safetensors weights file"
        ) from e
    classes = None
    if isinstance(state, dict) and "state_dict" in state:
        classes = state.get("classes")
        state, _ = evaluation_weights(state)
    if not isinstance(state, dict) or not state:
        raise CheckpointError(f"{path} holds no state dict")
    return state, None if classes is None else list(classes)


def source_config(path: Path, *, linear: bool = False) -> dict[str, Any] | None:
    """The training config a synsetlab checkpoint records (``None`` for other files), minus
    what a new run must not inherit: where it ran and what it started from, the precision
    the source's machine chose (the new run decides for its own: ``amp: auto``), and for a
    ``linear`` probe the layer decay a full fine-tune may have used."""
    inherited = saved_config(path, execution=EXECUTION_FIELDS)
    if inherited is not None:
        for name in ("pretrained", "finetune", "freeze_bn", "amp"):
            inherited.pop(name, None)
        if linear:
            inherited.get("optim", {}).pop("layer_decay", None)
    return inherited


def load_pretrained(model: nn.Module, path: Path, classes: Sequence[str]) -> int:
    """Weights from a local file (see :func:`read_weights`) into ``model`` whose head predicts
    ``classes``. The head keeps the trained row of every class both sides share (by wnid);
    other rows stay freshly initialised. Returns the number of rows kept."""
    state, source_classes = read_weights(path)
    head = classifier_prefix(model)
    weight_key, bias_key = f"{head}.weight", f"{head}.bias"
    own = model.state_dict()
    if weight_key in state and weight_key in own:
        rows = state[weight_key].shape[0]
        if source_classes is None and rows == 1000:
            source_classes = ilsvrc2012_wnids("sorted")
        if source_classes is not None and len(source_classes) != rows:
            raise CheckpointError(f"{path}: {len(source_classes)} classes for {rows} head rows")
        new_weight, new_bias = own[weight_key].clone(), own.get(bias_key)
        new_bias = None if new_bias is None else new_bias.clone()
        index = {wnid: i for i, wnid in enumerate(source_classes or [])}
        kept = 0
        if state[weight_key].shape[1:] == new_weight.shape[1:]:
            for target, wnid in enumerate(classes):
                if wnid in index:
                    new_weight[target] = state[weight_key][index[wnid]]
                    if new_bias is not None and bias_key in state:
                        new_bias[target] = state[bias_key][index[wnid]]
                    kept += 1
        state = {**state, weight_key: new_weight}
        if new_bias is not None:
            state[bias_key] = new_bias
    else:
        kept = 0
    try:
        load_weights(model, state, strict_head=False)
    except ModelError as e:
        raise ModelError(
            f"{path}: {e}; fine-tune without --recipe to take the source's own settings, "
            "or pass --model"
        ) from e
    return kept


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


def create_criterion(
    config: TrainConfig, dataset: VersionDataset, device: torch.device, classes: Sequence[str]
) -> Criterion:
    """The loss of a batch: plain, on adversarial inputs (``config.adversarial``), or with a
    teacher's soft targets (``config.distill``)."""
    loss_fn = create_loss(config, dataset, device)
    attacked = config.adversarial.method != "none"
    if config.distill is not None:
        if attacked:
            raise TrainingError("adversarial training and distillation cannot be combined yet")
        return create_distillation_criterion(
            config.distill, loss_fn, data=config.data, device=device, classes=classes
        )
    return create_adversarial_criterion(
        config.adversarial, loss_fn, config.data.mean, config.data.std
    )


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
    if device.type == "cpu" and config.amp and config.amp_dtype == "float16":
        raise TrainingError("float16 autocast is for CUDA; use --set amp_dtype=bfloat16 on CPU")
    bf16 = config.amp and config.amp_dtype == "bfloat16"
    if bf16 and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise TrainingError(
            f"{torch.cuda.get_device_name(device)} has no bfloat16: use --set amp_dtype=float16 "
            "(with a gradient scaler) or --no-amp"
        )
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
