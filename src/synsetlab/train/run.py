"""``main`` of a training run: epochs of :func:`train_one_epoch`, validation, checkpoints,
logs, and exact resumption. Under torchrun every process runs it; only rank 0 writes."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from synsetlab.blobs import BlobStore
from synsetlab.manifest import Manifest
from synsetlab.train.checkpoint import link_checkpoint, require_classifier, save_checkpoint
from synsetlab.train.config import EXECUTION_FIELDS, LoopConfig, TrainConfig
from synsetlab.train.distributed import World, barrier, close_world, init_world, resolve_device
from synsetlab.train.hardware import (
    AmpChoice,
    ThreadChoice,
    hardware_notes,
    resolve_amp,
    training_threads,
)
from synsetlab.train.history import append_record
from synsetlab.train.interrupt import (
    StopRequest,
    TrainingInterrupted,
    agree_to_stop,
    stop_on_signals,
)
from synsetlab.train.loop import (
    HardwareReporter,
    Reporter,
    SilentReporter,
    TrainingError,
    TrainingWarning,
    amp_dtype,
    evaluate,
    train_one_epoch,
)
from synsetlab.train.models import ModelError, load_weights
from synsetlab.train.parts import TrainingParts, build_parts
from synsetlab.train.resolve import inherit_amp
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


@dataclass
class TrainResult:
    paths: RunPaths
    epochs_done: int
    global_step: int
    #: True when ``max_steps`` stopped the run before its last epoch ended.
    stopped_early: bool
    history: list[dict[str, Any]] = field(default_factory=list)
    best_val_top1_error: float | None = None
    #: The precision the run trained in, and why.
    amp: AmpChoice | None = None
    #: torch's intra-op threads on the CPU (``None`` on a GPU, where torch's default stays).
    threads: ThreadChoice | None = None


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

    ``amp: auto`` is decided for the device (:func:`synsetlab.train.hardware.resolve_amp`; a
    resume keeps the run's choice) and torch's threads on the CPU are chosen
    (:func:`synsetlab.train.hardware.choose_threads`), both recorded in ``config.yaml`` and
    told to a ``reporter`` that hears them (:class:`~synsetlab.train.loop.HardwareReporter`).
    Autocast the device only emulates, and a run without validation, each give a
    :class:`TrainingWarning`.

    SIGINT or SIGTERM (in the main thread) ends the step under way, saves ``last.pt`` and
    raises :class:`~synsetlab.train.interrupt.TrainingInterrupted`.
    """
    main = partial(_main, manifest, blobs, config, RunPaths(Path(out)), version_id, resume, force)
    return run_in_world(config, reporter, main)


class _Result(Protocol):
    threads: ThreadChoice | None


_R = TypeVar("_R", bound=_Result)


def run_in_world(
    config: LoopConfig,
    reporter: Reporter | None,
    main: Callable[[Reporter, torch.device, World, StopRequest, ThreadChoice | None], _R],
) -> _R:
    """``main(reporter, device, world, stop, threads)``, a run's ``main``, as every run goes:
    on the config's device, in the torchrun world when there is one (closed after), with
    torch's threads chosen for the CPU (set on the result) and SIGINT/SIGTERM turned into the
    ``stop`` request; ``reporter`` hears rank 0 alone."""
    device = resolve_device(config.device)
    world = init_world(device, config.dist_backend)
    try:
        reporter = reporter if reporter is not None and world.is_main else SilentReporter()
        threads = training_threads(config.threads, workers=config.workers, device=device)
        with threads as chosen, stop_on_signals() as stop:
            result = main(reporter, device, world, stop, chosen)
            result.threads = chosen
            return result
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
    stop: StopRequest,
    threads: ThreadChoice | None,
) -> TrainResult:
    checkpoint = start_run(paths, resume, error=TrainingError)
    if checkpoint is not None:
        config = inherit_amp(config, checkpoint["config"])
    config, amp = resolve_amp(config, device)
    changed = False
    if checkpoint is not None:
        changed = _check_resume(checkpoint, resume, config, manifest, version_id, force)
    if isinstance(reporter, HardwareReporter):  # decided here only: the caller is told
        reporter.hardware(hardware_notes(amp, threads))
    parts = build_parts(config, manifest, blobs, device, world, version_id)
    if world.is_main:
        _warn_at_start(amp, parts, config, manifest)
    progress = Progress()
    if checkpoint is not None:
        progress = _restore(parts, checkpoint, resume, same_config=not changed)
        if changed:  # the new schedule, counted in the new steps per epoch, from a whole epoch
            progress.global_step = progress.epoch * parts.steps.per_epoch
            progress.restart_epoch()
    if checkpoint is not None and parts.shards is not None and progress.epoch_step:
        _check_stream_resumable(checkpoint, config, world, resume)
    train_model = distribute(parts.model, world, device)
    if config.compile:
        train_model = torch.compile(train_model)
    last = LastCheckpoint(
        paths, progress, world, stop,
        state=lambda: _checkpoint(parts, config, manifest, version_id, progress, world),
    )  # fmt: skip
    save, interrupt = last.save, last.interrupted

    writer = None
    if world.is_main:
        resumed = checkpoint is not None
        writer = _open_logs(paths, config, version_id, manifest, amp, resumed=resumed,
                            history=len(progress.history))  # fmt: skip
        start_metrics(paths, progress)
    stopped = False
    try:
        while progress.epoch < config.epochs:
            # Every process decides alike (a collective): one stopping alone would leave the
            # others waiting in the next step's all-reduce.
            if agree_to_stop(stop, world, device):
                raise interrupt()
            if config.max_steps is not None and progress.global_step >= config.max_steps:
                stopped = True
                break
            # An epoch whose steps are all done (a step checkpoint on its last step) only
            # lacks its record, validation and checkpoint: it goes straight to them.
            if progress.epoch_step < parts.steps.per_epoch:
                _train_steps(train_model, parts, config, progress, device, world, reporter,
                             stop, lambda: save(paths.last))  # fmt: skip
                if agree_to_stop(stop, world, device):
                    raise interrupt()
                budget_spent = (
                    config.max_steps is not None and progress.global_step >= config.max_steps
                )
                if budget_spent and progress.epoch_step < parts.steps.per_epoch:
                    stopped = True  # mid-epoch: last.pt holds the position
                    break
            record = progress.close_epoch(parts.optimizer.param_groups[0]["lr"], config.batch_size)
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
                log_epoch(paths, writer, record)
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
        amp,
    )


