"""The training loop, in the shape of torchvision's reference script: ``train_one_epoch``,
``evaluate`` and ``train`` (its ``main``), on a frozen dataset version.

Exactness: every optimiser step reseeds the global RNGs from ``(seed, step)`` and every sample
is augmented from its own seed (:class:`synsetlab.data.ResumableSampler`), so a run resumed
from any step (mid-epoch too) computes what an uninterrupted one would, bit for bit on the CPU.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual torch spelling
import yaml
from timm.data import Mixup
from timm.data.random_erasing import RandomErasing
from timm.loss import BinaryCrossEntropy, SoftTargetCrossEntropy
from timm.optim import create_optimizer_v2
from timm.scheduler import create_scheduler_v2
from timm.utils import ModelEmaV3
from torch import nn
from torch.nn.parallel import DistributedDataParallel

import synsetlab
from synsetlab.blobs import BlobStore
from synsetlab.data import (
    DeviceNormalize,
    ResumableSampler,
    VersionDataset,
    create_loader,
    create_transform,
)
from synsetlab.data.loader import _mix
from synsetlab.manifest import Manifest
from synsetlab.train.checkpoint import (
    CheckpointError,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from synsetlab.train.config import TrainConfig, config_changes
from synsetlab.train.distributed import (
    World,
    all_reduce_mean,
    barrier,
    close_world,
    init_world,
    resolve_device,
)
from synsetlab.train.models import create_model, load_weights


class TrainingError(RuntimeError):
    """Training cannot go on; the message says why and what to try."""


class Reporter(Protocol):
    """What the loop tells its caller (the CLI draws progress bars from it)."""

    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None: ...
    def step(self, images: int, loss: float, lr: float) -> None: ...
    def epoch_end(self, record: dict[str, Any]) -> None: ...


class SilentReporter:
    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None:
        pass

    def step(self, images: int, loss: float, lr: float) -> None:
        pass

    def epoch_end(self, record: dict[str, Any]) -> None:
        pass


@dataclass(frozen=True)
class RunPaths:
    """The files of a run folder."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def last(self) -> Path:
        return self.root / "last.pt"

    @property
    def best(self) -> Path:
        return self.root / "best.pt"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    @property
    def curves(self) -> Path:
        return self.root / "curves.png"


@dataclass
class TrainResult:
    paths: RunPaths
    epochs_done: int
    global_step: int
    #: True when ``max_steps`` stopped the run before its last epoch ended.
    stopped_early: bool
    history: list[dict[str, Any]] = field(default_factory=list)
    best_val_top1_error: float | None = None


@dataclass
class _Steps:
    """How a global batch splits over processes and micro-batches."""

    per_process: int
    micro: int
    accum: int
    per_epoch: int


