"""MNIST-style IDX files: an images file, optionally a labels file and a classes file.

File contract (each IDX file raw or gzip'd, e.g. ``train-images-idx3-ubyte.gz``)::

    images   magic 0x00000803, then N, H, W as big-endian int32, then N*H*W uint8 pixels
             (greyscale, row-major); also 0x00000804 with N, H, W, 3 (RGB) or N, H, W, 1
    labels   magic 0x00000801, then N, then N uint8 labels
    classes  a text file, one class a line: line i (counting neither blank lines nor lines
             starting with "#") names label i, as a wnid or a workspace class id; only its
             first word counts, so "n13742358 zero" is read as n13742358. Every line must
             name a known class, or nothing is ingested (the rest of a line helps the error
             message suggest the class meant)

Each image is encoded losslessly as PNG. Keys are ``"<images file name>#<index:06d>"``.
"""

from __future__ import annotations

import gzip
import io
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from synsetlab.ingest.arrays import encode_png
from synsetlab.ingest.classes import read_classes_file
from synsetlab.ingest.records import (
    SPLITS,
    NamedClass,
    SkipFn,
    SourceError,
    SourceItem,
    SourceSpec,
)

KIND = "idx"
_UINT8 = 0x08
_GZIP_MAGIC = b"\x1f\x8b"
#: What reading an IDX stream can raise: I/O errors and, for .gz files, a broken stream.
_READ_ERRORS = (OSError, EOFError, zlib.error)


def open_idx(
    images: Path,
    *,
    labels: Path | None = None,
    classes: Path | None = None,
    split: str | None = None,
) -> SourceSpec:
    """Open an IDX images file, with its labels mapped through ``classes`` when given.

    ``split`` ("train", "val", "test" or ``None``) is given to every item. Headers, counts and
    the label range are checked here and raise :class:`SourceError`; pixel data is read only
    when the items are listed.
    """
    images = Path(images).expanduser()
    if split is not None and split not in SPLITS:
        raise SourceError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}, or none")
    if labels is not None and classes is None:
        raise SourceError(
            f"labels given without classes: pass a classes file naming the wnid of each label "
            f"value of {Path(labels).name}, one a line (line i for label i)"
        )
    if classes is not None and labels is None:
        raise SourceError("classes given without labels: pass the IDX labels file too")

    shape = read_idx_header(images, expect_ndim=(3, 4))
    if len(shape) == 4 and shape[3] not in (1, 3):
        raise SourceError(f"{images}: 4-D images must have 1 or 3 channels, not {shape[3]}")
    count, item_shape = shape[0], shape[1:]
    _check_raw_size(images, shape)

    names: list[str] | None = None
    named: list[NamedClass] = []
    options: dict[str, object] = {}
    if labels is not None and classes is not None:
        labels, classes = Path(labels).expanduser(), Path(classes).expanduser()
        values = read_idx_labels(labels)
        if len(values) != count:
            raise SourceError(
                f"{images.name} holds {count} images but {labels.name} holds {len(values)} "
                f"labels: pass the labels file that belongs to these images"
            )
        named = read_classes_file(classes)
        class_lines = [c.label for c in named]
        names = map_labels(values, class_lines, classes)
        # The class list itself, not the classes file's path: editing the file changes meaning.
        options.update(labels=str(labels.resolve()), classes=class_lines)
    if split is not None:
        options["split"] = split

    def items(skip: SkipFn) -> Iterator[SourceItem]:
        yield from iter_idx_images(images, item_shape, count, skip, names, split)

    return SourceSpec(
        kind=KIND,
        uri=str(images.resolve()),
        items=items,
        total=count,
        options=options,
        label_state="verified",
        classes=tuple(named),
    )


def read_idx_header(path: Path, *, expect_ndim: tuple[int, ...]) -> tuple[int, ...]:
    """The dimensions of a uint8 IDX file, checked against ``expect_ndim``."""
    try:
        with _open_stream(path) as f:
            return _read_header(f, path, expect_ndim)
    except _READ_ERRORS as e:
        raise SourceError(f"cannot read {path} ({e})") from e


