"""ILSVRC-2012 (ImageNet-1k) as image-net.org distributes it: the original tars, read in place.

Directory contract (``root``)::

    ILSVRC2012_img_train.tar            1000 inner archives <wnid>.tar, each of <wnid>_<n>.JPEG
    ILSVRC2012_img_val.tar              ILSVRC2012_val_00000001.JPEG ... _00050000.JPEG (flat)
    ILSVRC2012_img_test_v10102019.tar   optional, unlabelled test images
      (or the older ILSVRC2012_img_test.tar)
    ILSVRC2012_devkit_t12.tar.gz        needed for val labels; or the extracted folder
      ILSVRC2012_devkit_t12/data/meta.mat
          struct array ``synsets``: ILSVRC2012_ID, WNID, words, gloss, num_children,
          children, wordnet_height, num_train_images; the 1000 classes are the leaves
          (num_children == 0), the 860 inner synsets of the hierarchy have IDs above 1000
      ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt
          one ILSVRC2012_ID per line, line i for ILSVRC2012_val_<i:08d>.JPEG; IDs number the
          classes in the devkit's own order, *not* in sorted-wnid order
    ILSVRC2012_bbox_train_v2.tar.gz     optional PASCAL-VOC boxes, <wnid>/<wnid>_<n>.xml
    ILSVRC2012_bbox_val_v3.tgz          optional PASCAL-VOC boxes, val/ILSVRC2012_val_<i>.xml

Nothing is extracted: members are read from the tars with random access, one at a time, so
memory stays bounded by one image (plus the box annotations, when present: about 200 MB for
the 544k train annotation files). Keys are archive paths, e.g.
``ILSVRC2012_img_train.tar/n01440764.tar/n01440764_10026.JPEG`` and
``ILSVRC2012_img_val.tar/ILSVRC2012_val_00000001.JPEG``.
"""

from __future__ import annotations

import io
import re
import tarfile
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import scipy.io
from scipy.io.matlab import MatReadError

from synsetlab.ingest.archives import READ_ERRORS, Damage, iter_files, read_member
from synsetlab.ingest.boxes_xml import BoxXMLError, parse_voc_boxes
from synsetlab.ingest.records import Box, SkipFn, SourceError, SourceItem, SourceSpec

KIND = "ilsvrc2012"
TRAIN_TAR = "ILSVRC2012_img_train.tar"
VAL_TAR = "ILSVRC2012_img_val.tar"
#: Newest first: image-net.org replaced the test archive in 2019 (same images, fixed EXIF).
TEST_TARS = ("ILSVRC2012_img_test_v10102019.tar", "ILSVRC2012_img_test.tar")
DEVKIT_TAR = "ILSVRC2012_devkit_t12.tar.gz"
DEVKIT_DIR = "ILSVRC2012_devkit_t12"
META_MAT = "data/meta.mat"
VAL_GROUND_TRUTH = "data/ILSVRC2012_validation_ground_truth.txt"
BOX_ARCHIVES = {"train": "ILSVRC2012_bbox_train_v2.tar.gz", "val": "ILSVRC2012_bbox_val_v3.tgz"}

_INNER_TAR = re.compile(r"(n\d{8})\.tar")
_VAL_IMAGE = re.compile(r"ILSVRC2012_val_(\d{8})\.JPEG")
_META_FIELDS = ("ILSVRC2012_ID", "WNID", "num_children", "num_train_images")
_LABELLED_SPLITS = ("train", "val")

BoxIndex = dict[str, tuple[Box, ...]]
LabelFn = Callable[[str], str | None]


@dataclass(frozen=True, slots=True)
class Devkit:
    """What the reader needs from the devkit."""

    #: ILSVRC2012_ID -> wnid of the 1000 leaf classes.
    id_to_wnid: dict[int, str]
    #: wnid -> number of train images, per meta.mat (used for the progress total only).
    num_train_images: dict[str, int]
    #: The ILSVRC2012_ID of val image i at index i - 1.
    val_ground_truth: list[int]


