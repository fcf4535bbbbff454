"""The webdataset export, read back by webdataset itself."""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import webdataset as wds
from PIL import Image

from synsetlab.blobs import BlobStore
from synsetlab.export import export_version
from synsetlab.export._images import resized_size
from synsetlab.manifest import Manifest, ManifestEntry
from tests.export.versions import CLASSES, TENCH, Version, distinct, sha
from tests.images import encode, rgb

#: Every image extension a stored-encoding shard may hold.
IMAGES = "jpg;png;webp;bmp;tif;gif"


def _urls(out: Path, split: str) -> list[str]:
    return sorted(str(p) for p in (out / split).glob(f"{split}-*.tar"))


@pytest.mark.parametrize("short_side", [24, 64])
def test_resized_shards_read_back(version: Version, tmp_path: Path, short_side: int) -> None:
    report = export_version(
        version.manifest,
        version.blobs,
        tmp_path / "out",
        "webdataset",
        short_side=short_side,
        shard_size=3,
    )
    urls = _urls(tmp_path / "out", "train")
    assert [Path(u).name for u in urls] == ["train-000000.tar", "train-000001.tar"]
    shards = report.details["shards"]["train"]
    assert [s["nsamples"] for s in shards] == [3, 3]  # 7 entries, 6 contents
    dataset = wds.WebDataset(urls, shardshuffle=False).decode("pil").to_tuple(IMAGES, "cls", "json")
    samples = list(dataset)
    assert len(samples) == 6
    for image, cls, meta in samples:
        entry = version.entry(meta["sha256"])
        assert (CLASSES[cls], meta["wnid"]) == (entry.wnid, entry.wnid)
        assert min(image.size) == short_side and image.size == (meta["width"], meta["height"])
        sx, sy = image.size[0] / entry.width, image.size[1] / entry.height
        assert [b["wnid"] for b in meta["boxes"]] == [b.wnid for b in entry.boxes]
        scaled = [
            c for b in entry.boxes for c in (b.xmin * sx, b.ymin * sy, b.xmax * sx, b.ymax * sy)
        ]
        got = [b[k] for b in meta["boxes"] for k in ("xmin", "ymin", "xmax", "ymax")]
        assert got == pytest.approx(scaled)


def test_stored_bytes_without_resize(version: Version, tmp_path: Path) -> None:
    """By default every image is its stored bytes, under its own format's extension."""
    report = export_version(version.manifest, version.blobs, tmp_path / "out", "webdataset")
    formats = set()
    for split in ("train", "val"):
        for sample in wds.WebDataset(_urls(tmp_path / "out", split), shardshuffle=False):
            (ext,) = set(sample) & set(IMAGES.split(";"))
            entry = version.entry(json.loads(sample["json"])["sha256"])
            assert sha(sample[ext]) == entry.sha256
            formats.add((entry.format, ext))
    assert formats == {("JPEG", "jpg"), ("PNG", "png"), ("GIF", "gif")}
    assert report.reencoded == 0


def test_jpeg_encoding_when_asked(version: Version, tmp_path: Path) -> None:
    report = export_version(
        version.manifest, version.blobs, tmp_path / "out", "webdataset", encoding="jpeg"
    )
    for split in ("train", "val"):
        raw = wds.WebDataset(_urls(tmp_path / "out", split), shardshuffle=False).to_tuple(
            "jpg", "json"
        )
        for data, meta in raw:
            entry = version.entry(json.loads(meta)["sha256"])
            # JPEGs as stored; the PNG and the GIF re-encoded so every .jpg is a JPEG.
            assert (sha(data) == entry.sha256) == (entry.format == "JPEG")
            assert data[:2] == b"\xff\xd8"
    assert report.reencoded == 2


def _greyscale_version(root: Path) -> Version:
    """Two greyscale training images: a PNG (lossless) and a JPEG."""
    blobs = BlobStore(str(root / "blobs"))
    grey = rgb((60, 40), 7).convert("L")
    encoded = [("PNG", encode(grey, "PNG")), ("JPEG", encode(grey, "JPEG", quality=90))]
    entries = []
    for i, (fmt, data) in enumerate(encoded, start=1):
        entry = ManifestEntry(
            image_id=i, sha256=blobs.put(data), wnid=TENCH, split="train", hidden=False,
            source="test", source_key=f"grey.{fmt.lower()}", format=fmt, width=60, height=40,
        )  # fmt: skip
        entries.append(entry)
    return Version(Manifest(classes=(TENCH,), entries=tuple(entries)), blobs)


