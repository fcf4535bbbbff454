"""The pretraining loop: steps, epochs, checkpoints and k-NN monitoring, in a run folder
kept as training keeps its own (:mod:`synsetlab.train.rundir`): the same refusal to overwrite a
run, resume check, ``config.yaml``, ``metrics.jsonl`` and checkpoint entries, and the same
stop on Ctrl-C or SIGTERM (the step under way ends, ``last.pt`` is saved, and ``--resume``
continues from that step exactly)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError
from timm.optim import create_optimizer_v2
from timm.scheduler import create_scheduler_v2
from torch import nn

from synsetlab.blobs import BlobStore
from synsetlab.data import DeviceNormalize, ResumableSampler, TransformConfig, create_loader
from synsetlab.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from synsetlab.manifest import Manifest
from synsetlab.train.checkpoint import save_checkpoint, saved_config
from synsetlab.train.config import TrainConfig, describe
from synsetlab.train.distributed import resolve_device
from synsetlab.train.hardware import hardware_notes, training_threads
from synsetlab.train.history import append_record
from synsetlab.train.interrupt import StopRequest, TrainingInterrupted, stop_on_signals
from synsetlab.train.loop import HardwareReporter, Reporter, SilentReporter, reseed
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
from synsetlab.train.ssl.config import SSL_EXECUTION_FIELDS, SSLConfig, SSLError
from synsetlab.train.ssl.methods import create_ssl_model
from synsetlab.train.ssl.probes import knn_accuracy, split_features
from synsetlab.train.ssl.views import ssl_dataset


@dataclass
class PretrainResult:
    out_dir: Path
    #: ``last.pt``: the backbone, loadable with ``TrainConfig(pretrained=...)``.
    checkpoint: Path
    epochs_done: int
    global_step: int
    history: list[dict[str, Any]] = field(default_factory=list)


def resolve_ssl_config(
    overrides: dict[str, Any] | None = None, *, resume: Path | None = None
) -> SSLConfig:
    """:class:`SSLConfig` from field values (``None`` values ignored), over the config of the
    run ``resume`` continues (less its execution fields); :class:`SSLError` names every bad
    field."""
    saved = (
        saved_config(resume, key="ssl_config", execution=SSL_EXECUTION_FIELDS) if resume else None
    )
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    values = {**(saved or {}), **given}
    try:
        return SSLConfig.model_validate(values)
    except ValidationError as e:
        raise SSLError(f"invalid pretraining config ({describe(e)})") from e


def train_step(
    model: nn.Module,
    views: tuple[torch.Tensor, torch.Tensor],
    *,
    optimizer: torch.optim.Optimizer,
    normalize: DeviceNormalize,
) -> float:
    """One optimiser step on a batch of two uint8 views ``(B, 3, S, S)``; returns the loss."""
    loss = model(normalize(views[0]), normalize(views[1]))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())  # note: a CPU-GPU sync point, once a step


def pretrain_one_epoch(
    model: nn.Module,
    loader: Iterable[tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]],
    *,
    config: SSLConfig,
    first_step: int,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    normalize: DeviceNormalize,
    reporter: Reporter,
    on_step_end: Callable[[int, float], None] | None = None,
    interrupted: Callable[[], bool] = lambda: False,
) -> tuple[float, int]:
    """Steps over ``loader`` until it ends or ``interrupted()`` (asked before each step);
    ``on_step_end(global_step, loss)`` after each. Returns (mean loss, steps taken)."""
    model.train()
    total, step = 0.0, first_step
    batches = iter(loader)
    while not interrupted():
        try:
            batch = next(batches, None)
        except Exception:
            # A terminal's Ctrl-C reaches the loader's workers too, which then die: the
            # weights are still those of the last whole step, so stop there.
            if interrupted():
                break
            raise
        if batch is None:
            break
        views, _ = batch
        reseed(config.seed, step)
        scheduler.step_update(num_updates=step)
        loss = train_step(model, views, optimizer=optimizer, normalize=normalize)
        if not math.isfinite(loss):
            raise SSLError(
                f"the loss is {loss} at step {step + 1}: pretraining stopped. Try a lower "
                "--lr or a higher --temperature"
            )
        step += 1
        total += loss
        reporter.step(len(views[0]), loss, optimizer.param_groups[0]["lr"])
        if on_step_end is not None:
            on_step_end(step, loss)
    taken = step - first_step
    return total / max(taken, 1), taken


def pretrain(
    manifest: Manifest,
    blobs: BlobStore,
    config: SSLConfig,
    out_dir: Path,
    *,
    version_id: str,
    resume: Path | None = None,
    force: bool = False,
    reporter: Reporter | None = None,
) -> PretrainResult:
    """Pretrain ``config.method`` on the images of ``config.splits``, writing ``out_dir``:
    ``config.yaml``, ``metrics.jsonl`` and ``last.pt`` (every epoch, atomically).

    ``resume``: continue from a ``last.pt`` exactly (the whole method's weights, MoCo's
    queue, optimiser, schedule and position in the epoch come back; each step reseeds from
    the seed and the step). Refused when the config or the version differs, unless
    ``force``: then the new config's schedule rules from the interrupted epoch's beginning.

    SIGINT or SIGTERM (in the main thread) ends the step under way, saves ``last.pt`` and
    raises :class:`~synsetlab.train.interrupt.TrainingInterrupted`.
    """
    paths = RunPaths(Path(out_dir))
    checkpoint = start_run(paths, resume, error=SSLError)
    changed = False
    if checkpoint is not None:
        changed = _check_resume(checkpoint, resume, config, version_id, force)
    reporter = reporter or SilentReporter()
    device = resolve_device(config.device)
    dataset = ssl_dataset(manifest, blobs, config)
    steps = len(dataset) // config.batch_size  # full batches only: NT-Xent wants equal sizes
    if steps == 0:
        raise SSLError(
            f"{len(dataset)} images are fewer than one batch of {config.batch_size}: "
            "lower --batch-size"
        )
    model = create_ssl_model(config).to(device)
    optimizer = create_optimizer_v2(
        model,
        opt="adamw" if config.optimizer == "adamw" else "momentum",
        lr=config.lr,
        weight_decay=config.weight_decay,
        momentum=0.9,
    )
    scheduler, _ = create_scheduler_v2(
        optimizer, sched="cosine", num_epochs=config.epochs, warmup_epochs=config.warmup_epochs,
        warmup_lr=config.lr / 100, min_lr=0.0, step_on_epochs=False, updates_per_epoch=steps,
    )  # fmt: skip
    sampler = ResumableSampler(len(dataset), seed=config.seed)
    normalize = DeviceNormalize(IMAGENET_MEAN, IMAGENET_STD, device=device)
    probe = config.knn_every > 0 and _labelled(manifest, "train") and _labelled(manifest, "val")
    progress = Progress()
    if checkpoint is not None:
        progress = _restore(checkpoint, model, optimizer, scheduler, same_config=not changed)
        if changed:  # the new schedule, counted in the new steps per epoch, from a whole epoch
            progress.global_step = progress.epoch * steps
            progress.restart_epoch()

    def save() -> None:
        state = _checkpoint(model, optimizer, scheduler, config, manifest, version_id, progress)
        save_checkpoint(paths.last, state)

    # Fewer threads than CPUs where other work shares them (hardware.choose_threads).
    threads = training_threads(config.threads, workers=config.workers, device=device)
    with threads as chosen, stop_on_signals() as stop:
        if chosen is not None and isinstance(reporter, HardwareReporter):
            reporter.hardware(hardware_notes(None, chosen))
        write_run_config(paths, "ssl_config", config, version_id,
                         packages=("torchvision", "timm", "lightly"))  # fmt: skip
        start_metrics(paths, progress)
        while progress.epoch < config.epochs:
            if progress.epoch_step < steps:
                _pretrain_steps(model, dataset, sampler, config, progress, steps, optimizer,
                                scheduler, normalize, reporter, stop, device)  # fmt: skip
                if stop:
                    save()
                    raise _interrupted(stop, paths)
            record = progress.close_epoch(optimizer.param_groups[0]["lr"], config.batch_size)
            epoch = progress.epoch
            if probe and (epoch % config.knn_every == 0 or epoch == config.epochs):
                record["val_knn_top1_accuracy"] = _knn(model.backbone, manifest, blobs, config)
            progress.history.append(record)
            save()
            append_record(paths.metrics, record)
            reporter.epoch_end(record)
            if stop and progress.epoch < config.epochs:  # it came during the probe or save:
                raise _interrupted(stop, paths)  # last.pt holds this epoch
    return PretrainResult(
        paths.root, paths.last, progress.epoch, progress.global_step, progress.history
    )


def _interrupted(stop: StopRequest, paths: RunPaths) -> TrainingInterrupted:
    assert stop.signum is not None
    return TrainingInterrupted(stop.signum, paths.last)


def _pretrain_steps(
    model: nn.Module,
    dataset: Any,
    sampler: ResumableSampler,
    config: SSLConfig,
    progress: Progress,
    steps: int,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    normalize: DeviceNormalize,
    reporter: Reporter,
    stop: StopRequest,
    device: torch.device,
) -> None:
    """The rest of the current epoch's steps (fewer on a signal), adding to ``progress``."""
    sampler.set_epoch(progress.epoch)
    sampler.set_position(progress.epoch_step * config.batch_size)
    loader = create_loader(
        dataset, batch_size=config.batch_size, sampler=sampler, workers=config.workers,
        drop_last=True, pin_memory=device.type == "cuda",
    )  # fmt: skip
    reporter.epoch_start(progress.epoch + 1, config.epochs, steps - progress.epoch_step)
    started, seconds_before = time.perf_counter(), progress.seconds

    def on_step_end(step: int, loss: float) -> None:
        progress.add_step(step, loss, seconds_before + time.perf_counter() - started)

    pretrain_one_epoch(
        model, loader, config=config, first_step=progress.global_step, optimizer=optimizer,
        scheduler=scheduler, normalize=normalize, reporter=reporter, on_step_end=on_step_end,
        interrupted=lambda: bool(stop),
    )  # fmt: skip


