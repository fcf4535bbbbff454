"""What a source reader yields: one :class:`SourceItem` per file it finds.

Readers (one module per source kind) only *find* items; decoding, hashing, label validation,
storage and bookkeeping are the pipeline's job (:mod:`synsetlab.ingest.pipeline`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from synsetlab.errors import UserError

Split = Literal["train", "val", "test"]
SPLITS: tuple[str, ...] = ("train", "val", "test")

#: ``skip(key) -> True`` when the pipeline already holds that key (resume / idempotency).
#: Readers call it before reading an item's bytes, so a resumed run does not reread them.
SkipFn = Callable[[str], bool]


class SourceError(UserError, ValueError):
    """A source cannot be read as asked (missing file, wrong layout, bad class mapping).

    The message says what is wrong and what the user should do; the run stops before
    anything is written.
    """


def never_skip(key: str) -> bool:
    """The default :data:`SkipFn`: read everything."""
    return False


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned box in pixel coordinates of the stored image (before EXIF rotation).

    ``xmin <= xmax`` and ``ymin <= ymax``; ILSVRC's 1-based inclusive XML coordinates are
    stored as given.
    """

    wnid: str
    xmin: float
    ymin: float
    xmax: float
    ymax: float


@dataclass(frozen=True, slots=True)
class SourceItem:
    """One file offered by a source.

    Exactly one of ``path`` / ``data`` is set, unless ``error`` says why the bytes could not
    be read (an unreadable archive member): the pipeline then records a rejection.
    """

    #: Unique and stable within the source across runs: a relative path, or ``"archive/member"``.
    key: str
    #: Local path or fsspec URL; the bytes are read in a worker process.
    path: str | None = None
    #: Bytes already in memory (archive members, arrays encoded to PNG).
    data: bytes | None = None
    #: A wnid or workspace class id as given by the source; ``None`` for unlabelled images.
    label: str | None = None
    #: The split the source assigns ("train", "val", "test") or ``None``.
    split: str | None = None
    boxes: tuple[Box, ...] = ()
    #: Why the bytes could not be read; the item becomes a rejected file with this detail.
    error: str | None = None


@dataclass(frozen=True, slots=True)
class NamedClass:
    """A class as a source names it up front, and where: what a bad one's message points at."""

    #: The wnid or workspace class id as written.
    label: str
    #: Where it is written, e.g. ``"wnids.txt:4"``.
    where: str
    #: What the source calls the class besides (the rest of the line, a dataset's label
    #: name): the best hint at the class a mistyped wnid meant.
    note: str = ""


@dataclass(slots=True)
class SourceSpec:
    """A source ready for the pipeline: what it is, and how to list its items."""

    #: Source kind, e.g. ``"imagefolder"``, ``"ilsvrc2012"``.
    kind: str
    #: Canonical location (absolute path or URL); ``(kind, uri)`` identifies the source.
    uri: str
    #: ``items(skip)`` lists the items, calling ``skip(key)`` before reading each one's bytes.
    items: Callable[[SkipFn], Iterator[SourceItem]]
    #: Number of items if cheap to know (for the progress bar), else ``None``.
    total: int | None = None
    #: Options that change what the items mean (recorded with the source).
    options: dict[str, object] = field(default_factory=dict)
    #: Default state of labels from this source: "verified" for curated datasets.
    label_state: str = "candidate"
    #: The classes a classes file, class map or manifest names: the pipeline checks them all
    #: before it writes anything (see :mod:`synsetlab.ingest.classes`).
    classes: tuple[NamedClass, ...] = ()
