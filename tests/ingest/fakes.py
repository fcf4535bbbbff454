"""Tiny fake datasets on disk, in the exact layouts of the real downloads.

Each ``make_fake_*`` builder writes a few real images (JPEG or raw arrays) into a folder and
returns what a reader should list, so reader tests and pipeline tests share one source of
truth. Nothing here is downloaded; the layouts follow the real files (see each reader's
module docstring).
"""

from __future__ import annotations

import csv
import gzip
import io
import pickle
import struct
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import scipy.io
from PIL import Image

from synsetlab.ingest.records import Box, SkipFn, SourceItem, SourceSpec, never_skip
from synsetlab.taxonomy import Taxonomy, ilsvrc2012_id_to_wnid
from tests.images import jpeg


@dataclass(frozen=True)
class Expected:
    """What a reader should list for one key."""

    label: str | None
    split: str | None
    boxes: tuple[Box, ...] = ()
    #: (width, height) of the image; ``None`` for an item with an error.
    size: tuple[int, int] | None = None
    #: The item must carry an ``error`` (an unreadable archive member).
    error: bool = False
    #: The source's own integer label (CIFAR), before mapping to a wnid.
    class_index: int | None = None


#: Four real ILSVRC-2012 classes whose ILSVRC2012_IDs (1, 490, 449, 386) are not in their
#: sorted-wnid order, so a val label mapped by position instead of by ID comes out wrong.
DEFAULT_WNIDS = ("n02119789", "n01751748", "n01440764", "n01530575")


def ilsvrc_class(wnid: str) -> tuple[int, str, str]:
    """``(ILSVRC2012_ID, words, gloss)`` of a real ILSVRC-2012 class, as meta.mat has them."""
    class_id = {w: i for i, w in ilsvrc2012_id_to_wnid().items()}[wnid]
    synset = Taxonomy.wordnet().get(wnid)
    return class_id, ", ".join(synset.lemmas), synset.gloss


#: Inner synsets of the devkit hierarchy (IDs above 1000, num_children > 0), as in meta.mat.
ILSVRC_INNER: tuple[tuple[int, str, str], ...] = (
    (1001, "n00001740", "entity"),
    (1002, "n00015388", "animal, animate being, beast, brute, creature, fauna"),
)


def voc_xml(filename: str, folder: str, size: tuple[int, int], boxes: Sequence[Box]) -> bytes:
    """A PASCAL-VOC annotation as ImageNet writes it."""
    objects = "".join(
        f"\t<object>\n\t\t<name>{b.wnid}</name>\n\t\t<pose>Unspecified</pose>\n"
        f"\t\t<truncated>0</truncated>\n\t\t<difficult>0</difficult>\n\t\t<bndbox>\n"
        f"\t\t\t<xmin>{b.xmin:g}</xmin>\n\t\t\t<ymin>{b.ymin:g}</ymin>\n"
        f"\t\t\t<xmax>{b.xmax:g}</xmax>\n\t\t\t<ymax>{b.ymax:g}</ymax>\n\t\t</bndbox>\n\t</object>\n"
        for b in boxes
    )
    return (
        f"<annotation>\n\t<folder>{folder}</folder>\n\t<filename>{filename}</filename>\n"
        f"\t<source>\n\t\t<database>ILSVRC_2012</database>\n\t</source>\n"
        f"\t<size>\n\t\t<width>{size[0]}</width>\n\t\t<height>{size[1]}</height>\n"
        f"\t\t<depth>3</depth>\n\t</size>\n\t<segmented>0</segmented>\n{objects}</annotation>\n"
    ).encode()


def write_tar(path: Path | io.BytesIO, members: Sequence[tuple[str, bytes | None]]) -> None:
    """A tar of ``(name, bytes)``, gzip'd for a .gz/.tgz name; ``None`` bytes make a folder."""
    if isinstance(path, io.BytesIO):
        where: dict[str, object] = {"fileobj": path, "mode": "w"}
    else:
        where = {"name": path, "mode": "w:gz" if path.name.endswith((".gz", ".tgz")) else "w"}
    with tarfile.open(**where) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.mtime = 1_330_000_000  # stable bytes across runs
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))