def _check_resume(
    checkpoint: dict[str, Any], path: Path | None, config: SSLConfig, version_id: str, force: bool
) -> bool:
    """Whether the config or version changed (only with ``force``); :class:`SSLError` says
    why ``checkpoint`` cannot be resumed."""
    if "ssl_state" not in checkpoint:
        if "ssl_config" in checkpoint:
            raise SSLError(
                f"{path} was saved by an earlier synsetlab, without the state a resume needs: "
                "start a new run (its backbone can still be fine-tuned)"
            )
        raise SSLError(f"{path} is not a checkpoint of `synsetlab pretrain`: nothing to resume")
    old = checkpoint["ssl_config"]
    changed = check_resume(
        config_changes(old, config, SSL_EXECUTION_FIELDS),
        checkpoint.get("version_id") == version_id,
        force=force,
        error=SSLError,
    )
    if (config.method, config.model) != (old["method"], old["model"]):
        raise SSLError(f"{path} pretrained {old['model']} with {old['method']}: resume with those")
    return changed


def _restore(
    checkpoint: dict[str, Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    *,
    same_config: bool,
) -> Progress:
    """Load a checkpoint's pretraining state; returns where the run stands. Without
    ``same_config`` (a forced resume) the new config's schedule and hyperparameters rule."""
    state = checkpoint["ssl_state"]
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:
        raise SSLError(f"the checkpoint's weights do not fit this model: {e}") from e
    for name, value in state["buffers"].items():
        buffer = model.get_buffer(name)
        if buffer.shape == value.shape:  # else a forced resume changed it (e.g. queue_size)
            buffer.copy_(value)
    restore_optimizer(optimizer, scheduler, state["optimizer"], state["scheduler"],
                      same_config=same_config)  # fmt: skip
    return restore_progress(checkpoint)


def _labelled(manifest: Manifest, split: str) -> bool:
    entries = manifest.split(split)
    return bool(entries) and not any(e.hidden for e in entries)


def _knn(backbone: nn.Module, manifest: Manifest, blobs: BlobStore, config: SSLConfig) -> float:
    """k-NN top-1 accuracy on val, with train's labelled features as the memory."""
    device = next(backbone.parameters()).device
    kwargs = {"image_size": config.image_size, "workers": config.workers, "device": device}
    train = split_features(backbone, manifest, blobs, "train", **kwargs)
    val = split_features(backbone, manifest, blobs, "val", **kwargs)
    return knn_accuracy(*train, *val, k=config.knn_k, temperature=config.knn_temperature)


def _checkpoint(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    config: SSLConfig,
    manifest: Manifest,
    version_id: str,
    progress: Progress,
) -> dict[str, Any]:
    """A synsetlab checkpoint whose ``state_dict`` is the backbone without classifier (what
    fine-tuning reads) and whose ``config`` that fine-tuning's starting point; ``ssl_state``
    is what ``--resume`` restores (:func:`_restore`)."""
    finetune = TrainConfig(
        model=config.model,
        model_kwargs=config.model_kwargs,
        seed=config.seed,
        data=TransformConfig(image_size=config.image_size, crop_pct=1.0),
    )
    return checkpoint_state(
        finetune, manifest.classes, version_id, progress,
        state_dict=model.backbone.state_dict(),
        ssl_config=config.model_dump(mode="json"),
        ssl_state={
            "buffers": dict(model.named_buffers()),  # MoCo's queue is not in the state dict
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
        },
    )  # fmt: skip
