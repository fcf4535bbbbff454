"""Ingestion speed against a bare decode-and-hash loop, on ImageNet-sized JPEGs.

Baseline: one process reading each file, hashing it (sha256) and fully decoding it with Pillow:
the least work any correct ingest must do. The pipeline adds blob storage and the catalog.
Target: pipeline per-core rate >= 50% of the baseline's, and time linear in the number of images.

    python bench/ingest.py                 # 1k and 10k images
    python bench/ingest.py --sizes 500     # quicker
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = (500, 375)  # ImageNet's typical image (width, height)
CLASSES = ("n01530575", "n01531178", "n01532829", "n01534433")


def make_images(root: Path, n: int, seed: int = 0) -> int:
    """Write ``n`` distinct ~500x375 JPEGs with photo-like smooth content; returns bytes written."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (40, 52, 3), dtype=np.uint8)
    canvas = np.asarray(Image.fromarray(coarse).resize((1300, 1000), Image.BICUBIC))
    total = 0
    for i in range(n):
        x, y = (
            rng.integers(0, canvas.shape[1] - SIZE[0]),
            rng.integers(0, canvas.shape[0] - SIZE[1]),
        )
        crop = canvas[y : y + SIZE[1], x : x + SIZE[0]].astype(np.int16)
        noise = rng.integers(-12, 13, crop.shape, dtype=np.int16)
        pixels = np.clip(crop + noise, 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, "JPEG", quality=90)
        folder = root / CLASSES[i % len(CLASSES)]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i:06d}.JPEG").write_bytes(buf.getvalue())
        total += len(buf.getvalue())
    return total


def bare_loop(root: Path) -> float:
    """Seconds for read + sha256 + full decode of every file, in this process."""
    files = sorted(p for p in root.rglob("*.JPEG"))
    start = time.perf_counter()
    for path in files:
        data = path.read_bytes()
        hashlib.sha256(data).hexdigest()
        with Image.open(io.BytesIO(data)) as img:
            img.load()
    return time.perf_counter() - start


def pipeline(root: Path, workspace: Path, workers: int) -> float:
    """Seconds for ``ingest`` into a new workspace, start-up (pool, taxonomy) included."""
    # Imported here as the CLI does: decode workers re-import the __main__ script, and this keeps
    # that as cheap as it is for `synsetlab ingest`.
    from synsetlab.ingest.imagefolder import open_imagefolder
    from synsetlab.ingest.pipeline import ingest
    from synsetlab.workspace import init_workspace

    ws = init_workspace(workspace)
    try:
        report = ingest(ws, open_imagefolder(root), workers=workers)
    finally:
        ws.close()
    return report.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    print(f"{cores} cores; images {SIZE[0]}x{SIZE[1]} JPEG q90")
    header = (
        f"{'images':>7} {'MB':>6} {'bare/s':>8} {'pipe1/s':>8} {'ratio':>6} "
        f"{'pipeN/s':>8} {'N':>2} {'per-core ratio':>14}"
    )
    print(header)
    seconds = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            root = Path(tmp) / f"src{n}"
            mb = make_images(root, n) / 1e6
            bare = bare_loop(root)
            one = pipeline(root, Path(tmp) / f"ws1-{n}", workers=1)
            many = pipeline(root, Path(tmp) / f"wsN-{n}", workers=cores)
            seconds[n] = many
            bare_rate, one_rate, many_rate = n / bare, n / one, n / many
            ratio = one_rate / bare_rate
            print(
                f"{n:>7} {mb:>6.0f} {bare_rate:>8.0f} {one_rate:>8.0f} {ratio:>6.2f} "
                f"{many_rate:>8.0f} {cores:>2} {many_rate / cores / bare_rate:>14.2f}"
            )
    if len(seconds) > 1:
        small, large = min(seconds), max(seconds)
        marginal = (seconds[large] - seconds[small]) / (large - small)
        fixed = seconds[small] - marginal * small
        print(
            f"linearity (all cores): {marginal * 1e3:.2f} ms per extra image between {small} "
            f"and {large}, {seconds[large] / large * 1e3:.2f} ms per image at {large}; "
            f"fixed start-up about {fixed:.1f} s"
        )
    print("ratio = pipeline with 1 decode worker (plus the main process) / bare loop")
    print("per-core ratio = pipeline on all N cores / N / bare loop on one core (target >= 0.50)")


if __name__ == "__main__":
    main()