def distribute(model: nn.Module, world: World, device: torch.device) -> nn.Module:
    """``model`` under DDP when the run has several processes (else itself)."""
    if not world.distributed:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


@dataclass
class LastCheckpoint:
    """A run's ``last.pt``: written by rank 0 from ``state()``, and remembered as written by
    every process, so that a stop saves only what it does not hold yet."""

    paths: RunPaths
    progress: Progress
    world: World
    stop: StopRequest
    #: The checkpoint's entries where the run stands now.
    state: Callable[[], dict[str, Any]]
    #: (epoch, global step) that ``last.pt`` holds.
    saved: tuple[int, int] | None = None

    def save(self, path: Path) -> None:
        if self.world.is_main:
            save_checkpoint(path, self.state())
        self.saved = (self.progress.epoch, self.progress.global_step)

    def interrupted(self) -> TrainingInterrupted:
        """Save where the run stands (unless last.pt holds it already); the exception to raise."""
        assert self.stop.signum is not None
        if self.saved != (self.progress.epoch, self.progress.global_step):
            self.save(self.paths.last)
        return TrainingInterrupted(self.stop.signum, self.paths.last)


def _train_steps(
    model: nn.Module,
    parts: TrainingParts,
    config: TrainConfig,
    progress: Progress,
    device: torch.device,
    world: World,
    reporter: Reporter,
    stop: StopRequest,
    save_last: Callable[[], None],
) -> None:
    """The rest of the current epoch's steps (or fewer: a step budget, a signal), adding to
    ``progress``'s partial sums; ``save_last()`` writes ``last.pt`` where the config asks (the
    caller saves it on a signal)."""
    parts.sampler.set_epoch(progress.epoch)
    parts.sampler.set_position(progress.epoch_step * parts.steps.per_process)
    if parts.shards is not None:
        parts.shards.set_epoch(progress.epoch)
        parts.shards.set_position(progress.epoch_step * parts.steps.accum, parts.steps.micro)
    reporter.epoch_start(
        progress.epoch + 1, config.epochs, parts.steps.per_epoch - progress.epoch_step
    )
    on_step_end = step_recorder(progress, config, save_last)
    train_one_epoch(
        model, parts.train_loader, config=config, steps=parts.steps,
        first_step=progress.global_step, optimizer=parts.optimizer,
        scheduler=parts.scheduler, criterion=parts.criterion, normalize=parts.normalize,
        device=device, world=world, mixup=parts.mixup, erase=parts.erase, ema=parts.ema,
        scaler=parts.scaler, reporter=reporter, on_step_end=on_step_end,
        stop=stop,
    )  # fmt: skip


def step_recorder(
    progress: Progress, config: LoopConfig, save_last: Callable[[], None]
) -> Callable[[int, float], bool]:
    """What a loop calls after each step, ``(global step, loss)``, from now on: adds the step
    to ``progress`` (with the time since this call), saves ``last.pt`` every
    ``save_every_steps`` and at ``max_steps``, and says True when ``max_steps`` is spent."""
    started, seconds_before = time.perf_counter(), progress.seconds

    def on_step_end(step: int, loss: float) -> bool:
        progress.add_step(step, loss, seconds_before + time.perf_counter() - started)
        spent = config.max_steps is not None and step >= config.max_steps
        every = config.save_every_steps
        if spent or (every and step % every == 0):
            save_last()
        return spent

    return on_step_end


