"""L-inf adversarial examples and adversarial training: FGSM (Goodfellow et al. 2015) and
PGD (Madry et al. 2018), untargeted, on normalised inputs.

The model sees normalised inputs ``x = (p - mean) / std`` with pixels ``p`` in [0, 1], but
the threat model lives in pixel space: a budget of ``epsilon`` (in units of 1/255, so 4
means 4/255) is ``epsilon / 255 / std[c]`` in channel ``c`` of ``x``, and an attacked input
is clamped to the normalised image of [0, 1].

Attacks run the model in eval mode (batch-norm statistics stay untouched, no dropout; as the
Madry lab's ``robustness`` library does) and put it back in the mode it was in. They take
input gradients with :func:`torch.autograd.grad`: parameters' ``.grad`` are never written,
so an attack may sit between the micro-batches of an accumulated step.

A run's ``adversarial`` section (:class:`synsetlab.train.config.AdversarialConfig`) becomes
an :class:`AdversarialCriterion` in :func:`synsetlab.train.criteria.create_criterion`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Literal

import torch
import torch.nn.functional as F  # noqa: N812 - the usual torch spelling
from torch import nn
from torch.nn.parallel import DistributedDataParallel

#: PGD's default step, as a multiple of ``epsilon / steps`` (Madry et al.'s ImageNet and
#: the ``robustness`` library's rule: the walk can cross the ball and come back).
STEP_SIZE_FACTOR = 2.5


# Pixel-space geometry ----------------------------------------------------------------------------


def _check_budget(epsilon: float, steps: int = 1, step_size: float | None = None) -> None:
    if not (math.isfinite(epsilon) and epsilon >= 0):
        raise ValueError(f"epsilon {epsilon!r} must be a finite number >= 0 (units of 1/255)")
    if steps < 1:
        raise ValueError(f"steps {steps!r} must be >= 1")
    if step_size is not None and not (math.isfinite(step_size) and step_size > 0):
        raise ValueError(f"step_size {step_size!r} must be a finite number > 0 (units of 1/255)")


def _channel_stats(
    x: torch.Tensor, mean: Sequence[float] | torch.Tensor, std: Sequence[float] | torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(1, C, 1, 1)`` float32 mean and std (0-1 scale) on ``x``'s device."""
    m = torch.as_tensor(mean, dtype=torch.float32, device=x.device).reshape(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32, device=x.device).reshape(1, -1, 1, 1)
    if m.shape[1] != x.shape[1] or s.shape[1] != x.shape[1]:
        raise ValueError(
            f"mean and std have {m.shape[1]} and {s.shape[1]} channels; the inputs {x.shape[1]}"
        )
    return m, s