@pytest.mark.parametrize("short_side", [None, 20])
def test_a_greyscale_png_stays_a_greyscale_png(tmp_path: Path, short_side: int | None) -> None:
    """Lossless greyscale is not made a lossy RGB JPEG unless asked: the stored format and
    mode are kept, and a resize re-encodes into them."""
    grey = _greyscale_version(tmp_path)
    out = tmp_path / "out"
    export_version(grey.manifest, grey.blobs, out, "webdataset", short_side=short_side)
    seen = {}
    for sample in wds.WebDataset(_urls(out, "train"), shardshuffle=False):
        (ext,) = set(sample) & set(IMAGES.split(";"))
        entry = grey.entry(json.loads(sample["json"])["sha256"])
        image = Image.open(io.BytesIO(sample[ext]))
        seen[entry.format] = (ext, image.format, image.mode)
        stored = Image.open(io.BytesIO(grey.blobs.get(entry.sha256)))
        if short_side is None:
            assert sha(sample[ext]) == entry.sha256
        else:
            assert min(image.size) == short_side
            if entry.format == "PNG":  # lossless: exactly the resize of the stored pixels
                want = stored.resize(image.size, Image.Resampling.BICUBIC)
                assert np.array_equal(np.asarray(image), np.asarray(want))
    assert seen == {"PNG": ("png", "PNG", "L"), "JPEG": ("jpg", "JPEG", "L")}
    if short_side is None:  # asked for JPEGs: the PNG becomes an RGB one, the JPEG is kept
        export_version(grey.manifest, grey.blobs, tmp_path / "jpeg", "webdataset",
                       encoding="jpeg")  # fmt: skip
        dataset = wds.WebDataset(_urls(tmp_path / "jpeg", "train"), shardshuffle=False)
        modes = {
            grey.entry(json.loads(meta)["sha256"]).format: Image.open(io.BytesIO(data)).mode
            for data, meta in dataset.to_tuple("jpg", "json")
        }
        assert modes == {"PNG": "RGB", "JPEG": "L"}


def test_shard_dataset_reads_stored_pngs_and_gifs(version: Version, tmp_path: Path) -> None:
    """The training reader takes every member the stored encoding writes."""
    from synsetlab.data import shard_dataset

    export_version(version.manifest, version.blobs, tmp_path / "out", "webdataset")
    dataset = shard_dataset(tmp_path / "out", "train", transform=None, with_key=True)
    got = {key: (image, label) for image, label, key in dataset}
    train = distinct(version.manifest.split("train"))
    assert sorted(got) == sorted(e.sha256 for e in train)
    for e in train:
        image, label = got[e.sha256]
        assert image.mode == "RGB" and image.size == (e.width, e.height)
        assert CLASSES[label] == e.wnid


def test_samples_are_in_content_order_and_test_labels_stay_hidden(
    version: Version, tmp_path: Path
) -> None:
    export_version(version.manifest, version.blobs, tmp_path / "out", "webdataset")
    with tarfile.open(tmp_path / "out" / "test" / "test-000000.tar") as tar:
        names = tar.getnames()
        metas = [
            json.load(io.BytesIO(tar.extractfile(n).read())) for n in names if n.endswith(".json")
        ]  # type: ignore[union-attr]
    hashes = sorted({e.sha256 for e in version.manifest.split("test")})  # one file, once
    assert len(hashes) == 2
    assert names == [f"{h}.{ext}" for h in hashes for ext in ("jpg", "json")]  # no .cls
    assert all(set(m) == {"sha256", "width", "height"} for m in metas)


def test_hidden_test_labels_when_asked(version: Version, tmp_path: Path) -> None:
    export_version(
        version.manifest, version.blobs, tmp_path / "out", "webdataset", include_hidden=True
    )
    dataset = (
        wds.WebDataset(_urls(tmp_path / "out", "test"), shardshuffle=False)
        .decode("pil")
        .to_tuple("cls", "json")
    )
    got = sorted((meta["sha256"], CLASSES[cls], len(meta["boxes"])) for cls, meta in dataset)
    test = distinct(version.manifest.split("test"))
    assert got == sorted((e.sha256, e.wnid, len(e.boxes)) for e in test)


def _pre_resized(data: bytes, short_side: int) -> np.ndarray:
    """The pixels of a stored image resized as the export does: DCT-scaled JPEG decoding down
    to no less than the target, then a bicubic resize to exactly the target."""
    with Image.open(io.BytesIO(data)) as img:
        target = resized_size(img.size, short_side)
        img.draft("RGB", target)
        img = img.convert("RGB")
        return np.asarray(img if img.size == target else img.resize(target, Image.BICUBIC))


