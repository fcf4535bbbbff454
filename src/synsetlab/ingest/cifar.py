"""CIFAR-10 and CIFAR-100, "python version": pickled batches of 32x32 RGB images.

Layout contract (``root`` is the dataset folder, its parent, or the archive)::

    cifar-10-python.tar.gz  ->  cifar-10-batches-py/
        data_batch_1 .. data_batch_5     train, 10000 images each
        test_batch                       test, 10000 images
        batches.meta                     b'label_names': the 10 class names, label order
    cifar-100-python.tar.gz ->  cifar-100-python/
        train, test                      50000 and 10000 images
        meta                             b'fine_label_names', b'coarse_label_names'

Each batch is a pickled dict with b'data', an N x 3072 uint8 array whose row holds the
1024 red, then green, then blue values of a 32x32 image in row-major order, and the labels
(b'labels' in CIFAR-10, b'fine_labels' in CIFAR-100). Labels are mapped to wnids through
a classes file (one wnid a line, line i for label i); CIFAR-10 without one uses
:data:`CIFAR10_WNIDS`. Images are encoded losslessly as PNG; keys are
``"<batch name>#<index:05d>"``, e.g. ``data_batch_1#00000``. The coarse CIFAR-100 labels
are not used.

The batches are pickles, which can run code when loaded: they are loaded with an unpickler
that allows only the numpy types a CIFAR batch holds.
"""

from __future__ import annotations

import codecs
import io
import pickle
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from synsetlab.ingest.archives import READ_ERRORS, Damage, iter_files, read_member
from synsetlab.ingest.arrays import encode_png
from synsetlab.ingest.classes import read_classes_file
from synsetlab.ingest.records import NamedClass, SkipFn, SourceError, SourceItem, SourceSpec

KIND = "cifar"

#: CIFAR-10 class names -> WordNet 3.0 noun synsets. Each offset was checked in WordNet 3.0's
#: data.noun; the choice follows what the images show (Krizhevsky's class descriptions):
#:   airplane   n02691156  airplane, aeroplane, plane (fixed-wing aircraft)
#:   automobile n02958343  car, auto, automobile (sedans, SUVs: "things of that sort")
#:   bird       n01503061  bird
#:   cat        n02121808  domestic cat, house cat (not n02121620 cat, which spans wild cats)
#:   deer       n02430045  deer, cervid
#:   dog        n02084071  dog, domestic dog, Canis familiaris
#:   frog       n01639765  frog, toad, anuran
#:   horse      n02374451  horse, Equus caballus
#:   ship       n04194289  ship
#:   truck      n04490091  truck, motortruck (CIFAR's trucks are big trucks, not pickups)
CIFAR10_WNIDS: dict[str, str] = {
    "airplane": "n02691156",
    "automobile": "n02958343",
    "bird": "n01503061",
    "cat": "n02121808",
    "deer": "n02430045",
    "dog": "n02084071",
    "frog": "n01639765",
    "horse": "n02374451",
    "ship": "n04194289",
    "truck": "n04490091",
}

_SIDE = 32
_ROW = 3 * _SIDE * _SIDE


@dataclass(frozen=True, slots=True)
class Layout:
    """One CIFAR variant: its folder, archive, batches and the keys inside them."""

    name: str
    folder: str
    archive: str
    #: (batch file, split), in listing order.
    batches: tuple[tuple[str, str], ...]
    meta: str
    labels_key: str
    names_key: str


CIFAR10 = Layout(
    name="CIFAR-10",
    folder="cifar-10-batches-py",
    archive="cifar-10-python.tar.gz",
    batches=(*((f"data_batch_{i}", "train") for i in range(1, 6)), ("test_batch", "test")),
    meta="batches.meta",
    labels_key="labels",
    names_key="label_names",
)
CIFAR100 = Layout(
    name="CIFAR-100",
    folder="cifar-100-python",
    archive="cifar-100-python.tar.gz",
    batches=(("train", "train"), ("test", "test")),
    meta="meta",
    labels_key="fine_labels",
    names_key="fine_label_names",
)
LAYOUTS = (CIFAR10, CIFAR100)


@dataclass(frozen=True, slots=True)
class Location:
    """Where a CIFAR variant was found: its folder, or its archive."""

    layout: Layout
    path: Path
    is_archive: bool