def tar_bytes(members: Sequence[tuple[str, bytes | None]]) -> bytes:
    out = io.BytesIO()
    write_tar(out, members)
    return out.getvalue()


def _box(wnid: str, size: tuple[int, int], k: int) -> Box:
    return Box(wnid, 1 + k, 2 + k, size[0] - k, size[1] - 1 - k)


def list_items(spec: SourceSpec, skip: SkipFn = never_skip) -> dict[str, SourceItem]:
    """A source's items by key; keys must be unique."""
    items = list(spec.items(skip))
    by_key = {item.key: item for item in items}
    assert len(by_key) == len(items), "duplicate keys"
    return by_key


def check_items(items: dict[str, SourceItem], expected: dict[str, Expected]) -> None:
    """Assert the listed items are exactly the expected ones, and every image decodes."""
    assert sorted(items) == sorted(expected)
    for key, want in expected.items():
        item = items[key]
        if want.error:
            assert item.error and item.data is None and item.path is None, key
            continue
        assert item.error is None, (key, item.error)
        assert (item.label, item.split, item.boxes) == (want.label, want.split, want.boxes), key
        assert (item.data is None) != (item.path is None), key
        data = item.data if item.data is not None else Path(item.path or "").read_bytes()
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            assert image.size == want.size, key


# -- ILSVRC-2012 --------------------------------------------------------------------------------


def make_fake_ilsvrc2012(
    root: Path,
    wnids: Sequence[str] = DEFAULT_WNIDS,
    train_per_class: int = 3,
    val: int = 6,
    *,
    with_boxes: bool = True,
    corrupt_member: bool = False,
    devkit: Literal["archive", "folder", "none"] = "archive",
    test: int = 0,
) -> dict[str, Expected]:
    """Write a fake ILSVRC-2012 download into ``root``; return the expected items by key.

    ``wnids`` are real ILSVRC-2012 classes (meta.mat gets their real IDs). Val image
    ``i`` gets class ``wnids[i % len(wnids)]``; the val tar lists its images out of order, as
    the real one does. With ``with_boxes``, the first train image of each class and every val
    image get boxes (one image has two). With ``corrupt_member``, the last class's inner tar
    is not a tar, and the first class's inner tar is cut inside its last image: that image
    and the cut rest are error items. ``test`` > 0 writes that many unlabelled test images.
    """
    root.mkdir(parents=True, exist_ok=True)
    expected: dict[str, Expected] = {}
    box_files: dict[str, list[tuple[str, bytes | None]]] = {"train": [], "val": [("val", None)]}

    inner_tars: list[tuple[str, bytes | None]] = []
    for c, wnid in enumerate(wnids):
        members, prefix = [], f"ILSVRC2012_img_train.tar/{wnid}.tar"
        for i in range(train_per_class):
            stem, size = f"{wnid}_{10_000 + 37 * i}", (24 + 4 * c, 18 + 2 * i)
            members.append((f"{stem}.JPEG", jpeg(size, seed=100 * c + i)))
            boxes: tuple[Box, ...] = ()
            if with_boxes and i == 0:
                boxes = (_box(wnid, size, 0),) + ((_box(wnid, size, 3),) if c == 0 else ())
                box_files["train"].append((f"{wnid}/{stem}.xml", voc_xml(stem, wnid, size, boxes)))
            expected[f"{prefix}/{stem}.JPEG"] = Expected(wnid, "train", boxes, size)
        data = tar_bytes(members)
        if corrupt_member and c == len(wnids) - 1:
            data = b"this is not a tar archive\n" * 64
            for key in [k for k in expected if k.startswith(prefix + "/")]:
                del expected[key]
            expected[prefix] = Expected(None, None, error=True)
        elif corrupt_member and c == 0:
            data, tail = _cut_inside_last_member(data)
            last = f"{prefix}/{members[-1][0]}"
            expected[last] = Expected(None, None, error=True)
            expected[f"{prefix}@{tail}"] = Expected(None, None, error=True)
        inner_tars.append((f"{wnid}.tar", data))
    write_tar(root / "ILSVRC2012_img_train.tar", inner_tars)

    val_members, truth = [], []
    for i in range(1, val + 1):
        wnid, size = wnids[(i - 1) % len(wnids)], (30 + i, 20 + 2 * i)
        name = f"ILSVRC2012_val_{i:08d}.JPEG"
        truth.append(ilsvrc_class(wnid)[0])
        val_members.append((name, jpeg(size, seed=10_000 + i)))
        boxes = (_box(wnid, size, 0),) if with_boxes else ()
        if with_boxes:
            box_files["val"].append(
                (f"val/{name[:-5]}.xml", voc_xml(name[:-5], "val", size, boxes))
            )
        expected[f"ILSVRC2012_img_val.tar/{name}"] = Expected(wnid, "val", boxes, size)
    # The real val tar is not in image-number order.
    write_tar(root / "ILSVRC2012_img_val.tar", val_members[1::2] + val_members[::2])

    if test:
        test_members = []
        for i in range(1, test + 1):
            name, size = f"ILSVRC2012_test_{i:08d}.JPEG", (22, 20 + i)
            test_members.append((name, jpeg(size, seed=20_000 + i)))
            expected[f"ILSVRC2012_img_test_v10102019.tar/{name}"] = Expected(None, "test", (), size)
        write_tar(root / "ILSVRC2012_img_test_v10102019.tar", test_members)

    if devkit != "none":
        write_ilsvrc_devkit(root, wnids, truth, train_per_class, as_folder=devkit == "folder")
    if with_boxes:
        write_tar(root / "ILSVRC2012_bbox_train_v2.tar.gz", box_files["train"])
        write_tar(root / "ILSVRC2012_bbox_val_v3.tgz", box_files["val"])
    return expected


