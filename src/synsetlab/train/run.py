"""``main`` of a training run: epochs of :func:`train_one_epoch`, validation, checkpoints,
logs, and exact resumption. Under torchrun every process runs it; only rank 0 writes."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn
from torch.nn.parallel import DistributedDataParallel

import synsetlab
from synsetlab.blobs import BlobStore
from synsetlab.manifest import Manifest
from synsetlab.train.checkpoint import (
    link_checkpoint,
    load_checkpoint,
    load_moments,
    require_classifier,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from synsetlab.train.config import TrainConfig, check_resume, config_changes
from synsetlab.train.distributed import World, barrier, close_world, init_world, resolve_device
from synsetlab.train.loop import (
    Reporter,
    SilentReporter,
    TrainingError,
    evaluate,
    train_one_epoch,
)
from synsetlab.train.models import ModelError, load_weights
from synsetlab.train.setup import TrainingParts, build_parts


@dataclass(frozen=True)
class RunPaths:
    """The files of a run folder."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def metrics(self) -> Path:
        """One JSON line per epoch."""
        return self.root / "metrics.jsonl"

    @property
    def last(self) -> Path:
        return self.root / "last.pt"

    @property
    def best(self) -> Path:
        """The checkpoint of least validation top-1 error (the last without validation)."""
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
class Progress:
    """Where a run stands: what a checkpoint records besides weights and optimiser."""

    epoch: int = 0  # epochs completed
    epoch_step: int = 0  # steps of the current epoch completed
    global_step: int = 0
    best: float | None = None  # least validation top-1 error so far
    history: list[dict[str, Any]] = field(default_factory=list)


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
    ``config.yaml`` (resolved config, version id, package versions), ``metrics.jsonl``,
    ``last.pt`` and ``best.pt``, TensorBoard events and ``curves.png``.

    ``resume``: continue from a checkpoint exactly; refused when the config or the dataset
    version differs (execution fields such as ``max_steps`` aside) unless ``force``.
    """
    device = resolve_device(config.device)
    world = init_world(device, config.dist_backend)
    try:
        reporter = reporter if reporter is not None and world.is_main else SilentReporter()
        return _main(manifest, blobs, config, RunPaths(Path(out)), version_id, resume, force,
                     reporter, device, world)  # fmt: skip
    finally:
        close_world(world)


def _main(
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
    checkpoint, changed = (
        _checked_resume(resume, config, manifest, version_id, force) if resume else (None, False)
    )
    if checkpoint is None and paths.last.exists():
        raise TrainingError(
            f"{paths.root} already holds a run; continue it with --resume {paths.last}, or "
            "choose another --out"
        )
    parts = build_parts(config, manifest, blobs, device, world, version_id)
    progress = Progress()
    if checkpoint is not None:
        progress = _restore(parts, checkpoint, resume, same_config=not changed)
        if changed:  # the new schedule, counted in the new steps per epoch, from a whole epoch
            progress.global_step = progress.epoch * parts.steps.per_epoch
            progress.epoch_step = 0
    if checkpoint is not None and parts.shards is not None and progress.epoch_step:
        _check_stream_resumable(checkpoint, config, world, resume)
    train_model: nn.Module = parts.model
    if world.distributed:
        ids = [device.index] if device.type == "cuda" else None
        train_model = DistributedDataParallel(parts.model, device_ids=ids)
    if config.compile:
        train_model = torch.compile(train_model)

    def save(path: Path) -> None:
        if world.is_main:
            save_checkpoint(path, _checkpoint(parts, config, manifest, version_id, progress, world))

    writer = _open_logs(paths, config, version_id, manifest) if world.is_main else None
    stopped = False
    try:
        while progress.epoch < config.epochs:
            if config.max_steps is not None and progress.global_step >= config.max_steps:
                stopped = True
                break
            parts.sampler.set_epoch(progress.epoch)
            parts.sampler.set_position(progress.epoch_step * parts.steps.per_process)
            if parts.shards is not None:
                parts.shards.set_epoch(progress.epoch)
                parts.shards.set_position(
                    progress.epoch_step * parts.steps.accum, parts.steps.micro
                )
            reporter.epoch_start(
                progress.epoch + 1, config.epochs, parts.steps.per_epoch - progress.epoch_step
            )
            started, first_step = time.perf_counter(), progress.global_step

            def on_step_end(step: int) -> bool:
                progress.global_step, progress.epoch_step = step, progress.epoch_step + 1
                spent = config.max_steps is not None and step >= config.max_steps
                every = config.save_every_steps
                if spent or (every and step % every == 0):
                    save(paths.last)
                return spent

            train_loss, _ = train_one_epoch(
                train_model, parts.train_loader, config=config, steps=parts.steps,
                first_step=progress.global_step, optimizer=parts.optimizer,
                scheduler=parts.scheduler, criterion=parts.criterion, normalize=parts.normalize,
                device=device, world=world, mixup=parts.mixup, erase=parts.erase, ema=parts.ema,
                scaler=parts.scaler, reporter=reporter, on_step_end=on_step_end,
            )  # fmt: skip
            budget_spent = config.max_steps is not None and progress.global_step >= config.max_steps
            if budget_spent and progress.epoch_step < parts.steps.per_epoch:
                stopped = True  # mid-epoch: last.pt holds the position
                break
            progress.epoch, progress.epoch_step = progress.epoch + 1, 0
            seconds = time.perf_counter() - started
            record: dict[str, Any] = {
                "epoch": progress.epoch,
                "step": progress.global_step,
                "train_loss": train_loss,
                "lr": parts.optimizer.param_groups[0]["lr"],
                "images_per_s": (progress.global_step - first_step) * config.batch_size / seconds,
            }
            validate = progress.epoch % config.eval_every == 0 or progress.epoch == config.epochs
            improved = parts.val_set is None  # without validation, the last is the best
            if parts.val_set is not None and validate and world.is_main:
                record.update(_validate(parts, config, device))
                improved = progress.best is None or record["val_top1_error"] < progress.best
                if improved:
                    progress.best = record["val_top1_error"]
            progress.history.append(record)
            save(paths.last)
            if improved and world.is_main:
                link_checkpoint(paths.last, paths.best)  # the same bytes: not written twice
            if writer is not None:
                _log_epoch(paths, writer, record)
            reporter.epoch_end(record)
            barrier(world)
    finally:
        if writer is not None:
            writer.close()
    if world.is_main and progress.history:
        from synsetlab.metrics.plots import plot_training_curves

        plot_training_curves(progress.history, paths.curves)
    return TrainResult(
        paths,
        progress.epoch,
        progress.global_step,
        stopped,
        progress.history,
        progress.best,
    )


def _validate(parts: TrainingParts, config: TrainConfig, device: torch.device) -> dict[str, Any]:
    """Validation loss and top-1/top-5 error (of the EMA weights when kept, as timm does)."""
    from synsetlab.metrics import topk_error

    assert parts.val_loader is not None
    model = parts.ema.module if parts.ema is not None else parts.model
    out = evaluate(model, parts.val_loader, normalize=parts.normalize, device=device,
                   amp=config.amp)  # fmt: skip
    k5 = min(5, out.probs.shape[1])
    return {
        "val_loss": out.loss,
        "val_top1_error": topk_error(out.probs, out.labels, k=1),
        f"val_top{k5}_error": topk_error(out.probs, out.labels, k=k5),
    }


def _checkpoint(
    parts: TrainingParts,
    config: TrainConfig,
    manifest: Manifest,
    version_id: str,
    progress: Progress,
    world: World,
) -> dict[str, Any]:
    """Everything :func:`_restore` needs, under the keys timm's ``train.py`` uses where it
    has one (``arch``, ``state_dict``, ``state_dict_ema``, ``optimizer``, ``epoch``)."""
    return {
        "arch": config.model,
        "model_kwargs": config.model_kwargs,
        "classes": list(manifest.classes),
        "version_id": version_id,
        "config": config.model_dump(mode="json"),
        "state_dict": parts.model.state_dict(),
        "state_dict_ema": None if parts.ema is None else parts.ema.module.state_dict(),
        "optimizer": parts.optimizer.state_dict(),
        "scheduler": parts.scheduler.state_dict(),
        "scaler": parts.scaler.state_dict(),
        "epoch": progress.epoch,
        "epoch_step": progress.epoch_step,
        "global_step": progress.global_step,
        "world_size": world.size,
        "rng": rng_state(),
        "best_val_top1_error": progress.best,
        "history": progress.history,
        "synsetlab_version": synsetlab.__version__,
        "torch_version": str(torch.__version__),
    }


def _restore(
    parts: TrainingParts, checkpoint: dict[str, Any], path: Path | None, *, same_config: bool
) -> Progress:
    """Load a checkpoint into ``parts``. With ``same_config`` everything, for an exact
    continuation. Else (a forced resume) the weights, EMA, scaler and the optimiser's moments
    continue under the new config's hyperparameters and schedule, as timm's ``train.py``
    rebuilds its scheduler from the new arguments on resume: more epochs extend the cosine
    instead of continuing at its end, a new lr is the one used; the caller then starts
    again at the interrupted epoch's beginning, in the new steps per epoch."""
    try:
        load_weights(parts.model, checkpoint["state_dict"], strict_head=True)
    except ModelError as e:
        raise TrainingError(
            f"{path}: {e}; resume with the checkpoint's model and model_kwargs, or start "
            "from its weights with --pretrained"
        ) from e
    if same_config:
        parts.optimizer.load_state_dict(checkpoint["optimizer"])
        parts.scheduler.load_state_dict(checkpoint["scheduler"])
    else:
        load_moments(parts.optimizer, checkpoint["optimizer"])
    if checkpoint["scaler"]:  # empty when the run had no fp16 scaler (a forced resume adds it)
        parts.scaler.load_state_dict(checkpoint["scaler"])
    if parts.ema is not None:
        saved_ema = checkpoint.get("state_dict_ema")
        # An EMA switched on by the new config starts from the resumed weights.
        parts.ema.module.load_state_dict(saved_ema or parts.model.state_dict())
    set_rng_state(checkpoint["rng"])
    return Progress(
        epoch=checkpoint["epoch"],
        epoch_step=checkpoint["epoch_step"],
        global_step=checkpoint["global_step"],
        best=checkpoint.get("best_val_top1_error"),
        history=list(checkpoint.get("history", [])),
    )


