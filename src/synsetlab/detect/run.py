"""``main`` of a detector training run, with the classifiers' machinery: run folder,
checkpoints, exact resume, DDP under torchrun, bfloat16 autocast chosen for the machine,
TensorBoard and ``metrics.jsonl`` (:mod:`synsetlab.train`). Only the step differs: a
torchvision detector returns its losses (RPN and box head, classification and regression)
given images and boxes; validation is ILSVRC DET mean AP, and ``best.pt`` the best of it.

Exactness, as for classifiers: every optimiser step reseeds the global RNGs from
``(seed, step)`` (the RPN's and the box head's sampling of anchors and proposals draw from
them) and every image's flip from its own seed, so a resumed run continues bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from synsetlab.blobs import BlobStore
from synsetlab.data import ResumableSampler
from synsetlab.detect.config import DETECTOR_EXECUTION_FIELDS, DetectorConfig, DetectorError
from synsetlab.detect.data import DetectionDataset, create_detection_loader, training_entries
from synsetlab.detect.evaluate import (
    GroundTruth,
    align_detections,
    det_matches,
    detection_rows,
    ground_truth,
)
from synsetlab.detect.models import create_detector, resolve_backbone
from synsetlab.detect.predict import TASK, detect_images, require_detector
from synsetlab.manifest import Manifest
from synsetlab.train.checkpoint import link_checkpoint
from synsetlab.train.distributed import (
    World,
    barrier,
)
from synsetlab.train.hardware import (
    AmpChoice,
    ThreadChoice,
    choose_amp,
    hardware_notes,
)
from synsetlab.train.interrupt import (
    StopRequest,
    agree_to_stop,
)
from synsetlab.train.loop import (
    HardwareReporter,
    Reporter,
    StepPlan,
    agree_next_step,
    autocast,
    grad_sync,
    optimizer_step,
    plan_steps,
    require_finite_loss,
    reseed,
)
from synsetlab.train.parts import check_precision, create_optimizer, create_scheduler
from synsetlab.train.resolve import inherit_amp
from synsetlab.train.run import (
    LastCheckpoint,
    distribute,
    log_epoch,
    run_in_world,
    step_recorder,
)
from synsetlab.train.rundir import (
    Progress,
    RunPaths,
    check_resume,
    checkpoint_state,
    config_changes,
    restore_optimizer,
    restore_progress,
    start_metrics,
    start_run,
    write_run_config,
)

__all__ = ["DetectorResult", "train_detector"]


@dataclass
class DetectorResult:
    paths: RunPaths
    epochs_done: int
    global_step: int
    #: True when ``max_steps`` stopped the run before its last epoch ended.
    stopped_early: bool
    history: list[dict[str, Any]] = field(default_factory=list)
    #: The best validation ILSVRC DET mean AP (``None``: not validated).
    best_val_map: float | None = None
    amp: AmpChoice | None = None
    threads: ThreadChoice | None = None


@dataclass
class _Parts:
    """What one process trains with."""

    train_set: DetectionDataset
    val_set: DetectionDataset | None
    #: The val split's ground truth, as evaluate-detector reads it (built once).
    val_truth: GroundTruth | None
    steps: StepPlan
    sampler: ResumableSampler
    train_loader: Any
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler


def train_detector(
    manifest: Manifest,
    blobs: BlobStore,
    config: DetectorConfig,
    out: Path,
    *,
    version_id: str,
    resume: Path | None = None,
    force: bool = False,
    reporter: Reporter | None = None,
) -> DetectorResult:
    """Train ``config``'s detector on the boxes of ``manifest``'s training split, writing the
    run folder ``out`` as :func:`synsetlab.train.train` does (``config.yaml``,
    ``metrics.jsonl``, ``last.pt``, ``best.pt`` by validation DET mean AP, TensorBoard).

    ``resume``: continue exactly from a detector checkpoint; refused when the config or the
    version differs (execution fields aside) unless ``force``. SIGINT/SIGTERM save ``last.pt``
    and raise :class:`~synsetlab.train.interrupt.TrainingInterrupted`.
    """
    main = partial(_main, manifest, blobs, config, RunPaths(Path(out)), version_id, resume, force)
    return run_in_world(config, reporter, main)


def _main(
    manifest: Manifest,
    blobs: BlobStore,
    config: DetectorConfig,
    paths: RunPaths,
    version_id: str,
    resume: Path | None,
    force: bool,
    reporter: Reporter,
    device: torch.device,
    world: World,
    stop: StopRequest,
    threads: ThreadChoice | None,
) -> DetectorResult:
    checkpoint = start_run(paths, resume, error=DetectorError)
    if checkpoint is not None:
        require_detector(checkpoint, resume or "")
        config = inherit_amp(config, checkpoint["config"])
    config = resolve_backbone(config)
    amp = choose_amp(config.amp, config.amp_dtype, device)
    config = config.model_copy(update={"amp": amp.enabled})
    check_precision(config, device, error=DetectorError)
    changed = False
    if checkpoint is not None:
        changed = _check_resume(checkpoint, config, manifest, version_id, force)
    if isinstance(reporter, HardwareReporter):
        reporter.hardware(hardware_notes(amp, threads))
    parts = _build(config, manifest, blobs, device, world, resuming=checkpoint is not None)
    progress, best = Progress(), None
    if checkpoint is not None:
        parts.model.load_state_dict(checkpoint["state_dict"])
        restore_optimizer(parts.optimizer, parts.scheduler, checkpoint["optimizer"],
                          checkpoint["scheduler"], same_config=not changed)  # fmt: skip
        if checkpoint["scaler"]:
            parts.scaler.load_state_dict(checkpoint["scaler"])
        progress, best = restore_progress(checkpoint), checkpoint.get("best_val_map")
        if changed:  # the new schedule, counted in the new steps per epoch, from a whole epoch
            progress.global_step = progress.epoch * parts.steps.per_epoch
            progress.restart_epoch()
    train_model = distribute(parts.model, world, device)
    last = LastCheckpoint(
        paths, progress, world, stop,
        state=lambda: checkpoint_state(
            config, manifest.classes, version_id, progress,
            state_dict=parts.model.state_dict(), optimizer=parts.optimizer.state_dict(),
            scheduler=parts.scheduler.state_dict(), scaler=parts.scaler.state_dict(),
            world_size=world.size, task=TASK, best_val_map=best,
        ),
    )  # fmt: skip
    save, interrupt = last.save, last.interrupted

    writer = None
    if world.is_main:
        from torch.utils.tensorboard import SummaryWriter  # rank 0 only

        write_run_config(paths, "config", config, version_id, classes=len(manifest.classes),
                         precision=amp.describe(), train_images=len(parts.train_set))  # fmt: skip
        purge = len(progress.history) + 1 if checkpoint is not None else None
        writer = SummaryWriter(str(paths.tensorboard), purge_step=purge)
        start_metrics(paths, progress)
    stopped = False
    try:
        while progress.epoch < config.epochs:
            if agree_to_stop(stop, world, device):
                raise interrupt()
            if config.max_steps is not None and progress.global_step >= config.max_steps:
                stopped = True
                break
            if progress.epoch_step < parts.steps.per_epoch:
                _train_steps(train_model, parts, config, progress, device, world, reporter,
                             stop, lambda: save(paths.last))  # fmt: skip
                if agree_to_stop(stop, world, device):
                    raise interrupt()
                spent = config.max_steps is not None and progress.global_step >= config.max_steps
                if spent and progress.epoch_step < parts.steps.per_epoch:
                    stopped = True  # mid-epoch: last.pt holds the position
                    break
            record = progress.close_epoch(parts.optimizer.param_groups[0]["lr"], config.batch_size)
            validate = progress.epoch % config.eval_every == 0 or progress.epoch == config.epochs
            improved = parts.val_set is None
            if parts.val_set is not None and validate and world.is_main:
                score = _validate(parts.model, parts.val_set, parts.val_truth,
                                  parts.steps.per_process, device)  # fmt: skip
                record["val_det_map"] = score
                improved = score is None or best is None or score > best
                if improved and score is not None:
                    best = score
            progress.history.append(record)
            save(paths.last)
            if improved and world.is_main:
                link_checkpoint(paths.last, paths.best)
            if writer is not None:
                log_epoch(paths, writer, record)
            reporter.epoch_end(record)
            barrier(world)
    finally:
        if writer is not None:
            writer.close()
    return DetectorResult(paths, progress.epoch, progress.global_step, stopped,
                          progress.history, best, amp)  # fmt: skip


def _check_resume(
    checkpoint: dict[str, Any],
    config: DetectorConfig,
    manifest: Manifest,
    version_id: str,
    force: bool,
) -> bool:
    """Whether the run's config or version changed (only with ``force``)."""
    changed = check_resume(
        config_changes(checkpoint["config"], config, DETECTOR_EXECUTION_FIELDS),
        checkpoint.get("version_id") == version_id,
        force=force,
        error=DetectorError,
    )
    if list(checkpoint["classes"]) != list(manifest.classes):
        raise DetectorError(
            f"the checkpoint detects {len(checkpoint['classes'])} classes and the version has "
            f"{len(manifest.classes)}: start a new run"
        )
    return changed