def open_cifar(root: Path, *, classes: Path | None = None) -> SourceSpec:
    """Open CIFAR-10 or CIFAR-100 (python version) at ``root`` (see the module docstring).

    Every batch is read here to check its shape and labels, so a missing or wrong file, or a
    label without a class, raises :class:`SourceError` before any item is listed.
    """
    where = locate_cifar(Path(root).expanduser())
    layout = where.layout
    batches = [batch for batch, _ in layout.batches]
    # Check each batch as it is read and keep only its labels: one batch of pixels at a time.
    batch_labels: dict[str, list[int]] = {}
    meta = None
    for name, obj in load_files(where, [*batches, layout.meta]):
        if name == layout.meta:
            meta = obj
        else:
            batch_labels[name] = check_batch(obj, layout, f"{where.path}: {name}")
    missing = [batch for batch in batches if batch not in batch_labels]
    if missing:
        raise SourceError(
            f"{where.path} lacks {', '.join(missing)}: download {layout.archive} again "
            f"from https://www.cs.toronto.edu/~kriz/cifar.html"
        )

    named = class_wnids(layout, meta, classes)
    names = [c.label for c in named]
    top = max((max(labels, default=-1) for labels in batch_labels.values()), default=-1)
    if top >= len(names):
        if classes is not None:
            have = f"{Path(classes).name} has {len(names)} lines"
        else:
            have = f"{layout.meta} names {len(names)} classes"
        raise SourceError(
            f"labels go up to {top} but {have}: give one wnid per line for labels 0..{top}"
            + ("" if classes is not None else " in a --classes file")
        )

    def items(skip: SkipFn) -> Iterator[SourceItem]:
        yield from iter_cifar_items(where, batch_labels, names, skip)

    return SourceSpec(
        kind=KIND,
        uri=str(where.path.resolve()),
        items=items,
        total=sum(len(labels) for labels in batch_labels.values()),
        # The class list itself: a different classes file (or built-in list) changes meaning.
        options={"classes": names},
        label_state="verified",
        classes=tuple(named),
    )


def locate_cifar(root: Path) -> Location:
    """Find the one CIFAR variant at ``root``: its folder, its parent, or the archive."""
    if root.is_file():
        for layout in LAYOUTS:
            if root.name == layout.archive:
                return Location(layout, root, is_archive=True)
        raise SourceError(
            f"{root.name} is not a CIFAR archive: expected {CIFAR10.archive} or {CIFAR100.archive}"
        )
    if not root.is_dir():
        raise SourceError(f"{root} does not exist: pass the CIFAR folder, its parent, or archive")
    # The folder itself (recognised by its batches, so a renamed folder works too) ...
    for layout in LAYOUTS:
        if (root / layout.batches[0][0]).is_file():
            return Location(layout, root, is_archive=False)
    # ... or its parent, holding the extracted folder or the archive.
    found = []
    for layout in LAYOUTS:
        if (root / layout.folder).is_dir():
            found.append(Location(layout, root / layout.folder, is_archive=False))
        elif (root / layout.archive).is_file():
            found.append(Location(layout, root / layout.archive, is_archive=True))
    if len(found) > 1:
        raise SourceError(
            f"{root} holds both CIFAR-10 and CIFAR-100: pass {found[0].path} or {found[1].path}"
        )
    if not found:
        raise SourceError(
            f"no CIFAR data in {root}: expected {CIFAR10.folder}/ or {CIFAR100.folder}/ "
            f"(or their archives {CIFAR10.archive}, {CIFAR100.archive}); download the "
            f"python version from https://www.cs.toronto.edu/~kriz/cifar.html"
        )
    return found[0]


def load_files(where: Location, names: list[str]) -> Iterator[tuple[str, dict[str, object]]]:
    """Unpickle the wanted files: from a folder in ``names`` order, from an archive in archive
    order (one pass over the gzip stream). Absent files are left out."""
    try:
        if not where.is_archive:
            for name in names:
                path = where.path / name
                if path.is_file():
                    yield name, unpickle_batch(path.read_bytes(), f"{path}")
            return
        prefix = f"{where.layout.folder}/"
        with tarfile.open(where.path) as tar:
            for entry in iter_files(tar):
                if isinstance(entry, Damage):
                    raise SourceError(
                        f"{where.path} is damaged ({entry.detail()}): download it again"
                    )
                name = entry.name.removeprefix(prefix)
                if entry.name.startswith(prefix) and name in names:
                    data = read_member(tar, entry)
                    yield name, unpickle_batch(data, f"{where.path}: {entry.name}")
    except READ_ERRORS as e:
        raise SourceError(f"cannot read {where.path} ({e}): download it again") from e


def check_batch(batch: dict[str, object], layout: Layout, where: str) -> list[int]:
    """The labels of a batch, after checking its pixels and labels agree in shape."""
    data, labels = batch.get("data"), batch.get(layout.labels_key)
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2):
        raise SourceError(f"{where}: b'data' is not an N x {_ROW} uint8 array")
    if data.shape[1] != _ROW:
        raise SourceError(f"{where}: rows of {data.shape[1]} values, expected {_ROW} (32x32 RGB)")
    if not isinstance(labels, list) or len(labels) != len(data):
        raise SourceError(
            f"{where}: b'{layout.labels_key}' must list one label per image ({len(data)})"
        )
    if any(not isinstance(v, int) or v < 0 for v in labels):
        raise SourceError(f"{where}: b'{layout.labels_key}' holds values that are not labels")
    return labels


