"""Two augmented views of each unlabelled image: SimCLR's augmentations, per-sample seeds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch
from PIL import Image
from torchvision.transforms import v2

from synsetlab.blobs import BlobStore
from synsetlab.data import (
    VersionDataset,
)
from synsetlab.manifest import Manifest
from synsetlab.train.ssl.config import UNLABELLED, SSLConfig, SSLError


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


def unlabelled_manifest(
    manifest: Manifest, splits: Sequence[str], *, use_unlabelled: bool = False
) -> Manifest:
    """The images of ``splits`` gathered as one split, :data:`UNLABELLED`; with
    ``use_unlabelled``, the version's unlabelled images too (their labels read as hidden)."""
    missing = [s for s in splits if s not in manifest.splits]
    if missing:
        have = ", ".join(manifest.splits) or "none"
        raise SSLError(f"the version has no {', '.join(missing)} images; its splits: {have}")
    entries = [replace(e, split=UNLABELLED) for e in manifest.entries if e.split in splits]
    if use_unlabelled:
        if not manifest.unlabelled:
            raise SSLError(_no_unlabelled(manifest))
        entries += [u.as_entry(UNLABELLED) for u in manifest.unlabelled]
    if not entries:
        raise SSLError("no images to pretrain on: name a split, or add --use-unlabelled")
    return Manifest(classes=manifest.classes, entries=tuple(entries))


def hidden_splits(manifest: Manifest, splits: Sequence[str]) -> list[str]:
    """Those of ``splits`` whose labels are hidden (a challenge's test split): pretraining on
    their pixels makes test scores of models started from the backbone transductive."""
    hidden = {e.split for e in manifest.entries if e.hidden}
    return [s for s in splits if s in hidden]


def _no_unlabelled(manifest: Manifest) -> str:
    """Why ``--use-unlabelled`` finds nothing in ``manifest``, and what to do."""
    if not manifest.pool_recorded:
        uncounted = manifest.params["unlabelled_or_conflicting"]
        return (
            f"this version was frozen before synsetlab kept its {uncounted} unlabelled images; "
            "freeze a new one (`synsetlab version freeze --name NAME`) to pretrain on them"
        )
    return (
        "the version has no unlabelled images: ingest some (files directly under an "
        "`ingest imagefolder` root, manifest rows without a wnid, `ingest ilsvrc2012 "
        "--include-test`), then split and freeze a new version"
    )


def ssl_dataset(manifest: Manifest, blobs: BlobStore, config: SSLConfig) -> VersionDataset:
    """Items ``((view, view), label)``: two uint8 views of each image of ``config.splits``,
    and of the version's unlabelled images with ``config.use_unlabelled`` (labels come along,
    unused; -1 where hidden or absent)."""
    return VersionDataset(
        unlabelled_manifest(manifest, config.splits, use_unlabelled=config.use_unlabelled),
        UNLABELLED,
        blobs,
        transform=TwoViews(create_ssl_transform(config)),
        decode_min_side=config.image_size,
    )
