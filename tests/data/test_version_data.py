"""Version datasets, transforms and the resumable sampler."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DistributedSampler
from torchvision.transforms import v2

from synsetlab.challenge.answers import answer_key
from synsetlab.data import (
    DataError,
    DeviceNormalize,
    ResumableSampler,
    TransformConfig,
    VersionDataset,
    create_loader,
    create_transform,
    decode_image,
)
from synsetlab.data.dataset import HIDDEN
from synsetlab.data.transforms import RandomResizedCropFlip
from synsetlab.manifest import Manifest, ManifestBox
from tests.tiny_version import CLASSES, TinyVersion


def test_a_split_reads_images_and_labels_and_hides_test_labels(tiny: TinyVersion) -> None:
    transform = create_transform(TransformConfig(image_size=32), train=False)
    train = VersionDataset(tiny.manifest, "train", tiny.blobs, transform=transform)
    image, label = train[0]
    assert image.shape == (3, 32, 32) and image.dtype == torch.uint8
    assert label == CLASSES.index(train.entries[0].wnid)
    test = VersionDataset(tiny.manifest, "test", tiny.blobs)
    assert set(test.labels.tolist()) == {HIDDEN}
    revealed = VersionDataset(tiny.manifest, "test", tiny.blobs, reveal_hidden=True)
    assert set(revealed.labels.tolist()) == {0, 1, 2}
    with pytest.raises(DataError, match="no 'holdout' images; its splits: train"):
        VersionDataset(tiny.manifest, "holdout", tiny.blobs)


def test_copies_of_one_image_are_one_item_as_in_the_export_and_the_answer_key(
    tiny: TinyVersion,
) -> None:
    """Byte-identical files are one image to a participant (one ImageId) and to an export (one
    file): a split's top-1 error counts them once too, and training sees them as often as from
    the export's shards."""
    val, test = tiny.manifest.split("val"), tiny.manifest.split("test")
    box = ManifestBox(val[0].wnid, 1, 2, 30, 20)
    copies = [
        *(replace(e, image_id=1000 + e.image_id, source_key=f"copy/{e.image_id}") for e in val),
        replace(val[0], image_id=2000, boxes=(box,)),
        # Filed under another class: a conflict each reader keeps apart while it can see it.
        replace(val[1], image_id=2001, wnid=CLASSES[(CLASSES.index(val[1].wnid) + 1) % 3]),
        replace(test[1], image_id=2002),
        replace(test[0], image_id=2003, wnid=CLASSES[(CLASSES.index(test[0].wnid) + 1) % 3]),
    ]
    m = Manifest(tiny.manifest.classes, (*tiny.manifest.entries, *copies))
    assert len(m.split("val")) == 2 * len(val) + 2

    merged = VersionDataset(m, "val", tiny.blobs)
    assert len(merged) == len(val) + 1  # once each, and val[1] under its second class
    assert merged.class_counts().sum() == len(val) + 1
    (first,) = [e for e in merged.entries if e.sha256 == val[0].sha256]
    assert first.image_id == val[0].image_id and first.boxes == (box,)  # the copies' boxes

    # The hidden test split: one item per ImageId, as the answer key has one row per image.
    assert len(VersionDataset(m, "test", tiny.blobs)) == len(test)
    assert len(VersionDataset(m, "test", tiny.blobs, reveal_hidden=True)) == len(test) + 1
    scored = Manifest(tiny.manifest.classes, (*tiny.manifest.entries, *copies[:-1]))
    key = answer_key(scored, public_fraction=1, seed=0)  # refuses the conflict: left out
    revealed = VersionDataset(scored, "test", tiny.blobs, reveal_hidden=True)
    assert sorted(e.sha256 for e in revealed.entries) == list(key.image_ids)


def test_a_loader_gives_uint8_batches_normalised_on_the_device(tiny: TinyVersion) -> None:
    config = TransformConfig(image_size=24)
    dataset = VersionDataset(
        tiny.manifest, "val", tiny.blobs, transform=create_transform(config, train=True)
    )
    images, _ = next(iter(create_loader(dataset, batch_size=5)))
    assert images.shape == (5, 3, 24, 24) and images.dtype == torch.uint8
    x = DeviceNormalize(config.mean, config.std, channels_last=True)(images)
    assert x.dtype == torch.float32 and x.is_contiguous(memory_format=torch.channels_last)
    expected = (images[0, 0, 0, 0] / 255 - config.mean[0]) / config.std[0]
    assert float(x[0, 0, 0, 0]) == pytest.approx(float(expected), rel=1e-5)