def _warn_at_start(
    amp: AmpChoice, parts: TrainingParts, config: TrainConfig, manifest: Manifest
) -> None:
    """A :class:`TrainingWarning` for each thing a user likely did not mean."""
    if amp.warning() is not None:
        warnings.warn(amp.warning(), TrainingWarning, stacklevel=4)
    if parts.val_set is not None:
        return
    if config.val_split is None:
        why = "val_split is off"
    else:
        have = ", ".join(sorted(manifest.splits)) or "none"
        why = f"the version has no {config.val_split!r} split (its splits: {have})"
    warnings.warn(
        f"training without validation: {why}. No validation error is measured, and best.pt "
        "is simply the last epoch's. Split off a val set (synsetlab split --val-per-class N) "
        "and freeze a new version, or name another split with --set val_split=NAME",
        TrainingWarning,
        stacklevel=4,
    )


def _validate(parts: TrainingParts, config: TrainConfig, device: torch.device) -> dict[str, Any]:
    """Validation loss and top-1/top-5 error (of the EMA weights when kept, as timm does)."""
    from synsetlab.metrics import topk_error

    assert parts.val_loader is not None
    model = parts.ema.module if parts.ema is not None else parts.model
    out = evaluate(model, parts.val_loader, normalize=parts.normalize, device=device,
                   amp_dtype=amp_dtype(config))  # fmt: skip
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
    """Everything :func:`_restore` needs."""
    return checkpoint_state(
        config, manifest.classes, version_id, progress,
        state_dict=parts.model.state_dict(),
        state_dict_ema=None if parts.ema is None else parts.ema.module.state_dict(),
        optimizer=parts.optimizer.state_dict(), scheduler=parts.scheduler.state_dict(),
        scaler=parts.scaler.state_dict(), world_size=world.size,
    )  # fmt: skip


def _restore(
    parts: TrainingParts, checkpoint: dict[str, Any], path: Path | None, *, same_config: bool
) -> Progress:
    """Load a checkpoint into ``parts``. With ``same_config`` everything, for an exact
    continuation. Else (a forced resume) the weights, EMA, scaler and the optimiser's moments
    continue under the new config (:func:`~synsetlab.train.rundir.restore_optimizer`); the
    caller then starts again at the interrupted epoch's beginning, in the new steps per
    epoch."""
    try:
        load_weights(parts.model, checkpoint["state_dict"], strict_head=True)
    except ModelError as e:
        raise TrainingError(
            f"{path}: {e}; resume with the checkpoint's model and model_kwargs, or start "
            "from its weights with --pretrained"
        ) from e
    restore_optimizer(parts.optimizer, parts.scheduler, checkpoint["optimizer"],
                      checkpoint["scheduler"], same_config=same_config)  # fmt: skip
    if checkpoint["scaler"]:  # empty when the run had no fp16 scaler (a forced resume adds it)
        parts.scaler.load_state_dict(checkpoint["scaler"])
    if parts.ema is not None:
        saved_ema = checkpoint.get("state_dict_ema")
        # An EMA switched on by the new config starts from the resumed weights.
        parts.ema.module.load_state_dict(saved_ema or parts.model.state_dict())
    return restore_progress(checkpoint)


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


def _check_resume(
    checkpoint: dict[str, Any],
    path: Path | None,
    config: TrainConfig,
    manifest: Manifest,
    version_id: str,
    force: bool,
) -> bool:
    """Whether the run's config or version changed (only with ``force``); refuses what
    cannot be resumed."""
    require_classifier(checkpoint, path or "")
    changed = check_resume(
        config_changes(checkpoint["config"], config, EXECUTION_FIELDS),
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
    return changed


def _open_logs(
    paths: RunPaths,
    config: TrainConfig,
    version_id: str,
    manifest: Manifest,
    amp: AmpChoice,
    *,
    resumed: bool,
    history: int = 0,
) -> Any:
    """Write ``config.yaml`` (the config with ``amp`` decided, and why); return a TensorBoard
    writer (on a resume, without the events of epochs after the checkpoint's)."""
    from torch.utils.tensorboard import SummaryWriter  # tensorboard: rank 0 only

    write_run_config(paths, "config", config, version_id, classes=len(manifest.classes),
                     precision=amp.describe())  # fmt: skip
    # Scalars are logged per epoch: purging from the next epoch drops a longer earlier run's.
    return SummaryWriter(str(paths.tensorboard), purge_step=history + 1 if resumed else None)


def log_epoch(paths: RunPaths, writer: Any, record: dict[str, Any]) -> None:
    """Append an epoch's record to ``metrics.jsonl`` and its numbers to TensorBoard."""
    append_record(paths.metrics, record)
    for key, value in record.items():
        if key not in ("epoch", "step") and value is not None:
            writer.add_scalar(key, value, record["epoch"])
    writer.flush()
