"""Image features for label-issue detection: small decoded pictures, and models that embed them.

Two kinds of feature model:

- a checkpoint the user gives (:func:`synsetlab.train.weights.load_backbone`), trained on other
  data, used as it is. The training package reads it, so any model ``synsetlab train`` makes
  (timm or torchvision ``tv/<name>``) or ``finetune --from`` accepts works here;
- the *quick model* (:func:`train_quick_model`): a half-width timm ``resnet10t`` trained from
  scratch here, on the images being checked, for a bounded number of optimiser steps (see
  :class:`QuickModelConfig`). Its augmentations (crop, mirror, channel permutation, negative)
  and per-image standardisation push it towards shape rather than colour, which a few hundred
  pictures otherwise let it memorise. It is a weak model: a checkpoint trained on a large
  dataset finds label errors far better.

Pictures are decoded once into a ``(N, size, size, 3)`` uint8 array (whole picture squashed
to a square, so nothing is cropped away) and kept in memory: label checking runs on small
sizes (64 px is 12 KiB a picture: 0.6 GiB for 50,000 images; 32 px is a quarter of it).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import timm
import torch
import torch.nn.functional as F  # noqa: N812 - the usual torch spelling
from PIL import Image
from torch import nn

from synsetlab.blobs import BlobStore
from synsetlab.parallel import map_chunks
from synsetlab.train.models import pre_logits
from synsetlab.train.weights import load_backbone
from synsetlab.workspace import Workspace

__all__ = [
    "QuickModelConfig",
    "content_embeddings",
    "decode_thumbnail",
    "default_device",
    "embed",
    "load_thumbnails",
    "standardize_per_image",
    "train_quick_model",
]

# Pictures ----------------------------------------------------------------------------------------


def decode_thumbnail(data: bytes, size: int) -> np.ndarray:
    """Encoded image bytes -> ``(size, size, 3)`` uint8 RGB, the whole picture squashed."""
    with Image.open(io.BytesIO(data)) as img:
        img.draft("RGB", (size, size))  # JPEG: decode at 1/2..1/8 scale, much faster
        rgb = img.convert("RGB")
    return np.asarray(rgb.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0))


#: Fewer distinct pictures than this are decoded in this process: a small picture decodes in
#: about a millisecond, while starting worker processes that import torch takes seconds.
POOL_THRESHOLD = 2048

_reader: BlobStore | None = None


def _init_reader(blob_url: str) -> None:
    global _reader
    _reader = BlobStore(blob_url)


def _decode_chunk(items: list[tuple[str, int]]) -> list[np.ndarray]:
    assert _reader is not None, "_init_reader was not called in this process"
    return [decode_thumbnail(_reader.get(sha), size) for sha, size in items]


def load_thumbnails(
    ws: Workspace,
    shas: list[str],
    *,
    size: int,
    workers: int | None = None,
    on_decoded: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Decode the stored images ``shas`` (in order) into a ``(N, size, size, 3)`` uint8 array.

    Each distinct content is decoded once. ``workers=0`` decodes in this process; the default
    is the workspace's number of ingest workers. ``on_decoded(n)`` is called as each chunk of
    ``n`` distinct pictures is decoded.
    """
    workers = ws.settings.resolved_workers() if workers is None else workers
    rows: dict[str, list[int]] = {}  # each distinct content -> its rows in the output
    for row, sha in enumerate(shas):
        rows.setdefault(sha, []).append(row)
    distinct = list(rows)
    if len(distinct) < POOL_THRESHOLD:
        workers = 0
    # Filled in place as chunks arrive: the pictures are held once, not in a list then a copy.
    out = np.empty((len(shas), size, size, 3), dtype=np.uint8)
    chunks = map_chunks(
        _decode_chunk,
        [(sha, size) for sha in distinct],
        workers=workers,
        initializer=_init_reader,
        initargs=(ws.settings.resolved_blob_url(),),
        preload=["synsetlab.curate.features"],
        chunk=64,
    )
    for items, pictures in chunks:
        for (sha, _), picture in zip(items, pictures, strict=True):
            out[rows[sha]] = picture
        if on_decoded is not None:
            on_decoded(len(items))
    return out


#: ``(N, H, W, 3)`` uint8 pictures -> ``(N, 3, H, W)`` float model input.
Normalize = Callable[[np.ndarray], torch.Tensor]


