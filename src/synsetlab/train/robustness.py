"""Robustness of a trained checkpoint on a version's split: top-1 error under common
corruptions in the style of ImageNet-C (Hendrycks & Dietterich 2019) and under PGD attacks
(:mod:`synsetlab.train.adversarial`).

Corruptions act on the uint8 evaluation crop, as ImageNet-C corrupts the 224 px centre crop.
Their severity-1-5 parameters are those of the ImageNet-C code at the three sizes its authors
made (``make_cifar_c.py`` at 32 px, ``make_tinyimagenet_c.py`` at 64 px,
``make_imagenet_c.py`` at 224 px): an image takes the table of the nearest size (on a log
scale), and blur radii are scaled by ``side / table side`` since a blur is a length in
pixels; noise, JPEG quality and contrast are per pixel or per 8x8 block and are not scaled.
Pixels are rounded to uint8 (ImageNet-C truncates).

Labels: the test split's labels are hidden (-1). Scores need them, so both evaluations
default to ``split="val"``; scoring ``test`` takes ``reveal_hidden=True``, which only
evaluation code run by the version's owner may pass (as the challenge scorer does).
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual torch spelling
from PIL import Image
from torch.utils.data import DataLoader

from synsetlab.atomic import atomic_file
from synsetlab.blobs import BlobStore
from synsetlab.data.loader import mix_seed
from synsetlab.manifest import Manifest
from synsetlab.metrics import topk_error, topk_predictions
from synsetlab.train.adversarial import pgd
from synsetlab.train.inference import EvaluationError, split_loader
from synsetlab.train.weights import LoadedModel

#: The corruptions, in ImageNet-C's order.
CORRUPTIONS = ("gaussian_noise", "gaussian_blur", "jpeg_compression", "contrast")
SEVERITIES = (1, 2, 3, 4, 5)

#: Severity 1-5 parameters per reference image side (px): gaussian noise std (0-1 scale),
#: gaussian blur sigma (px), JPEG quality (Pillow's 1-95), contrast factor (1: unchanged).
PARAMETERS: dict[int, dict[str, tuple[float, ...]]] = {
    32: {  # CIFAR-10-C
        "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),
        "gaussian_blur": (0.4, 0.6, 0.7, 0.8, 1.0),
        "jpeg_compression": (80, 65, 58, 50, 40),
        "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),
    },
    64: {  # Tiny ImageNet-C
        "gaussian_noise": (0.04, 0.08, 0.12, 0.15, 0.18),
        "gaussian_blur": (0.5, 0.75, 1.0, 1.25, 1.5),
        "jpeg_compression": (65, 58, 50, 40, 25),
        "contrast": (0.4, 0.3, 0.2, 0.1, 0.05),
    },
    224: {  # ImageNet-C
        "gaussian_noise": (0.08, 0.12, 0.18, 0.26, 0.38),
        "gaussian_blur": (1.0, 2.0, 3.0, 4.0, 6.0),
        "jpeg_compression": (25, 18, 15, 10, 7),
        "contrast": (0.4, 0.3, 0.2, 0.1, 0.05),
    },
}


# Arguments ---------------------------------------------------------------------------------------


def check_corruption(corruption: str) -> None:
    if corruption not in CORRUPTIONS:
        raise EvaluationError(f"unknown corruption {corruption!r}; known: {', '.join(CORRUPTIONS)}")


def check_severity(severity: int) -> None:
    if isinstance(severity, bool) or severity not in SEVERITIES:
        raise EvaluationError(f"severity {severity!r} is not one of 1, 2, 3, 4, 5")


def check_epsilon(epsilon: float) -> None:
    if not (math.isfinite(epsilon) and epsilon >= 0):
        raise EvaluationError(f"epsilon {epsilon!r} must be a finite number >= 0 (units of 1/255)")


def corruption_parameter(corruption: str, severity: int, side: int) -> float:
    """The parameter of ``corruption`` at ``severity`` for images whose short side is
    ``side`` px (see :data:`PARAMETERS`; blur sigmas scaled to ``side``)."""
    check_corruption(corruption)
    check_severity(severity)
    reference = min(PARAMETERS, key=lambda ref: abs(math.log(side / ref)))
    value = PARAMETERS[reference][corruption][severity - 1]
    return value * side / reference if corruption == "gaussian_blur" else value


# Corruptions -------------------------------------------------------------------------------------


def _gaussian_noise(x: torch.Tensor, std: float, seeds: Sequence[int]) -> torch.Tensor:
    noise = torch.stack(
        [torch.randn(x.shape[1:], generator=torch.Generator().manual_seed(s)) for s in seeds]
    )
    return x + std * noise


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    # skimage.filters.gaussian, which ImageNet-C calls: truncated at 4 sigma, edges repeated.
    radius = max(1, int(4 * sigma + 0.5))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = (kernel / kernel.sum()).repeat(x.shape[1], 1, 1, 1)  # (C, 1, 1, K)
    x = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    x = F.conv2d(x, kernel, groups=x.shape[1])
    return F.conv2d(x, kernel.transpose(2, 3), groups=x.shape[1])


def _jpeg(images: torch.Tensor, quality: int) -> torch.Tensor:
    out = []
    for image in images:
        buf = io.BytesIO()
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(buf, "JPEG", quality=quality)
        with Image.open(buf) as decoded:
            out.append(torch.from_numpy(np.array(decoded.convert("RGB"))).permute(2, 0, 1))
    return torch.stack(out)


def _contrast(x: torch.Tensor, factor: float) -> torch.Tensor:
    mean = x.mean(dim=(2, 3), keepdim=True)  # per image and channel, as ImageNet-C
    return (x - mean) * factor + mean


def _image_seeds(seed: int | Sequence[int], count: int) -> list[int]:
    if isinstance(seed, int):
        return [mix_seed(seed, b) for b in range(count)]
    if len(seed) != count:
        raise ValueError(f"{len(seed)} seeds for {count} images: give one per image, or an int")
    return [int(s) for s in seed]


def corrupt(
    images: torch.Tensor, corruption: str, severity: int, *, seed: int | Sequence[int] = 0
) -> torch.Tensor:
    """A common corruption of uint8 images, deterministic given the seed.

    Args:
        images: ``(3, H, W)`` or ``(B, 3, H, W)`` uint8 RGB, on the CPU.
        corruption: one of :data:`CORRUPTIONS`.
        severity: 1 (mild) to 5 (strong).
        seed: an int (image ``b`` of the batch draws its noise from ``mix_seed(seed, b)``),
            or one seed per image (what makes an image's corruption independent of its batch).

    Returns:
        uint8 images of the input's shape.
    """
    check_corruption(corruption)
    check_severity(severity)
    if images.dtype != torch.uint8 or images.dim() not in (3, 4) or images.shape[-3] != 3:
        raise ValueError(
            f"expected uint8 (3, H, W) or (B, 3, H, W) images, got {images.dtype} "
            f"{tuple(images.shape)}"
        )
    batch = images.unsqueeze(0) if images.dim() == 3 else images
    value = corruption_parameter(corruption, severity, min(batch.shape[-2:]))
    if corruption == "jpeg_compression":
        out = _jpeg(batch.cpu(), int(value))
    else:
        x = batch.float() / 255
        if corruption == "gaussian_noise":
            x = _gaussian_noise(x, value, _image_seeds(seed, len(batch)))
        elif corruption == "gaussian_blur":
            x = _gaussian_blur(x, value)
        else:
            x = _contrast(x, value)
        out = (x.clamp(0, 1) * 255).round().to(torch.uint8)
    return out[0] if images.dim() == 3 else out


# Evaluation --------------------------------------------------------------------------------------


@dataclass
class CorruptionResult:
    """Top-1 errors of a model under corruptions, each over the whole split."""

    split: str
    images: int
    clean_error: float
    #: ``(corruption, severity) -> top-1 error`` in [0, 1].
    errors: dict[tuple[str, int], float] = field(default_factory=dict)

    @property
    def mean_corruption_error(self) -> float:
        """The unnormalised mean of :attr:`errors` (ImageNet-C's mCE also divides each
        corruption's errors by AlexNet's: no reference model here)."""
        return float(np.mean(list(self.errors.values())))

    def per_corruption(self) -> dict[str, float]:
        """Each corruption's error averaged over its severities."""
        names = dict.fromkeys(name for name, _ in self.errors)
        return {
            n: float(np.mean([e for (m, _), e in self.errors.items() if m == n])) for n in names
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: errors nested as ``{corruption: {"1": error, ...}}``."""
        nested: dict[str, dict[str, float]] = {}
        for (name, severity), error in self.errors.items():
            nested.setdefault(name, {})[str(severity)] = error
        return {
            "split": self.split,
            "images": self.images,
            "clean_error": self.clean_error,
            "mean_corruption_error": self.mean_corruption_error,
            "per_corruption": self.per_corruption(),
            "errors": nested,
        }


@dataclass
class PGDResult:
    """Top-1 errors of a model under PGD, each over the whole split."""

    split: str
    images: int
    steps: int
    #: PGD's step in 1/255 units (``None``: ``2.5 * epsilon / steps``).
    step_size: float | None
    #: ``epsilon (1/255 units) -> top-1 error`` in [0, 1]; epsilon 0 is the clean error.
    errors: dict[float, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "split": self.split,
            "images": self.images,
            "steps": self.steps,
            "step_size": self.step_size,
            "errors": {f"{eps:g}": error for eps, error in self.errors.items()},
        }


def _labelled_loader(
    loaded: LoadedModel,
    manifest: Manifest,
    blobs: BlobStore,
    split: str,
    *,
    batch_size: int,
    workers: int,
    reveal_hidden: bool,
) -> DataLoader:
    """uint8 evaluation crops and labels of a split, in manifest order (as ``predict_split``)."""
    dataset, loader = split_loader(
        loaded, manifest, blobs, split, batch_size=batch_size, workers=workers,
        reveal_hidden=reveal_hidden,
    )  # fmt: skip
    if (dataset.labels < 0).any():
        raise EvaluationError(
            f"the {split!r} split's labels are hidden: score robustness on val; only evaluation "
            "code may reveal them (reveal_hidden=True)"
        )
    return loader


@torch.no_grad()
def _top1(model: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    """``(B,)`` best classes of normalised inputs."""
    return topk_predictions(model(x).float().cpu().numpy(), 1)[:, 0]


def evaluate_corruptions(
    loaded: LoadedModel,
    manifest: Manifest,
    blobs: BlobStore,
    split: str = "val",
    *,
    corruptions: Sequence[str] = CORRUPTIONS,
    severities: Sequence[int] = SEVERITIES,
    seed: int = 0,
    batch_size: int = 64,
    workers: int = 0,
    device: torch.device | str = "cpu",
    reveal_hidden: bool = False,
) -> CorruptionResult:
    """Top-1 error of the model on a labelled split, clean and under each corruption at each
    severity. Each image is decoded once; its noise is drawn from ``(seed, its index)``,
    whatever the batch size. ``reveal_hidden``: score the hidden test labels (evaluation
    code only)."""
    for name in corruptions:
        check_corruption(name)
    for severity in severities:
        check_severity(severity)
    loader = _labelled_loader(
        loaded, manifest, blobs, split,
        batch_size=batch_size, workers=workers, reveal_hidden=reveal_hidden,
    )  # fmt: skip
    device = torch.device(device)
    normalize = loaded.normalizer(device)
    model = loaded.model.eval()
    keys = [(name, severity) for name in corruptions for severity in severities]
    guesses: dict[tuple[str, int] | None, list[np.ndarray]] = {k: [] for k in [None, *keys]}
    labels, offset = [], 0
    for images, y in loader:
        seeds = [mix_seed(seed, i) for i in range(offset, offset + len(images))]
        offset += len(images)
        labels.append(y.numpy())
        guesses[None].append(_top1(model, normalize(images)))
        for name, severity in keys:
            corrupted = corrupt(images, name, severity, seed=seeds)
            guesses[name, severity].append(_top1(model, normalize(corrupted)))
    y_all, num_classes = np.concatenate(labels), len(manifest.classes)

    def error(key: tuple[str, int] | None) -> float:
        return topk_error(np.concatenate(guesses[key]), y_all, k=1, num_classes=num_classes)

    return CorruptionResult(split, len(y_all), error(None), {k: error(k) for k in keys})


def evaluate_pgd(
    loaded: LoadedModel,
    manifest: Manifest,
    blobs: BlobStore,
    split: str = "val",
    *,
    epsilons: Sequence[float],
    steps: int = 10,
    step_size: float | None = None,
    seed: int = 0,
    batch_size: int = 64,
    workers: int = 0,
    device: torch.device | str = "cpu",
    reveal_hidden: bool = False,
) -> PGDResult:
    """Top-1 error of the model on a labelled split under untargeted L-inf PGD at each
    ``epsilon`` (pixel units of 1/255; 0: the clean error), with ``steps`` steps of
    ``step_size`` (1/255 units; ``None``: ``2.5 * epsilon / steps``) from a random start
    drawn from ``seed`` (the same for a given batch size). ``reveal_hidden``: score the
    hidden test labels (evaluation code only)."""
    for epsilon in epsilons:
        check_epsilon(epsilon)
    if steps < 1:
        raise EvaluationError(f"steps {steps!r} must be >= 1")
    loader = _labelled_loader(
        loaded, manifest, blobs, split,
        batch_size=batch_size, workers=workers, reveal_hidden=reveal_hidden,
    )  # fmt: skip
    device = torch.device(device)
    normalize = loaded.normalizer(device)
    data = loaded.config.data
    model = loaded.model.eval()
    generators = {eps: torch.Generator(device).manual_seed(seed) for eps in epsilons}
    guesses: dict[float, list[np.ndarray]] = {eps: [] for eps in epsilons}
    labels = []
    for images, y in loader:
        labels.append(y.numpy())
        x, y = normalize(images), y.to(device)
        for eps in epsilons:
            x_adv = pgd(
                model, x, y, epsilon=eps, steps=steps, step_size=step_size,
                mean=data.mean, std=data.std, generator=generators[eps],
            )  # fmt: skip
            guesses[eps].append(_top1(model, x_adv))
    y_all = np.concatenate(labels)
    errors = {
        float(eps): topk_error(np.concatenate(g), y_all, k=1, num_classes=len(manifest.classes))
        for eps, g in guesses.items()
    }
    return PGDResult(split, len(y_all), steps, step_size, errors)


__all__ = [
    "CORRUPTIONS",
    "PARAMETERS",
    "SEVERITIES",
    "CorruptionResult",
    "PGDResult",
    "corrupt",
    "corruption_parameter",
    "evaluate_corruptions",
    "evaluate_pgd",
]


@dataclass
class RobustnessReport:
    """What :func:`evaluate_robustness` ran: either part ``None`` when not asked."""

    pgd: PGDResult | None = None
    corruptions: CorruptionResult | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.pgd is not None:
            out["pgd"] = self.pgd.to_dict()
        if self.corruptions is not None:
            out["corruptions"] = self.corruptions.to_dict()
        return out

    def rows(self) -> list[tuple[str, float]]:
        """``(measure, top-1 error)`` lines for a summary table."""
        rows: list[tuple[str, float]] = []
        if self.pgd is not None:
            rows += [(f"top-1 error, PGD eps {e:g}/255", err) for e, err in self.pgd.errors.items()]
        if self.corruptions is not None:
            per = self.corruptions.per_corruption().items()
            rows += [(f"top-1 error, {name} (mean)", err) for name, err in per]
            rows.append(("mean corruption error", self.corruptions.mean_corruption_error))
        return rows


def evaluate_robustness(
    loaded: LoadedModel,
    manifest: Manifest,
    blobs: BlobStore,
    split: str = "val",
    *,
    pgd_epsilons: Sequence[float] = (),
    pgd_steps: int = 10,
    corruptions: Sequence[str] = (),
    severities: Sequence[int] = SEVERITIES,
    out_dir: Path | None = None,
    **kwargs: Any,
) -> RobustnessReport:
    """PGD at ``pgd_epsilons`` and the ``corruptions`` at ``severities`` (each skipped when
    empty), with ``robustness.json`` in ``out_dir`` when given. ``kwargs`` go to both
    evaluations (batch size, workers, device)."""
    report = RobustnessReport()
    if pgd_epsilons:
        report.pgd = evaluate_pgd(
            loaded, manifest, blobs, split, epsilons=pgd_epsilons, steps=pgd_steps, **kwargs
        )
    if corruptions:
        report.corruptions = evaluate_corruptions(
            loaded, manifest, blobs, split, corruptions=corruptions, severities=severities,
            **kwargs,
        )  # fmt: skip
    if out_dir is not None and (report.pgd or report.corruptions):
        with atomic_file(out_dir / "robustness.json", "w", encoding="utf-8") as f:
            json.dump(report.to_dict(), f, indent=1)
    return report
