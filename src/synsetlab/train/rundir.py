"""A run folder's life, shared by training (:mod:`synsetlab.train.run`) and pretraining
(:mod:`synsetlab.train.ssl.pretrain`): its files, the refusal to overwrite one, the resume
check, where a run stands (:class:`Progress`), the checkpoint's common entries and their
restoration, ``config.yaml`` and ``metrics.jsonl``.

A run folder holds ``config.yaml`` (the resolved config, the version, the machine's choices and
the package versions, as timm's ``args.yaml``), ``metrics.jsonl`` (one line per epoch, always
what ``last.pt`` records: :mod:`synsetlab.train.history`) and ``last.pt``; training adds
``best.pt``, TensorBoard events and ``curves.png``. Each loop stays its own function, readable
top to bottom; these are the pieces both call.
"""

from __future__ import annotations

import contextlib
import importlib
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from pydantic import BaseModel, ValidationError

import synsetlab
from synsetlab.errors import UserError
from synsetlab.train.checkpoint import load_checkpoint, load_moments, rng_state, set_rng_state
from synsetlab.train.config import TrainConfig
from synsetlab.train.hardware import read_cpuinfo
from synsetlab.train.history import write_history


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
class Progress:
    """Where a run stands: what a checkpoint records besides weights and optimiser."""

    epoch: int = 0  # epochs completed
    epoch_step: int = 0  # steps of the current epoch completed
    global_step: int = 0
    best: float | None = None  # least validation top-1 error so far
    history: list[dict[str, Any]] = field(default_factory=list)
    # The current epoch's partial sums, so that a resumed epoch's record covers all its
    # steps: step losses (the mean over processes), the steps summed (fewer than epoch_step
    # only after a resume from a checkpoint without sums), and training seconds.
    loss_sum: float = 0.0
    loss_steps: int = 0
    seconds: float = 0.0

    def partial(self) -> dict[str, Any]:
        return {"loss_sum": self.loss_sum, "loss_steps": self.loss_steps, "seconds": self.seconds}

    def add_step(self, step: int, loss: float, seconds: float) -> None:
        """Count optimiser step ``step`` (global, 1-based) done, with its loss; ``seconds``:
        the epoch's training time so far."""
        self.global_step, self.epoch_step = step, self.epoch_step + 1
        self.loss_sum += loss
        self.loss_steps += 1
        self.seconds = seconds

    def restart_epoch(self) -> None:
        self.epoch_step, self.loss_sum, self.loss_steps, self.seconds = 0, 0.0, 0, 0.0

    def close_epoch(self, lr: float, batch_size: int) -> dict[str, Any]:
        """Count the current epoch done; return its line of ``metrics.jsonl`` before
        validation (``None`` for what a checkpoint without partial sums cannot say)."""
        steps = self.loss_steps
        record = {
            "epoch": self.epoch + 1,
            "step": self.global_step,
            "train_loss": self.loss_sum / steps if steps else None,
            "lr": lr,
            "images_per_s": steps * batch_size / self.seconds if steps and self.seconds else None,
        }
        self.epoch += 1
        self.restart_epoch()
        return record

    def entries(self) -> dict[str, Any]:
        """The checkpoint's entries of this progress (:func:`restore_progress` reads them)."""
        return {
            "epoch": self.epoch,
            "epoch_step": self.epoch_step,
            "epoch_partial": self.partial(),
            "global_step": self.global_step,
            "best_val_top1_error": self.best,
            "history": self.history,
        }


# Starting and resuming ---------------------------------------------------------------------------


def start_run(
    paths: RunPaths, resume: Path | None, *, error: type[UserError]
) -> dict[str, Any] | None:
    """The checkpoint a run resumes from (read whole: weights, optimiser, RNG), or ``None``
    for a new run, which must not overwrite the run ``paths`` holds (``error`` says so)."""
    if resume is not None:
        return load_checkpoint(resume, suggest="last.pt")
    if paths.last.exists():
        raise error(
            f"{paths.root} already holds a run: continue it with --resume {paths.last}, or "
            "choose another --out"
        )
    return None


def config_changes(
    old: dict[str, Any], new: BaseModel, ignore: Collection[str]
) -> dict[str, tuple[Any, Any]]:
    """The fields that differ between a saved config and ``new`` (a run's config), except
    ``ignore`` (its execution fields): dotted name -> (saved value, new value), sorted by
    name."""
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
    error: type[UserError],
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