def class_wnids(
    layout: Layout, meta: dict[str, object] | None, classes: Path | None
) -> list[NamedClass]:
    """Label i -> class: line i of ``classes``; for CIFAR-10 by default the built-in wnids.

    A line without a note of its own gets the dataset's name for label i, which tells the
    check of unknown classes what a mistyped wnid meant.
    """
    label_names = _label_names(meta, layout)
    if classes is not None:
        return [
            replace(c, note=c.note or label_names[i].replace("_", " "))
            if i < len(label_names)
            else c
            for i, c in enumerate(read_classes_file(classes))
        ]
    if layout is not CIFAR10:
        shown = ", ".join(label_names[:4]) + ", ..." if label_names else ""
        raise SourceError(
            f"{layout.name} labels are not WordNet synsets: pass --classes, a file with the wnid "
            f"of fine label i on line i (the labels, in order: {shown or f'see {layout.meta}'})"
        )
    if not label_names:
        raise SourceError(
            f"{layout.meta} is missing or has no b'{layout.names_key}': restore it, or pass "
            f"--classes with the wnid of label i on line i"
        )
    unknown = [n for n in label_names if n not in CIFAR10_WNIDS]
    if unknown:
        raise SourceError(
            f"{layout.meta} names classes {', '.join(unknown)}, not CIFAR-10's: pass --classes"
        )
    return [NamedClass(CIFAR10_WNIDS[n], f"{layout.meta}: {n}", n) for n in label_names]


def iter_cifar_items(
    where: Location, batch_labels: dict[str, list[int]], names: list[str], skip: SkipFn
) -> Iterator[SourceItem]:
    """One PNG item per image; a batch whose keys are all skipped is not read."""
    splits = dict(where.layout.batches)
    todo = [
        batch
        for batch, labels in batch_labels.items()
        if not all(skip(_key(batch, i)) for i in range(len(labels)))
    ]
    if not todo:
        return
    emitted: set[str] = set()
    try:
        for batch, obj in load_files(where, todo):
            rows = obj["data"]
            assert isinstance(rows, np.ndarray)  # checked by check_batch when opened
            for index, label in enumerate(batch_labels[batch]):
                key = _key(batch, index)
                if skip(key):
                    continue
                emitted.add(key)
                yield SourceItem(
                    key=key,
                    data=encode_png(cifar_image(rows[index])),
                    label=names[label],
                    split=splits[batch],
                )
    except SourceError as e:
        # Readable when opened, not now: the keys are known, so report each one left.
        for batch in todo:
            for index in range(len(batch_labels[batch])):
                key = _key(batch, index)
                if key not in emitted and not skip(key):
                    yield SourceItem(key=key, error=f"unreadable archive member: {e}")


def cifar_image(row: np.ndarray) -> np.ndarray:
    """A 3072-value CIFAR row (R plane, G plane, B plane) as a 32 x 32 x 3 image."""
    return row.reshape(3, _SIDE, _SIDE).transpose(1, 2, 0)


def unpickle_batch(data: bytes, where: str) -> dict[str, object]:
    """A CIFAR batch dict, with its byte-string keys decoded to str."""
    try:
        obj = _BatchUnpickler(io.BytesIO(data), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
        raise SourceError(f"{where} is not a CIFAR batch ({e})") from e
    if not isinstance(obj, dict):
        raise SourceError(f"{where} is not a CIFAR batch (a {type(obj).__name__}, not a dict)")
    return {k.decode("latin-1") if isinstance(k, bytes) else str(k): v for k, v in obj.items()}


def _allowed_globals() -> dict[tuple[str, str], object]:
    """The globals a CIFAR batch pickle may name, resolved from numpy itself.

    Python 2 pickles (the real files) name numpy.core.*, numpy 2 names numpy._core.*, and
    protocol-2 pickles written by Python 3 encode bytes with _codecs.encode.
    """
    sample = np.zeros(1, dtype=np.uint8)
    found = {
        "_reconstruct": sample.__reduce__()[0],
        "scalar": np.uint8(0).__reduce__()[0],
        "_frombuffer": sample.__reduce_ex__(5)[0],
    }
    allowed: dict[tuple[str, str], object] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): codecs.encode,
    }
    for core in ("numpy.core", "numpy._core"):
        allowed[f"{core}.multiarray", "_reconstruct"] = found["_reconstruct"]
        allowed[f"{core}.multiarray", "scalar"] = found["scalar"]
        allowed[f"{core}.numeric", "_frombuffer"] = found["_frombuffer"]
    return allowed


class _BatchUnpickler(pickle.Unpickler):
    """Resolves only the globals a CIFAR batch needs; anything else is refused, not imported."""

    _ALLOWED = _allowed_globals()

    def find_class(self, module: str, name: str) -> object:
        try:
            return self._ALLOWED[module, name]
        except KeyError:
            raise pickle.UnpicklingError(
                f"{module}.{name} is not allowed in a CIFAR batch"
            ) from None


def _label_names(meta: dict[str, object] | None, layout: Layout) -> list[str]:
    names = (meta or {}).get(layout.names_key)
    if not isinstance(names, list):
        return []
    return [n.decode("latin-1") if isinstance(n, bytes) else str(n) for n in names]


def _key(batch: str, index: int) -> str:
    return f"{batch}#{index:05d}"