def standardize_per_image(images: np.ndarray) -> torch.Tensor:
    """``(N, H, W, 3)`` uint8 -> ``(N, 3, H, W)`` float, each picture to mean 0 and std 1.

    Per picture rather than per dataset: exposure and overall colour then carry no signal.
    """
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float()
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    std = x.std(dim=(1, 2, 3), keepdim=True)
    return (x - mean) / (std + 1.0)  # +1 grey level: a flat picture stays finite


# The quick model ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuickModelConfig:
    """How the quick model is built and trained.

    Its work is bounded twice: at most ``epochs`` passes over the images (what a few thousand
    images get) and at most ``max_steps`` optimiser steps (what more get), so the training
    time stops growing with the dataset; decoding and embedding still grow linearly, at a
    small cost per image. Measured on the synthetic shapes (``bench/label_issues.py``, ten
    classes, 5% planted wrong labels; one torch thread on the shared two-core machine):

    =======  =====  ======  =========  ======  ===========  ======================
    images   steps  passes  precision  recall  P@planted    CPU time (wall)
    =======  =====  ======  =========  ======  ===========  ======================
    1,060    2,040  60      0.77       0.35    0.35         409 s (old code: 400 s)
    53,000   2,000  1.2     0.72       0.92    0.90         469 s (523 s)
    53,000   4,000  2.4     0.95       0.96    0.96         849 s (1,001 s)
    =======  =====  ======  =========  ======  ===========  ======================

    Without the step budget, 53,000 images would take 99,420 steps (60 epochs): ~5 h of CPU
    at the cost per step measured here.
    """

    #: timm architecture; its ``channels`` and ``stem_width`` are overridden below.
    arch: str = "resnet10t"
    #: Channels of the four stages (resnet10t's own are 64-512): half width, ~4x cheaper.
    channels: tuple[int, int, int, int] = (32, 64, 128, 256)
    #: Channels of the first stem convolution (resnet10t: 24, then 32, 64).
    stem_width: int = 16
    #: Passes over the images, at most: ~2 min for 1,000 images on two idle CPU cores.
    epochs: int = 60
    #: Optimiser steps, at most: ~0.19 s each at 64 px on one core (4,000: ~13 min; less on
    #: two idle cores, whose two torch threads share each step).
    max_steps: int = 4000
    #: Images per optimiser step.
    batch_size: int = 32
    #: Peak learning rate of AdamW's one-cycle schedule.
    lr: float = 3e-3
    weight_decay: float = 0.05
    #: Softened targets: some given labels are wrong, that is the point of the exercise.
    label_smoothing: float = 0.1

    def steps(self, images: int) -> int:
        """Optimiser steps of a model trained on ``images`` images."""
        per_epoch = -(-images // self.batch_size)
        return max(1, min(self.epochs * per_epoch, self.max_steps))


def create_quick_model(num_classes: int, config: QuickModelConfig | None = None) -> nn.Module:
    """A freshly initialised quick model with ``num_classes`` outputs."""
    config = config or QuickModelConfig()
    return timm.create_model(
        config.arch,
        num_classes=num_classes,
        channels=config.channels,
        stem_width=config.stem_width,
    )


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random crop (reflect-padded by 1/8), mirror, channel permutation and negative.

    ``x`` is ``(B, 3, H, W)``, standardised per image (so the negative is ``-x``).
    """
    b, _, h, w = x.shape
    pad = max(h // 8, 1)
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    top = torch.randint(0, 2 * pad + 1, (b,), generator=generator).tolist()
    left = torch.randint(0, 2 * pad + 1, (b,), generator=generator).tolist()
    out = torch.stack(
        [
            padded[i, :, t : t + h, lf : lf + w]
            for i, (t, lf) in enumerate(zip(top, left, strict=True))
        ]
    )
    mirror = torch.rand(b, generator=generator) < 0.5
    out[mirror] = out[mirror].flip(-1)
    out = out[:, torch.randperm(3, generator=generator)]
    negative = torch.rand(b, generator=generator) < 0.5
    out[negative] = -out[negative]
    return out


def _batches(n: int, size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Endless batches of ``size`` indices of ``0..n-1``: successive shuffled passes, joined,
    so every batch is full (batch norm needs two samples) and every image comes up once a
    pass."""
    pending = torch.zeros(0, dtype=torch.long)
    while True:
        while len(pending) < size:
            pending = torch.cat([pending, torch.randperm(n, generator=generator)])
        yield pending[:size]
        pending = pending[size:]


def train_quick_model(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    num_classes: int,
    config: QuickModelConfig | None = None,
    steps: int | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    on_step: Callable[[], None] | None = None,
) -> nn.Module:
    """Train the quick model from scratch on ``images`` ``(N, H, W, 3)`` uint8, ``labels`` ``(N,)``.

    ``steps``: optimiser steps (default ``config.steps(N)``). Returns the model in eval
    mode, on ``device``. The same seed on the same device gives the same model. ``on_step``
    is called after each optimiser step.
    """
    config = config or QuickModelConfig()
    if len(images) < 2:
        raise ValueError(f"the quick model needs at least 2 images, got {len(images)}")
    steps = config.steps(len(images)) if steps is None else steps
    with torch.random.fork_rng(devices=[]):  # seed the initial weights, not the caller's RNG
        torch.manual_seed(seed)
        model = create_quick_model(num_classes, config).to(device)
    generator = torch.Generator().manual_seed(seed)
    y = torch.as_tensor(labels, dtype=torch.long)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    # A quarter of the steps warm up; OneCycleLR divides by zero when that is exactly one step
    # (4 steps in all), so very short runs warm up over 1.5 steps instead.
    warmup = min(max(0.25, 1.5 / steps), 0.9)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, total_steps=steps, pct_start=warmup
    )
    model.train()
    batches = _batches(len(images), min(config.batch_size, len(images)), generator)
    for _, batch in zip(range(steps), batches, strict=False):
        inputs = augment(standardize_per_image(images[batch.numpy()]), generator)
        loss = F.cross_entropy(
            model(inputs.to(device)), y[batch].to(device), label_smoothing=config.label_smoothing
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if on_step is not None:
            on_step()
    return model.eval()


# Inference ---------------------------------------------------------------------------------------


@torch.no_grad()
def embed(
    model: nn.Module,
    images: np.ndarray,
    *,
    normalize: Normalize,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    on_batch: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Penultimate-layer features ``(N, D)`` of a model, and its softmax ``(N, C)``.

    ``model`` is the quick model (a timm classifier) or a :class:`Backbone`'s network (no
    classifier: the softmax is ``None``). ``images`` is ``(N, H, W, 3)`` uint8, turned into
    model input a batch at a time by ``normalize`` (:func:`standardize_per_image` for the
    quick model, :meth:`Backbone.normalize` for a checkpoint), so only the small uint8
    pictures are ever all in memory. ``on_batch(n)`` is called after each batch of ``n``.
    """
    model = model.to(device).eval()
    has_head = getattr(model, "num_classes", 0) > 0 and hasattr(model, "forward_head")
    features, probs = [], []
    for start in range(0, len(images), batch_size):
        x = normalize(images[start : start + batch_size]).to(device)
        pooled = pre_logits(model, x) if has_head else model(x)
        features.append(pooled.float().cpu())
        if has_head:
            probs.append(torch.softmax(model.get_classifier()(pooled).float(), dim=1).cpu())
        if on_batch is not None:
            on_batch(len(x))
    if not features:
        return np.zeros((0, getattr(model, "num_features", 0)), np.float32), None
    return torch.cat(features).numpy(), torch.cat(probs).numpy() if has_head else None


def default_device() -> torch.device:
    """The first CUDA device when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def content_embeddings(
    ws: Workspace,
    checkpoint: Path | str,
    *,
    arch: str | None = None,
    image_size: int = 128,
    workers: int | None = None,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """``(N, D)`` float32 embeddings of every distinct stored image, in ``content_keys`` order.

    What ``find_duplicates(embeddings=...)`` takes: a CNN sees through crops and colour
    changes that move perceptual hashes. ``checkpoint`` and ``arch`` as in :func:`load_backbone`.
    """
    from synsetlab.curate.duplicates import content_keys

    backbone = load_backbone(checkpoint, arch=arch)
    images = load_thumbnails(ws, content_keys(ws), size=image_size, workers=workers)
    features, _ = embed(
        backbone.model, images, normalize=backbone.normalize, device=device or default_device()
    )
    return np.asarray(features, dtype=np.float32)
