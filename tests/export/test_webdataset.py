"""The webdataset export, read back by webdataset itself."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
import webdataset as wds

from synsetlab.export import export_version
from tests.export.versions import CLASSES, Version, sha


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
    assert [Path(u).name for u in urls] == [
        "train-000000.tar",
        "train-000001.tar",
        "train-000002.tar",
    ]
    shards = report.details["shards"]["train"]
    assert [s["nsamples"] for s in shards] == [3, 3, 1]
    dataset = wds.WebDataset(urls, shardshuffle=False).decode("pil").to_tuple("jpg", "cls", "json")
    samples = list(dataset)
    assert len(samples) == 7
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


def test_original_jpeg_bytes_without_resize(version: Version, tmp_path: Path) -> None:
    report = export_version(version.manifest, version.blobs, tmp_path / "out", "webdataset")
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


def test_samples_are_in_content_order_and_test_labels_stay_hidden(
    version: Version, tmp_path: Path
) -> None:
    export_version(version.manifest, version.blobs, tmp_path / "out", "webdataset")
    with tarfile.open(tmp_path / "out" / "test" / "test-000000.tar") as tar:
        names = tar.getnames()
        metas = [
            json.load(io.BytesIO(tar.extractfile(n).read())) for n in names if n.endswith(".json")
        ]  # type: ignore[union-attr]
    hashes = sorted(e.sha256 for e in version.manifest.split("test"))
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
    assert got == sorted((e.sha256, e.wnid, len(e.boxes)) for e in version.manifest.split("test"))
