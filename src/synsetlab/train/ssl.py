"""Self-supervised pretraining on a version's images, labels unused: SimCLR or MoCo v2, and
the k-NN and linear-probe evaluation of the backbone it leaves.

The contrastive losses and projection heads come from ``lightly`` (``NTXentLoss``, with its
memory bank as MoCo's queue; ``SimCLRProjectionHead``, ``MoCoProjectionHead``); the backbone is
any timm model, built without its classifier. Augmentations are torchvision v2 transforms
ending in uint8 tensors, as :mod:`synsetlab.data.transforms`, normalised on the device.

A run folder holds ``config.yaml`` (the resolved :class:`SSLConfig`, version, packages),
``metrics.jsonl`` (one line per epoch: loss, and the k-NN top-1 accuracy on val when the
version has labelled train and val images) and ``last.pt``, a synsetlab checkpoint
(:mod:`synsetlab.train.checkpoint`) whose ``state_dict`` is the backbone without classifier:
what :func:`synsetlab.train.setup.load_pretrained` loads into a fresh classifier of the same
architecture, so fine-tuning is ``TrainConfig(model=..., pretrained="run/last.pt")``.
Its ``config`` is that fine-tuning starting point (a :class:`TrainConfig`, so tools that read
checkpoints keep working); ``ssl_config`` the pretraining config. Runs are single-process and
start afresh (no resume).

>>> config = SSLConfig(method="simclr", model="resnet10t", image_size=64, epochs=100)
>>> result = pretrain(version.manifest, ws.blobs, config, Path("runs/ssl"), version_id=version.id)
>>> finetune = TrainConfig(model="resnet10t", pretrained=str(result.checkpoint))
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual torch spelling
import yaml
from lightly.loss import NTXentLoss
from lightly.models.modules import MoCoProjectionHead, SimCLRProjectionHead
from lightly.models.utils import deactivate_requires_grad, update_momentum
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from timm.optim import create_optimizer_v2
from timm.scheduler import create_scheduler_v2
from torch import nn
from torchvision.transforms import v2

import synsetlab
from synsetlab.blobs import BlobStore
from synsetlab.data import (
    DeviceNormalize,
    ResumableSampler,
    TransformConfig,
    VersionDataset,
    create_loader,
)
from synsetlab.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from synsetlab.manifest import Manifest
from synsetlab.train.checkpoint import save_checkpoint
from synsetlab.train.config import TrainConfig, describe
from synsetlab.train.distributed import resolve_device
from synsetlab.train.loop import Reporter, SilentReporter, reseed
from synsetlab.train.models import TORCHVISION_PREFIX, create_model

#: The split name the pretraining images are gathered under.
UNLABELLED = "unlabelled"


class SSLError(ValueError):
    """A pretraining run cannot start or go on as asked; the message says what to change."""


class SSLConfig(BaseModel):
    """Everything that decides a pretraining run. Units in the comments."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: A key of :data:`METHODS`: ``simclr`` or ``moco`` (MoCo v2).
    method: str = "simclr"
    #: timm model name of the backbone (torchvision models are not supported here).
    model: str = "resnet18"
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    #: Splits whose images (never labels) are pretrained on. The default includes val: its
    #: pixels are then seen, so val figures are transductive; the test split stays out unless
    #: named here.
    splits: tuple[str, ...] = ("train", "val")
    #: Side of the square views, in pixels.
    image_size: int = Field(default=64, ge=8)
    #: RandomResizedCrop's smallest crop, as a fraction of the picture's area.
    min_scale: float = Field(default=0.2, gt=0, le=1)
    #: Colour jitter strength s (SimCLR): brightness, contrast, saturation 0.8 s, hue 0.2 s,
    #: applied with probability 0.8.
    color_jitter: float = Field(default=0.5, ge=0, le=1.25)
    #: Probabilities of turning a view grey and of blurring it (kernel ~10% of the side).
    grayscale: float = Field(default=0.2, ge=0, le=1)
    blur: float = Field(default=0.5, ge=0, le=1)
    #: Passes over the images.
    epochs: int = Field(default=100, ge=1)
    #: Images per step (each seen as two views).
    batch_size: int = Field(default=256, ge=2)
    #: ``adamw``, or ``sgd`` with momentum 0.9 (no LARS).
    optimizer: Literal["adamw", "sgd"] = "adamw"
    #: Peak learning rate of a cosine schedule after a linear warmup.
    lr: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=1e-4, ge=0)
    warmup_epochs: int = Field(default=1, ge=0)
    #: Temperature of the NT-Xent / InfoNCE logits.
    temperature: float = Field(default=0.2, gt=0)
    #: Hidden and output widths of the projection head.
    proj_hidden_dim: int = Field(default=512, ge=1)
    proj_dim: int = Field(default=128, ge=1)
    #: MoCo: momentum of the key encoder's moving average; negatives kept in the queue.
    moco_momentum: float = Field(default=0.99, ge=0, lt=1)
    queue_size: int = Field(default=4096, ge=1)
    #: k-NN evaluation on val every this many epochs (and after the last); 0: never.
    knn_every: int = Field(default=1, ge=0)
    knn_k: int = Field(default=20, ge=1)
    knn_temperature: float = Field(default=0.07, gt=0)
    seed: int = 0
    # Fields below change how a run executes, never its result.
    #: Data-loading processes.
    workers: int = Field(default=0, ge=0)
    #: ``auto``: CUDA when available, else CPU.
    device: str = "auto"

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        if value not in METHODS:
            raise ValueError(f"unknown method {value!r}: one of {', '.join(METHODS)}")
        return value

    @field_validator("model")
    @classmethod
    def _timm_model(cls, value: str) -> str:
        if value.startswith(TORCHVISION_PREFIX):
            raise ValueError(f"{value!r}: pretraining takes timm backbones, not torchvision's")
        return value


