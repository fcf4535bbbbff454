"""Training input speed: webdataset shards through ``shard_dataset`` against torchvision's
``ImageFolder``, on ImageNet-sized JPEGs (500x375, q90, smooth noise).

Baseline: ``datasets.ImageFolder`` with PIL's default loader and ``transforms.Compose(
[RandomResizedCrop(224), RandomHorizontalFlip(), PILToTensor()])``, shuffled by a
``RandomSampler``. Ours: :func:`synsetlab.data.shard_dataset` over a webdataset export of the
same images, as training reads it (``as_tensor=True``: ``decode_tensor``, with DCT scaling
down to ``decode_size(train=True)``, 256 px, for JPEGs), transformed by
``create_transform(TransformConfig(image_size=224), train=True)`` (RandomResizedCrop 224 +
flip on the uint8 tensor), shuffle buffer as given. The shards are written by the real export
path (a blob store and a manifest of the files, then ``export_version(..., "webdataset")``):
pre-resized to a 256 px short side as raw pixels (``synsetlab export --short-side 256
--encoding raw``) and as JPEG q90 (``--short-side 256``), and at full size (JPEG as stored),
which separates what the raw encoding and pre-resizing buy from what the stream does. All go
through ``create_loader`` with the same workers and batch size. Rates are steady-state
images/s (the clock starts after the first ``2 x workers + 1`` batches, so worker start-up is
left out); the epoch's wall time with start-up is printed too. The shuffle buffer fills
before a worker's first sample, so it is kept well under each worker's share of the images:
the timed batches then read the shards, as a long epoch does.
Each pipeline makes ``--repeat`` passes, in interleaved rounds; the best rates are compared,
and each round's own ratio is shown too (the machine may be shared).
Target: ours (pre-resized shards) >= 3x the baseline.

    python bench/loader.py                              # 2000 images, 2 workers
    python bench/loader.py --images 600 --batch-size 32 # quicker
    python bench/loader.py --images 10000 --workers 8
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
from collections.abc import Callable
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from torch.utils.data import DataLoader
    from torchvision.datasets import ImageFolder

    from synsetlab.data import ShardDataset

SIZE = (500, 375)  # ImageNet's typical image (width, height)
CLASSES = ("n01530575", "n01531178", "n01532829", "n01534433")
SHORT_SIDE = 256  # the export's pre-resize, pixels
CROP = 224  # training crop side, pixels
#: Images timed one by one in this process for the per-stage breakdown.
BREAKDOWN_IMAGES = 100
REPEAT = 3


def _render(seed: int, index: int) -> bytes:
    """A photo-like 500x375 JPEG: a coarse random colour grid, smoothly interpolated, plus
    pixel noise, for files of ~100 kB (ImageNet's 500x375 JPEGs average about 110 kB)."""
    rng = np.random.default_rng([seed, index])
    w, h = SIZE
    coarse = rng.integers(0, 256, (h // 12 + 2, w // 12 + 2, 3), dtype=np.uint8)
    smooth = np.asarray(Image.fromarray(coarse).resize((w, h), Image.BICUBIC), dtype=np.int16)
    noise = rng.integers(-28, 29, smooth.shape, dtype=np.int16)
    buf = io.BytesIO()
    Image.fromarray(np.clip(smooth + noise, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def make_imagefolder(root: Path, n: int, seed: int = 0) -> list[Path]:
    """Write ``n`` JPEGs as ``root/<wnid>/<i>.JPEG``, classes in turn; return the files."""
    files = []
    for i in range(n):
        path = root / CLASSES[i % len(CLASSES)] / f"{i:06d}.JPEG"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_render(seed, i))
        files.append(path)
    return files


def export_shards(
    files: list[Path],
    tmp: Path,
    *,
    short_side: int | None,
    encoding: str = "jpeg",
    shard_size: int,
    workers: int,
) -> Path:
    """The files as a one-split (train) version in a blob store, exported as webdataset."""
    from synsetlab.blobs import BlobStore
    from synsetlab.export import export_version
    from synsetlab.manifest import Manifest, ManifestEntry

    blobs = BlobStore(str(tmp / "blobs"))
    entries = []
    for i, path in enumerate(files):
        entries.append(
            ManifestEntry(
                image_id=i + 1,
                sha256=blobs.put(path.read_bytes()),
                wnid=path.parent.name,
                split="train",
                hidden=False,
                source="bench",
                source_key=path.name,
                format="JPEG",
                width=SIZE[0],
                height=SIZE[1],
            )
        )
    out = tmp / f"shards-{short_side or 'full'}-{encoding}"
    manifest = Manifest(classes=CLASSES, entries=tuple(entries))
    export_version(
        manifest,
        blobs,
        out,
        "webdataset",
        short_side=short_side,
        encoding=encoding,  # type: ignore[arg-type]
        shard_size=shard_size,
        workers=workers,
    )
    return out


def baseline_dataset(root: Path) -> ImageFolder:
    from torchvision import datasets, transforms

    transform = transforms.Compose(
        [
            transforms.RandomResizedCrop(CROP),
            transforms.RandomHorizontalFlip(),
            transforms.PILToTensor(),
        ]
    )
    return datasets.ImageFolder(str(root), transform=transform)


def our_dataset(shards: Path, shuffle_buffer: int, *, as_tensor: bool = True) -> ShardDataset:
    """The training stream as ``synsetlab train --shards`` builds it."""
    from synsetlab.data import TransformConfig, create_transform, shard_dataset

    config = TransformConfig(image_size=CROP)
    return shard_dataset(
        shards,
        "train",
        transform=create_transform(config, train=True),
        decode_min_side=config.decode_size(True),
        shuffle_buffer=shuffle_buffer,
        as_tensor=as_tensor,
    )


def images_per_second(loader: DataLoader, warmup: int) -> tuple[float, float]:
    """``(steady images/s, epoch seconds with start-up)`` of one pass through ``loader``."""
    start = time.perf_counter()
    clock, counted = None, 0
    for i, (images, _) in enumerate(loader):
        if i == warmup:
            clock, counted = time.perf_counter(), 0
        counted += len(images)
    end = time.perf_counter()
    if clock is None:
        raise SystemExit(f"too few batches to time after {warmup} warm-up ones: use more --images")
    return counted / (end - clock), end - start


def per_image_ms(fn: Callable[[bytes], object], blobs: list[bytes]) -> float:
    """Milliseconds per call of ``fn`` over ``blobs``, in this process: the best of
    ``REPEAT`` passes (the machine may be shared)."""
    best = float("inf")
    for _ in range(REPEAT):
        start = time.perf_counter()
        for data in blobs:
            fn(data)
        best = min(best, time.perf_counter() - start)
    return best / len(blobs) * 1e3


def _members(shards: Path, ext: str, n: int) -> list[bytes]:
    """The ``ext`` members of the first ``n`` samples of the train shards under ``shards``."""
    import webdataset as wds

    urls = sorted(str(p) for p in (shards / "train").glob("*.tar"))
    return [s[ext] for s in islice(wds.tarfile_samples({"url": u} for u in urls), n)]


def breakdown(files: list[Path], shards: dict[str, Path]) -> None:
    """Where the time goes, per image, in this process: decode, transform, whole datasets.

    Torch runs single-threaded here, as it does in DataLoader workers.
    """
    import torch

    from synsetlab.data import TransformConfig, create_transform, decode_image, decode_tensor

    torch.set_num_threads(1)
    n = BREAKDOWN_IMAGES
    full = [p.read_bytes() for p in files[:n]]
    small = _members(shards["jpeg"], "jpg", n)
    raw = _members(shards["raw"], "ppm", n)
    config = TransformConfig(image_size=CROP)
    min_side = config.decode_size(True)
    ours = create_transform(config, train=True)
    folder = baseline_dataset(files[0].parent.parent)
    picture = decode_image(full[0])
    tensor, tensor_small = decode_tensor(full[0]), decode_tensor(raw[0])

    def stream(shards: Path, as_tensor: bool = True) -> float:
        dataset = our_dataset(shards, shuffle_buffer=0, as_tensor=as_tensor)
        return per_image_ms(lambda _: [None for _ in islice(dataset, n)], [b""]) / n

    s = SHORT_SIDE
    rows = {
        "PIL decode, full size": per_image_ms(
            lambda d: Image.open(io.BytesIO(d)).convert("RGB"), full
        ),
        f"decode_tensor, full size, min_side={min_side}": per_image_ms(
            lambda d: decode_tensor(d, min_side=min_side), full
        ),
        f"decode_tensor, JPEG pre-resized to {s}": per_image_ms(decode_tensor, small),
        f"decode_image (PIL), raw pre-resized to {s}": per_image_ms(decode_image, raw),
        f"decode_tensor, raw pre-resized to {s}": per_image_ms(decode_tensor, raw),
        "baseline transform (PIL RRC + flip + to tensor), full": per_image_ms(
            lambda _: folder.transform(picture), full
        ),
        "our transform on a PIL image, full size": per_image_ms(lambda _: ours(picture), full),
        "our transform on a tensor, full size": per_image_ms(lambda _: ours(tensor), full),
        f"our transform on a tensor, pre-resized to {s}": per_image_ms(
            lambda _: ours(tensor_small), full
        ),
        "baseline ImageFolder[i], all steps": per_image_ms(lambda _: folder[0], full),
        f"ours ShardDataset, raw {s}, all steps": stream(shards["raw"]),
        f"ours ShardDataset, raw {s}, PIL input, all steps": stream(shards["raw"], False),
        f"ours ShardDataset, JPEG {s}, all steps": stream(shards["jpeg"]),
        "ours ShardDataset, JPEG full size, all steps": stream(shards["full"]),
    }
    print(f"per image, this process alone, {n} images:")
    for name, ms in rows.items():
        print(f"  {name:<58} {ms:6.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers, all runs")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--shard-size", type=int, default=250, help="samples per shard")
    parser.add_argument("--repeat", type=int, default=3, help="passes of each pipeline")
    parser.add_argument(
        "--shuffle-buffer",
        type=int,
        default=200,
        help="samples per worker; keep it well under images / workers, or the timed part "
        "leaves out the shard reads (the buffer fills before the first batch)",
    )
    args = parser.parse_args()
    from torch.utils.data import RandomSampler

    from synsetlab.data import create_loader

    warmup = 2 * args.workers + 1
    cores = os.cpu_count() or 1
    print(
        f"{cores} cores; {args.images} images {SIZE[0]}x{SIZE[1]} JPEG q90; "
        f"{args.workers} workers, batch {args.batch_size}, crop {CROP}"
    )
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        start = time.perf_counter()
        files = make_imagefolder(tmp / "imagefolder", args.images)
        export = {"shard_size": args.shard_size, "workers": cores}
        shards = {
            "raw": export_shards(files, tmp, short_side=SHORT_SIDE, encoding="raw", **export),
            "jpeg": export_shards(files, tmp, short_side=SHORT_SIDE, **export),
            "full": export_shards(files, tmp, short_side=None, **export),
        }
        megabytes = {name: _megabytes(out, "*.tar") for name, out in shards.items()}
        megabytes["base"] = _megabytes(tmp / "imagefolder", "*.JPEG")
        print(
            f"data written in {time.perf_counter() - start:.0f} s; shards: raw {SHORT_SIDE} px "
            f"{megabytes['raw']:.0f} MB, JPEG {SHORT_SIDE} px {megabytes['jpeg']:.0f} MB, "
            f"JPEG full size {megabytes['full']:.0f} MB (the files: {megabytes['base']:.0f} MB)"
        )
        breakdown(files, shards)

        folder = baseline_dataset(tmp / "imagefolder")
        loaders = {"base": create_loader(
            folder, batch_size=args.batch_size, sampler=RandomSampler(folder),
            workers=args.workers,
        )}  # fmt: skip
        for key in shards:
            loaders[key] = create_loader(
                our_dataset(shards[key], args.shuffle_buffer),
                batch_size=args.batch_size,
                workers=args.workers,
            )
        names = {
            "base": "baseline: ImageFolder + PIL + torchvision",
            "raw": f"ours: shards, raw pixels, {SHORT_SIDE} px",
            "jpeg": f"ours: shards, JPEG, {SHORT_SIDE} px",
            "full": "ours: shards, JPEG, full size",
        }
        # Rounds of one pass each, interleaved, so a burst of load from others on a shared
        # machine hits every pipeline alike.
        passes: dict[str, list[tuple[float, float]]] = {key: [] for key in loaders}
        for _ in range(args.repeat):
            for key, loader in loaders.items():
                passes[key].append(images_per_second(loader, warmup))
        print(
            f"{'pipeline':<44} {'images/s':>9} {'x base':>7} {'rounds':>11} {'read MB/s':>10} "
            f"{'epoch s':>8}"
        )
        base = passes["base"]
        best_base = max(b for b, _ in base)
        for key, results in passes.items():
            rate = max(r for r, _ in results)
            ratios = [r / b for (r, _), (b, _) in zip(results, base, strict=True)]
            spread = f"{min(ratios):.2f}-{max(ratios):.2f}"
            read = rate * megabytes[key] / args.images
            seconds = min(s for _, s in results)
            print(
                f"{names[key]:<44} {rate:>9.0f} {rate / best_base:>7.2f} {spread:>11} "
                f"{read:>10.0f} {seconds:>8.1f}"
            )
    print(
        f"images/s: steady state, after the first 2 x workers + 1 batches, best of "
        f"{args.repeat} rounds; x base: against the baseline's best; rounds: each round's own "
        "ratio, lowest-highest; read MB/s: what the storage must deliver for that rate; "
        "epoch s: the quickest whole pass, worker start-up included. "
        "Target: pre-resized shards >= 3.00 x base."
    )


def _megabytes(folder: Path, pattern: str) -> float:
    return sum(p.stat().st_size for p in folder.rglob(pattern)) / 1e6


if __name__ == "__main__":
    main()