def _plan_steps(config: TrainConfig, dataset_size: int, world: World) -> _Steps:
    if config.batch_size % world.size:
        raise TrainingError(
            f"batch size {config.batch_size} does not split over {world.size} processes"
        )
    per_process = config.batch_size // world.size
    accum = config.optim.accum_steps
    if per_process % accum:
        raise TrainingError(
            f"the per-process batch {per_process} does not split into {accum} micro-batches"
        )
    per_rank_samples = -(-dataset_size // world.size)
    per_epoch = per_rank_samples // per_process  # full batches only, as timm's train.py
    if per_epoch == 0:
        raise TrainingError(
            f"the training split has {dataset_size} images, fewer than one batch of "
            f"{config.batch_size}: lower --batch-size"
        )
    return _Steps(per_process, per_process // accum, accum, per_epoch)


def _reseed(seed: int, step: int) -> None:
    """Global RNGs (dropout, drop-path, mixup, erasing) as a function of the step alone."""
    value = _mix(seed, step, 2)
    torch.manual_seed(value)
    random.seed(value)
    np.random.seed(value % 2**32)


def _autocast(config: TrainConfig, device: torch.device):
    if not config.amp:
        return nullcontext()
    dtype = torch.bfloat16 if config.amp_dtype == "bfloat16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)


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
    except Exception as e:
        raise CheckpointError(f"cannot read pretrained weights {path}: {e}") from e
    if isinstance(state, dict) and "state_dict" in state:
        state = state.get("state_dict_ema") or state["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} holds no state dict")
    load_weights(model, state, strict_head=False)


def train_one_epoch(
    model: nn.Module,
    loader: Iterator[tuple[torch.Tensor, torch.Tensor]],
    *,
    config: TrainConfig,
    steps: _Steps,
    first_step: int,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    loss_fn: nn.Module,
    normalize: DeviceNormalize,
    device: torch.device,
    world: World,
    mixup: Mixup | None,
    erase: RandomErasing | None,
    ema: ModelEmaV3 | None,
    scaler: torch.amp.GradScaler,
    reporter: Reporter,
    on_step_end: Any,
) -> tuple[float, int]:
    """Optimiser steps until the loader ends or ``on_step_end`` says stop.

    Returns (mean loss over the steps taken, steps taken). ``on_step_end(global_step)``
    returns True to stop after that step (a step budget, or a mid-epoch checkpoint).
    """
    model.train()
    total, taken, step = 0.0, 0, first_step
    batches = iter(loader)
    while True:
        micro_batches = []
        for _ in range(steps.accum):
            batch = next(batches, None)
            if batch is None:
                break
            micro_batches.append(batch)
        if len(micro_batches) < steps.accum:
            break
        _reseed(config.seed, step)
        scheduler.step_update(num_updates=step)
        optimizer.zero_grad(set_to_none=True)
        step_loss = 0.0
        for i, (images, labels) in enumerate(micro_batches):
            x, y = normalize(images), labels.to(device, non_blocking=True)
            if mixup is not None:
                x, y = mixup(x, y)
            if erase is not None:
                x = erase(x)
            sync = nullcontext()
            if isinstance(model, DistributedDataParallel) and i < steps.accum - 1:
                sync = model.no_sync()  # all-reduce once per step, not per micro-batch
            with sync:
                with _autocast(config, device):
                    loss = loss_fn(model(x), y)
                scaler.scale(loss / steps.accum).backward()
            step_loss += float(loss.detach()) / steps.accum
        if not math.isfinite(step_loss):
            raise TrainingError(
                f"the loss is {step_loss} at step {step + 1}: training stopped; the last "
                "checkpoint is from before it. Try a lower --lr, gradient clipping "
                "(--set optim.clip_grad=1.0), or turn --amp off"
            )
        if config.optim.clip_grad is not None:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), config.optim.clip_grad)
        scaler.step(optimizer)
        scaler.update()
        step += 1
        if ema is not None:
            ema.update(model, step=step)
        total += step_loss
        taken += 1
        reporter.step(steps.per_process * world.size, step_loss, optimizer.param_groups[0]["lr"])
        if on_step_end(step):
            break
    mean = all_reduce_mean(torch.tensor(total / max(taken, 1), device=device), world)
    return float(mean), taken


@dataclass
class EvalOutput:
    """Model outputs over a split, in dataset order."""

    loss: float | None
    #: ``(N, C)`` float32 softmax probabilities.
    probs: np.ndarray
    #: ``(N,)`` int64 labels (-1 where hidden).
    labels: np.ndarray


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Any,
    *,
    normalize: DeviceNormalize,
    device: torch.device,
    amp: bool = False,
    tta_flip: bool = False,
) -> EvalOutput:
    """Softmax outputs of ``model`` over ``loader`` (and the mean cross-entropy where every
    label is known). ``tta_flip`` averages the probabilities of each image and its mirror."""
    model.eval()
    probs, labels = [], []
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if amp else nullcontext()
    for images, y in loader:
        x = normalize(images)
        with autocast:
            p = torch.softmax(model(x).float(), dim=1)
            if tta_flip:
                p = (p + torch.softmax(model(x.flip(-1)).float(), dim=1)) / 2
        probs.append(p.cpu())
        labels.append(y)
    p_all, y_all = torch.cat(probs), torch.cat(labels)
    loss = None
    if len(y_all) and bool((y_all >= 0).all()):
        loss = float(F.nll_loss(torch.log(p_all.clamp_min(1e-12)), y_all))
    return EvalOutput(loss, p_all.numpy(), y_all.numpy())