def resolve_ssl_config(overrides: dict[str, Any] | None = None) -> SSLConfig:
    """:class:`SSLConfig` from field values (``None`` values ignored); :class:`SSLError`
    names every bad field."""
    values = {k: v for k, v in (overrides or {}).items() if v is not None}
    try:
        return SSLConfig.model_validate(values)
    except ValidationError as e:
        raise SSLError(f"invalid pretraining config ({describe(e)})") from e


# --- Data ---------------------------------------------------------------------------------


def create_ssl_transform(config: SSLConfig) -> v2.Compose:
    """PIL image -> one ``(3, S, S)`` uint8 view: SimCLR's random crop, flip, colour jitter,
    grayscale and Gaussian blur."""
    size, s = config.image_size, config.color_jitter
    kernel = 2 * (size // 20) + 1  # odd, about 10% of the side, as SimCLR
    return v2.Compose(
        [
            v2.PILToTensor(),
            v2.RandomResizedCrop(size, scale=(config.min_scale, 1.0), antialias=True),
            v2.RandomHorizontalFlip(),
            v2.RandomApply([v2.ColorJitter(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s)], p=0.8),
            v2.RandomGrayscale(p=config.grayscale),
            v2.RandomApply([v2.GaussianBlur(kernel, sigma=(0.1, 2.0))], p=config.blur),
            v2.ToDtype(torch.uint8),
        ]
    )


class TwoViews:
    """PIL image -> ``(view, view)``: ``transform`` drawn twice. Under the per-sample seed of
    :class:`synsetlab.data.VersionDataset` the two draws differ, and repeat run after run."""

    def __init__(self, transform: v2.Transform) -> None:
        self.transform = transform

    def __call__(self, image: Image.Image) -> tuple[torch.Tensor, torch.Tensor]:
        # VersionDataset runs transforms on one thread (see data.dataset.single_threaded).
        return self.transform(image), self.transform(image)


def unlabelled_manifest(manifest: Manifest, splits: Sequence[str]) -> Manifest:
    """The images of ``splits`` gathered as one split, :data:`UNLABELLED`."""
    missing = [s for s in splits if s not in manifest.splits]
    if missing:
        have = ", ".join(manifest.splits) or "none"
        raise SSLError(f"the version has no {', '.join(missing)} images; its splits: {have}")
    entries = tuple(replace(e, split=UNLABELLED) for e in manifest.entries if e.split in splits)
    return Manifest(classes=manifest.classes, entries=entries)


def ssl_dataset(manifest: Manifest, blobs: BlobStore, config: SSLConfig) -> VersionDataset:
    """Items ``((view, view), label)``: two uint8 views of each image of ``config.splits``
    (labels come along, unused)."""
    return VersionDataset(
        unlabelled_manifest(manifest, config.splits),
        UNLABELLED,
        blobs,
        transform=TwoViews(create_ssl_transform(config)),
        decode_min_side=config.image_size,
    )


# --- Methods ------------------------------------------------------------------------------


def create_backbone(config: SSLConfig) -> nn.Module:
    """The timm model without its classifier: ``(B, 3, S, S) -> (B, D)`` pre-logit features.
    Its state dict is a classifier's minus the head."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return create_model(config.model, num_classes=0, **config.model_kwargs)


def feature_dim(backbone: nn.Module) -> int:
    """``D``, the width of the backbone's pre-logit features."""
    return int(getattr(backbone, "head_hidden_size", None) or backbone.num_features)


class SimCLR(nn.Module):
    """SimCLR: both views through the backbone and an MLP head; NT-Xent over the batch."""

    def __init__(self, backbone: nn.Module, config: SSLConfig) -> None:
        super().__init__()
        self.backbone = backbone
        self.projector = SimCLRProjectionHead(
            feature_dim(backbone), config.proj_hidden_dim, config.proj_dim
        )
        self.criterion = NTXentLoss(temperature=config.temperature)

    def forward(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        """Views ``(B, 3, S, S)`` each -> the scalar loss."""
        z = self.projector(self.backbone(torch.cat([x0, x1])))  # one pass: BN sees both views
        z0, z1 = z.chunk(2)
        return self.criterion(z0, z1)


class MoCo(nn.Module):
    """MoCo v2: queries from the backbone, keys from its momentum copy, InfoNCE against a
    queue of earlier keys (lightly's memory bank)."""

    def __init__(self, backbone: nn.Module, config: SSLConfig) -> None:
        super().__init__()
        self.backbone = backbone
        self.projector = MoCoProjectionHead(
            feature_dim(backbone), config.proj_hidden_dim, config.proj_dim
        )
        self.backbone_momentum = copy.deepcopy(backbone)
        self.projector_momentum = copy.deepcopy(self.projector)
        deactivate_requires_grad(self.backbone_momentum)
        deactivate_requires_grad(self.projector_momentum)
        self.momentum = config.moco_momentum
        self.criterion = NTXentLoss(
            temperature=config.temperature, memory_bank_size=(config.queue_size, config.proj_dim)
        )

    def forward(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        """Views ``(B, 3, S, S)`` each -> the scalar loss; in training, also moves the key
        encoder towards the query encoder and pushes the keys onto the queue."""
        q = self.projector(self.backbone(x0))
        with torch.no_grad():
            if self.training:
                update_momentum(self.backbone, self.backbone_momentum, self.momentum)
                update_momentum(self.projector, self.projector_momentum, self.momentum)
            k = self.projector_momentum(self.backbone_momentum(x1))
        return self.criterion(q, k)


#: Method name -> model class ``(backbone, config) -> module`` whose forward is the loss.
METHODS: dict[str, type[nn.Module]] = {"simclr": SimCLR, "moco": MoCo}


def create_ssl_model(config: SSLConfig) -> nn.Module:
    """The method's module around a fresh backbone (heads and queue seeded too)."""
    backbone = create_backbone(config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed + 1)
        return METHODS[config.method](backbone, config)


# --- Evaluation of a backbone ---------------------------------------------------------------


def pre_logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``(B, 3, S, S) -> (B, D)``: a timm model's features before the classifier (a backbone
    without classifier returns the same from ``model(x)``)."""
    return model.forward_head(model.forward_features(x), pre_logits=True)


@torch.no_grad()
def split_features(
    model: nn.Module,
    manifest: Manifest,
    blobs: BlobStore,
    split: str,
    *,
    image_size: int,
    batch_size: int = 128,
    workers: int = 0,
    device: torch.device | str = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """``(N, D)`` float32 pre-logit features of a split's images (short side resized to
    ``image_size``, centre crop) and their ``(N,)`` int64 labels (-1 where hidden), in
    manifest order. ``model`` is a timm backbone or classifier on ``device``."""
    data = TransformConfig(image_size=image_size, crop_pct=1.0)
    dataset = VersionDataset.with_transform(manifest, split, blobs, data, train=False)
    device = torch.device(device)
    normalize = DeviceNormalize(data.mean, data.std, device=device)
    was_training = model.training
    model.eval()
    features = [
        pre_logits(model, normalize(images)).float().cpu()
        for images, _ in create_loader(dataset, batch_size=batch_size, workers=workers)
    ]
    model.train(was_training)
    return torch.cat(features).numpy(), dataset.labels.numpy()


def _check_features(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    val_features: np.ndarray,
    val_labels: np.ndarray,
) -> None:
    if train_features.ndim != 2 or val_features.shape[1:] != train_features.shape[1:]:
        raise SSLError(
            f"features must be (N, D) with the same D: got {train_features.shape} and "
            f"{val_features.shape}"
        )
    if len(train_labels) != len(train_features) or len(val_labels) != len(val_features):
        raise SSLError("every feature row needs one label")
    if len(train_labels) == 0 or len(val_labels) == 0:
        raise SSLError("k-NN and linear probes need at least one image on each side")
    if (np.asarray(train_labels) < 0).any() or (np.asarray(val_labels) < 0).any():
        raise SSLError("hidden labels (-1) cannot be scored: probe on labelled splits")


def knn_accuracy(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    val_features: np.ndarray,
    val_labels: np.ndarray,
    *,
    k: int = 20,
    temperature: float = 0.07,
) -> float:
    """Top-1 accuracy of a weighted k-NN vote (InstDisc, DINO): each val row ``(M, D)`` takes
    its ``k`` most cosine-similar train rows ``(N, D)``, each voting for its label with weight
    ``exp(similarity / temperature)``. Labels ``(N,)``, ``(M,)``: class indices >= 0."""
    _check_features(train_features, train_labels, val_features, val_labels)
    memory = F.normalize(torch.as_tensor(train_features, dtype=torch.float32), dim=1)
    queries = F.normalize(torch.as_tensor(val_features, dtype=torch.float32), dim=1)
    memory_labels = torch.as_tensor(train_labels, dtype=torch.long)
    targets = torch.as_tensor(val_labels, dtype=torch.long)
    classes = int(max(memory_labels.max(), targets.max())) + 1
    k = min(k, len(memory))
    correct = 0
    for start in range(0, len(queries), 1024):  # (chunk, N) similarities at a time
        similarity, index = (queries[start : start + 1024] @ memory.T).topk(k, dim=1)
        votes = torch.zeros(len(index), classes).scatter_add_(
            1, memory_labels[index], (similarity / temperature).exp()
        )
        correct += int((votes.argmax(1) == targets[start : start + 1024]).sum())
    return correct / len(queries)


def linear_probe(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    val_features: np.ndarray,
    val_labels: np.ndarray,
    *,
    c: float = 1.0,
    max_iter: int = 2000,
) -> float:
    """Top-1 accuracy on val of a multinomial logistic regression fitted on the standardised
    train features ``(N, D)`` (scikit-learn; ``c``: inverse L2 strength, its ``C``)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    _check_features(train_features, train_labels, val_features, val_labels)
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=max_iter))
    probe.fit(train_features, train_labels)
    return float((probe.predict(val_features) == np.asarray(val_labels)).mean())


# --- Training -----------------------------------------------------------------------------


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
    reporter: Reporter | None = None,
) -> PretrainResult:
    """Pretrain ``config.method`` on the images of ``config.splits``, writing ``out_dir``:
    ``config.yaml``, ``metrics.jsonl`` and ``last.pt`` (every epoch, atomically)."""
    out_dir = Path(out_dir)
    last = out_dir / "last.pt"
    if last.exists():
        raise SSLError(f"{out_dir} already holds a run: choose another --out")
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
    _write_config(out_dir / "config.yaml", config, version_id)
    (out_dir / "metrics.jsonl").unlink(missing_ok=True)  # from a run that died before last.pt
    history: list[dict[str, Any]] = []
    step = 0
    for epoch in range(1, config.epochs + 1):
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
        with (out_dir / "metrics.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        save_checkpoint(last, _checkpoint(model, config, manifest, version_id, history))
        reporter.epoch_end(record)
    return PretrainResult(out_dir, last, config.epochs, step, history)


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
    config: SSLConfig,
    manifest: Manifest,
    version_id: str,
    history: list[dict[str, Any]],
) -> dict[str, Any]:
    """A synsetlab checkpoint whose ``state_dict`` is the backbone without classifier."""
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
