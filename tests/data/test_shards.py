"""Training input streamed from a real webdataset export (tests/export/versions.py's version)."""

from __future__ import annotations

import io
import shutil
import tarfile
from collections import Counter
from pathlib import Path

import pytest
import torch
import webdataset as wds
from PIL import Image
from torch.utils.data import DataLoader
from torchvision.transforms import v2

from synsetlab.blobs import BlobStore
from synsetlab.data import (
    DataError,
    ShardDataset,
    TransformConfig,
    create_loader,
    create_transform,
    decode_image,
    num_samples,
    shard_dataset,
)
from synsetlab.data.shards import resume_point, tar_samples
from synsetlab.export import export_version
from synsetlab.manifest import Manifest, ManifestEntry
from tests.export.versions import CLASSES, Version, distinct, make_version
from tests.images import good_images

SIZE = 16  # training crop side, pixels
TRAIN = create_transform(TransformConfig(image_size=SIZE, min_scale=0.5), train=True)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Version, Path]:
    """The version and its webdataset export as JPEGs: train in 3 shards of 2 (7 entries, 6
    contents), val in 2, test in 1."""
    root = tmp_path_factory.mktemp("shards")
    version = make_version(BlobStore(str(root / "blobs")))
    export_version(version.manifest, version.blobs, root / "out", "webdataset", shard_size=2,
                   encoding="jpeg")  # fmt: skip
    return version, root / "out"


@pytest.fixture(scope="module")
def raw(exported: tuple[Version, Path]) -> Path:
    """The same version exported as raw pixels at full size, in shards of the same sizes."""
    version, out = exported
    raw = out.parent / "raw"
    export_version(version.manifest, version.blobs, raw, "webdataset", shard_size=2,
                   encoding="raw")  # fmt: skip
    return raw


def _epoch(
    dataset: ShardDataset, workers: int, batch_size: int = 3
) -> tuple[list[str], list[int], list[torch.Tensor]]:
    """Keys, labels and images of one pass through ``create_loader``."""
    keys: list[str] = []
    labels: list[int] = []
    images: list[torch.Tensor] = []
    for batch_images, batch_labels, batch_keys in create_loader(
        dataset, batch_size=batch_size, workers=workers
    ):
        assert batch_images.dtype == torch.uint8 and batch_images.shape[1:] == (3, SIZE, SIZE)
        assert batch_labels.dtype == torch.int64
        keys.extend(batch_keys)
        labels.extend(batch_labels.tolist())
        images.extend(batch_images)
    return keys, labels, images


def _content(key: str) -> str:
    return key.split("_")[0]  # "<sha256>_1": the second image with that content


@pytest.mark.parametrize("workers", [0, 2])
def test_an_epoch_holds_every_sample_once_with_its_label(
    exported: tuple[Version, Path], workers: int
) -> None:
    version, out = exported
    dataset = shard_dataset(out, "train", transform=TRAIN, shuffle_buffer=4, with_key=True)
    assert dataset.num_samples == len(dataset) == num_samples(out, "train") == 6
    assert len(dataset.shards) == 3 and dataset.classes == CLASSES
    keys, labels, images = _epoch(dataset, workers)
    assert len(set(keys)) == len(keys)  # the duplicate content comes once
    assert Counter(map(_content, keys)) == Counter(
        e.sha256 for e in distinct(version.manifest.split("train"))
    )
    for key, label in zip(keys, labels, strict=True):
        assert CLASSES[label] == version.entry(_content(key)).wnid
    # The same order again, and every sample's augmentation whatever the number of workers.
    again = _epoch(dataset, workers)
    assert again[0] == keys
    one_process = dict(zip(*_epoch(dataset, 0)[::2], strict=True))
    assert all(torch.equal(one_process[k], image) for k, image in zip(keys, images, strict=True))


def test_images_are_the_stored_pictures(exported: tuple[Version, Path]) -> None:
    version, out = exported
    dataset = shard_dataset(out, "val", transform=v2.PILToTensor(), with_key=True)
    for image, _, key in dataset:
        stored = v2.functional.pil_to_tensor(decode_image(version.blobs.get(key)))
        assert torch.equal(image, stored)  # val's JPEGs are exported as their stored bytes