def _topk_errors(out: EvalOutput) -> dict[str, float]:
    from synsetlab.metrics import topk_error

    k5 = min(5, out.probs.shape[1])
    return {
        "val_top1_error": topk_error(out.probs, out.labels, k=1),
        f"val_top{k5}_error": topk_error(out.probs, out.labels, k=k5),
    }


def _loss_fn(config: TrainConfig, dataset: VersionDataset, device: torch.device) -> nn.Module:
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


def _sample_weights(config: TrainConfig, dataset: VersionDataset) -> torch.Tensor | None:
    if config.balance != "sampler":
        return None
    counts = dataset.class_counts().double()
    return 1.0 / counts.clamp_min(1)[dataset.labels]


def train(
    manifest: Manifest,
    blobs: BlobStore,
    config: TrainConfig,
    out: Path,
    *,
    version_id: str,
    resume: Path | None = None,
    force: bool = False,
    reporter: Reporter | None = None,
) -> TrainResult:
    """Train ``config`` on ``manifest``'s training split, writing the run folder ``out``:
    ``config.yaml`` (resolved config, version id, package versions), ``metrics.jsonl`` (one
    line per epoch), ``last.pt`` and ``best.pt`` (by validation top-1 error), TensorBoard
    events and ``curves.png``. Run under torchrun for DDP; only rank 0 writes.

    ``resume``: continue from a checkpoint exactly; refused when the config differs (except
    execution fields such as ``max_steps``) unless ``force``.
    """
    reporter = reporter or SilentReporter()
    device = resolve_device(config.device)
    world = init_world(device)
    if device.type == "cpu" and config.amp and config.amp_dtype == "float16":
        raise TrainingError("float16 autocast is for CUDA; use --set amp_dtype=bfloat16 on CPU")
    paths = RunPaths(Path(out))
    try:
        return _train(manifest, blobs, config, paths, version_id, resume, force, reporter,
                      device, world)  # fmt: skip
    finally:
        close_world(world)


