"""Per-content signals: pHash equal to imagehash's, stored once per content, incremental."""

from __future__ import annotations

import io
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image, ImageFilter
from sqlalchemy import func, select, update

from synsetlab.catalog.models import BlobSignals
from synsetlab.curate.signals import hamming, measure, update_signals
from synsetlab.ingest.imagefolder import open_imagefolder
from synsetlab.ingest.pipeline import ingest
from synsetlab.workspace import Workspace
from tests.images import encode, jpeg, rgb


def _smooth(size: tuple[int, int], seed: int) -> Image.Image:
    """A photo-like picture: random colours on a coarse grid, smoothly interpolated."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (size[1] // 24 + 2, size[0] // 24 + 2, 3), dtype=np.uint8)
    return Image.fromarray(coarse).resize(size, Image.BICUBIC)


def _imagehash_phash(data: bytes) -> int:
    value = int(str(imagehash.phash(Image.open(io.BytesIO(data)))), 16)
    return value - (1 << 64) if value >= 1 << 63 else value


def test_phash_follows_imagehash_s_rule() -> None:
    # At 32 px nothing is resized first: the DCT and median rule alone, bit for bit.
    for seed in range(5):
        data = encode(_smooth((32, 32), seed), "PNG")
        assert measure(data)["phash"] == _imagehash_phash(data)
    # Larger pictures are box-reduced before the 32 px resize (imagehash resizes the whole
    # picture at once): a coefficient next to the median may fall on its other side.
    distances = [
        hamming(measure(data)["phash"], _imagehash_phash(data))
        for seed in range(12)
        for data in [encode(_smooth((200 + 40 * seed, 150 + 25 * seed), seed), "JPEG")]
    ]
    assert max(distances) <= 6 and sum(d <= 2 for d in distances) >= 9, distances


def test_mirror_hash_matches_a_flipped_copy() -> None:
    img = rgb((128, 96), seed=4)
    flipped = encode(img.transpose(Image.FLIP_LEFT_RIGHT), "PNG")
    a, b = measure(encode(img, "PNG")), measure(flipped)
    assert hamming(a["phash_flip"], b["phash"]) <= 2
    assert hamming(a["phash"], b["phash"]) > 10


def test_centre_hashes_match_a_cropped_copy() -> None:
    # 5% of each side cut off: the whole-frame hashes move by more than the search radius,
    # the centre's (4% trimmed) stay close to the copy's whole frame.
    img = _smooth((200, 150), seed=6)
    a = measure(encode(img, "JPEG", quality=90))
    b = measure(encode(img.crop((10, 8, 190, 142)), "JPEG", quality=90))
    assert hamming(a["phash"], b["phash"]) > 8 and hamming(a["dhash"], b["dhash"]) > 8
    assert hamming(a["phash_inset"], b["phash"]) <= 4
    assert hamming(a["dhash_inset"], b["dhash"]) <= 4
    assert hamming(b["phash_inset"], a["phash"]) > 8  # the copy's centre is smaller still


def test_statistics_separate_sharp_blurred_grey_and_flat() -> None:
    sharp = rgb((256, 192), seed=5)
    s = measure(encode(sharp, "PNG"))
    blurred = measure(encode(sharp.filter(ImageFilter.GaussianBlur(4)), "PNG"))
    grey = measure(encode(sharp.convert("L"), "PNG"))
    flat = measure(encode(Image.new("RGB", (64, 64), (90, 90, 90)), "PNG"))
    assert blurred["laplacian_var"] < s["laplacian_var"] / 10
    assert grey["colourfulness"] < 1 < s["colourfulness"]
    assert flat["std"] == 0


def test_update_signals_measures_each_content_once(
    sqlite_workspace: Workspace, tmp_path: Path
) -> None:
    root = tmp_path / "photos" / "n01530575"
    root.mkdir(parents=True)
    for i in range(3):
        (root / f"{i}.jpg").write_bytes(jpeg(seed=i))
    (root / "copy.jpg").write_bytes(jpeg(seed=0))
    ingest(sqlite_workspace, open_imagefolder(tmp_path / "photos"), workers=0)
    assert update_signals(sqlite_workspace, workers=0) == 3
    assert update_signals(sqlite_workspace, workers=2) == 0
    (root / "new.jpg").write_bytes(jpeg(seed=9))
    ingest(sqlite_workspace, open_imagefolder(tmp_path / "photos"), workers=0)
    assert update_signals(sqlite_workspace, workers=2) == 1
    with sqlite_workspace.session() as s:
        assert s.scalar(select(func.count()).select_from(BlobSignals)) == 4


def test_update_signals_measures_again_rows_without_centre_hashes(
    workspace: Workspace, tmp_path: Path
) -> None:
    root = tmp_path / "photos" / "n01530575"
    root.mkdir(parents=True)
    for i in range(3):
        (root / f"{i}.jpg").write_bytes(jpeg(seed=i))
    ingest(workspace, open_imagefolder(tmp_path / "photos"), workers=0)
    assert update_signals(workspace, workers=0) == 3
    with workspace.session() as s:
        measured = {
            r.sha256: (r.phash_inset, r.dhash_inset) for r in s.scalars(select(BlobSignals))
        }
        stale = sorted(measured)[:2]
        # As rows written before migration 0004 are: other signals kept, centre hashes NULL.
        s.execute(
            update(BlobSignals)
            .where(BlobSignals.sha256.in_(stale))
            .values(phash_inset=None, dhash_inset=None, laplacian_var=-1.0)
        )
    assert update_signals(workspace, workers=0) == 2
    assert update_signals(workspace, workers=0) == 0
    with workspace.session() as s:
        rows = {r.sha256: r for r in s.scalars(select(BlobSignals))}
        assert {sha: (r.phash_inset, r.dhash_inset) for sha, r in rows.items()} == measured
        assert all(rows[sha].laplacian_var >= 0 for sha in stale)  # the whole row rewritten
        assert len(rows) == 3