def test_seed_and_epoch_fix_the_order_and_augmentation(exported: tuple[Version, Path]) -> None:
    _, out = exported
    dataset = shard_dataset(out, "train", transform=TRAIN, shuffle_buffer=4, seed=3, with_key=True)
    first = _epoch(dataset, 0)
    again = _epoch(dataset, 0)
    assert first[0] == again[0]
    assert all(torch.equal(a, b) for a, b in zip(first[2], again[2], strict=True))
    dataset.set_epoch(1)
    other = _epoch(dataset, 0)
    assert other[0] != first[0] and sorted(other[0]) == sorted(first[0])
    reseeded = shard_dataset(out, "train", transform=TRAIN, shuffle_buffer=4, seed=4, with_key=True)
    assert _epoch(reseeded, 0)[0] != first[0]


def _batches(loader: DataLoader) -> list[tuple[list[str], torch.Tensor]]:
    return [(list(keys), images) for images, _, keys in loader]


def test_persistent_workers_follow_set_epoch(exported: tuple[Version, Path]) -> None:
    """Persistent workers keep their own copy of the dataset: the epoch must still reach them."""
    _, out = exported
    dataset = shard_dataset(out, "train", transform=TRAIN, shuffle_buffer=4, with_key=True)
    persistent = create_loader(dataset, batch_size=2, workers=2, persistent=True)
    for epoch in (0, 1, 2):
        dataset.set_epoch(epoch)
        fresh = _batches(create_loader(dataset, batch_size=2, workers=2))
        kept = _batches(persistent)
        assert [k for k, _ in kept] == [k for k, _ in fresh]
        assert all(torch.equal(a, b) for (_, a), (_, b) in zip(kept, fresh, strict=True))
    assert dataset.epoch == 2


# 7 samples in shards of 2, 2, 2 and 1; batches of 2 without the partial ones: with 3 workers
# one worker holds 2 shards and two hold one, so workers run out at different times.
@pytest.mark.parametrize(("workers", "resampled"), [(0, False), (2, False), (3, False), (2, True)])
def test_a_stream_resumes_mid_epoch_exactly(
    exported: tuple[Version, Path], workers: int, resampled: bool
) -> None:
    _, out = exported
    dataset = shard_dataset(out, "train", transform=TRAIN, shuffle_buffer=4, with_key=True,
                            resampled=resampled, seed=5)  # fmt: skip
    loader = create_loader(dataset, batch_size=2, workers=workers, drop_last=True, persistent=True)
    dataset.set_epoch(1)
    whole = _batches(loader)
    assert len(whole) >= 2
    for position in range(len(whole) + 1):
        dataset.set_epoch(1)
        dataset.set_position(position, 2)
        rest = _batches(loader)
        assert [k for k, _ in rest] == [k for k, _ in whole[position:]], position
        assert all(torch.equal(a, b) for (_, a), (_, b) in zip(rest, whole[position:], strict=True))
    dataset.set_epoch(1)  # and set_epoch alone starts the epoch from the beginning again
    assert [k for k, _ in _batches(loader)] == [k for k, _ in whole]


def test_resume_point_follows_the_loaders_round_robin() -> None:
    assert resume_point([3, 3], 0) == ([0, 0], 0)
    assert resume_point([3, 3], 3) == ([2, 1], 1)
    assert resume_point([1, 3, 2], 4) == ([1, 2, 1], 2)  # the first worker ran out after one
    assert resume_point([1, 3, 2], 6) == ([1, 3, 2], 2)
    with pytest.raises(ValueError, match="past the epoch's 6 batches"):
        resume_point([1, 3, 2], 7)


def test_without_shuffle_buffer_samples_keep_export_order(exported: tuple[Version, Path]) -> None:
    _, out = exported
    orders = {
        tuple(
            key for _, _, key in shard_dataset(out, "train", transform=None, seed=s, with_key=True)
        )
        for s in (0, 1)
    }
    (order,) = orders
    assert [_content(k) for k in order] == sorted(_content(k) for k in order)  # content order


