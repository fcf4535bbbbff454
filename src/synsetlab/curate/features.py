"""Image features for label-issue detection: small decoded pictures, and models that embed them.

Two kinds of feature model:

- a checkpoint the user gives (:func:`load_backbone`), trained on other data, used as it is;
- the *quick model* (:func:`train_quick_model`): a half-width timm ``resnet10t`` trained from
  scratch here, on the images being checked, in under a minute of CPU for a few hundred
  images. Its augmentations (crop, mirror, channel permutation, negative) and per-image
  standardisation push it towards shape rather than colour, which a few hundred pictures
  otherwise let it memorise. It is a weak model (see :class:`QuickModelConfig`): a checkpoint
  trained on a large dataset finds label errors far better.

Pictures are decoded once into a ``(N, size, size, 3)`` uint8 array (whole picture squashed
to a square, so nothing is cropped away) and kept in memory: label checking runs on small
sizes (64 px is 12 KiB a picture).
"""

from __future__ import annotations

import io
from collections.abc import Callable
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
from synsetlab.train.checkpoint import CheckpointError, evaluation_weights
from synsetlab.train.models import pre_logits
from synsetlab.workspace import Workspace

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
    ws: Workspace, shas: list[str], *, size: int, workers: int | None = None
) -> np.ndarray:
    """Decode the stored images ``shas`` (in order) into a ``(N, size, size, 3)`` uint8 array.

    Each distinct content is decoded once. ``workers=0`` decodes in this process; the default
    is the workspace's number of ingest workers.
    """
    workers = ws.settings.resolved_workers() if workers is None else workers
    distinct = list(dict.fromkeys(shas))
    if len(distinct) < POOL_THRESHOLD:
        workers = 0
    decoded: dict[str, np.ndarray] = {}
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
        decoded.update((sha, picture) for (sha, _), picture in zip(items, pictures, strict=True))
    if not shas:
        return np.zeros((0, size, size, 3), dtype=np.uint8)
    return np.stack([decoded[sha] for sha in shas])


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


