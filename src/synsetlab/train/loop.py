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
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

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
from synsetlab.train.criteria import Criterion
from synsetlab.train.distributed import World, all_reduce_sum
from synsetlab.train.interrupt import STOP_SIGNALS, StopRequest, adopt_stop, stop_flags


class TrainingError(UserError, ValueError):
    """A run cannot start or go on as asked; the message says why and what to try."""


class TrainingWarning(UserWarning):
    """A run starts in a way that is likely not what its user wants (emulated bfloat16, no
    validation split); the CLI prints it as one yellow line."""


class Reporter(Protocol):
    """What the loop tells its caller (the CLI draws progress bars from it)."""

    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None: ...
    def step(self, images: int, loss: float, lr: float) -> None: ...
    def epoch_end(self, record: dict[str, Any]) -> None: ...


@runtime_checkable
class HardwareReporter(Protocol):
    """A :class:`Reporter` that is also told, once before the first step, what the run
    decided about the hardware (:func:`synsetlab.train.hardware.hardware_notes`)."""

    def hardware(self, notes: str) -> None: ...


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
        raise RuntimeError("amp: auto must be decided for a device first (hardware.resolve_amp)")
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
    stop: StopRequest | None = None,
) -> int:
    """Optimiser steps until the loader ends, ``on_step_end`` says stop, or ``stop`` is set.

    ``on_step_end(global_step, loss)`` gets each step's loss (the mean over processes) and
    returns True to stop after that step (a step budget). ``stop`` (set by a signal, see
    :func:`~synsetlab.train.interrupt.stop_on_signals`) ends the epoch after the step under
    way; under torchrun after the same step in every process, the next one at most when the
    signal reached some processes only after that step's losses were summed. Returns the
    steps taken.
    """
    stop = StopRequest() if stop is None else stop
    set_train_mode(model, config)
    taken, step = 0, first_step
    batches = iter(loader)
    # Every process must take the same steps, or the others wait in a collective for ever:
    # whether to take the next one (a signal, the loader's end) is summed over processes
    # before the first step, then with each step's loss, in the same all-reduce.
    pending, failed = _fetch(batches, steps.accum, stop)
    totals = all_reduce_sum(torch.tensor(_go_flags(stop, pending, failed), device=device), world)
    stopping, ended = _read_go_flags(stop, totals.tolist())
    while not (stopping or ended):
        assert pending is not None
        reseed(config.seed, step)
        scheduler.step_update(num_updates=step)
        optimizer.zero_grad(set_to_none=True)
        summed = torch.zeros((), device=device)
        for i, (images, labels) in enumerate(pending):
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
        pending, failed = _fetch(batches, steps.accum, stop)
        flags = torch.tensor(_go_flags(stop, pending, failed), device=device)
        # Every process logs (and checkpoints) the same mean: one device sync per step.
        totals = all_reduce_sum(torch.cat([summed.view(1), flags]), world).tolist()
        step_loss = totals[0] / world.size / steps.accum
        stopping, ended = _read_go_flags(stop, totals[1:])
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
        if stop and not world.distributed:
            break  # one process has nothing to agree with: a signal during this step ends it
    return taken


def _fetch(
    batches: Iterator[tuple[torch.Tensor, torch.Tensor]], accum: int, stop: StopRequest
) -> tuple[list[tuple[torch.Tensor, torch.Tensor]] | None, bool]:
    """The next step's ``accum`` micro-batches (``None`` when the loader has ended), and
    whether the loader died of a stop signal."""
    micro_batches = []
    try:
        for _ in range(accum):
            batch = next(batches, None)
            if batch is None:
                return None, False
            micro_batches.append(batch)
    except Exception:
        # A terminal's Ctrl-C (a scheduler's SIGTERM) reaches the loader's workers too, which
        # then die: the weights are still those of the last whole step, so stop there.
        if stop:
            return None, True
        raise
    return micro_batches, False


def _go_flags(stop: StopRequest, pending: list | None, failed: bool) -> list[float]:
    """What this process says about taking the next step, as numbers summed over processes:
    its stop signals, whether its loader died of one, whether its loader has ended."""
    return [*stop_flags(stop), float(failed), float(pending is None and not failed)]


def _read_go_flags(stop: StopRequest, totals: Sequence[float]) -> tuple[bool, bool]:
    """(stop, the loader has ended) from the sums of every process's :func:`_go_flags`."""
    signalled = adopt_stop(stop, totals[: len(STOP_SIGNALS)])
    failed, ended = totals[len(STOP_SIGNALS) :]
    return signalled or failed > 0, ended > 0


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