def _check_stream_resumable(
    checkpoint: dict[str, Any], config: TrainConfig, world: World, resume: Path | None
) -> None:
    """A shard stream's order depends on the number of processes and of loader workers: a
    mid-epoch resume continues it exactly only with the interrupted run's numbers."""
    workers = checkpoint["config"].get("workers", config.workers)
    if max(workers, 1) != max(config.workers, 1):
        raise TrainingError(
            f"{resume} stopped mid-epoch in a shard stream read by {workers} loader workers, "
            f"and their number decides the stream's order: resume with --workers {workers}"
        )
    size = checkpoint.get("world_size", world.size)
    if size != world.size:
        raise TrainingError(
            f"{resume} stopped mid-epoch in a shard stream read by {size} processes, and their "
            f"number decides the stream's order: resume with {size} processes"
        )


def _checked_resume(
    path: Path, config: TrainConfig, manifest: Manifest, version_id: str, force: bool
) -> tuple[dict[str, Any], bool]:
    """The checkpoint to resume from, and whether the run's config or version changed (only
    with ``force``)."""
    checkpoint = load_checkpoint(path, suggest="last.pt")
    require_classifier(checkpoint, path)
    changed = check_resume(
        config_changes(checkpoint["config"], config),
        checkpoint.get("version_id") == version_id,
        force=force,
        error=TrainingError,
    )
    if list(checkpoint["classes"]) != list(manifest.classes):
        shared = len(set(checkpoint["classes"]) & set(manifest.classes))
        raise TrainingError(
            f"the checkpoint predicts {len(checkpoint['classes'])} classes and the version has "
            f"{len(manifest.classes)} ({shared} shared); fine-tune from it instead "
            "(synsetlab finetune --from)"
        )
    return checkpoint, changed


def _open_logs(paths: RunPaths, config: TrainConfig, version_id: str, manifest: Manifest) -> Any:
    """Write ``config.yaml``; return a TensorBoard writer."""
    import timm
    import torchvision
    from torch.utils.tensorboard import SummaryWriter

    paths.root.mkdir(parents=True, exist_ok=True)
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
    return SummaryWriter(str(paths.tensorboard))


def _log_epoch(paths: RunPaths, writer: Any, record: dict[str, Any]) -> None:
    with paths.metrics.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
    for key, value in record.items():
        if key not in ("epoch", "step") and value is not None:
            writer.add_scalar(key, value, record["epoch"])
    writer.flush()