# Checkpoints -------------------------------------------------------------------------------------


def checkpoint_state(
    config: TrainConfig,
    classes: Sequence[str],
    version_id: str,
    progress: Progress,
    *,
    state_dict: dict[str, torch.Tensor],
    state_dict_ema: dict[str, torch.Tensor] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """What every run's checkpoint holds, under the keys timm's ``train.py`` uses where it has
    one (``arch``, ``state_dict``, ``state_dict_ema``, ``epoch``): the model as a classifier
    of ``classes`` configured by ``config`` (what evaluation and fine-tuning read),
    ``progress``, every RNG state, and the package versions; ``extra`` adds the run's own
    (optimiser, scheduler, ...)."""
    return {
        "arch": config.model,
        "model_kwargs": config.model_kwargs,
        "classes": list(classes),
        "version_id": version_id,
        "config": config.model_dump(mode="json"),
        "state_dict": state_dict,
        "state_dict_ema": state_dict_ema,
        **progress.entries(),
        "rng": rng_state(),
        "synsetlab_version": synsetlab.__version__,
        "torch_version": str(torch.__version__),
        **extra,
    }


def restore_progress(checkpoint: dict[str, Any]) -> Progress:
    """Where the run of ``checkpoint`` stands, with the global RNGs as they were when it was
    saved. Checkpoints from before the partial sums give an epoch record of the steps after
    the resume only; from before ``epoch_step`` (pretraining's), a whole epoch."""
    if "rng" in checkpoint:
        set_rng_state(checkpoint["rng"])
    partial = checkpoint.get("epoch_partial") or {}
    return Progress(
        epoch=checkpoint["epoch"],
        epoch_step=checkpoint.get("epoch_step", 0),
        global_step=checkpoint["global_step"],
        best=checkpoint.get("best_val_top1_error"),
        history=list(checkpoint.get("history", [])),
        loss_sum=float(partial.get("loss_sum", 0.0)),
        loss_steps=int(partial.get("loss_steps", 0)),
        seconds=float(partial.get("seconds", 0.0)),
    )


def restore_optimizer(
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    saved_optimizer: dict[str, Any],
    saved_scheduler: dict[str, Any],
    *,
    same_config: bool,
) -> None:
    """The optimiser and schedule of a checkpoint. With ``same_config`` both exactly, for an
    exact continuation. Else (a forced resume) only the optimiser's moments, under the new
    config's hyperparameters and schedule, as timm's ``train.py`` rebuilds its scheduler from
    the new arguments on resume: more epochs extend the cosine instead of continuing at its
    end, a new lr is the one used."""
    if same_config:
        optimizer.load_state_dict(saved_optimizer)
        scheduler.load_state_dict(saved_scheduler)
    else:
        load_moments(optimizer, saved_optimizer)


# config.yaml and metrics.jsonl -------------------------------------------------------------------


def write_run_config(
    paths: RunPaths,
    key: str,
    config: BaseModel,
    version_id: str,
    *,
    packages: Sequence[str] = ("torchvision", "timm"),
    **extra: Any,
) -> None:
    """Write ``config.yaml``: ``config`` under ``key``, the dataset version, ``extra`` (e.g.
    the precision chosen), the CPU and torch's threads as the run trains, and the versions
    of synsetlab, torch and ``packages``. Creates the run folder."""
    paths.root.mkdir(parents=True, exist_ok=True)
    cpu = read_cpuinfo()
    document = {
        key: config.model_dump(mode="json"),
        "dataset_version": version_id,
        **extra,
        "cpu": None if cpu is None else cpu.model,
        "threads": torch.get_num_threads(),
        "synsetlab": synsetlab.__version__,
        "torch": str(torch.__version__),
        **{name: str(importlib.import_module(name).__version__) for name in packages},
    }
    paths.config.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def start_metrics(paths: RunPaths, progress: Progress) -> None:
    """Make ``metrics.jsonl`` hold what the checkpoint records: lines of epochs after it (or
    of a run that died before its first ``last.pt``) go."""
    write_history(paths.metrics, progress.history)


__all__ = [
    "Progress",
    "RunPaths",
    "check_resume",
    "checkpoint_state",
    "config_changes",
    "restore_optimizer",
    "restore_progress",
    "start_metrics",
    "start_run",
    "write_run_config",
]