def read_idx_labels(path: Path) -> np.ndarray:
    """The labels of an IDX labels file (magic 0x00000801), as a uint8 array."""
    try:
        with _open_stream(path) as f:
            (count,) = _read_header(f, path, (1,))
            data = f.read()
    except _READ_ERRORS as e:
        raise SourceError(f"cannot read {path} ({e})") from e
    if len(data) != count:
        raise SourceError(
            f"{path}: the header says {count} labels but the file holds {len(data)} bytes of "
            f"labels: the file is damaged; download it again"
        )
    return np.frombuffer(data, dtype=np.uint8)


def map_labels(values: np.ndarray, class_lines: list[str], classes: Path) -> list[str]:
    """Label value i -> ``class_lines[i]``, for every value; all must have a line."""
    if len(values) == 0:
        return []
    top = int(values.max())
    if top >= len(class_lines):
        raise SourceError(
            f"labels go up to {top} but {Path(classes).name} has {len(class_lines)} lines: "
            f"give one wnid per line for labels 0..{top}"
        )
    return [class_lines[v] for v in values.tolist()]


def iter_idx_images(
    path: Path,
    item_shape: tuple[int, ...],
    count: int,
    skip: SkipFn,
    labels: list[str] | None,
    split: str | None,
) -> Iterator[SourceItem]:
    """Stream the images of an IDX file one at a time, as PNG items.

    A stream that breaks (a truncated .gz) ends the listing with one error item: nothing after
    that point can be read.
    """
    item_bytes = int(np.prod(item_shape))
    with _open_stream(path) as f:
        _read_header(f, path, (len(item_shape) + 1,))
        for index in range(count):
            key = f"{path.name}#{index:06d}"
            try:
                if skip(key):
                    f.seek(item_bytes, io.SEEK_CUR)
                    continue
                data = f.read(item_bytes)
                if len(data) != item_bytes:
                    raise EOFError("file ends early")
            except _READ_ERRORS as e:
                yield SourceItem(
                    key=key,
                    error=f"unreadable image data: {e}; images {index}..{count - 1} were not read",
                )
                return
            pixels = np.frombuffer(data, dtype=np.uint8).reshape(item_shape)
            yield SourceItem(
                key=key,
                data=encode_png(pixels),
                label=None if labels is None else labels[index],
                split=split,
            )


def _open_stream(path: Path) -> io.BufferedIOBase:
    """``path`` opened for reading, through gzip when its first bytes say so."""
    try:
        f = path.open("rb")
    except OSError as e:
        raise SourceError(f"cannot open {path} ({e}): check the path") from e
    if f.read(2) == _GZIP_MAGIC:
        f.seek(0)
        return gzip.GzipFile(fileobj=f, mode="rb")
    f.seek(0)
    return f


def _read_header(f: io.BufferedIOBase, path: Path, expect_ndim: tuple[int, ...]) -> tuple[int, ...]:
    head = f.read(4)
    if len(head) != 4 or head[:2] != b"\0\0":
        raise SourceError(f"{path} is not an IDX file (it does not start with 00 00)")
    dtype, ndim = head[2], head[3]
    if dtype != _UINT8:
        raise SourceError(
            f"{path}: IDX data type 0x{dtype:02X} is not supported, only uint8 (0x08)"
        )
    if ndim not in expect_ndim:
        want = " or ".join(f"0x{0x800 + n:08X}" for n in expect_ndim)
        raise SourceError(
            f"{path}: magic 0x{0x800 + ndim:08X} ({ndim} dimensions), expected {want}: "
            f"is this the {'labels' if expect_ndim == (1,) else 'images'} file?"
        )
    dims = f.read(4 * ndim)
    if len(dims) != 4 * ndim:
        raise SourceError(f"{path}: the file ends inside its header")
    return struct.unpack(f">{ndim}i", dims)


def _check_raw_size(path: Path, shape: tuple[int, ...]) -> None:
    """A raw (not gzip'd) file's size must match its header; a .gz is checked while read."""
    with path.open("rb") as f:
        if f.read(2) == _GZIP_MAGIC:
            return
    expected = 4 + 4 * len(shape) + int(np.prod(shape))
    size = path.stat().st_size
    if size != expected:
        raise SourceError(
            f"{path}: the header says {'x'.join(map(str, shape))} pixels ({expected} bytes) "
            f"but the file has {size} bytes: it is damaged or not an IDX images file"
        )