def open_ilsvrc2012(
    root: Path,
    *,
    splits: Collection[str] = _LABELLED_SPLITS,
    include_test: bool = False,
) -> SourceSpec:
    """Open an ILSVRC-2012 download folder (see the module docstring for its contract).

    ``splits`` picks among "train" and "val" ("test" there is the same as ``include_test``).
    Train labels are the wnid of each inner tar; val labels map the devkit's ground truth
    through meta.mat. Test images are unlabelled. Boxes are attached when the box archives
    are present (box archives added later do not reach images already ingested). Every file
    is checked here, so a missing or wrong file raises
    :class:`SourceError` before any item is listed.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise SourceError(f"{root} is not a folder: pass the folder that holds {TRAIN_TAR}")
    wanted = _check_splits(splits, include_test)

    # Cheap checks first: parsing the train boxes alone takes a while.
    train_tar = (
        _require(root, TRAIN_TAR, "or ingest only --split val") if "train" in wanted else None
    )
    val_tar = _require(root, VAL_TAR, "or ingest only --split train") if "val" in wanted else None
    test_tar = _find_test_tar(root) if "test" in wanted else None
    devkit = read_devkit(root, required=val_tar is not None)
    boxes: dict[str, BoxIndex] = {}
    for split in _LABELLED_SPLITS:
        index = read_box_archive(root / BOX_ARCHIVES[split]) if split in wanted else None
        if index is not None:
            boxes[split] = index

    parts: list[tuple[Callable[[SkipFn], Iterator[SourceItem]], int | None]] = []
    if train_tar is not None:
        parts.append(_train_part(train_tar, devkit, boxes.get("train", {})))
    if val_tar is not None:
        assert devkit is not None  # read_devkit(required=True) raised otherwise
        parts.append(_val_part(val_tar, devkit, boxes.get("val", {})))
    if test_tar is not None:
        parts.append(_test_part(test_tar))

    def items(skip: SkipFn) -> Iterator[SourceItem]:
        for part_items, _ in parts:
            yield from part_items(skip)

    totals = [total for _, total in parts]
    return SourceSpec(
        kind=KIND,
        uri=str(root.resolve()),
        items=items,
        total=None if None in totals else sum(t for t in totals if t is not None),
        # Nothing to record: a key means the same whichever splits or box archives a run reads,
        # so a later run may add the val split or the boxes.
        options={},
        label_state="verified",
    )


# -- the devkit ---------------------------------------------------------------------------------


def read_devkit(root: Path, *, required: bool) -> Devkit | None:
    """Read the devkit from ``root``: the extracted folder if there, else the archive.

    Returns ``None`` when neither is there and ``required`` is false.
    """
    folder = root / DEVKIT_DIR
    archive = root / DEVKIT_TAR
    if (folder / META_MAT).is_file():
        where = str(folder)
        try:
            meta = (folder / META_MAT).read_bytes()
            truth = (folder / VAL_GROUND_TRUTH).read_bytes()
        except OSError as e:
            raise SourceError(
                f"cannot read the devkit folder {folder}: {e}; restore it from {DEVKIT_TAR}"
            ) from e
    elif archive.is_file():
        where = str(archive)
        meta, truth = _read_devkit_archive(archive)
    elif required:
        raise SourceError(
            f"the ILSVRC-2012 devkit, which holds the val labels, is missing: put {DEVKIT_TAR} "
            f"(from image-net.org) in {root}, or ingest only --split train"
        )
    else:
        return None
    id_to_wnid, num_train_images = parse_meta_mat(meta, where=where)
    ground_truth = parse_val_ground_truth(truth.decode("ascii", "replace"), id_to_wnid, where=where)
    return Devkit(id_to_wnid, num_train_images, ground_truth)


def _read_devkit_archive(archive: Path) -> tuple[bytes, bytes]:
    found = []
    try:
        with tarfile.open(archive) as tar:
            for name in (f"{DEVKIT_DIR}/{META_MAT}", f"{DEVKIT_DIR}/{VAL_GROUND_TRUTH}"):
                try:
                    info = tar.getmember(name)
                except KeyError:
                    raise SourceError(
                        f"{archive} lacks {name}: it is not the ILSVRC-2012 devkit; "
                        f"download {DEVKIT_TAR} again from image-net.org"
                    ) from None
                found.append(read_member(tar, info))
    except READ_ERRORS as e:
        raise SourceError(
            f"cannot read {archive} ({e}): download {DEVKIT_TAR} again from image-net.org"
        ) from e
    return found[0], found[1]


def parse_meta_mat(data: bytes, *, where: str = META_MAT) -> tuple[dict[int, str], dict[str, int]]:
    """``(ILSVRC2012_ID -> wnid, wnid -> num_train_images)`` of the leaf synsets of a meta.mat."""
    try:
        mat = scipy.io.loadmat(io.BytesIO(data), squeeze_me=True)
    except (MatReadError, ValueError, OSError) as e:
        raise SourceError(f"{where}: {META_MAT} is not a readable MATLAB file ({e})") from e
    synsets = np.atleast_1d(mat.get("synsets"))
    fields = synsets.dtype.names or ()
    missing = [f for f in _META_FIELDS if f not in fields]
    if missing:
        raise SourceError(
            f"{where}: {META_MAT} has no struct array 'synsets' with fields {', '.join(missing)}; "
            f"is this the ILSVRC-2012 devkit (t12)?"
        )
    id_to_wnid: dict[int, str] = {}
    num_train_images: dict[str, int] = {}
    for synset in synsets:
        if int(synset["num_children"]) != 0:
            continue  # an inner synset of the hierarchy, not one of the classes
        class_id, wnid = int(synset["ILSVRC2012_ID"]), str(synset["WNID"])
        id_to_wnid[class_id] = wnid
        num_train_images[wnid] = int(synset["num_train_images"])
    if not id_to_wnid:
        raise SourceError(f"{where}: {META_MAT} lists no leaf synsets (num_children == 0)")
    return id_to_wnid, num_train_images


def parse_val_ground_truth(
    text: str, id_to_wnid: dict[int, str], *, where: str = VAL_GROUND_TRUTH
) -> list[int]:
    """The ILSVRC2012_IDs of the val images, in image order, each checked against meta.mat."""
    ids = []
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            class_id = int(line)
        except ValueError:
            raise SourceError(
                f"{where}: line {number} of {VAL_GROUND_TRUTH} is {line!r}, not an ILSVRC2012_ID"
            ) from None
        if class_id not in id_to_wnid:
            raise SourceError(
                f"{where}: line {number} of {VAL_GROUND_TRUTH} names ILSVRC2012_ID {class_id}, "
                f"which is not a class (leaf synset) of {META_MAT}"
            )
        ids.append(class_id)
    return ids


# -- boxes --------------------------------------------------------------------------------------


def read_box_archive(path: Path) -> BoxIndex | None:
    """Image name (without extension) -> its boxes, from a tar of PASCAL-VOC XML files.

    ``None`` when the archive is absent: boxes are optional.
    """
    if not path.is_file():
        return None
    what_to_do = f"download it again, or move it out of {path.parent} to ingest without its boxes"
    index: BoxIndex = {}
    try:
        with tarfile.open(path) as tar:
            for entry in iter_files(tar):
                if isinstance(entry, Damage):
                    raise SourceError(f"{path} is damaged ({entry.detail()}): {what_to_do}")
                name = PurePosixPath(entry.name)
                if name.suffix.lower() != ".xml":
                    continue
                try:
                    index[name.stem] = parse_voc_boxes(read_member(tar, entry))
                except BoxXMLError as e:
                    raise SourceError(f"{path}: {entry.name} is not a box file ({e})") from e
    except READ_ERRORS as e:
        raise SourceError(f"cannot read {path} ({e}): {what_to_do}") from e
    return index


# -- train, val, test ---------------------------------------------------------------------------


def _train_part(
    path: Path, devkit: Devkit | None, boxes: BoxIndex
) -> tuple[Callable[[SkipFn], Iterator[SourceItem]], int | None]:
    """Check the outer train tar's member names; total from meta.mat when the devkit is there."""
    wnids = []
    for entry in _scan(path):
        if isinstance(entry, Damage):
            break  # reported as an item when listing
        match = _INNER_TAR.fullmatch(PurePosixPath(entry.name).name)
        if match is None:
            raise SourceError(
                f"{path} holds {entry.name!r}, not a <wnid>.tar class archive: "
                f"is this the ILSVRC-2012 train archive?"
            )
        wnids.append(match.group(1))
    total = None
    if devkit is not None and all(w in devkit.num_train_images for w in wnids):
        # Counting the 1.28M inner headers would mean a seek per image; meta.mat knows.
        total = sum(devkit.num_train_images[w] for w in wnids)
    return (lambda skip: iter_train_tar(path, skip, boxes)), total


