"""Answer keys built from small manifests: partition, duplicates, encoding."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest

from synsetlab.challenge import AnswerKey, answer_key
from synsetlab.manifest import Manifest, ManifestBox, ManifestEntry

CLASSES = ("n01440764", "n01443537", "n01484850")


def sha(i: int) -> str:
    return hashlib.sha256(f"image {i}".encode()).hexdigest()


def entry(
    image_id: int,
    wnid: str,
    *,
    digest: str | None = None,
    split: str = "test",
    boxes: tuple[ManifestBox, ...] = (),
    relabelled_from: str | None = None,
) -> ManifestEntry:
    return ManifestEntry(
        image_id=image_id,
        sha256=digest or sha(image_id),
        wnid=wnid,
        split=split,
        hidden=split == "test",
        source="imagefolder",
        source_key=f"{wnid}/{image_id}.jpg",
        format="JPEG",
        width=64,
        height=48,
        boxes=boxes,
        relabelled_from=relabelled_from,
    )


def manifest(per_class: tuple[int, ...] = (40, 25, 7), *, extra: list[ManifestEntry] | None = None):
    entries = [
        entry(1000 * c + i, wnid)
        for c, (wnid, n) in enumerate(zip(CLASSES, per_class, strict=True))
        for i in range(n)
    ]
    entries.append(entry(99_999, CLASSES[0], split="train"))
    return Manifest(classes=CLASSES, entries=tuple(entries + (extra or [])))


def box(wnid: str, x0: float, y0: float, x1: float, y1: float) -> ManifestBox:
    return ManifestBox(wnid, x0, y0, x1, y1)


# Rows --------------------------------------------------------------------------------------------


def test_key_rows_are_the_sorted_sha256_of_the_test_split() -> None:
    m = manifest()
    key = answer_key(m, public_fraction=0.5, seed=0)
    test = m.split("test")
    assert key.image_ids == tuple(sorted(e.sha256 for e in test))
    assert key.classes == CLASSES
    assert key.n_images == 72
    wnid_of = {e.sha256: e.wnid for e in test}
    assert [CLASSES[c] for c in key.labels] == [wnid_of[i] for i in key.image_ids]
    assert key.index_of[key.image_ids[5]] == 5
    assert key.class_index == {w: i for i, w in enumerate(CLASSES)}
    assert all(b.shape == (0, 4) for b in key.boxes)
    assert not key.has_boxes


def test_other_splits_can_be_keyed() -> None:
    key = answer_key(manifest(), public_fraction=1, seed=0, split="train")
    assert key.n_images == 1 and not key.has_private


def test_an_empty_split_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match=r"split 'val' of this version has no images"):
        answer_key(manifest(), public_fraction=0.5, seed=0, split="val")


# Partition ---------------------------------------------------------------------------------------


def test_partition_is_deterministic_in_the_seed() -> None:
    m = manifest()
    a = answer_key(m, public_fraction=0.5, seed=7)
    b = answer_key(m, public_fraction=0.5, seed=7)
    np.testing.assert_array_equal(a.public, b.public)
    assert a.to_bytes() == b.to_bytes()
    c = answer_key(m, public_fraction=0.5, seed=8)
    assert not np.array_equal(a.public, c.public)


def test_partition_does_not_depend_on_entry_order_or_other_splits() -> None:
    m = manifest()
    shuffled = Manifest(classes=CLASSES, entries=tuple(reversed(m.entries)))
    more_train = Manifest(
        classes=CLASSES, entries=(*m.entries, entry(77_777, CLASSES[1], split="train"))
    )
    base = answer_key(m, public_fraction=0.3, seed=1)
    assert answer_key(shuffled, public_fraction=0.3, seed=1) == base
    assert answer_key(more_train, public_fraction=0.3, seed=1) == base


@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5, 0.7, 0.95])
def test_partition_is_stratified_and_exact_in_total(fraction: float) -> None:
    sizes = (40, 25, 7)
    key = answer_key(manifest(sizes), public_fraction=fraction, seed=3)
    for c, n in enumerate(sizes):
        public = int(key.public[key.labels == c].sum())
        assert public in (math.floor(fraction * n), math.ceil(fraction * n))
    assert int(key.public.sum()) == math.floor(fraction * sum(sizes) + 0.5)
    assert key.has_private


def test_partition_follows_the_documented_rank() -> None:
    key = answer_key(manifest((30, 30, 30)), public_fraction=0.5, seed=11)
    for c in range(3):
        rows = np.flatnonzero(key.labels == c)
        ranked = sorted(
            rows, key=lambda r: hashlib.sha256(f"11:{key.image_ids[r]}".encode()).digest()
        )
        assert set(np.flatnonzero(key.public)) & set(rows) == set(ranked[:15])


def test_fraction_one_means_no_private_board() -> None:
    key = answer_key(manifest(), public_fraction=1.0, seed=0)
    assert key.public.all() and not key.has_private


@pytest.mark.parametrize(
    ("fraction", "message"),
    [
        (0.0, r"public_fraction must be in \(0, 1\]"),
        (1.5, r"public_fraction must be in \(0, 1\]"),
        (float("nan"), "public_fraction must be"),
        (0.001, "leaves the public board empty"),
        (0.999, "leaves the private board empty"),
    ],
)
def test_bad_fractions_are_refused(fraction: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        answer_key(manifest(), public_fraction=fraction, seed=0)


def test_seed_must_be_an_integer() -> None:
    with pytest.raises(ValueError, match="seed must be an integer"):
        answer_key(manifest(), public_fraction=0.5, seed="1")  # type: ignore[arg-type]


# Duplicates and boxes ----------------------------------------------------------------------------


def test_exact_duplicates_of_one_class_collapse_with_their_boxes_merged() -> None:
    digest = sha(5)
    same, other = box(CLASSES[0], 1, 2, 30, 40), box(CLASSES[0], 5, 5, 9, 9)
    extra = [
        entry(5, CLASSES[0], digest=digest, boxes=(same,)),
        entry(6, CLASSES[0], digest=digest, boxes=(same, other)),
    ]
    m = Manifest(classes=CLASSES, entries=(*extra, entry(7, CLASSES[1])))
    key = answer_key(m, public_fraction=1, seed=0)
    assert key.n_images == 2
    row = key.index_of[digest]
    assert key.labels[row] == 0
    np.testing.assert_array_equal(key.boxes[row], [[1, 2, 30, 40], [5, 5, 9, 9]])


def test_one_image_with_two_classes_is_an_error_saying_what_to_do() -> None:
    digest = sha(5)
    m = Manifest(
        classes=CLASSES,
        entries=(entry(5, CLASSES[0], digest=digest), entry(6, CLASSES[2], digest=digest)),
    )
    with pytest.raises(ValueError, match=digest) as info:
        answer_key(m, public_fraction=1, seed=0)
    message = str(info.value)
    assert "n01440764 and n01484850" in message
    assert "image ids 5, 6" in message
    assert "synsetlab findings exclude --kind exact-duplicate" in message
    assert "freeze a new version" in message


def test_boxes_of_the_image_class_count_and_a_relabelled_image_keeps_its_boxes() -> None:
    m = Manifest(
        classes=CLASSES,
        entries=(
            entry(1, CLASSES[0], boxes=(box(CLASSES[0], 0, 0, 9, 9), box(CLASSES[2], 1, 1, 5, 5))),
            entry(2, CLASSES[1], boxes=(box(CLASSES[0], 2, 2, 8, 8),), relabelled_from=CLASSES[0]),
        ),
    )
    key = answer_key(m, public_fraction=1, seed=0)
    np.testing.assert_array_equal(key.boxes[key.index_of[sha(1)]], [[0, 0, 9, 9]])
    np.testing.assert_array_equal(key.boxes[key.index_of[sha(2)]], [[2, 2, 8, 8]])
    assert key.has_boxes


# Encoding ----------------------------------------------------------------------------------------


def _keyed_with_boxes() -> AnswerKey:
    rng = np.random.default_rng(0)
    entries = []
    for i in range(30):
        boxes = tuple(
            box(CLASSES[i % 3], *(float(v) for v in rng.uniform(0, 100, 2)), 100.5, 123.25)
            for _ in range(i % 4)
        )
        entries.append(entry(i, CLASSES[i % 3], boxes=boxes))
    return answer_key(
        Manifest(classes=CLASSES, entries=tuple(entries)), public_fraction=0.4, seed=5
    )


def test_to_bytes_round_trips_exactly_and_is_canonical() -> None:
    key = _keyed_with_boxes()
    data = key.to_bytes()
    back = AnswerKey.from_bytes(data)
    assert back == key
    assert back.to_bytes() == data
    for a, b in zip(key.boxes, back.boxes, strict=True):
        assert a.tobytes() == b.tobytes()  # exact floats, not just close
    assert back.labels.dtype == np.int64 and back.public.dtype == np.bool_
    assert key != answer_key(manifest(), public_fraction=0.5, seed=0)


def test_keys_are_read_only() -> None:
    key = _keyed_with_boxes()
    with pytest.raises(ValueError, match="read-only"):
        key.labels[0] = 2
    with pytest.raises(ValueError, match="read-only"):
        key.boxes[1][0, 0] = 0.0
    labels = key.labels.copy()
    built = AnswerKey(key.classes, key.image_ids, labels, key.boxes, key.public)
    labels[0] = 2  # the caller's array stays theirs
    assert built.labels[0] == key.labels[0]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff", "not an answer key"),
        (b"[]", "not an answer key"),
        (b'{"format": "other"}', "not an answer key"),
    ],
)
def test_from_bytes_refuses_other_data(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AnswerKey.from_bytes(data)


def test_direct_construction_is_checked() -> None:
    ids = (sha(1), sha(2))
    ordered = tuple(sorted(ids))
    none = (np.empty((0, 4)), np.empty((0, 4)))
    with pytest.raises(ValueError, match="image_ids must be sorted and unique"):
        AnswerKey(CLASSES, ordered[::-1], np.array([0, 1]), none, np.array([True, True]))
    with pytest.raises(ValueError, match=r"labels must be class indices in \[0, 3\)"):
        AnswerKey(CLASSES, ordered, np.array([0, 3]), none, np.array([True, True]))
    with pytest.raises(ValueError, match="one entry per image"):
        AnswerKey(CLASSES, ordered, np.array([0]), none, np.array([True, True]))
    with pytest.raises(ValueError, match="public partition is empty"):
        AnswerKey(CLASSES, ordered, np.array([0, 1]), none, np.array([False, False]))


# Detection's objects -----------------------------------------------------------------------------


def test_objects_are_every_box_of_a_challenge_class_with_its_class() -> None:
    digest = sha(5)
    m = Manifest(
        classes=CLASSES,
        entries=(
            entry(
                1,
                CLASSES[0],
                boxes=(
                    box(CLASSES[2], 1, 1, 5, 5),
                    box(CLASSES[0], 0, 0, 9, 9),
                    box("n09999999", 2, 2, 3, 3),  # not a challenge class: not an object
                ),
            ),
            entry(2, CLASSES[1], boxes=(box(CLASSES[0], 2, 2, 8, 8),), relabelled_from=CLASSES[0]),
            entry(5, CLASSES[1], digest=digest, boxes=(box(CLASSES[1], 1, 2, 3, 4),)),
            entry(6, CLASSES[1], digest=digest, boxes=(box(CLASSES[1], 1, 2, 3, 4),)),
            entry(7, CLASSES[2]),
        ),
    )
    key = answer_key(m, public_fraction=1, seed=0)
    np.testing.assert_array_equal(
        key.objects[key.index_of[sha(1)]], [[0, 0, 0, 9, 9], [2, 1, 1, 5, 5]]
    )
    np.testing.assert_array_equal(key.boxes[key.index_of[sha(1)]], [[0, 0, 9, 9]])  # unchanged
    np.testing.assert_array_equal(key.objects[key.index_of[sha(2)]], [[0, 2, 2, 8, 8]])
    np.testing.assert_array_equal(key.objects[key.index_of[digest]], [[1, 1, 2, 3, 4]])
    assert key.objects[key.index_of[sha(7)]].shape == (0, 5)
    assert key.has_objects and not key.has_boxes
    assert key.objects[0].dtype == np.float64
    with pytest.raises(ValueError, match="read-only"):
        key.objects[key.index_of[sha(1)]][0, 0] = 1.0
    assert not answer_key(manifest(), public_fraction=0.5, seed=0).has_objects


def test_objects_round_trip_and_old_keys_read_without_them() -> None:
    rng = np.random.default_rng(1)
    entries = [
        entry(i, CLASSES[i % 3], boxes=tuple(
            box(CLASSES[int(c)], *(float(v) for v in rng.uniform(0, 50, 2)), 60.5, 70.25)
            for c in rng.integers(0, 3, i % 3)
        ))
        for i in range(20)
    ]  # fmt: skip
    key = answer_key(Manifest(classes=CLASSES, entries=tuple(entries)), public_fraction=1, seed=0)
    assert key.has_objects
    data = key.to_bytes()
    back = AnswerKey.from_bytes(data)
    assert back == key and back.to_bytes() == data
    for a, b in zip(key.objects, back.objects, strict=True):
        assert a.tobytes() == b.tobytes()
    without = AnswerKey(key.classes, key.image_ids, key.labels, key.boxes, key.public)
    assert without != key
    record = json.loads(data)
    assert record["seed"] == 0 and back.seed == 0
    # a key written before objects and seeds were kept
    del record["object_counts"], record["objects"], record["seed"]
    old = AnswerKey.from_bytes(json.dumps(record).encode())
    assert old == without and old.seed is None
    assert all(o.shape == (0, 5) for o in old.objects) and not old.has_objects


def test_objects_are_checked() -> None:
    ids = tuple(sorted((sha(1), sha(2))))
    none = (np.empty((0, 4)), np.empty((0, 4)))
    public = np.array([True, True])
    with pytest.raises(ValueError, match=r"2 image ids but .* 1 object arrays"):
        AnswerKey(CLASSES, ids, np.array([0, 1]), none, public, objects=(np.empty((0, 5)),))
    bad = (np.array([[3, 1, 1, 2, 2]]), np.empty((0, 5)))
    with pytest.raises(ValueError, match=r"objects must start with class indices in \[0, 3\)"):
        AnswerKey(CLASSES, ids, np.array([0, 1]), none, public, objects=bad)
