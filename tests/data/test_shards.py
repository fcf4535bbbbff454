"""Training input streamed from a real webdataset export (tests/export/versions.py's version)."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest
import torch
from torchvision.transforms import v2

from synsetlab.blobs import BlobStore
from synsetlab.data import (
    ShardDataset,
    TransformConfig,
    create_loader,
    create_transform,
    decode_image,
    num_samples,
    shard_dataset,
)
from synsetlab.export import export_version
from tests.export.versions import CLASSES, Version, make_version

SIZE = 16  # training crop side, pixels
TRAIN = create_transform(TransformConfig(image_size=SIZE, min_scale=0.5), train=True)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Version, Path]:
    """The version and its webdataset export: train in 4 shards of 2, val in 2, test in 1."""
    root = tmp_path_factory.mktemp("shards")
    version = make_version(BlobStore(str(root / "blobs")))
    export_version(version.manifest, version.blobs, root / "out", "webdataset", shard_size=2)
    return version, root / "out"


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
    assert dataset.num_samples == len(dataset) == num_samples(out, "train") == 7
    assert len(dataset.shards) == 4 and dataset.classes == CLASSES
    keys, labels, images = _epoch(dataset, workers)
    assert len(set(keys)) == len(keys)  # the duplicate content comes as <sha> and <sha>_1
    assert Counter(map(_content, keys)) == Counter(
        e.sha256 for e in version.manifest.split("train")
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
    assert sorted(seen) == sorted(set(seen)) and len(seen) == 7


def test_resampled_ranks_yield_equal_numbers(
    exported: tuple[Version, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    version, out = exported
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    dataset = shard_dataset(out, "train", transform=None, resampled=True, with_key=True)
    samples = [(label, key) for _, label, key in dataset]
    assert len(samples) == len(dataset) == 4  # ceil(7 / 2)
    assert all(CLASSES[label] == version.entry(_content(key)).wnid for label, key in samples)
    assert [key for _, key in samples] == [key for _, _, key in dataset]  # seeded draws


def test_bad_exports_say_what_to_do(exported: tuple[Version, Path], tmp_path: Path) -> None:
    version, out = exported
    with pytest.raises(ValueError, match=r"not a webdataset export.*--format webdataset"):
        shard_dataset(tmp_path, "train", transform=None)
    export_version(version.manifest, version.blobs, tmp_path / "folders", "imagefolder")
    with pytest.raises(ValueError, match="'imagefolder' export, not a webdataset one"):
        shard_dataset(tmp_path / "folders", "train", transform=None)
    with pytest.raises(ValueError, match=r"no 'trian' shards; its splits: train \(7 samples\)"):
        shard_dataset(out, "trian", transform=None)
    with pytest.raises(ValueError, match="shuffle_buffer"):
        shard_dataset(out, "train", transform=None, shuffle_buffer=-1)
    damaged = tmp_path / "damaged"
    shutil.copytree(out, damaged)
    (damaged / "val" / "val-000001.tar").unlink()
    with pytest.raises(FileNotFoundError, match=r"val-000001\.tar.*export it again"):
        shard_dataset(damaged, "val", transform=None)