def _train(
    manifest: Manifest,
    blobs: BlobStore,
    config: TrainConfig,
    paths: RunPaths,
    version_id: str,
    resume: Path | None,
    force: bool,
    reporter: Reporter,
    device: torch.device,
    world: World,
) -> TrainResult:
    reporter = reporter if world.is_main else SilentReporter()
    checkpoint = _checked_resume(resume, config, manifest, version_id, force) if resume else None
    if checkpoint is None and paths.last.exists():
        raise TrainingError(
            f"{paths.root} already holds a run; continue it with --resume {paths.last}, or "
            "choose another --out"
        )
    data = config.data
    train_set = VersionDataset(
        manifest, config.train_split, blobs, transform=create_transform(data, train=True),
        decode_min_side=data.decode_size(train=True),
    )  # fmt: skip
    if (train_set.labels < 0).any():
        raise TrainingError(f"the {config.train_split!r} split has hidden labels: train on another")
    val_set = None
    if config.val_split and config.val_split in manifest.splits:
        val_set = VersionDataset(
            manifest, config.val_split, blobs, transform=create_transform(data, train=False),
            decode_min_side=data.decode_size(train=False),
        )  # fmt: skip
    steps = _plan_steps(config, len(train_set), world)
    sampler = ResumableSampler(
        len(train_set), seed=config.seed, weights=_sample_weights(config, train_set),
        num_replicas=world.size, rank=world.rank,
    )  # fmt: skip
    normalize = DeviceNormalize(
        data.mean, data.std, device=device, channels_last=config.channels_last
    )

    model = build_model(config, len(manifest.classes))
    if config.sync_bn and world.distributed:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model.to(device)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    opt = config.optim
    optimizer = create_optimizer_v2(
        model,
        opt={"sgd": "nesterov" if opt.nesterov else "momentum"}.get(opt.name, opt.name),
        lr=opt.lr,
        weight_decay=opt.weight_decay,
        momentum=opt.momentum,
        filter_bias_and_bn=not opt.decay_norm_and_bias,
        layer_decay=opt.layer_decay,
    )
    sched = config.schedule
    scheduler, _ = create_scheduler_v2(
        optimizer,
        sched={"constant": "step"}.get(sched.name, sched.name),
        num_epochs=config.epochs,
        decay_epochs=sched.decay_epochs if sched.name == "step" else config.epochs * 10,
        decay_rate=sched.decay_rate if sched.name == "step" else 1.0,
        min_lr=sched.min_lr,
        warmup_lr=sched.warmup_lr,
        warmup_epochs=sched.warmup_epochs,
        step_on_epochs=False,
        updates_per_epoch=steps.per_epoch,
    )
    ema = ModelEmaV3(model, decay=config.ema_decay) if config.ema_decay else None
    scaler = torch.amp.GradScaler(device.type, enabled=config.amp and config.amp_dtype == "float16")
    epoch, position, global_step, best = 0, 0, 0, None
    history: list[dict[str, Any]] = []
    if checkpoint is not None:
        model.load_state_dict(checkpoint["state_dict"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        scaler.load_state_dict(checkpoint["scaler"])
        if ema is not None:
            ema.module.load_state_dict(checkpoint["state_dict_ema"])
        set_rng_state(checkpoint["rng"])
        epoch, position = checkpoint["epoch"], checkpoint["epoch_step"]
        global_step, best = checkpoint["global_step"], checkpoint.get("best_val_top1_error")
        history = list(checkpoint.get("history", []))
    train_model: nn.Module = model
    if world.distributed:
        train_model = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    if config.compile:
        train_model = torch.compile(train_model)
    mixup = None
    if config.mixup > 0 or config.cutmix > 0:
        mixup = Mixup(
            mixup_alpha=config.mixup, cutmix_alpha=config.cutmix,
            label_smoothing=config.label_smoothing, num_classes=len(manifest.classes),
        )  # fmt: skip
    erase = None
    if config.random_erasing > 0:
        erase = RandomErasing(config.random_erasing, mode="pixel", device=str(device))
    loss_fn = _loss_fn(config, train_set, device)

    writer = None
    if world.is_main:
        paths.root.mkdir(parents=True, exist_ok=True)
        _write_run_config(paths, config, version_id, manifest)
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(paths.tensorboard))

    def state(epoch_done: int, epoch_step: int) -> dict[str, Any]:
        return {
            "arch": config.model,
            "model_kwargs": config.model_kwargs,
            "classes": list(manifest.classes),
            "version_id": version_id,
            "config": config.model_dump(mode="json"),
            "state_dict": model.state_dict(),
            "state_dict_ema": None if ema is None else ema.module.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(),
            "epoch": epoch_done,
            "epoch_step": epoch_step,
            "global_step": global_step,
            "rng": rng_state(),
            "best_val_top1_error": best,
            "history": history,
            "synsetlab_version": synsetlab.__version__,
            "torch_version": str(torch.__version__),
        }

    stopped = False
    try:
        while epoch < config.epochs:
            if config.max_steps is not None and global_step >= config.max_steps:
                stopped = True
                break
            sampler.set_epoch(epoch)
            sampler.set_position(position * steps.per_process)
            loader = create_loader(
                train_set, batch_size=steps.micro, sampler=sampler, workers=config.workers,
                drop_last=True, pin_memory=device.type == "cuda",
            )  # fmt: skip
            if world.is_main:
                reporter.epoch_start(epoch + 1, config.epochs, steps.per_epoch - position)
            started, step_at_start = time.perf_counter(), global_step
            epoch_step = position

            def on_step_end(step: int, epoch: int = epoch) -> bool:
                nonlocal global_step, epoch_step
                global_step, epoch_step = step, epoch_step + 1
                budget_spent = config.max_steps is not None and step >= config.max_steps
                if world.is_main and (
                    budget_spent
                    or (config.save_every_steps and step % config.save_every_steps == 0)
                ):
                    save_checkpoint(paths.last, state(epoch, epoch_step))
                return budget_spent

            train_loss, _ = train_one_epoch(
                train_model, loader, config=config, steps=steps, first_step=global_step,
                optimizer=optimizer, scheduler=scheduler, loss_fn=loss_fn, normalize=normalize,
                device=device, world=world, mixup=mixup, erase=erase, ema=ema, scaler=scaler,
                reporter=reporter, on_step_end=on_step_end,
            )  # fmt: skip
            if epoch_step < steps.per_epoch:  # stopped by the step budget
                stopped = True
                break
            epoch, position = epoch + 1, 0
            seconds = time.perf_counter() - started
            record: dict[str, Any] = {
                "epoch": epoch,
                "step": global_step,
                "train_loss": train_loss,
                "lr": optimizer.param_groups[0]["lr"],
                "images_per_s": (global_step - step_at_start) * config.batch_size / seconds,
            }
            if val_set is not None and (epoch % config.eval_every == 0 or epoch == config.epochs):
                evaluated = ema.module if ema else model
                record.update(
                    _validate(evaluated, val_set, config, normalize, device, steps.per_process)
                )
                if best is None or record["val_top1_error"] < best:
                    best = record["val_top1_error"]
                    if world.is_main:
                        save_checkpoint(paths.best, state(epoch, 0))
            history.append(record)
            if world.is_main:
                save_checkpoint(paths.last, state(epoch, 0))
                if val_set is None:
                    save_checkpoint(paths.best, state(epoch, 0))
                _log_epoch(paths, writer, record)
                reporter.epoch_end(record)
            barrier(world)
    finally:
        if writer is not None:
            writer.close()
    if world.is_main and history:
        from synsetlab.metrics.plots import plot_training_curves

        plot_training_curves(history, paths.curves)
    return TrainResult(paths, epoch, global_step, stopped, history, best)


def _validate(
    model: nn.Module,
    dataset: VersionDataset,
    config: TrainConfig,
    normalize: DeviceNormalize,
    device: torch.device,
    batch_size: int,
) -> dict[str, float]:
    loader = create_loader(dataset, batch_size=batch_size, workers=config.workers)
    out = evaluate(model, loader, normalize=normalize, device=device, amp=config.amp)
    return {"val_loss": out.loss, **_topk_errors(out)}


def _checked_resume(
    path: Path, config: TrainConfig, manifest: Manifest, version_id: str, force: bool
) -> dict[str, Any]:
    checkpoint = load_checkpoint(path)
    changes = config_changes(checkpoint["config"], config)
    if checkpoint.get("version_id") != version_id:
        changes.append("dataset version")
    if changes and not force:
        raise TrainingError(
            f"the config differs from the checkpoint's in {', '.join(changes)}: resuming would "
            "not continue the same run. Pass --force to resume anyway, or start a new run"
        )
    if list(checkpoint["classes"]) != list(manifest.classes):
        raise TrainingError(
            f"the checkpoint was trained on {len(checkpoint['classes'])} other classes; "
            "fine-tune from it instead (synsetlab finetune --from)"
        )
    return checkpoint


def _write_run_config(
    paths: RunPaths, config: TrainConfig, version_id: str, manifest: Manifest
) -> None:
    import timm
    import torchvision

    document = {
        "config": config.model_dump(mode="json"),
        "dataset_version": version_id,
        "classes": len(manifest.classes),
        "synsetlab": synsetlab.__version__,
        "torch": str(torch.__version__),
        "torchvision": str(torchvision.__version__),
        "timm": timm.__version__,
    }
    paths.config.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def _log_epoch(paths: RunPaths, writer: Any, record: dict[str, Any]) -> None:
    with paths.metrics.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
    for key, value in record.items():
        if key not in ("epoch", "step") and value is not None:
            writer.add_scalar(key, value, record["epoch"])
    writer.flush()
