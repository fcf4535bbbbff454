"""The pretraining loop: steps, epochs, checkpoints and k-NN monitoring."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from timm.optim import create_optimizer_v2
from timm.scheduler import create_scheduler_v2
from torch import nn

import synsetlab
from synsetlab.blobs import BlobStore
from synsetlab.data import (
    DeviceNormalize,
    ResumableSampler,
    TransformConfig,
    create_loader,
)
from synsetlab.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from synsetlab.manifest import Manifest
from synsetlab.train.checkpoint import load_checkpoint, load_moments, save_checkpoint
from synsetlab.train.config import TrainConfig, check_resume, config_changes
from synsetlab.train.distributed import resolve_device
from synsetlab.train.hardware import training_threads
from synsetlab.train.history import append_record, write_history
from synsetlab.train.loop import Reporter, SilentReporter, reseed
from synsetlab.train.ssl.config import (
    SSL_EXECUTION_FIELDS,
    SSLConfig,
    SSLError,
)
from synsetlab.train.ssl.methods import (
    create_ssl_model,
)
from synsetlab.train.ssl.probes import knn_accuracy, split_features
from synsetlab.train.ssl.views import (
    ssl_dataset,
)


@dataclass
class PretrainResult:
    out_dir: Path
    #: ``last.pt``: the backbone, loadable with ``TrainConfig(pretrained=...)``.
    checkpoint: Path
    epochs_done: int
    global_step: int
    history: list[dict[str, Any]] = field(default_factory=list)


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
) -> tuple[float, int]:
    """Steps over ``loader``; returns (mean loss, steps taken)."""
    model.train()
    total, step = 0.0, first_step
    for views, _ in loader:
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

    ``resume``: continue from a ``last.pt`` after its epoch, exactly (the whole method's
    weights, MoCo's queue, optimiser and schedule come back; each step reseeds from the seed
    and the step). Refused when the config or the version differs, unless ``force``: then
    the new config's schedule rules the remaining epochs.
    """
    out_dir = Path(out_dir)
    last = out_dir / "last.pt"
    saved, changed = (
        _checked_resume(resume, config, version_id, force) if resume is not None else (None, False)
    )
    if saved is None and last.exists():
        raise SSLError(
            f"{out_dir} already holds a run: continue it with --resume {last}, or choose "
            "another --out"
        )
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
    history: list[dict[str, Any]] = []
    step = 0
    if saved is not None:
        history, step = _restore(saved, model, optimizer, scheduler, same_config=not changed)
        if changed:  # the new schedule, counted in the new steps per epoch
            step = len(history) * steps
    _write_config(out_dir / "config.yaml", config, version_id)
    # From the checkpoint: lines of epochs after it (or of a run that died before its first
    # last.pt) go.
    write_history(out_dir / "metrics.jsonl", history)
    # Fewer threads than CPUs where other work shares them (hardware.choose_threads).
    with training_threads(config.threads, workers=config.workers, device=device):
        for epoch in range(len(history) + 1, config.epochs + 1):
            sampler.set_epoch(epoch - 1)
            loader = create_loader(
                dataset, batch_size=config.batch_size, sampler=sampler, workers=config.workers,
                drop_last=True, pin_memory=device.type == "cuda",
            )  # fmt: skip
            reporter.epoch_start(epoch, config.epochs, steps)
            started = time.perf_counter()
            loss, taken = pretrain_one_epoch(
                model, loader, config=config, first_step=step, optimizer=optimizer,
                scheduler=scheduler, normalize=normalize, reporter=reporter,
            )  # fmt: skip
            step += taken
            record: dict[str, Any] = {
                "epoch": epoch,
                "step": step,
                "train_loss": loss,
                "lr": optimizer.param_groups[0]["lr"],
                "images_per_s": taken * config.batch_size / (time.perf_counter() - started),
            }
            if probe and (epoch % config.knn_every == 0 or epoch == config.epochs):
                record["val_knn_top1_accuracy"] = _knn(model.backbone, manifest, blobs, config)
            history.append(record)
            append_record(out_dir / "metrics.jsonl", record)
            state = _checkpoint(model, optimizer, scheduler, config, manifest, version_id, history)
            save_checkpoint(last, state)
            reporter.epoch_end(record)
    return PretrainResult(out_dir, last, len(history), step, history)


def _checked_resume(
    path: Path, config: SSLConfig, version_id: str, force: bool
) -> tuple[dict[str, Any], bool]:
    """The checkpoint to resume from and whether the config or version changed (only with
    ``force``); :class:`SSLError` says why it cannot be resumed."""
    saved = load_checkpoint(path, suggest="last.pt")
    if "ssl_state" not in saved:
        if "ssl_config" in saved:
            raise SSLError(
                f"{path} was saved by an earlier synsetlab, without the state a resume needs: "
                "start a new run (its backbone can still be fine-tuned)"
            )
        raise SSLError(f"{path} is not a checkpoint of `synsetlab pretrain`: nothing to resume")
    old = saved["ssl_config"]
    changed = check_resume(
        config_changes(old, config, SSL_EXECUTION_FIELDS),
        saved.get("version_id") == version_id,
        force=force,
        error=SSLError,
    )
    if (config.method, config.model) != (old["method"], old["model"]):
        raise SSLError(f"{path} pretrained {old['model']} with {old['method']}: resume with those")
    return saved, changed


def _restore(
    saved: dict[str, Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    *,
    same_config: bool,
) -> tuple[list[dict[str, Any]], int]:
    """Load a checkpoint's pretraining state; returns (history, global step). Without
    ``same_config`` (a forced resume) the new config's schedule and hyperparameters rule."""
    state = saved["ssl_state"]
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:
        raise SSLError(f"the checkpoint's weights do not fit this model: {e}") from e
    for name, value in state["buffers"].items():
        buffer = model.get_buffer(name)
        if buffer.shape == value.shape:  # else a forced resume changed it (e.g. queue_size)
            buffer.copy_(value)
    if same_config:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
    else:
        load_moments(optimizer, state["optimizer"])
    return list(saved["history"]), int(saved["global_step"])


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
    history: list[dict[str, Any]],
) -> dict[str, Any]:
    """A synsetlab checkpoint whose ``state_dict`` is the backbone without classifier (what
    fine-tuning reads), and whose ``ssl_state`` is what ``--resume`` restores (:func:`_restore`)."""
    finetune = TrainConfig(
        model=config.model,
        model_kwargs=config.model_kwargs,
        seed=config.seed,
        data=TransformConfig(image_size=config.image_size, crop_pct=1.0),
    )
    return {
        "arch": config.model,
        "model_kwargs": config.model_kwargs,
        "classes": list(manifest.classes),
        "version_id": version_id,
        "config": finetune.model_dump(mode="json"),
        "ssl_config": config.model_dump(mode="json"),
        "ssl_state": {
            "buffers": dict(model.named_buffers()),  # MoCo's queue is not in the state dict
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
        },
        "state_dict": model.backbone.state_dict(),
        "state_dict_ema": None,
        "epoch": len(history),
        "global_step": history[-1]["step"] if history else 0,
        "history": history,
        "synsetlab_version": synsetlab.__version__,
        "torch_version": str(torch.__version__),
    }


def _write_config(path: Path, config: SSLConfig, version_id: str) -> None:
    import lightly
    import timm
    import torchvision

    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "ssl_config": config.model_dump(mode="json"),
        "dataset_version": version_id,
        "synsetlab": synsetlab.__version__,
        "torch": str(torch.__version__),
        "torchvision": str(torchvision.__version__),
        "timm": timm.__version__,
        "lightly": lightly.__version__,
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