def _cut_inside_last_member(data: bytes) -> tuple[bytes, int]:
    """Cut a tar inside its last member's data; also return where the next header would be."""
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        last = tar.getmembers()[-1]
    padded = -(-last.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
    return data[: last.offset_data + last.size // 2], last.offset_data + padded


def meta_mat_bytes(wnids: Sequence[str], num_train_images: int) -> bytes:
    """meta.mat as in the devkit: a struct array ``synsets`` (N x 1), leaves first, by ID."""
    fields = (
        "ILSVRC2012_ID",
        "WNID",
        "words",
        "gloss",
        "num_children",
        "children",
        "wordnet_height",
        "num_train_images",
    )
    leaves = sorted((*ilsvrc_class(w), w) for w in wnids)
    rows = []
    for class_id, words, gloss, wnid in leaves:
        rows.append((class_id, wnid, words, gloss, 0, [], 0, num_train_images))
    (root_id, root_wnid, root_words), (mid_id, mid_wnid, mid_words) = ILSVRC_INNER
    rows.append((root_id, root_wnid, root_words, "that which exists", 1, [mid_id], 2, 0))
    leaf_ids = [row[0] for row in rows[: len(leaves)]]
    rows.append((mid_id, mid_wnid, mid_words, "a living organism", len(leaf_ids), leaf_ids, 1, 0))

    synsets = np.zeros((len(rows), 1), dtype=[(f, object) for f in fields])
    for r, (class_id, wnid, words, gloss, n_children, children, height, n_train) in enumerate(rows):
        # MATLAB stores numbers as 1x1 doubles and lists as 1xK doubles; an empty list is 0x0.
        synsets[r, 0] = (
            np.array([[class_id]], dtype=float),
            wnid,
            words,
            gloss,
            np.array([[n_children]], dtype=float),
            np.array([children], dtype=float) if children else np.zeros((0, 0)),
            np.array([[height]], dtype=float),
            np.array([[n_train]], dtype=float),
        )
    out = io.BytesIO()
    scipy.io.savemat(out, {"synsets": synsets})
    return out.getvalue()


def write_ilsvrc_devkit(
    root: Path, wnids: Sequence[str], truth: Sequence[int], num_train: int, *, as_folder: bool
) -> None:
    files = {
        "readme.txt": b"ILSVRC2012 development kit (fake)\n",
        "COPYING": b"fake\n",
        "data/meta.mat": meta_mat_bytes(wnids, num_train),
        "data/ILSVRC2012_validation_ground_truth.txt": "".join(f"{t}\n" for t in truth).encode(),
        "data/ILSVRC2012_validation_blacklisted.txt": b"",
        "evaluation/eval.m": b"% fake\n",
    }
    if as_folder:
        for name, data in files.items():
            path = root / "ILSVRC2012_devkit_t12" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return
    members: list[tuple[str, bytes | None]] = [
        ("ILSVRC2012_devkit_t12", None),
        ("ILSVRC2012_devkit_t12/data", None),
        ("ILSVRC2012_devkit_t12/evaluation", None),
    ]
    members += [(f"ILSVRC2012_devkit_t12/{name}", data) for name, data in files.items()]
    write_tar(root / "ILSVRC2012_devkit_t12.tar.gz", members)


# -- Kaggle ImageNet Object Localization Challenge ----------------------------------------------


def make_fake_kaggle_loc(
    root: Path,
    wnids: Sequence[str] = DEFAULT_WNIDS,
    train_per_class: int = 3,
    val: int = 5,
    test: int = 2,
) -> dict[str, Expected]:
    """Write a fake Kaggle "ImageNet Object Localization Challenge" folder; return expected items.

    Train image 0 of each class has boxes in LOC_train_solution.csv (class 0's has two);
    every val image has boxes in LOC_val_solution.csv, and val image 2's second box names
    another class (its label stays the first box's wnid). Test images are unlabelled.
    """
    root.mkdir(parents=True, exist_ok=True)
    data, annotations = root / "ILSVRC/Data/CLS-LOC", root / "ILSVRC/Annotations/CLS-LOC"
    expected: dict[str, Expected] = {}
    train_rows, val_rows, image_sets = [], [], {"train_cls": [], "train_loc": [], "val": []}

    for c, wnid in enumerate(wnids):
        (data / "train" / wnid).mkdir(parents=True)
        for i in range(train_per_class):
            stem, size = f"{wnid}_{10_000 + 37 * i}", (24 + 4 * c, 18 + 2 * i)
            (data / "train" / wnid / f"{stem}.JPEG").write_bytes(jpeg(size, 100 * c + i))
            image_sets["train_cls"].append(f"{wnid}/{stem}")
            boxes: tuple[Box, ...] = ()
            if i == 0:
                boxes = (_box(wnid, size, 0),) + ((_box(wnid, size, 3),) if c == 0 else ())
                train_rows.append((stem, _prediction_string(boxes)))
                image_sets["train_loc"].append(f"{wnid}/{stem}")
                xml = annotations / "train" / wnid / f"{stem}.xml"
                xml.parent.mkdir(parents=True, exist_ok=True)
                xml.write_bytes(voc_xml(stem, wnid, size, boxes))
            key = f"ILSVRC/Data/CLS-LOC/train/{wnid}/{stem}.JPEG"
            expected[key] = Expected(wnid, "train", boxes, size)

    (data / "val").mkdir(parents=True)
    (annotations / "val").mkdir(parents=True)
    for i in range(1, val + 1):
        wnid, size = wnids[(i - 1) % len(wnids)], (30 + i, 20 + 2 * i)
        stem = f"ILSVRC2012_val_{i:08d}"
        (data / "val" / f"{stem}.JPEG").write_bytes(jpeg(size, 10_000 + i))
        boxes = (_box(wnid, size, 0),)
        if i == 2:
            boxes += (_box(wnids[-1], size, 2),)
        val_rows.append((stem, _prediction_string(boxes)))
        image_sets["val"].append(stem)
        (annotations / "val" / f"{stem}.xml").write_bytes(voc_xml(stem, "val", size, boxes))
        expected[f"ILSVRC/Data/CLS-LOC/val/{stem}.JPEG"] = Expected(wnid, "val", boxes, size)

    (data / "test").mkdir(parents=True)
    for i in range(1, test + 1):
        stem, size = f"ILSVRC2012_test_{i:08d}", (22, 20 + i)
        (data / "test" / f"{stem}.JPEG").write_bytes(jpeg(size, 20_000 + i))
        expected[f"ILSVRC/Data/CLS-LOC/test/{stem}.JPEG"] = Expected(None, "test", (), size)

    mapping = "".join(f"{w} {ilsvrc_class(w)[1]}\n" for w in sorted(wnids))
    (root / "LOC_synset_mapping.txt").write_text(mapping)
    _write_csv(root / "LOC_train_solution.csv", train_rows)
    _write_csv(root / "LOC_val_solution.csv", val_rows[::-1])  # the real csvs are unordered
    sample = [(f"ILSVRC2012_test_{i:08d}", "1 2 3 4 5") for i in range(1, test + 1)]
    _write_csv(root / "LOC_sample_submission.csv", sample)
    sets = root / "ILSVRC/ImageSets/CLS-LOC"
    sets.mkdir(parents=True)
    (sets / "train_cls.txt").write_text(
        "".join(f"{s} {n}\n" for n, s in enumerate(image_sets["train_cls"], 1))
    )
    (sets / "train_loc.txt").write_text(
        "".join(f"{s} {n}\n" for n, s in enumerate(image_sets["train_loc"], 1))
    )
    (sets / "val.txt").write_text("".join(f"{s} {n}\n" for n, s in enumerate(image_sets["val"], 1)))
    (sets / "test.txt").write_text(
        "".join(f"ILSVRC2012_test_{n:08d} {n}\n" for n in range(1, test + 1))
    )
    return expected


def _prediction_string(boxes: Sequence[Box]) -> str:
    # The real files end every box with a space, the last one included.
    return "".join(f"{b.wnid} {b.xmin:g} {b.ymin:g} {b.xmax:g} {b.ymax:g} " for b in boxes)


def _write_csv(path: Path, rows: Sequence[tuple[str, str]]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(("ImageId", "PredictionString"))
        writer.writerows(rows)


# -- IDX (MNIST) --------------------------------------------------------------------------------

#: WordNet 3.0 noun synsets of the digits 0..9 ("zero, 0, nought, cipher", ...).
DIGIT_WNIDS = (
    "n13742358",
    "n13742573",
    "n13743269",
    "n13744044",
    "n13744304",
    "n13744521",
    "n13744722",
    "n13744916",
    "n13745086",
    "n13745270",
)


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file of a uint8 array: magic 0x0000 08 <ndim>, big-endian int32 dims, the data."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}i", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def make_fake_idx(
    folder: Path, n: int = 20, gz: bool = True, *, size: tuple[int, int] = (28, 28)
) -> tuple[Path, Path, Path]:
    """Write MNIST-style ``train-images-idx3-ubyte[.gz]``, labels and a ``wnids.txt``.

    Image ``i`` has label ``i % 10`` (the digit synsets of :data:`DIGIT_WNIDS`); ``size`` is
    (width, height). The classes file has a comment and a blank line, which readers ignore.
    Returns ``(images, labels, classes)``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    images = rng.integers(0, 256, (n, size[1], size[0]), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    suffix = ".gz" if gz else ""
    paths = folder / f"train-images-idx3-ubyte{suffix}", folder / f"train-labels-idx1-ubyte{suffix}"
    for path, array in zip(paths, (images, labels), strict=True):
        data = idx_bytes(array)
        path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    classes = folder / "wnids.txt"
    lines = ["# MNIST digits 0..9", *DIGIT_WNIDS[:5], "", *DIGIT_WNIDS[5:]]
    classes.write_text("\n".join(lines) + "\n")
    return paths[0], paths[1], classes


# -- CIFAR --------------------------------------------------------------------------------------

CIFAR10_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


def _cifar_rows(n: int, seed: int) -> np.ndarray:
    """``n`` images as CIFAR rows: 1024 red, then 1024 green, then 1024 blue values (32 x 32)."""
    return np.random.default_rng(seed).integers(0, 256, (n, 3072), dtype=np.uint8)


def _dump(obj: dict) -> bytes:
    """Pickle as the real batches were: protocol 2, byte-string keys, numpy.core names.

    Python 2 wrote them, naming numpy.core.multiarray; numpy 2 would name numpy._core.
    """
    data = pickle.dumps(obj, protocol=2)
    return data.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def make_fake_cifar10(
    root: Path, n_per_batch: int = 4, *, archive: bool = False
) -> dict[str, Expected]:
    """Write ``root/cifar-10-batches-py/`` (or ``root/cifar-10-python.tar.gz`` with ``archive``).

    Five train batches and a test batch of ``n_per_batch`` 32x32 images each; image ``i`` of
    a batch has label ``(i + batch number) % 10``. Expected labels use the reader's built-in
    CIFAR-10 wnids (pass them in from the reader module to compare).
    """
    files: dict[str, bytes] = {}
    expected: dict[str, Expected] = {}
    for b, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        labels = [(i + b) % 10 for i in range(n_per_batch)]
        batch = {
            b"batch_label": f"{name} (fake)".encode(),
            b"labels": labels,
            b"data": _cifar_rows(n_per_batch, seed=b),
            b"filenames": [f"img_{b}_{i}.png".encode() for i in range(n_per_batch)],
        }
        files[name] = _dump(batch)
        split = "test" if name == "test_batch" else "train"
        for i, label in enumerate(labels):
            expected[f"{name}#{i:05d}"] = Expected(None, split, (), (32, 32), class_index=label)
    meta = {
        b"label_names": [n.encode() for n in CIFAR10_NAMES],
        b"num_cases_per_batch": n_per_batch,
        b"num_vis": 3072,
    }
    files["batches.meta"] = _dump(meta)
    files["readme.html"] = b"<html>fake</html>"
    _write_cifar(root, "cifar-10-batches-py", "cifar-10-python.tar.gz", files, archive=archive)
    return expected


def make_fake_cifar100(
    root: Path, n_train: int = 6, n_test: int = 4, *, archive: bool = False
) -> dict[str, Expected]:
    """Write ``root/cifar-100-python/`` (``train``, ``test``, ``meta``) or its .tar.gz.

    Image ``i`` has fine label ``(3 * i) % 100``. Expected labels are ``None``: CIFAR-100 needs
    a classes file, line ``k`` naming the wnid of fine label ``k``.
    """
    files: dict[str, bytes] = {}
    expected: dict[str, Expected] = {}
    for b, (name, n) in enumerate((("train", n_train), ("test", n_test))):
        fine = [(3 * i) % 100 for i in range(n)]
        batch = {
            b"filenames": [f"img_{name}_{i}.png".encode() for i in range(n)],
            b"batch_label": f"{name} batch (fake)".encode(),
            b"fine_labels": fine,
            b"coarse_labels": [f // 5 for f in fine],
            b"data": _cifar_rows(n, seed=50 + b),
        }
        files[name] = _dump(batch)
        for i, label in enumerate(fine):
            expected[f"{name}#{i:05d}"] = Expected(None, name, (), (32, 32), class_index=label)
    meta = {
        b"fine_label_names": [f"fine_{k}".encode() for k in range(100)],
        b"coarse_label_names": [f"coarse_{k}".encode() for k in range(20)],
    }
    files["meta"] = _dump(meta)
    _write_cifar(root, "cifar-100-python", "cifar-100-python.tar.gz", files, archive=archive)
    return expected


def _write_cifar(
    root: Path, folder: str, archive_name: str, files: dict[str, bytes], *, archive: bool
) -> None:
    root.mkdir(parents=True, exist_ok=True)
    if archive:
        members: list[tuple[str, bytes | None]] = [(folder, None)]
        members += [(f"{folder}/{name}", data) for name, data in files.items()]
        write_tar(root / archive_name, members)
        return
    (root / folder).mkdir()
    for name, data in files.items():
        (root / folder / name).write_bytes(data)
