"""The answer key of a challenge: the hidden labels and boxes of a frozen version's test split.

Each image has two sets of boxes: ``boxes``, those of the image's own class, which
localization scores, and ``objects``, every box of one of the version's classes with its
class, which detection scores (an image shows more than its label).

Images are identified as participants see them: by the sha256 of their bytes (the ``ImageId``
that ``synsetlab submission`` writes), sorted. Entries of a manifest that share a sha256 are
one image to a participant, so they collapse into one row of the key, as an export writes
them once (both group them with :func:`synsetlab.manifest.copies`).

The public/private partition
----------------------------
A leaderboard shows the public partition's scores while a challenge runs and ranks on the
private one at the end, so that tuning against the public board does not pay. The partition
is a pure function of ``(seed, public_fraction)`` and the images with their classes:

1. every image gets a rank, the sha256 of ``"{seed}:{image_id}"`` (ties broken by image id);
2. class ``c`` with ``n_c`` images gets ``floor(public_fraction * n_c)`` public images, and one
   more for the classes with the largest remainders ``public_fraction * n_c - floor(...)``
   (ties in the order of the sha256 of ``"{seed}:{wnid}"``) until the public partition holds
   :func:`public_count` images (``public_fraction * N`` rounded, halves up): every class
   keeps its share in both partitions to within one image, and the total is exact;
3. within each class, the images of lowest rank are public.

Whoever knows the seed can therefore recompute the partition from the published fraction
and the test images: ``challenge create`` draws a random 128-bit seed unless the organiser
gives one, and it is kept only in the answer key (:attr:`AnswerKey.seed`), never shown.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import pairwise
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from synsetlab.challenge.errors import ChallengeError
from synsetlab.manifest import Manifest, ManifestEntry, copies

__all__ = ["AnswerKey", "answer_key", "public_count"]

FORMAT = "synsetlab-answer-key-1"


@dataclass(frozen=True, eq=False)
class AnswerKey:
    """What a submission is scored against: one row per test image, in ``image_ids`` order.

    Arrays are made read-only; two keys are equal when all their fields are.
    """

    #: Sorted wnids: the class index order (the version's ``manifest.classes``).
    classes: tuple[str, ...]
    #: Sorted, unique image ids (the images' sha256): the ``ImageId`` participants use.
    image_ids: tuple[str, ...]
    #: ``(N,)`` int64 class index of each image.
    labels: np.ndarray
    #: Per image, ``(B_i, 4)`` float64 ``xmin, ymin, xmax, ymax`` in the stored image's pixels
    #: (ILSVRC's 1-based inclusive coordinates as given); ``(0, 4)`` when it has none.
    boxes: tuple[np.ndarray, ...]
    #: ``(N,)`` bool: in the public partition (the rest is private).
    public: np.ndarray
    #: Per image, ``(B_i, 5)`` float64 ``class_index, xmin, ymin, xmax, ymax``: every box of
    #: the image whose wnid is one of ``classes``, whatever the image's label (detection's
    #: ground truth); ``()``, the default, for none in any image.
    objects: tuple[np.ndarray, ...] = ()
    #: The seed the partition was drawn with (secret while the challenge runs); None in
    #: keys written before it was kept.
    seed: int | None = None

    def __post_init__(self) -> None:
        n = len(self.image_ids)
        object.__setattr__(self, "classes", tuple(self.classes))
        object.__setattr__(self, "image_ids", tuple(self.image_ids))
        labels = _frozen(np.array(self.labels, dtype=np.int64))
        public = _frozen(np.array(self.public, dtype=np.bool_))
        boxes = _frozen_boxes(self.boxes)
        objects = _frozen_boxes(self.objects or [np.empty((0, 5))] * n, width=5)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "public", public)
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "objects", objects)
        if self.seed is not None:  # a numpy integer would not encode as JSON
            object.__setattr__(self, "seed", int(self.seed))
        if n == 0:
            raise ValueError("an answer key needs at least one image")
        if labels.shape != (n,) or public.shape != (n,) or len(boxes) != n or len(objects) != n:
            raise ValueError(
                f"{n} image ids but labels {labels.shape}, public {public.shape}, "
                f"{len(boxes)} box arrays and {len(objects)} object arrays: each needs one "
                "entry per image"
            )
        _check_sorted_unique(self.classes, "classes")
        _check_sorted_unique(self.image_ids, "image_ids")
        if labels.min() < 0 or labels.max() >= len(self.classes):
            raise ValueError(f"labels must be class indices in [0, {len(self.classes)})")
        object_class = np.concatenate(objects)[:, 0]
        if ((object_class != np.round(object_class)) | (object_class < 0)).any() or (
            object_class >= len(self.classes)
        ).any():
            raise ValueError(f"objects must start with class indices in [0, {len(self.classes)})")
        if not public.any():
            raise ValueError("the public partition is empty: raise public_fraction")

    # Lookups ---------------------------------------------------------------------------------

    @property
    def n_images(self) -> int:
        return len(self.image_ids)

    @property
    def has_private(self) -> bool:
        """False when every image is public (``public_fraction`` 1: no private board)."""
        return not bool(self.public.all())

    @property
    def has_boxes(self) -> bool:
        """Whether every image has a ground-truth box (a localization challenge needs them)."""
        return all(len(b) for b in self.boxes)

    @property
    def has_objects(self) -> bool:
        """Whether some image has a ground-truth object (a detection challenge needs them)."""
        return any(len(o) for o in self.objects)

    @cached_property
    def index_of(self) -> dict[str, int]:
        """image id -> row."""
        return {image_id: i for i, image_id in enumerate(self.image_ids)}

    @cached_property
    def class_index(self) -> dict[str, int]:
        """wnid -> class index."""
        return {wnid: i for i, wnid in enumerate(self.classes)}

    # Encoding --------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """Canonical compact JSON: the same key always gives the same bytes.

        Column-wise: ``{"format", "classes", "image_ids", "labels", "public" (a string of
        0/1), "box_counts", "boxes" (all boxes' coordinates, flat, in image order),
        "object_counts", "objects" (likewise, five numbers per object), "seed"}``. Keys
        written before objects existed have no ``object_counts`` and read back without
        objects; keys written before the seed was kept have no ``seed``.
        Floats are written as ``repr`` writes them, so they read back exactly.
        """
        flat = np.concatenate(self.boxes).reshape(-1) if self.boxes else np.empty(0)
        objects = np.concatenate(self.objects).reshape(-1)
        record = {
            "format": FORMAT,
            "classes": list(self.classes),
            "image_ids": list(self.image_ids),
            "labels": self.labels.tolist(),
            "public": "".join("01"[p] for p in self.public.tolist()),
            "box_counts": [len(b) for b in self.boxes],
            "boxes": flat.tolist(),
            "object_counts": [len(o) for o in self.objects],
            "objects": objects.tolist(),
        }
        if self.seed is not None:
            record["seed"] = self.seed
        return json.dumps(record, separators=(",", ":"), allow_nan=False).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> AnswerKey:
        try:
            record = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"not an answer key: {e}") from e
        if not isinstance(record, dict) or record.get("format") != FORMAT:
            raise ValueError(f"not an answer key (format {FORMAT!r} expected)")
        boxes = _read_slices(record, "box_counts", "boxes", 4)
        objects = ()
        if "object_counts" in record:
            objects = _read_slices(record, "object_counts", "objects", 5)
        public = record["public"]
        if set(public) - {"0", "1"}:
            raise ValueError("answer key public flags must be a string of 0 and 1")
        return cls(
            classes=tuple(record["classes"]),
            image_ids=tuple(record["image_ids"]),
            labels=np.asarray(record["labels"], dtype=np.int64),
            boxes=boxes,
            public=np.frombuffer(public.encode("ascii"), dtype=np.uint8) == ord("1"),
            objects=objects,
            seed=record.get("seed"),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AnswerKey):
            return NotImplemented
        return (
            self.classes == other.classes
            and self.image_ids == other.image_ids
            and np.array_equal(self.labels, other.labels)
            and np.array_equal(self.public, other.public)
            and all(map(np.array_equal, self.boxes, other.boxes))
            and all(map(np.array_equal, self.objects, other.objects))
            and self.seed == other.seed
        )

    __hash__ = None  # type: ignore[assignment]  # holds arrays


def answer_key(
    manifest: Manifest, *, public_fraction: float, seed: int, split: str = "test"
) -> AnswerKey:
    """The answer key of one split of a frozen version.

    Args:
        manifest: the version's manifest; its hidden test labels are read here.
        public_fraction: share of the images on the public board, in ``(0, 1]``; 1 means
            no private board. The partition rule is in the module docstring.
        seed: the partition's seed (keep it secret while the challenge runs); kept in the
            key.
        split: the split participants predict.

    Raises:
        ChallengeError: the split is empty; one image (sha256) carries two classes; the
            fraction leaves a partition empty.
    """
    if isinstance(public_fraction, bool) or not 0.0 < public_fraction <= 1.0:
        raise ChallengeError(f"public_fraction must be in (0, 1], got {public_fraction!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ChallengeError(f"seed must be an integer, got {seed!r}")
    seed = int(seed)
    entries = manifest.split(split)
    if not entries:
        present = ", ".join(manifest.splits) or "none"
        raise ChallengeError(
            f"split {split!r} of this version has no images (splits: {present}): "
            "a challenge needs a split with the images participants predict"
        )
    index = manifest.class_index
    images = _collapse(entries, index)
    image_ids = tuple(sorted(images))
    wnid_of = {image_id: images[image_id][0] for image_id in image_ids}
    unknown = sorted(set(wnid_of.values()) - set(manifest.classes))
    if unknown:
        raise ChallengeError(f"test images of classes outside the version's classes: {unknown[:5]}")
    labels = np.array([index[wnid_of[i]] for i in image_ids], dtype=np.int64)
    public = _partition(image_ids, labels, manifest.classes, public_fraction, seed)
    return AnswerKey(
        classes=tuple(manifest.classes),
        image_ids=image_ids,
        labels=labels,
        boxes=tuple(images[i][1] for i in image_ids),
        public=public,
        objects=tuple(images[i][2] for i in image_ids),
        seed=seed,
    )


def _collapse(
    entries: Iterable[ManifestEntry], class_index: dict[str, int]
) -> dict[str, tuple[str, np.ndarray, np.ndarray]]:
    """sha256 -> (wnid, its boxes, its objects), one per distinct image: a group of
    :func:`~synsetlab.manifest.copies`."""
    entries = list(entries)
    groups = copies(entries)
    images: dict[str, tuple[str, np.ndarray, np.ndarray]] = {}
    for (sha, _), group in groups.items():
        wnid = group[0].wnid
        if sha in images:
            ids = [e.image_id for e in entries if e.sha256 == sha]
            raise ChallengeError(
                f"image {sha} is in the split twice with different classes ({images[sha][0]} "
                f"and {wnid}; image ids {', '.join(map(str, ids))}): one image can have one "
                "answer. Resolve the exact duplicates with `synsetlab findings exclude --kind "
                "exact-duplicate` and freeze a new version"
            )
        # A box counts when it outlines the image's class; a curator's relabelling renames
        # the object, so boxes drawn under the class the source gave still outline it.
        boxes = {
            (b.xmin, b.ymin, b.xmax, b.ymax)
            for e in group
            for b in e.boxes
            if b.wnid in (e.wnid, e.relabelled_from)
        }
        # Detection takes every box of a challenge class, under the class it was drawn as.
        objects = {
            (class_index[b.wnid], b.xmin, b.ymin, b.xmax, b.ymax)
            for e in group
            for b in e.boxes
            if b.wnid in class_index
        }
        images[sha] = (
            wnid,
            np.array(sorted(boxes), dtype=np.float64).reshape(-1, 4),
            np.array(sorted(objects), dtype=np.float64).reshape(-1, 5),
        )
    return images


def public_count(n_images: int, public_fraction: float) -> int:
    """How many of ``n_images`` test images score the public board: ``public_fraction *
    n_images`` rounded with halves up (Python's ``round`` takes halves to even)."""
    return math.floor(public_fraction * n_images + 0.5)


def _rank(seed: int, name: str) -> bytes:
    return hashlib.sha256(f"{seed}:{name}".encode()).digest()


def _partition(
    image_ids: tuple[str, ...],
    labels: np.ndarray,
    classes: tuple[str, ...],
    public_fraction: float,
    seed: int,
) -> np.ndarray:
    """``(N,)`` bool public flags by the rule of the module docstring."""
    n = len(image_ids)
    sizes = np.bincount(labels, minlength=len(classes))
    quota = public_fraction * sizes
    take = np.floor(quota).astype(np.int64)
    target = public_count(n, public_fraction)
    extra = target - int(take.sum())
    if extra > 0:
        present = np.flatnonzero(sizes)
        order = sorted(present, key=lambda c: (-(quota[c] - take[c]), _rank(seed, classes[c])))
        take[order[:extra]] += 1
    if target == 0:
        raise ChallengeError(
            f"public_fraction {public_fraction} of {n} images leaves the public board empty: "
            "raise it"
        )
    if target == n and public_fraction < 1:
        raise ChallengeError(
            f"public_fraction {public_fraction} of {n} images leaves the private board empty: "
            "lower it, or pass 1 for a challenge without a private board"
        )
    public = np.zeros(n, dtype=np.bool_)
    by_class: dict[int, list[int]] = {}
    for row in sorted(range(n), key=lambda i: (_rank(seed, image_ids[i]), image_ids[i])):
        by_class.setdefault(int(labels[row]), []).append(row)
    for c, rows in by_class.items():
        public[rows[: take[c]]] = True
    return public


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def _frozen_boxes(boxes: Sequence[ArrayLike], *, width: int = 4) -> tuple[np.ndarray, ...]:
    """Read-only ``(B_i, width)`` float64 views into one copy of every image's boxes."""
    arrays = [b if isinstance(b, np.ndarray) and b.ndim == 2 else np.asarray(b) for b in boxes]
    if not all(a.ndim == 2 and a.shape[1] == width for a in arrays):
        arrays = [a.reshape(-1, width) for a in arrays]  # e.g. one box as a (4,) array, or []
    flat = np.concatenate(arrays, axis=0, dtype=np.float64) if arrays else np.empty((0, width))
    counts = np.fromiter(map(len, arrays), dtype=np.int64, count=len(arrays))
    return _slices(_frozen(flat), counts)


def _read_slices(
    record: dict[str, Any], counts_key: str, values_key: str, width: int
) -> tuple[np.ndarray, ...]:
    counts = np.asarray(record[counts_key], dtype=np.int64)
    flat = np.asarray(record[values_key], dtype=np.float64).reshape(-1, width)
    if counts.sum() != len(flat) or (counts < 0).any():
        raise ValueError(f"answer key {counts_key} do not match its {values_key}")
    return _slices(flat, counts)


def _slices(flat: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, ...]:
    ends = np.cumsum(counts).tolist()
    return tuple(flat[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True))


def _check_sorted_unique(values: tuple[str, ...], name: str) -> None:
    for a, b in pairwise(values):
        if not a < b:
            raise ValueError(f"{name} must be sorted and unique: {a!r} comes before {b!r}")
