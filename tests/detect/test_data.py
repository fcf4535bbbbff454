"""The detection dataset: ILSVRC's inclusive pixels to torchvision's edges and back, flips
that move boxes with the picture, the fraction of boxed images, and splits without boxes."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from synsetlab.detect import DetectionDataset, DetectorError, to_edges, to_pixels
from synsetlab.detect.data import entry_targets, training_entries
from synsetlab.manifest import Manifest
from tests.detect.conftest import ScenesVersion


def test_box_conversion_round_trips_and_adds_one_pixel() -> None:
    pixels = np.array([[0, 0, 0, 0], [3.0, 4.0, 40.0, 30.0]])
    edges = to_edges(pixels)
    assert edges.tolist() == [[0, 0, 1, 1], [3, 4, 41, 31]]  # one pixel is one unit wide
    np.testing.assert_array_equal(to_pixels(edges), pixels)
    tensor = torch.tensor(pixels, dtype=torch.float32)
    assert torch.equal(to_pixels(to_edges(tensor)), tensor)
    assert pixels[1, 2] == 40.0  # the input is not changed in place


def test_items_hold_every_box_as_edges_and_labels_from_one(det_scenes: ScenesVersion) -> None:
    dataset = DetectionDataset(det_scenes.manifest, "train", det_scenes.blobs)
    classes = det_scenes.manifest.classes
    for index in range(len(dataset)):
        image, target = dataset[index]
        entry = dataset.entries[index]
        assert image.dtype == torch.uint8 and image.shape == (3, entry.height, entry.width)
        want = [[b.xmin, b.ymin, b.xmax + 1, b.ymax + 1] for b in entry.boxes]
        assert target["boxes"].tolist() == want
        assert target["labels"].tolist() == [classes.index(b.wnid) + 1 for b in entry.boxes]


def test_a_flip_mirrors_the_boxes_with_the_picture(det_scenes: ScenesVersion) -> None:
    plain = DetectionDataset(det_scenes.manifest, "train", det_scenes.blobs)
    flipping = DetectionDataset(det_scenes.manifest, "train", det_scenes.blobs, hflip=1.0)
    image, target = plain[(0, 5)]
    flipped, moved = flipping[(0, 5)]
    width = image.shape[-1]
    assert torch.equal(flipped, image.flip(-1))
    x1, y1, x2, y2 = target["boxes"].unbind(1)
    assert torch.equal(moved["boxes"], torch.stack([width - x2, y1, width - x1, y2], 1))
    assert torch.equal(moved["labels"], target["labels"])
    # the draw depends on the item's seed alone
    half = DetectionDataset(det_scenes.manifest, "train", det_scenes.blobs, hflip=0.5)
    draws = {seed: torch.equal(half[(0, seed)][0], image) for seed in range(12)}
    assert set(draws.values()) == {True, False}
    assert draws == {seed: torch.equal(half[(0, seed)][0], image) for seed in range(12)}


def test_images_are_read_as_stored_without_their_exif_turn(det_scenes: ScenesVersion) -> None:
    """Boxes are in stored pixels: a JPEG whose EXIF says "turn a quarter" (orientation 6)
    is read unturned, at its stored width and height, its boxes unmoved."""
    manifest, blobs = det_scenes.manifest, det_scenes.blobs
    entry = manifest.split("train")[0]
    with Image.open(io.BytesIO(blobs.get(entry.sha256))) as img:
        exif = img.getexif()
        exif[0x0112] = 6  # Orientation
        data = io.BytesIO()
        img.save(data, "JPEG", quality=95, exif=exif.tobytes())
    turned = replace(entry, sha256=blobs.put(data.getvalue()), exif_orientation=6)
    image, target = DetectionDataset(Manifest(manifest.classes, (turned,)), "train", blobs)[0]
    assert entry.width != entry.height and image.shape[-2:] == (entry.height, entry.width)
    assert torch.equal(target["boxes"], entry_targets(entry, manifest.class_index)["boxes"])


def test_box_fraction_keeps_a_seeded_share_of_the_boxed_images(det_scenes: ScenesVersion) -> None:
    manifest = det_scenes.manifest
    everything = manifest.split("train")
    quarter = training_entries(manifest, "train", box_fraction=0.25, seed=0)
    assert len(quarter) == round(0.25 * len(everything))
    assert quarter == training_entries(manifest, "train", box_fraction=0.25, seed=0)
    assert quarter != training_entries(manifest, "train", box_fraction=0.25, seed=1)
    assert [e for e in everything if e in quarter] == quarter  # manifest order
    assert training_entries(manifest, "train", box_fraction=1.0, seed=0) == everything


def test_a_split_without_boxes_is_refused_saying_how_to_get_them(
    det_scenes: ScenesVersion,
) -> None:
    manifest = det_scenes.manifest
    bare = Manifest(manifest.classes, tuple(replace(e, boxes=()) for e in manifest.entries))
    with pytest.raises(DetectorError, match=r"no boxes.*annotate create.*ingest kaggle-loc"):
        training_entries(bare, "train", box_fraction=1.0, seed=0)


def test_hidden_and_missing_splits_are_refused(det_scenes: ScenesVersion) -> None:
    with pytest.raises(DetectorError, match="hidden labels"):
        DetectionDataset(det_scenes.manifest, "test", det_scenes.blobs)
    assert len(DetectionDataset(det_scenes.manifest, "test", det_scenes.blobs, targets=False))
    with pytest.raises(DetectorError, match="no 'holdout' images; its splits: train"):
        DetectionDataset(det_scenes.manifest, "holdout", det_scenes.blobs)
