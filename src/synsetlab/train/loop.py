"""The training loop, in the shape of torchvision's reference script: one function for an
epoch of optimiser steps (:func:`train_one_epoch`), one for model outputs over a split
(:func:`evaluate`). :mod:`synsetlab.train.run` holds ``main``.

Exactness: every optimiser step reseeds the global RNGs from ``(seed, step)`` (dropout,
drop-path, mixup, erasing) and every sample is augmented from its own seed
(:class:`synsetlab.data.ResumableSampler`), so a run resumed from any step, mid-epoch too,
computes what an uninterrupted one would, bit for bit on the CPU.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual torch spelling
from timm.data import Mixup
from timm.data.random_erasing import RandomErasing
from timm.utils import ModelEmaV3
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from synsetlab.data import DeviceNormalize
from synsetlab.data.loader import mix_seed
from synsetlab.errors import UserError
from synsetlab.train.config import TrainConfig
from synsetlab.train.distributed import World, all_reduce_mean


class TrainingError(UserError, ValueError):
    """A run cannot start or go on as asked; the message says why and what to try."""


class TrainingWarning(UserWarning):
    """A run starts in a way that is likely not what its user wants (emulated bfloat16, no
    validation split); the CLI prints it as one yellow line."""


class Criterion(Protocol):
    """The training loss of a batch: ``(model, inputs (B, 3, H, W), targets) -> scalar``.

    Plain training is ``loss_fn(model(x), y)``; adversarial training attacks ``x`` first,
    distillation adds a teacher's soft targets (:mod:`synsetlab.train.setup` chooses).
    """

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor: ...


class PlainCriterion:
    """``loss_fn(model(x), y)``."""

    def __init__(self, loss_fn: nn.Module) -> None:
        self.loss_fn = loss_fn

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.loss_fn(model(x), y)


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


@dataclass
class StepPlan:
    """How a global batch splits over processes and micro-batches, and steps per epoch."""

    per_process: int
    micro: int
    accum: int
    per_epoch: int


def plan_steps(config: TrainConfig, dataset_size: int, world: World) -> StepPlan:
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
    return StepPlan(per_process, per_process // accum, accum, per_epoch)


def reseed(seed: int, step: int) -> None:
    """Global RNGs (dropout, drop-path, mixup, erasing) as a function of the step alone."""
    value = mix_seed(seed, step, 2)
    torch.manual_seed(value)
    random.seed(value)
    np.random.seed(value % 2**32)


def amp_dtype(config: TrainConfig) -> torch.dtype | None:
    """The autocast dtype of a config whose ``amp`` is decided (``None``: fp32)."""
    if config.amp == "auto":  # decided by train() / build_parts before any step
        raise RuntimeError("amp: auto must be decided for a device first (setup.resolve_amp)")
    if not config.amp:
        return None
    return torch.bfloat16 if config.amp_dtype == "bfloat16" else torch.float16


def autocast(config: TrainConfig, device: torch.device) -> AbstractContextManager[Any]:
    dtype = amp_dtype(config)
    return nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


NORM_LAYERS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def set_train_mode(model: nn.Module, config: TrainConfig) -> None:
    """Training mode, except batch norms kept frozen (their running statistics untouched)
    when fine-tuning asks so: ``freeze_bn``, or a linear probe."""
    model.train()
    if config.freeze_bn or config.finetune == "linear":
        for module in model.modules():
            if isinstance(module, NORM_LAYERS):
                module.eval()


def train_one_epoch(
    model: nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    config: TrainConfig,
    steps: StepPlan,
    first_step: int,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    criterion: Criterion,
    normalize: DeviceNormalize,
    device: torch.device,
    world: World,
    mixup: Mixup | None,
    erase: RandomErasing | None,
    ema: ModelEmaV3 | None,
    scaler: torch.amp.GradScaler,
    reporter: Reporter,
    on_step_end: Callable[[int, float], bool],
    interrupted: Callable[[], bool] = lambda: False,
) -> int:
    """Optimiser steps until the loader ends, ``on_step_end`` says stop, or ``interrupted``.

    ``on_step_end(global_step, loss)`` gets each step's loss (the mean over processes) and
    returns True to stop after that step (a step budget). ``interrupted()`` is asked before
    each step (a signal arrived: stop at this step boundary). Returns the steps taken.
    """
    set_train_mode(model, config)
    taken, step = 0, first_step
    batches = iter(loader)
    while not interrupted():
        micro_batches = []
        try:
            for _ in range(steps.accum):
                batch = next(batches, None)
                if batch is None:
                    break
                micro_batches.append(batch)
        except Exception:
            # A terminal's Ctrl-C reaches the loader's workers too, which then die: the
            # weights are still those of the last whole step, so stop there.
            if interrupted():
                break
            raise
        if len(micro_batches) < steps.accum:
            break
        reseed(config.seed, step)
        scheduler.step_update(num_updates=step)
        optimizer.zero_grad(set_to_none=True)
        summed = torch.zeros((), device=device)
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
                with autocast(config, device):
                    loss = criterion(model, x, y)
                scaler.scale(loss / steps.accum).backward()
            summed += loss.detach().float()
        # Every process logs (and checkpoints) the same mean: one device sync per step.
        step_loss = float(all_reduce_mean(summed, world)) / steps.accum
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
        taken += 1
        reporter.step(steps.per_process * world.size, step_loss, optimizer.param_groups[0]["lr"])
        if on_step_end(step, step_loss):
            break
    return taken


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
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    normalize: DeviceNormalize,
    device: torch.device,
    amp_dtype: torch.dtype | None = None,
    tta_flip: bool = False,
) -> EvalOutput:
    """Softmax outputs of ``model`` over ``loader`` (and the mean cross-entropy where every
    label is known), autocast to ``amp_dtype`` when given (a run validates in its training
    precision). ``tta_flip`` averages the probabilities of each image and its mirror."""
    model.eval()
    probs, labels = [], []
    precision = nullcontext() if amp_dtype is None else torch.autocast(device.type, dtype=amp_dtype)
    for images, y in loader:
        x = normalize(images)
        with precision:
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
