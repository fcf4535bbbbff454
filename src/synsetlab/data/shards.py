"""Training input streamed from the tar shards of a ``webdataset`` export.

Reads the folder ``synsetlab export VERSION --format webdataset OUT`` writes (see
:mod:`synsetlab.export.webdataset`)::

    OUT/export.json                  "format": "webdataset"; "classes": the class index order;
                                     details["shards"][split]: [{"url", "nsamples"}, ...]
                                     with ``url`` relative to OUT
    OUT/<split>/<split>-000000.tar   samples <key>.jpg, .png ... (or <key>.ppm: raw pixels),
                                     <key>.cls (class index as ASCII digits; absent where
                                     the label is hidden), <key>.json

Sequential reads of a few large files instead of one file per image: what a network or
spinning disk needs. ``--short-side 256`` at export time pre-resizes the JPEGs, which halves
decoding time for ImageNet-sized (500x375) pictures; ``decode_min_side`` (DCT scaling) only
pays for pictures at least twice that side, so it matters for full-size exports of large
photos, not for pre-resized ones. ``--short-side 256 --encoding raw`` stores the pixels
themselves (PPM): no decoding at all, at 6-10x the disk; with ``as_tensor=True`` they go
straight into a tensor, never through PIL (``bench/loader.py`` measures all of these).

::

    dataset = shard_dataset("out/tiny", "train", transform=create_transform(cfg, train=True),
                            decode_min_side=cfg.decode_size(True), shuffle_buffer=2000,
                            as_tensor=True)
    loader = create_loader(dataset, batch_size=256, workers=8)
    for epoch in range(epochs):
        dataset.set_epoch(epoch)
        for images, labels in loader: ...   # (B, 3, S, S) uint8, (B,) int64

Like :class:`synsetlab.data.VersionDataset` with :class:`synsetlab.data.ResumableSampler`,
a stream resumes exactly mid-epoch (``set_position``: the same samples and augmentations as an
uninterrupted run) for a given ``(seed, epoch)``, number of ranks and number of loader
workers: the order is fixed by those, and each sample's augmentation depends on ``(seed,
epoch, key)`` alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import tarfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import Any

import torch
import webdataset as wds
from PIL import Image
from torch.utils.data import IterableDataset

from synsetlab.data.dataset import HIDDEN, DataError, decode_image, decode_tensor, seeded
from synsetlab.data.loader import mix_seed

#: The file every export writes last (see :mod:`synsetlab.export`).
EXPORT_MARKER = "export.json"
EXPORT_HINT = "write one with `synsetlab export VERSION --format webdataset {out}`"
#: Members holding an image as stored, besides .jpg and .ppm (raw pixels).
OTHER_IMAGES = ("png", "webp", "bmp", "tif", "gif")
#: A tar header or padding block, bytes.
TAR_BLOCK = 512
#: The magic number and version of a POSIX ustar header, what the export writes.
USTAR = b"ustar\x0000"


@dataclass(frozen=True)
class Shard:
    """One tar file of a split: its absolute path and the samples it holds."""

    path: str
    nsamples: int


class ShardDataset(IterableDataset):
    """``(image, label)`` pairs streamed from a split's shards (``(image, label, key)`` with
    ``with_key``).

    ``image`` is what ``transform`` makes of the decoded upright RGB picture (usually a ``(3,
    S, S)`` uint8 tensor): a PIL image, or with ``as_tensor`` a ``(3, H, W)`` uint8 tensor
    (:func:`synsetlab.data.decode_tensor`: what :func:`synsetlab.data.create_transform`'s
    transforms take as well, and raw ``.ppm`` samples then skip PIL); ``label`` the class
    index in ``classes`` order, or :data:`HIDDEN` (-1) for samples without ``.cls``; ``key``
    the sample's name in the tar (its content sha256, ``_1``, ``_2`` ... for repeated
    content).

    Each epoch (``set_epoch``):

    1. the shard list is shuffled by ``(seed, epoch)``, the same on every rank
       (``shuffle_buffer=0``: export order, nothing shuffled);
    2. ranks take every ``world_size``-th shard (``wds.split_by_node``: torch.distributed's
       rank and world size when initialised, or ``RANK``/``WORLD_SIZE``), and each DataLoader
       worker every ``num_workers``-th of those (``wds.split_by_worker``); with fewer shards
       than ranks x workers some get none, and ranks may get unequal numbers of samples;
    3. samples pass through a buffer of ``shuffle_buffer`` from which they are drawn at
       random (seeded by ``(seed, epoch, rank, worker)``), then are decoded and transformed.

    ``set_position(batches, batch_size)`` starts the next iteration where a DataLoader of
    ``batch_size`` (``drop_last=True``, the same number of workers) stood after ``batches``
    batches of this epoch: each worker skips the samples it had delivered, before decoding
    them, and the workers change roles so that the loader's round-robin over them goes on
    from the right one. The epoch and position live in shared memory, so persistent loader
    workers (which keep their own copy of this object) see them too.

    ``resampled=True`` draws shards with replacement instead (seeded by ``(seed, epoch, rank,
    worker)``) and stops each rank after ``ceil(num_samples / world_size)`` samples: every
    rank then yields the same number, what DistributedDataParallel needs, at the price of
    samples seen twice or not at all within an epoch.
    """

    def __init__(
        self,
        shards: Sequence[Shard],
        *,
        classes: Sequence[str] = (),
        version: str | None = None,
        transform: Callable[[Image.Image], Any] | None = None,
        decode_min_side: int | None = None,
        shuffle_buffer: int = 0,
        seed: int = 0,
        epoch: int = 0,
        resampled: bool = False,
        with_key: bool = False,
        as_tensor: bool = False,
    ) -> None:
        if not shards:
            raise ValueError("ShardDataset needs at least one shard; build it with shard_dataset")
        if shuffle_buffer < 0:
            raise ValueError(f"shuffle_buffer must be 0 (no shuffling) or more: {shuffle_buffer}")
        self.shards = tuple(shards)
        self.classes = tuple(classes)
        #: The id of the exported version, as ``export.json`` records it.
        self.version = version
        self.transform = transform
        self.decode_min_side = decode_min_side
        self.shuffle_buffer = shuffle_buffer
        self.seed = seed
        # (epoch, batches to skip, their batch size), shared with the loader's worker processes:
        # a plain attribute set in this process would not reach persistent workers, which keep
        # the copy they were started with (open_clip's SharedEpoch answers the same problem).
        self._position = torch.tensor([epoch, 0, 1], dtype=torch.int64).share_memory_()
        self.resampled = resampled
        self.with_key = with_key
        self.as_tensor = as_tensor

    @property
    def num_samples(self) -> int:
        """Samples in the split (all ranks together), from ``export.json``."""
        return sum(s.nsamples for s in self.shards)

    @property
    def epoch(self) -> int:
        """The epoch the next iteration streams."""
        return int(self._position[0])

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch the next iteration streams (its shard order and shuffle), from its
        start."""
        self._position.copy_(torch.tensor([epoch, 0, 1]))

    def set_position(self, batches: int, batch_size: int) -> None:
        """Start the next iteration after the first ``batches`` batches of ``batch_size`` that
        a DataLoader (``drop_last=True``) yields in this epoch on this rank."""
        if batches < 0 or batch_size < 1:
            raise ValueError(f"position needs batches >= 0 and batch_size >= 1: {batches}, "
                             f"{batch_size}")  # fmt: skip
        self._position[1:] = torch.tensor([batches, batch_size])

    def shard_order(self, epoch: int | None = None) -> list[Shard]:
        """All ranks' shards, in ``epoch``'s order (default: the next iteration's), before the
        split by rank and worker."""
        order = list(self.shards)
        if self.shuffle_buffer > 0:
            epoch = self.epoch if epoch is None else epoch
            random.Random(mix_seed(self.seed, epoch, 0)).shuffle(order)
        return order

    def __len__(self) -> int:
        """Samples this rank yields in the current epoch (exact: computed from export.json)."""
        rank, world_size, _, _ = wds.utils.pytorch_worker_info()
        if self.resampled:
            return -(-self.num_samples // world_size)
        return sum(s.nsamples for s in self.shard_order()[rank::world_size])

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        rank, world_size, worker, workers = wds.utils.pytorch_worker_info()
        epoch, batches, batch_size = (int(v) for v in self._position)
        # This rank's shards; worker w streams every workers-th, as wds.split_by_node and
        # split_by_worker deal them.
        ranked = self.shard_order(epoch)[rank::world_size]
        if self.resampled:
            per_rank = -(-self.num_samples // world_size)
            counts = [_share(per_rank, w, workers) for w in range(workers)]
        else:
            counts = [sum(s.nsamples for s in ranked[w::workers]) for w in range(workers)]
        done, first = resume_point([n // batch_size for n in counts], batches)
        role = (worker + first) % workers  # the loader asks worker 0 first: it plays `first`
        rng = random.Random(mix_seed(self.seed, epoch, 1, rank, role))
        if self.resampled:
            samples = islice(tar_samples(_draw(self.shards, rng)), counts[role])
        else:
            samples = tar_samples(s.path for s in ranked[role::workers])
        if self.shuffle_buffer > 1:
            # Encoded bytes wait in the buffer (~110 kB a full-size ImageNet JPEG, ~40 kB at
            # 256 px, ~260 kB raw at 256 px), and it fills completely before the first sample
            # comes out.
            samples = wds.shuffle(self.shuffle_buffer, self.shuffle_buffer, rng=rng)(samples)
        for sample in islice(samples, done[role] * batch_size, None):  # skipped: not decoded
            yield self._load(sample, epoch)

    def _load(self, sample: dict[str, Any], epoch: int) -> tuple[Any, ...]:
        key = sample["__key__"]
        if "jpg" in sample:
            data, orientation = sample["jpg"], None  # a JPEG carries its EXIF
        elif "ppm" in sample:
            data, orientation = sample["ppm"], _orientation(sample)
        elif (ext := next((e for e in OTHER_IMAGES if e in sample), None)) is not None:
            data, orientation = sample[ext], None  # as stored (PNG ...), EXIF included
        else:
            raise DataError(
                f"sample {key!r} of {sample.get('__url__')} has no image (.jpg, .png, .ppm "
                "...): not a synsetlab webdataset shard; export the version again with "
                "--format webdataset"
            )
        label = int(sample["cls"].decode("ascii")) if "cls" in sample else HIDDEN
        decode = decode_tensor if self.as_tensor else decode_image
        image = decode(data, min_side=self.decode_min_side, orientation=orientation)
        if self.transform is not None:
            with seeded(mix_seed(self.seed, epoch, 2, _key_number(key))):
                image = self.transform(image)
        return (image, label, key) if self.with_key else (image, label)


def _orientation(sample: dict[str, Any]) -> int | None:
    """The EXIF orientation the export recorded for a raw sample's pixels (PPM has no EXIF).
    The json is parsed only when it has one: most photos need no turn."""
    meta = sample.get("json", b"")
    return json.loads(meta).get("orientation") if b'"orientation"' in meta else None


def _draw(shards: Sequence[Shard], rng: random.Random) -> Iterator[str]:
    """Shards' paths drawn with replacement, for ever."""
    while True:
        yield rng.choice(shards).path


def tar_samples(paths: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The samples of the local tar files ``paths``, as ``wds.tarfile_samples`` gives them:
    ``{"__key__", "__url__", <extension>: bytes, ...}``, members grouped by key."""
    members = chain.from_iterable(_tar_members(path) for path in paths)
    return wds.tariterators.group_by_keys(members)


def _tar_members(path: str) -> Iterator[dict[str, Any]]:
    """The regular files of the tar at ``path`` as ``{"fname", "data", "__url__"}``, then
    ``{}`` (webdataset's end-of-shard marker).

    POSIX ustar headers, what the export writes, are parsed here and each file is read with
    one ``read``: ~0.1 ms a raw 256 px sample, against ~0.3 ms through the stream mode of
    ``tarfile`` that ``wds.tarfile_samples`` uses (it copies data in 10 kB pieces). From any
    other header (pax, GNU, a bad checksum) on, ``tarfile`` reads the rest, and raises for
    what is damaged.
    """
    with Path(path).open("rb") as f:
        while header := f.read(TAR_BLOCK):
            if not header.strip(b"\0"):
                break  # the end-of-archive blocks
            member = _ustar_file(header)
            if member is None:
                f.seek(-len(header), os.SEEK_CUR)
                yield from _tarfile_members(f, path)
                break
            name, size = member
            data, padding = f.read(size), -size % TAR_BLOCK
            if len(data) < size or len(f.read(padding)) < padding:
                raise tarfile.ReadError(f"unexpected end of data in {path}: export it again")
            yield {"fname": name, "data": data, "__url__": path}
    yield {}


def _ustar_file(header: bytes) -> tuple[str, int] | None:
    """``(name, size)`` from the POSIX ustar header of a regular file, checksum verified;
    ``None`` for anything else (a pax, GNU or damaged header, a link, a folder)."""
    if len(header) < TAR_BLOCK or header[257:265] != USTAR or header[156:157] not in b"0\0":
        return None
    try:
        checksum = int(header[148:156].strip(b"\0 "), 8)
        size = int(header[124:136].strip(b"\0 "), 8)
    except ValueError:
        return None
    if checksum != 256 + sum(header[:148]) + sum(header[156:]):
        return None
    name, prefix = header[:100].split(b"\0", 1)[0], header[345:500].split(b"\0", 1)[0]
    if prefix:
        name = prefix + b"/" + name
    return name.decode("utf-8", "surrogateescape"), size


def _tarfile_members(f: Any, path: str) -> Iterator[dict[str, Any]]:
    """The regular files of an open tar from its current position, read by ``tarfile``."""
    with tarfile.open(fileobj=f, mode="r:") as tar:
        for member in tar:
            if member.isreg():
                data = tar.extractfile(member).read()  # type: ignore[union-attr]
                yield {"fname": member.name, "data": data, "__url__": path}


def resume_point(batches: Sequence[int], position: int) -> tuple[list[int], int]:
    """Where a DataLoader's workers stand after it yielded ``position`` batches of an epoch:
    ``(batches taken from each worker, the worker it asks next)``.

    ``batches[w]``: batches worker ``w`` yields in the epoch. Over an ``IterableDataset`` the
    loader takes one batch from each worker in turn and passes over those that ran out (its
    ``_try_put_index`` and ``_next_data``), so the interleaving is fixed by these counts alone.
    """
    workers = len(batches)
    if position > sum(batches):
        raise ValueError(f"position {position} is past the epoch's {sum(batches)} batches")
    taken, worker = [0] * workers, 0
    for _ in range(position):
        while taken[worker] == batches[worker]:
            worker = (worker + 1) % workers
        taken[worker] += 1
        worker = (worker + 1) % workers
    return taken, worker


def _share(total: int, worker: int, workers: int) -> int:
    """Worker ``worker``'s part of ``total`` samples split as evenly as possible."""
    return total // workers + (worker < total % workers)


def _key_number(key: str) -> int:
    """A 60-bit number from a sample key, to seed its augmentation."""
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:15], 16)


def read_shards(
    export_dir: str | os.PathLike[str], split: str
) -> tuple[list[Shard], list[str], str | None]:
    """``(shards, classes, version id)`` of ``split`` in the webdataset export at ``export_dir``.

    Raises :class:`~synsetlab.data.dataset.DataError` when ``export_dir`` holds no webdataset
    export or the split has no shards, FileNotFoundError when a listed shard is missing.
    """
    out = Path(export_dir).expanduser()
    marker = out / EXPORT_MARKER
    if not marker.is_file():
        raise DataError(
            f"{out} is not a webdataset export: it has no {EXPORT_MARKER}; "
            + EXPORT_HINT.format(out=out)
        )
    try:
        record = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read {marker} ({e}); {EXPORT_HINT.format(out=out)}") from e
    if record.get("format") != "webdataset":
        raise DataError(
            f"{out} holds a {record.get('format')!r} export, not a webdataset one; "
            + EXPORT_HINT.format(out=out)
        )
    listed: dict[str, list[dict[str, Any]]] = record.get("details", {}).get("shards", {})
    if not listed.get(split):
        have = ", ".join(
            f"{name} ({sum(s['nsamples'] for s in shards)} samples)"
            for name, shards in listed.items()
            if shards
        )
        raise DataError(
            f"the webdataset export at {out} has no {split!r} shards; "
            f"its splits: {have or 'none'}. Pick one of those, or export a version with "
            f"{split!r} images"
        )
    shards = [Shard(str(out / s["url"]), int(s["nsamples"])) for s in listed[split]]
    missing = [s.path for s in shards if not Path(s.path).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} shard(s) listed in {marker} are missing, e.g. {missing[0]}; "
            "the export was moved or damaged: export it again with --force"
        )
    return shards, list(record.get("classes", [])), record.get("version")


def num_samples(export_dir: str | os.PathLike[str], split: str) -> int:
    """Samples in ``split`` of the webdataset export at ``export_dir`` (from export.json)."""
    return sum(s.nsamples for s in read_shards(export_dir, split)[0])


def shard_dataset(
    export_dir: str | os.PathLike[str],
    split: str,
    *,
    transform: Callable[[Image.Image], Any] | None,
    decode_min_side: int | None = None,
    shuffle_buffer: int = 0,
    seed: int = 0,
    epoch: int = 0,
    resampled: bool = False,
    with_key: bool = False,
    as_tensor: bool = False,
) -> ShardDataset:
    """``split`` of the webdataset export at ``export_dir`` as a torch ``IterableDataset``.

    Yields ``(image, label)``: ``image`` is ``transform(decode_image(jpg, min_side=
    decode_min_side))``, e.g. a ``(3, S, S)`` uint8 tensor from :func:`create_transform`
    (pass ``TransformConfig.decode_size(train)`` as ``decode_min_side`` for DCT-scaled
    decoding), or with ``as_tensor`` ``transform(decode_tensor(...))``: raw (``.ppm``)
    samples then reach the transform as a copy of their pixels, the fastest input there is
    (``create_transform``'s transforms take both); ``label`` an int, -1 where hidden.
    ``shuffle_buffer``: 0 keeps export order
    (evaluation), 1 shuffles the shard order only, more also shuffles samples through a
    buffer that size (a few thousand is usual). See :class:`ShardDataset` for how shards are
    split over ranks and workers, and for ``resampled``; ``with_key`` adds each sample's key.

    Batch it with :func:`synsetlab.data.create_loader` (no sampler); call ``set_epoch`` before
    each epoch. Raises :class:`~synsetlab.data.dataset.DataError` when ``export_dir`` is not a
    webdataset export or ``split`` has no shards.
    """
    shards, classes, version = read_shards(export_dir, split)
    return ShardDataset(
        shards,
        classes=classes,
        version=version,
        transform=transform,
        decode_min_side=decode_min_side,
        shuffle_buffer=shuffle_buffer,
        seed=seed,
        epoch=epoch,
        resampled=resampled,
        with_key=with_key,
        as_tensor=as_tensor,
    )