def pixel_bounds(
    x: torch.Tensor, mean: Sequence[float] | torch.Tensor, std: Sequence[float] | torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(1, C, 1, 1)`` normalised values of pixels 0 and 1: the valid range of an input."""
    m, s = _channel_stats(x, mean, std)
    return (0 - m) / s, (1 - m) / s


def to_pixels(
    x: torch.Tensor, mean: Sequence[float] | torch.Tensor, std: Sequence[float] | torch.Tensor
) -> torch.Tensor:
    """Normalised ``(B, C, H, W)`` inputs -> pixels on the 0-1 scale (float)."""
    m, s = _channel_stats(x, mean, std)
    return x.float() * s + m


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    # Module by module: a fine-tuning run trains with its batch norms frozen in eval mode,
    # which ``model.train()`` would undo.
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


def _input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """d(cross-entropy)/dx, parameters' ``.grad`` untouched. ``y``: ``(B,)`` class indices
    or ``(B, C)`` soft targets (mixup)."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(model(x).float(), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, [x])
    return grad


# Attacks -----------------------------------------------------------------------------------------


def fgsm(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epsilon: float,
    mean: Sequence[float] | torch.Tensor,
    std: Sequence[float] | torch.Tensor,
) -> torch.Tensor:
    """The fast gradient sign method: one step of ``epsilon`` along the sign of the gradient.

    Args:
        model: a classifier of normalised inputs; every module is left in its mode.
        x: ``(B, C, H, W)`` normalised inputs.
        y: ``(B,)`` class indices (or ``(B, K)`` soft targets).
        epsilon: L-inf radius in pixel units of 1/255, ``>= 0``.
        mean, std: the normalisation's channel statistics, on the 0-1 scale.

    Returns:
        ``(B, C, H, W)`` adversarial normalised inputs, detached; a copy of ``x`` when
        ``epsilon`` is 0.
    """
    _check_budget(epsilon)
    if epsilon == 0:
        return x.detach().clone()
    _, s = _channel_stats(x, mean, std)
    low, high = pixel_bounds(x, mean, std)
    with _eval_mode(model):
        grad = _input_gradient(model, x, y)
    x_adv = x.detach() + (epsilon / 255) / s * grad.sign()
    return torch.max(torch.min(x_adv, high), low).to(x.dtype)


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epsilon: float,
    steps: int,
    step_size: float | None = None,
    random_start: bool = True,
    mean: Sequence[float] | torch.Tensor,
    std: Sequence[float] | torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Projected gradient descent on the loss (Madry et al. 2018), untargeted, L-inf.

    From a uniform random point of the ``epsilon`` ball (``random_start``) or from ``x``,
    ``steps`` times: step ``step_size`` along the sign of the input gradient of the
    cross-entropy, project back into the ball around ``x`` and into the pixel range.

    Args:
        model: a classifier of normalised inputs; every module is left in its mode.
        x: ``(B, C, H, W)`` normalised inputs.
        y: ``(B,)`` class indices (or ``(B, K)`` soft targets).
        epsilon: L-inf radius in pixel units of 1/255, ``>= 0``.
        steps: iterations, ``>= 1``.
        step_size: step in pixel units of 1/255 (``None``: ``2.5 * epsilon / steps``).
        random_start: start from a uniform point of the ball.
        mean, std: the normalisation's channel statistics, on the 0-1 scale.
        generator: draws the random start (on ``x``'s device; ``None``: torch's global RNG,
            which the training loop reseeds every step).

    Returns:
        ``(B, C, H, W)`` adversarial normalised inputs, detached, within ``epsilon / 255``
        of ``x`` in pixel space; a copy of ``x`` when ``epsilon`` is 0.
    """
    _check_budget(epsilon, steps, step_size)
    if epsilon == 0:
        return x.detach().clone()
    alpha = STEP_SIZE_FACTOR * epsilon / steps if step_size is None else step_size
    _, s = _channel_stats(x, mean, std)
    low, high = pixel_bounds(x, mean, std)
    radius = (epsilon / 255) / s  # (1, C, 1, 1): the ball, per channel in normalised units
    x0 = x.detach().float()
    low, high = torch.max(x0 - radius, low), torch.min(x0 + radius, high)
    x_adv = x0
    if random_start:
        noise = torch.rand(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        x_adv = torch.max(torch.min(x0 + (2 * noise - 1) * radius, high), low)
    with _eval_mode(model):
        for _ in range(steps):
            grad = _input_gradient(model, x_adv.to(x.dtype), y)
            x_adv = x_adv + (alpha / 255) / s * grad.sign()
            x_adv = torch.max(torch.min(x_adv, high), low)
    return x_adv.to(x.dtype)


# Adversarial training ----------------------------------------------------------------------------


class AdversarialCriterion:
    """The :class:`synsetlab.train.criteria.Criterion` of adversarial training: attack the batch
    (FGSM or PGD, in eval mode), then ``loss_fn`` on the attacked batch in the model's own
    mode; with ``clean_weight`` > 0, mixed with the clean loss.

    ``epsilon`` and ``step_size`` are in pixel units of 1/255; ``mean`` and ``std`` are the
    normalisation's channel statistics on the 0-1 scale.
    """

    def __init__(
        self,
        loss_fn: nn.Module,
        method: Literal["fgsm", "pgd"],
        epsilon: float,
        steps: int,
        mean: Sequence[float],
        std: Sequence[float],
        *,
        step_size: float | None = None,
        random_start: bool = True,
        clean_weight: float = 0.0,
    ) -> None:
        if method not in ("fgsm", "pgd"):
            raise ValueError(f"unknown attack {method!r}: fgsm or pgd")
        _check_budget(epsilon, steps, step_size)
        if not 0 <= clean_weight <= 1:
            raise ValueError(f"clean_weight {clean_weight!r} must be in [0, 1]")
        self.loss_fn = loss_fn
        self.method = method
        self.epsilon = epsilon
        self.steps = steps
        self.step_size = step_size
        self.random_start = random_start
        self.clean_weight = clean_weight
        self.mean = tuple(mean)
        self.std = tuple(std)

    def attack(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` normalised inputs -> their adversarial versions."""
        # A DistributedDataParallel forward expects its backward to follow: attack the module
        # inside it, so that the attack's extra passes do not trip its gradient reduction.
        target = model.module if isinstance(model, DistributedDataParallel) else model
        if self.method == "fgsm":
            return fgsm(target, x, y, epsilon=self.epsilon, mean=self.mean, std=self.std)
        return pgd(
            target,
            x,
            y,
            epsilon=self.epsilon,
            steps=self.steps,
            step_size=self.step_size,
            random_start=self.random_start,
            mean=self.mean,
            std=self.std,
        )

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = self.loss_fn(model(self.attack(model, x, y)), y)
        if self.clean_weight > 0:
            loss = (1 - self.clean_weight) * loss + self.clean_weight * self.loss_fn(model(x), y)
        return loss

    def __repr__(self) -> str:
        return (
            f"AdversarialCriterion({self.method}, epsilon={self.epsilon}/255, "
            f"steps={self.steps}, clean_weight={self.clean_weight})"
        )


__all__ = [
    "AdversarialCriterion",
    "fgsm",
    "pgd",
    "pixel_bounds",
    "to_pixels",
]
