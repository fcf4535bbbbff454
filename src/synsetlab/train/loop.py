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
from synsetlab.train.config import LoopConfig, TrainConfig
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


def plan_steps(config: LoopConfig, dataset_size: int, world: World) -> StepPlan:
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


def amp_dtype(config: LoopConfig) -> torch.dtype | None:
    """The autocast dtype of a config whose ``amp`` is decided (``None``: fp32)."""
    if config.amp == "auto":  # decided by train() / build_parts before any step
        raise RuntimeError("amp: auto must be decided for a device first (hardware.resolve_amp)")
    if not config.amp:
        return None
    return torch.bfloat16 if config.amp_dtype == "bfloat16" else torch.float16


def autocast(config: LoopConfig, device: torch.device) -> AbstractContextManager[Any]:
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
    nxt = agree_next_step(batches, steps, stop, device, world)
    while nxt.go:
        assert nxt.batches is not None
        reseed(config.seed, step)
        scheduler.step_update(num_updates=step)
        optimizer.zero_grad(set_to_none=True)
        summed = torch.zeros((), device=device)
        for i, (images, labels) in enumerate(nxt.batches):
            x, y = normalize(images), labels.to(device, non_blocking=True)
            if mixup is not None:
                x, y = mixup(x, y)
            if erase is not None:
                x = erase(x)
            with grad_sync(model, i, steps.accum):
                with autocast(config, device):
                    loss = criterion(model, x, y)
                scaler.scale(loss / steps.accum).backward()
            summed += loss.detach().float()
        # Every process logs (and checkpoints) the same mean: one device sync per step.
        nxt = agree_next_step(batches, steps, stop, device, world, summed)
        require_finite_loss(nxt.loss, step, error=TrainingError, clip_hint="1.0")
        optimizer_step(model, optimizer, scaler, config.optim.clip_grad)
        step += 1
        if ema is not None:
            ema.update(model, step=step)
        taken += 1
        reporter.step(steps.per_process * world.size, nxt.loss, optimizer.param_groups[0]["lr"])
        if on_step_end(step, nxt.loss):
            break
        if stop and not world.distributed:
            break  # one process has nothing to agree with: a signal during this step ends it
    return taken


@dataclass
class NextStep:
    """What every process agreed about the next optimiser step (:func:`agree_next_step`)."""

    #: This process's micro-batches of the next step (``None``: its loader has ended).
    batches: list[Any] | None
    #: Take it: no process was signalled, and no process's loader has ended.
    go: bool
    #: The loss of the step just taken, the mean over processes and micro-batches (0 before
    #: the first step).
    loss: float


def agree_next_step(
    batches: Iterator[Any],
    steps: StepPlan,
    stop: StopRequest,
    device: torch.device,
    world: World,
    summed: torch.Tensor | None = None,
) -> NextStep:
    """Fetch this process's micro-batches of the next step, and agree with every process on
    whether to take it, in the one all-reduce that also sums ``summed`` (the loss summed
    over the micro-batches of the step just taken; ``None`` before the first step).

    Every process must take the same steps, or the others wait in a collective for ever:
    whether to take the next one (a signal, a loader's end) is summed over processes with
    each step's loss (note: this is the loop's one CPU-GPU sync point per step).
    """
    pending, failed = _fetch(batches, steps.accum, stop)
    flags = torch.tensor(_go_flags(stop, pending, failed), device=device)
    if summed is None:
        totals, loss = all_reduce_sum(flags, world).tolist(), 0.0
    else:
        totals = all_reduce_sum(torch.cat([summed.view(1), flags]), world).tolist()
        totals, loss = totals[1:], totals[0] / world.size / steps.accum
    stopping, ended = _read_go_flags(stop, totals)
    return NextStep(pending, not (stopping or ended), loss)


def grad_sync(model: nn.Module, micro_batch: int, accum: int) -> AbstractContextManager[Any]:
    """Under DDP, no gradient all-reduce but on a step's last micro-batch (once per step)."""
    if isinstance(model, DistributedDataParallel) and micro_batch < accum - 1:
        return model.no_sync()
    return nullcontext()


def require_finite_loss(loss: float, step: int, *, error: type[UserError], clip_hint: str) -> None:
    """Raise ``error`` when step ``step``'s loss is not finite, before the optimiser takes
    it (the last checkpoint stays clean); ``clip_hint`` is the ``optim.clip_grad`` to suggest."""
    if not math.isfinite(loss):
        raise error(
            f"the loss is {loss} at step {step + 1}: training stopped; the last "
            "checkpoint is from before it. Try a lower --lr, gradient clipping "
            f"(--set optim.clip_grad={clip_hint}), or turn --amp off"
        )


def optimizer_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    clip_grad: float | None,
) -> None:
    """The optimiser's step on the (scaled) gradients, clipped to ``clip_grad`` when given."""
    if clip_grad is not None:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
    scaler.step(optimizer)
    scaler.update()


def _fetch(batches: Iterator[Any], accum: int, stop: StopRequest) -> tuple[list[Any] | None, bool]:
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


def _go_flags(stop: StopRequest, pending: list[Any] | None, failed: bool) -> list[float]:
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