def iter_train_tar(path: Path, skip: SkipFn, boxes: BoxIndex) -> Iterator[SourceItem]:
    """List the images of the train tar, class archive by class archive, in archive order."""
    with tarfile.open(path) as outer:
        for entry in iter_files(outer):
            if isinstance(entry, Damage):
                yield SourceItem(key=entry.key(path.name), error=entry.detail())
                return
            inner_key = f"{path.name}/{entry.name}"
            match = _INNER_TAR.fullmatch(PurePosixPath(entry.name).name)
            wnid = match.group(1) if match else None
            try:
                inner = _open_inner_tar(outer, entry)
            except READ_ERRORS as e:
                yield SourceItem(key=inner_key, error=f"unreadable archive member: {e}")
                continue
            with inner:
                yield from iter_tar_members(
                    inner, inner_key, skip, label_of=lambda _, w=wnid: w, split="train", boxes=boxes
                )


def _open_inner_tar(outer: tarfile.TarFile, entry: tarfile.TarInfo) -> tarfile.TarFile:
    # extractfile() of an uncompressed tar is seekable: the inner tar is read in place, one
    # member at a time, never whole.
    return tarfile.open(fileobj=outer.extractfile(entry), mode="r:")


def _val_part(
    path: Path, devkit: Devkit, boxes: BoxIndex
) -> tuple[Callable[[SkipFn], Iterator[SourceItem]], int]:
    """Check every val image name against the ground truth; the count must match its lines."""
    truth = devkit.val_ground_truth
    count, damaged = 0, False
    for entry in _scan(path):
        if isinstance(entry, Damage):
            damaged = True
            break
        index = _val_index(entry.name)
        if index is None or not 1 <= index <= len(truth):
            raise SourceError(
                f"{path} holds {entry.name!r}, which is not one of ILSVRC2012_val_00000001.JPEG .. "
                f"ILSVRC2012_val_{len(truth):08d}.JPEG named by the devkit's ground truth"
            )
        count += 1
    # A damaged archive lists fewer images; that shows up as an error item, not a stop.
    if count > len(truth) or (not damaged and count != len(truth)):
        raise SourceError(
            f"{VAL_GROUND_TRUTH} has {len(truth)} lines but {path} holds {count} images: "
            f"the devkit and the val archive must come from the same release (ILSVRC-2012)"
        )

    def label_of(name: str) -> str | None:
        index = _val_index(name)
        return None if index is None else devkit.id_to_wnid[truth[index - 1]]

    def items(skip: SkipFn) -> Iterator[SourceItem]:
        with tarfile.open(path) as tar:
            yield from iter_tar_members(tar, path.name, skip, label_of, split="val", boxes=boxes)

    return items, count