def test_hidden_labels_come_as_minus_one(exported: tuple[Version, Path]) -> None:
    _, out = exported
    dataset = shard_dataset(out, "test", transform=TRAIN)
    labels = [label for _, label in dataset]
    assert labels == [-1, -1]


def test_ranks_share_the_shards(
    exported: tuple[Version, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, out = exported
    seen: list[str] = []
    for rank in (0, 1):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        dataset = shard_dataset(out, "train", transform=None, shuffle_buffer=2, with_key=True)
        keys = [key for _, _, key in dataset]
        assert len(keys) == len(dataset) > 0  # a rank's length is its share of the shards
        seen.extend(keys)
    assert sorted(seen) == sorted(set(seen)) and len(seen) == 6


def test_resampled_ranks_yield_equal_numbers(
    exported: tuple[Version, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    version, out = exported
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    dataset = shard_dataset(out, "train", transform=None, resampled=True, with_key=True)
    samples = [(label, key) for _, label, key in dataset]
    assert len(samples) == len(dataset) == 3  # ceil(6 / 2)
    assert all(CLASSES[label] == version.entry(_content(key)).wnid for label, key in samples)
    assert [key for _, key in samples] == [key for _, _, key in dataset]  # seeded draws


def test_bad_exports_say_what_to_do(exported: tuple[Version, Path], tmp_path: Path) -> None:
    version, out = exported
    with pytest.raises(DataError, match=r"not a webdataset export.*--format webdataset"):
        shard_dataset(tmp_path, "train", transform=None)
    export_version(version.manifest, version.blobs, tmp_path / "folders", "imagefolder")
    with pytest.raises(DataError, match="'imagefolder' export, not a webdataset one"):
        shard_dataset(tmp_path / "folders", "train", transform=None)
    with pytest.raises(DataError, match=r"no 'trian' shards; its splits: train \(6 samples\)"):
        shard_dataset(out, "trian", transform=None)
    with pytest.raises(ValueError, match="shuffle_buffer"):
        shard_dataset(out, "train", transform=None, shuffle_buffer=-1)
    damaged = tmp_path / "damaged"
    shutil.copytree(out, damaged)
    (damaged / "val" / "val-000001.tar").unlink()
    with pytest.raises(FileNotFoundError, match=r"val-000001\.tar.*export it again"):
        shard_dataset(damaged, "val", transform=None)


@pytest.mark.parametrize("as_tensor", [False, True])
def test_raw_shards_give_the_stored_pictures(
    exported: tuple[Version, Path], raw: Path, as_tensor: bool
) -> None:
    version, _ = exported
    to_tensor = v2.PILToTensor()
    for split in ("train", "val"):
        dataset = shard_dataset(raw, split, transform=None, with_key=True, as_tensor=as_tensor)
        for image, _, key in dataset:
            stored = decode_image(version.blobs.get(_content(key)))
            assert isinstance(image, torch.Tensor if as_tensor else Image.Image)
            assert torch.equal(to_tensor(image), to_tensor(stored))  # lossless, every format


def test_training_from_raw_shards_matches_jpeg_shards_where_both_are_lossless(
    exported: tuple[Version, Path], raw: Path
) -> None:
    """The same order and per-sample augmentation whatever the encoding: the images are
    equal wherever the JPEG export kept the stored JPEG (the PNG and GIF were re-encoded)."""
    version, out = exported
    options = {"transform": TRAIN, "shuffle_buffer": 4, "seed": 5, "with_key": True}
    jpeg_keys, jpeg_labels, jpeg_images = _epoch(shard_dataset(out, "train", **options), 0)
    keys, labels, images = _epoch(shard_dataset(raw, "train", as_tensor=True, **options), 0)
    assert (keys, labels) == (jpeg_keys, jpeg_labels)
    stored_jpeg = [version.entry(_content(k)).format == "JPEG" for k in keys]
    assert sum(stored_jpeg) == 4
    for is_jpeg, image, jpeg in zip(stored_jpeg, images, jpeg_images, strict=True):
        assert torch.equal(image, jpeg) == is_jpeg


def test_tensor_input_changes_nothing_for_jpeg_shards(exported: tuple[Version, Path]) -> None:
    """Training hands create_transform tensors (as_tensor): the same batches as PIL input."""
    _, out = exported
    options = {"transform": TRAIN, "shuffle_buffer": 4, "with_key": True}
    pil = _epoch(shard_dataset(out, "train", **options), 0)
    tensor = _epoch(shard_dataset(out, "train", as_tensor=True, **options), 0)
    assert pil[:2] == tensor[:2]
    assert all(torch.equal(a, b) for a, b in zip(pil[2], tensor[2], strict=True))


@pytest.mark.parametrize("as_tensor", [False, True])
def test_raw_pixels_come_upright_in_every_mode(tmp_path: Path, as_tensor: bool) -> None:
    """Raw pixels are stored unturned (PPM has no EXIF) and turned by the reader, from the
    orientation the manifest records: what decode_image makes of the stored file."""
    blobs = BlobStore(str(tmp_path / "blobs"))
    entries = []
    for i, (name, (data, fmt, _)) in enumerate(sorted(good_images().items())):
        with Image.open(io.BytesIO(data)) as img:
            size, orientation = img.size, img.getexif().get(0x0112)
        entries.append(
            ManifestEntry(image_id=i + 1, sha256=blobs.put(data), wnid=CLASSES[0], split="train",
                          hidden=False, source="test", source_key=name, format=fmt,
                          width=size[0], height=size[1], exif_orientation=orientation)
        )  # fmt: skip
    assert any(e.exif_orientation == 6 for e in entries)
    manifest = Manifest(classes=CLASSES[:1], entries=tuple(entries))
    export_version(manifest, blobs, tmp_path / "raw", "webdataset", encoding="raw")
    to_tensor = v2.PILToTensor()
    seen = 0
    for image, _, key in shard_dataset(
        tmp_path / "raw", "train", transform=to_tensor, with_key=True, as_tensor=as_tensor
    ):
        assert torch.equal(image, to_tensor(decode_image(blobs.get(_content(key)))))
        seen += 1
    assert seen == len({e.sha256 for e in entries})  # byte-identical files: one sample


def _tar(path: Path, names: list[str], fmt: int) -> Path:
    with tarfile.open(path, "w", format=fmt) as tar:
        for name in names:
            data = name.encode() * 3
            member = tarfile.TarInfo(name)
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    return path


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.PAX_FORMAT, tarfile.GNU_FORMAT])
def test_tar_reader_reads_what_webdataset_reads(tmp_path: Path, fmt: int) -> None:
    names = ["a.ppm", "a.cls", "b.jpg", "dir/c.jpg", "d.json"]
    if fmt != tarfile.USTAR_FORMAT:  # a long and a non-ASCII name: pax or GNU headers
        names[3:3] = ["x" * 120 + ".jpg", "\u00e9t\u00e9.jpg"]
    path = str(_tar(tmp_path / "shard.tar", names, fmt))
    ours = list(tar_samples([path, path]))
    assert ours == list(wds.tarfile_samples([{"url": path}, {"url": path}]))
    assert len(ours) == 2 * (len(names) - 1)  # the shard's end closes its last sample
    assert ours[0] == {"__key__": "a", "__url__": path, "ppm": b"a.ppm" * 3, "cls": b"a.cls" * 3}


def test_tar_reader_refuses_a_cut_shard(tmp_path: Path) -> None:
    path = _tar(tmp_path / "shard.tar", ["a.ppm", "a.cls"], tarfile.USTAR_FORMAT)
    data = path.read_bytes()
    for cut in (520, 700, 1540):  # in a file's data, in its padding, in the next file's
        path.write_bytes(data[:cut])
        with pytest.raises(tarfile.ReadError, match="unexpected end of data"):
            list(tar_samples([str(path)]))


def test_the_reader_takes_every_format_the_webdataset_export_stores() -> None:
    # Two lists (the reader must not import the exporter): this pins that they agree.
    from synsetlab.data.shards import OTHER_IMAGES
    from synsetlab.export._images import EXTENSIONS
    from synsetlab.export.webdataset import STORED_FORMATS

    stored = {EXTENSIONS.get(f, f".{f.lower()}").lstrip(".") for f in STORED_FORMATS}
    assert stored - {"jpg"} <= set(OTHER_IMAGES)