def normalize_like(model: nn.Module) -> Normalize:
    """Input normalised as ``model`` was trained: by the mean and std of its timm config.

    ImageNet's mean and std when the model's ``pretrained_cfg`` names none.
    """
    cfg = getattr(model, "pretrained_cfg", None) or {}
    mean = torch.tensor(cfg.get("mean", (0.485, 0.456, 0.406))).view(1, 3, 1, 1)
    std = torch.tensor(cfg.get("std", (0.229, 0.224, 0.225))).view(1, 3, 1, 1)

    def normalize(images: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
        return (x - mean) / std

    return normalize


# The quick model ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuickModelConfig:
    """How the quick model is built and trained.

    Measured on the synthetic shapes (10 classes x 30 images, 10% wrong labels, 64 px, two
    CPU cores, ``find_label_issues`` precision / recall of the wrong labels, chance
    precision 0.10):

    =========================================  =====  =========  ===========  ===========
    setting                                    time   accuracy   precision    recall
    =========================================  =====  =========  ===========  ===========
    one model, 30 epochs                       ~25 s  0.27       0.12         0.70
    one model, 60 epochs (the default)         ~45 s  0.55-0.58  0.15-0.19    0.50-0.57
    per fold (3 folds), 30 epochs each         ~42 s  0.19       0.14         0.73
    per fold (2 folds), 32 px, 1/4 width, 200  ~44 s  0.20       0.13         0.90
    one model, 32 px, 1/4 width, 200 epochs    ~38 s  0.92 [1]_  0.00         0.00
    =========================================  =====  =========  ===========  ===========

    .. [1] against the given labels: the model memorised them, wrong ones included.

    Trained from scratch on ~200-300 pictures, the model generalises poorly (50-60% of held-out
    shapes at best in this budget); trained longer, it memorises the wrong labels too.
    """

    #: timm architecture; its ``channels`` and ``stem_width`` are overridden below.
    arch: str = "resnet10t"
    #: Channels of the four stages (resnet10t's own are 64-512): half width, ~4x cheaper.
    channels: tuple[int, int, int, int] = (32, 64, 128, 256)
    #: Channels of the first stem convolution (resnet10t: 24, then 32, 64).
    stem_width: int = 16
    #: Passes over the images: ~45 s for 300 images at 64 px on two CPU cores.
    epochs: int = 60
    #: Images per optimiser step.
    batch_size: int = 32
    #: Peak learning rate of AdamW's one-cycle schedule.
    lr: float = 3e-3
    weight_decay: float = 0.05
    #: Softened targets: some given labels are wrong, that is the point of the exercise.
    label_smoothing: float = 0.1
    #: Train one model per cross-validation fold (strictly out-of-sample, ``folds - 1`` times
    #: the cost) instead of one model on every image (see ``curate.label_issues``).
    per_fold: bool = False


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


def train_quick_model(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    num_classes: int,
    config: QuickModelConfig | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    on_epoch: Callable[[], None] | None = None,
) -> nn.Module:
    """Train the quick model from scratch on ``images`` ``(N, H, W, 3)`` uint8, ``labels`` ``(N,)``.

    Returns the model in eval mode, on ``device``. The same seed on the same device gives the
    same model. ``on_epoch`` is called after each pass over the images.
    """
    config = config or QuickModelConfig()
    with torch.random.fork_rng(devices=[]):  # seed the initial weights, not the caller's RNG
        torch.manual_seed(seed)
        model = create_quick_model(num_classes, config).to(device)
    generator = torch.Generator().manual_seed(seed)
    y = torch.as_tensor(labels, dtype=torch.long)
    n = len(images)
    steps_per_epoch = -(-n // config.batch_size)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    total_steps = config.epochs * steps_per_epoch
    # A quarter of the steps warm up; OneCycleLR divides by zero when that is exactly one step
    # (4 steps in all), so very short runs warm up over 1.5 steps instead.
    warmup = min(max(0.25, 1.5 / total_steps), 0.9)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, total_steps=total_steps, pct_start=warmup
    )
    model.train()
    for _ in range(config.epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, config.batch_size):
            batch = order[start : start + config.batch_size]
            if len(batch) < 2:  # batch norm needs two samples
                schedule.step()
                continue
            inputs = augment(standardize_per_image(images[batch.numpy()]), generator)
            loss = F.cross_entropy(
                model(inputs.to(device)),
                y[batch].to(device),
                label_smoothing=config.label_smoothing,
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        if on_epoch is not None:
            on_epoch()
    return model.eval()


# Checkpoints -------------------------------------------------------------------------------------


def load_backbone(path: Path | str, *, arch: str | None = None) -> nn.Module:
    """A timm model with its classifier removed, its weights read from the local file ``path``.

    Accepted files:

    - with ``arch`` (a timm model name, e.g. ``"resnet50"``): a state dict of that model, as
      ``.safetensors`` or a torch ``.pth``/``.bin`` file, read by timm
      (``pretrained_cfg_overlay=dict(file=path)``). torchvision ResNet state dicts load into
      the timm ResNet of the same name (the parameter names are the same);
    - without ``arch``: a training checkpoint holding ``{"arch": name, "state_dict": {...}}``
      and optionally ``"state_dict_ema"`` (what timm's ``train.py`` saves) and
      ``"model_kwargs"`` (what ``synsetlab train`` adds), read with
      ``torch.load(weights_only=True)``.

    Nothing is downloaded. Raises :class:`CheckpointError` naming what is missing.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"feature checkpoint {path} is not a file")
    if arch is None:
        return _from_training_checkpoint(path)
    if not timm.is_model(arch):
        raise CheckpointError(f"unknown timm architecture {arch!r}; see timm.list_models()")
    try:
        return timm.create_model(
            arch, pretrained=True, pretrained_cfg_overlay={"file": str(path)}, num_classes=0
        ).eval()
    except (RuntimeError, OSError, KeyError) as e:
        raise CheckpointError(f"{path} is not a state dict of timm model {arch!r}: {e}") from e


def _from_training_checkpoint(path: Path) -> nn.Module:
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError) as e:  # also weights_only's refusal of pickled args
        raise CheckpointError(
            f"cannot read {path} as a training checkpoint ({e}); if it holds only weights, "
            "name its architecture (a timm model name)"
        ) from e
    if not isinstance(checkpoint, dict) or "arch" not in checkpoint:
        raise CheckpointError(
            f"{path} has no 'arch' entry; name its architecture (a timm model name)"
        )
    arch = checkpoint["arch"]
    if not timm.is_model(arch):
        raise CheckpointError(f"{path} names unknown timm architecture {arch!r}")
    state, _ = evaluation_weights(checkpoint)
    model = timm.create_model(arch, num_classes=0, **(checkpoint.get("model_kwargs") or {}))
    classifier = model.default_cfg.get("classifier", "fc")
    kept = {k: v for k, v in state.items() if not k.startswith(f"{classifier}.")}
    try:
        missing, _ = model.load_state_dict(kept, strict=False)
    except RuntimeError as e:  # a weight of the wrong shape
        raise CheckpointError(f"{path} does not fit timm model {arch!r}: {e}") from e
    if missing:
        raise CheckpointError(f"{path} lacks {len(missing)} weights of {arch!r}, e.g. {missing[0]}")
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
) -> tuple[np.ndarray, np.ndarray | None]:
    """Penultimate-layer features ``(N, D)`` of a timm model, and its softmax ``(N, C)``.

    ``images`` is ``(N, H, W, 3)`` uint8, turned into model input a batch at a time by
    ``normalize`` (:func:`standardize_per_image` for the quick model, :func:`normalize_like`
    for a checkpoint), so only the small uint8 pictures are ever all in memory. The softmax
    is ``None`` for a model without a classifier.
    """
    model = model.to(device).eval()
    has_head = getattr(model, "num_classes", 0) > 0
    features, probs = [], []
    for start in range(0, len(images), batch_size):
        x = normalize(images[start : start + batch_size]).to(device)
        pooled = pre_logits(model, x)
        features.append(pooled.float().cpu())
        if has_head:
            probs.append(torch.softmax(model.get_classifier()(pooled).float(), dim=1).cpu())
    if not features:
        return np.zeros((0, model.num_features), np.float32), None
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

    model = load_backbone(checkpoint, arch=arch)
    images = load_thumbnails(ws, content_keys(ws), size=image_size, workers=workers)
    features, _ = embed(
        model, images, normalize=normalize_like(model), device=device or default_device()
    )
    return np.asarray(features, dtype=np.float32)