def _test_part(path: Path) -> tuple[Callable[[SkipFn], Iterator[SourceItem]], int]:
    count = sum(1 for entry in _scan(path) if not isinstance(entry, Damage))

    def items(skip: SkipFn) -> Iterator[SourceItem]:
        with tarfile.open(path) as tar:
            yield from iter_tar_members(
                tar, path.name, skip, lambda _: None, split="test", boxes={}
            )

    return items, count


def iter_tar_members(
    tar: tarfile.TarFile,
    prefix: str,
    skip: SkipFn,
    label_of: LabelFn,
    *,
    split: str,
    boxes: BoxIndex,
) -> Iterator[SourceItem]:
    """One item per regular file of ``tar``, keyed ``"<prefix>/<member name>"``.

    A member whose bytes cannot be read becomes an item with ``error``; damage that ends the
    archive early becomes one item keyed ``"<prefix>@<offset>"``.
    """
    for entry in iter_files(tar):
        if isinstance(entry, Damage):
            yield SourceItem(key=entry.key(prefix), error=entry.detail())
            return
        key = f"{prefix}/{entry.name}"
        if skip(key):
            continue
        try:
            data = read_member(tar, entry)
        except READ_ERRORS as e:
            yield SourceItem(key=key, error=f"unreadable archive member: {e}")
            continue
        yield SourceItem(
            key=key,
            data=data,
            label=label_of(entry.name),
            split=split,
            boxes=boxes.get(PurePosixPath(entry.name).stem, ()),
        )


# -- helpers ------------------------------------------------------------------------------------


def _check_splits(splits: Collection[str], include_test: bool) -> set[str]:
    wanted = set(splits) | ({"test"} if include_test else set())
    unknown = wanted - {"train", "val", "test"}
    if unknown:
        raise SourceError(
            f"unknown split(s) {', '.join(sorted(unknown))}: ILSVRC-2012 has train, val and test"
        )
    if not wanted:
        raise SourceError("no split asked for: pass train and/or val (or include the test split)")
    return wanted


def _require(root: Path, name: str, alternative: str) -> Path:
    path = root / name
    if not path.is_file():
        raise SourceError(
            f"{name} not found in {root}: download it from image-net.org and put it there, "
            f"{alternative}"
        )
    return path


def _find_test_tar(root: Path) -> Path:
    for name in TEST_TARS:
        if (root / name).is_file():
            return root / name
    raise SourceError(
        f"no test archive in {root} ({' or '.join(TEST_TARS)}): put one there, "
        f"or ingest without the test split"
    )


def _scan(path: Path) -> Iterator[tarfile.TarInfo | Damage]:
    """The members of an archive, headers only, for the checks made before listing."""
    try:
        with tarfile.open(path) as tar:
            yield from iter_files(tar)
    except READ_ERRORS as e:
        raise SourceError(f"cannot read {path} ({e}): download it again from image-net.org") from e


def _val_index(name: str) -> int | None:
    match = _VAL_IMAGE.fullmatch(PurePosixPath(name).name)
    return int(match.group(1)) if match else None