def _build(
    config: DetectorConfig,
    manifest: Manifest,
    blobs: BlobStore,
    device: torch.device,
    world: World,
    *,
    resuming: bool,
) -> _Parts:
    entries = training_entries(manifest, config.train_split, box_fraction=config.box_fraction,
                               seed=config.seed)  # fmt: skip
    train_set = DetectionDataset(manifest, config.train_split, blobs, entries=entries,
                                 hflip=config.hflip)  # fmt: skip
    val_set, val_truth = None, None
    if config.val_split and config.val_split in manifest.splits:
        val_set = DetectionDataset(manifest, config.val_split, blobs)
        val_truth = ground_truth(manifest, config.val_split)
    steps = plan_steps(config, len(train_set), world)
    sampler = ResumableSampler(len(train_set), seed=config.seed, num_replicas=world.size,
                               rank=world.rank)  # fmt: skip
    loader = create_detection_loader(
        train_set, batch_size=steps.micro, sampler=sampler, workers=config.workers,
        drop_last=True, pin_memory=device.type == "cuda", persistent=True,
    )  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        # A resume loads every weight from its checkpoint: the backbone file is not read.
        model = create_detector(config, manifest.classes, load_backbone=not resuming).to(device)
    optimizer = create_optimizer(config, model)
    return _Parts(
        train_set=train_set,
        val_set=val_set,
        val_truth=val_truth,
        steps=steps,
        sampler=sampler,
        train_loader=loader,
        model=model,
        optimizer=optimizer,
        scheduler=create_scheduler(config, optimizer, steps.per_epoch),
        scaler=torch.amp.GradScaler(
            device.type, enabled=config.amp is True and config.amp_dtype == "float16"
        ),
    )