def test_evaluation_is_resize_then_centre_crop() -> None:
    config = TransformConfig(image_size=224, crop_pct=0.875)
    assert config.eval_resize == 256
    img = Image.new("RGB", (512, 384))
    assert create_transform(config, train=False)(img).shape == (3, 224, 224)


def test_jpegs_decode_at_reduced_scale_but_never_below_the_asked_side() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (800, 600), (10, 200, 30)).save(buf, "JPEG")
    assert decode_image(buf.getvalue()).size == (800, 600)
    assert decode_image(buf.getvalue(), min_side=140).size == (200, 150)  # 1/4: 150 >= 140
    assert decode_image(buf.getvalue(), min_side=160).size == (400, 300)  # 1/2


def test_exif_orientation_is_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    buf = io.BytesIO()
    Image.new("RGB", (40, 20)).save(buf, "JPEG", exif=exif)
    assert decode_image(buf.getvalue()).size == (20, 40)


def test_same_seed_same_augmentation_whatever_the_worker(tiny: TinyVersion) -> None:
    transform = create_transform(
        TransformConfig(image_size=24, auto_augment="trivialaugment"), train=True
    )
    dataset = VersionDataset(tiny.manifest, "train", tiny.blobs, transform=transform)
    a, _ = dataset[(3, 1234)]
    torch.manual_seed(99)  # the caller's RNG state must not matter...
    b, _ = dataset[(3, 1234)]
    assert torch.equal(a, b)
    c, _ = dataset[(3, 1235)]
    assert not torch.equal(a, c)
    before = torch.get_rng_state()
    dataset[(3, 1234)]
    assert torch.equal(before, torch.get_rng_state())  # ...and is left as it was


def test_the_sampler_partitions_as_distributed_sampler_and_resumes_mid_epoch() -> None:
    size, replicas = 23, 3
    shares = []
    for rank in range(replicas):
        sampler = ResumableSampler(size, seed=5, num_replicas=replicas, rank=rank, shuffle=False)
        reference = DistributedSampler(range(size), replicas, rank, shuffle=False)
        assert [i for i, _ in sampler] == list(reference)
        shares.append(len(sampler))
    assert shares == [8, 8, 8]

    sampler = ResumableSampler(size, seed=5)
    sampler.set_epoch(2)
    whole = list(sampler)
    assert sorted(i for i, _ in whole) == list(range(size))
    sampler.set_position(10)
    assert list(sampler) == whole[10:] and len(sampler) == size - 10
    sampler.set_epoch(3)
    assert [i for i, _ in sampler] != [i for i, _ in whole]
    again = ResumableSampler(size, seed=5)
    again.set_epoch(2)
    assert list(again) == whole
    with pytest.raises(ValueError, match="outside the epoch"):
        sampler.set_position(size + 1)


def test_weighted_sampling_draws_in_proportion() -> None:
    weights = np.array([1.0] * 10 + [9.0] * 10)
    sampler = ResumableSampler(20, seed=0, weights=weights)
    drawn = []
    for epoch in range(200):
        sampler.set_epoch(epoch)
        drawn += [i for i, _ in sampler]
    heavy = np.mean(np.array(drawn) >= 10)
    assert heavy == pytest.approx(0.9, abs=0.02)


@pytest.mark.parametrize("hflip", [0.0, 0.5, 1.0])
def test_crop_and_flip_in_one_step_are_the_v2_transforms(hflip: float) -> None:
    """RandomResizedCropFlip draws and computes what v2.RandomResizedCrop and
    v2.RandomHorizontalFlip did as separate steps, from a PIL image or a tensor, and leaves
    the generator where they left it (the augmentations after it draw the same)."""
    picture = Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 64, 3), np.uint8))
    steps = [v2.PILToTensor(), v2.RandomResizedCrop(20, scale=(0.2, 0.9), antialias=True)]
    if hflip > 0:
        steps.append(v2.RandomHorizontalFlip(hflip))
    separate = v2.Compose(steps)
    fused = RandomResizedCropFlip(20, scale=(0.2, 0.9), hflip=hflip)
    for seed in range(30):
        torch.manual_seed(seed)
        want, state = separate(picture), torch.get_rng_state()
        for image in (picture, v2.functional.pil_to_tensor(picture)):
            torch.manual_seed(seed)
            got = fused(image)
            assert got.shape == (3, 20, 20) and got.dtype == torch.uint8
            assert torch.equal(got, want) and torch.equal(torch.get_rng_state(), state)