@pytest.mark.parametrize("short_side", [24, None])
def test_raw_shards_hold_the_exact_pixels(
    version: Version, tmp_path: Path, short_side: int | None
) -> None:
    report = export_version(
        version.manifest, version.blobs, tmp_path / "raw", "webdataset",
        short_side=short_side, encoding="raw", shard_size=3,
    )  # fmt: skip
    assert json.loads((tmp_path / "raw" / "export.json").read_text())["options"]["encoding"] == (
        "raw"
    )
    assert report.reencoded == sum(report.images.values())  # every image becomes pixels
    urls = _urls(tmp_path / "raw", "train")
    dataset = wds.WebDataset(urls, shardshuffle=False).decode("pil").to_tuple("ppm", "cls", "json")
    samples = list(dataset)
    assert len(samples) == 6
    for image, cls, meta in samples:
        entry = version.entry(meta["sha256"])
        stored = version.blobs.get(entry.sha256)
        assert CLASSES[cls] == meta["wnid"] == entry.wnid
        assert image.mode == "RGB" and image.size == (meta["width"], meta["height"])
        if short_side is None:
            # Lossless: what decoding the stored image gives, whatever its format.
            want = np.asarray(Image.open(io.BytesIO(stored)).convert("RGB"))
        else:
            want = _pre_resized(stored, short_side)
        assert np.array_equal(np.asarray(image), want)
    first = next(iter(wds.WebDataset(urls[:1], shardshuffle=False)))
    assert set(first) >= {"ppm", "cls", "json"} and "jpg" not in set(first)
    assert first["ppm"].startswith(b"P6")


def test_jpeg_shards_hold_the_raw_pixels_but_for_jpeg_loss(
    version: Version, tmp_path: Path
) -> None:
    for encoding in ("jpeg", "raw"):
        export_version(version.manifest, version.blobs, tmp_path / encoding, "webdataset",
                       short_side=24, encoding=encoding)  # type: ignore[arg-type]  # fmt: skip

    def pixels(out: Path, ext: str) -> dict[str, np.ndarray]:
        dataset = wds.WebDataset(_urls(out, "train"), shardshuffle=False).decode("rgb8")
        return {s["__key__"]: s[ext] for s in dataset}

    lossy, exact = pixels(tmp_path / "jpeg", "jpg"), pixels(tmp_path / "raw", "ppm")
    assert lossy.keys() == exact.keys()
    for key, image in exact.items():
        assert image.shape == lossy[key].shape
        # The same picture but for the JPEG loss (large on 24 px of random 8 px colour blocks:
        # chroma is subsampled), and not the same pixels.
        error = np.abs(image.astype(int) - lossy[key]).mean()
        assert 0 < error < 24


def test_raw_samples_record_the_exif_orientation(version: Version, tmp_path: Path) -> None:
    rotated = {e.sha256 for e in version.manifest.split("val")}
    entries = tuple(
        replace(e, exif_orientation=6) if e.sha256 in rotated else e
        for e in version.manifest.entries
    )
    manifest = replace(version.manifest, entries=entries)
    export_version(manifest, version.blobs, tmp_path / "raw", "webdataset", encoding="raw")
    for data, meta in wds.WebDataset(_urls(tmp_path / "raw", "val"), shardshuffle=False).to_tuple(
        "ppm", "json"
    ):
        meta = json.loads(meta)
        entry = version.entry(meta["sha256"])
        assert meta["orientation"] == 6
        # The pixels stay in the stored frame, like the boxes and the size.
        assert (meta["width"], meta["height"]) == (entry.width, entry.height)
        assert Image.open(io.BytesIO(data)).size == (entry.width, entry.height)
    for meta in wds.WebDataset(_urls(tmp_path / "raw", "train"), shardshuffle=False).to_tuple(
        "json"
    ):
        assert "orientation" not in json.loads(meta[0])


def test_raw_is_a_webdataset_option_only(version: Version, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"imagefolder export cannot store images as 'raw'"):
        export_version(version.manifest, version.blobs, tmp_path / "a", "imagefolder",
                       encoding="raw")  # fmt: skip
    with pytest.raises(ValueError, match=r"unknown encoding 'png': use one of stored, jpeg, raw"):
        export_version(version.manifest, version.blobs, tmp_path / "b", "webdataset",
                       encoding="png")  # type: ignore[arg-type]  # fmt: skip
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