def _train_steps(
    model: nn.Module,
    parts: _Parts,
    config: DetectorConfig,
    progress: Progress,
    device: torch.device,
    world: World,
    reporter: Reporter,
    stop: StopRequest,
    save_last: Callable[[], None],
) -> None:
    """The rest of the current epoch's steps (or fewer: a step budget, a signal)."""
    steps = parts.steps
    parts.sampler.set_epoch(progress.epoch)
    parts.sampler.set_position(progress.epoch_step * steps.per_process)
    reporter.epoch_start(progress.epoch + 1, config.epochs, steps.per_epoch - progress.epoch_step)
    on_step_end = step_recorder(progress, config, save_last)
    model.train()
    step = progress.global_step
    batches = iter(parts.train_loader)
    # Every process takes the same steps (see synsetlab.train.loop.train_one_epoch).
    nxt = agree_next_step(batches, steps, stop, device, world)
    while nxt.go:
        assert nxt.batches is not None
        reseed(config.seed, step)
        parts.scheduler.step_update(num_updates=step)
        parts.optimizer.zero_grad(set_to_none=True)
        summed = torch.zeros((), device=device)
        for i, (images, targets) in enumerate(nxt.batches):
            images = [image.to(device, non_blocking=True).float().div_(255) for image in images]
            targets = [{k: v.to(device) for k, v in t.items()} for t in targets]
            with grad_sync(model, i, steps.accum):
                with autocast(config, device):
                    loss = sum(model(images, targets).values())
                parts.scaler.scale(loss / steps.accum).backward()
            summed += loss.detach().float()
        nxt = agree_next_step(batches, steps, stop, device, world, summed)
        require_finite_loss(nxt.loss, step, error=DetectorError, clip_hint="10")
        optimizer_step(model, parts.optimizer, parts.scaler, config.optim.clip_grad)
        step += 1
        reporter.step(steps.per_process * world.size, nxt.loss,
                      parts.optimizer.param_groups[0]["lr"])  # fmt: skip
        if on_step_end(step, nxt.loss) or (stop and not world.distributed):
            break


def _validate(
    model: nn.Module,
    val_set: DetectionDataset,
    truth: GroundTruth,
    batch_size: int,
    device: torch.device,
) -> float | None:
    """ILSVRC DET mean AP of ``model`` on the validation split, scored as
    ``evaluate-detector`` scores it (``None``: the split has no boxes). A detector's
    validation loss says little: torchvision's detectors give losses only in training mode,
    where proposals are sampled."""
    loader = create_detection_loader(val_set, batch_size=batch_size)
    found = detect_images(model, loader, val_set.entries, device=device)
    rows = detection_rows(align_detections(found, truth), num_classes=len(truth.classes))
    score = float(det_matches(rows, truth).mean_ap())
    return None if math.isnan(score) else score
