"""Forgetting a source, so that it can be ingested again with corrected options.

Removing a source deletes, in one transaction, its images and everything the catalog holds
about them (labels, boxes, curation findings and decisions, split assignments) and its rejected
files. Image bytes stay in the blob store: other images and frozen versions may share them,
and a corrected run that finds the same bytes stores nothing new.

A source with an image in a frozen version is never removed: versions never change and name
their images by catalog id, so the rows they name stay. Each version records at freeze how
many of its images each source holds (its summary's ``sources``), so finding the versions
that hold a source reads no manifest; only versions frozen before that record are read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.orm import Session

from synsetlab.catalog.models import (
    Base,
    Box,
    Decision,
    Finding,
    Image,
    Label,
    RejectedFile,
    Source,
    SplitAssignment,
    Version,
)
from synsetlab.ingest.records import SourceError
from synsetlab.manifest import Manifest
from synsetlab.workspace import Workspace


class SourceInUseError(SourceError):
    """A source whose images a frozen version holds: it cannot be removed."""


@dataclass(frozen=True)
class RemovedSource:
    """What removing one source deleted (rows of each table)."""

    id: int
    kind: str
    uri: str
    images: int
    labels: int
    boxes: int
    findings: int
    decisions: int
    split_assignments: int
    rejected_files: int


def find_source(ws: Workspace, ref: str) -> Source:
    """The source that ``ref`` names: its id (as ``synsetlab status`` lists it), or its
    location (the path given to ``ingest``, or the stored absolute path or URL)."""
    with ws.session() as s:
        sources = list(s.scalars(select(Source).order_by(Source.id)))
    ref = ref.strip()
    if ref.isdigit():
        matches = [src for src in sources if src.id == int(ref)]
    else:
        where = {ref, str(Path(ref).expanduser().resolve())}
        matches = [src for src in sources if src.uri in where]
    if len(matches) == 1:
        return matches[0]
    listed = "; ".join(f"{src.id} {src.kind} {src.uri}" for src in sources) or "none"
    if not matches:
        raise SourceError(f"no source {ref!r} in this workspace (sources: {listed}); give an id")
    raise SourceError(f"{ref!r} names {len(matches)} sources ({listed}); give an id")


def remove_source(ws: Workspace, source_id: int) -> RemovedSource:
    """Delete source ``source_id`` and its images with all that depends on them, or nothing.

    Raises :class:`SourceInUseError` when a frozen version holds one of its images (as an
    image, an excluded image or an unlabelled one); nothing is deleted then.
    """
    with ws.session() as s:
        return remove_source_in(ws, s, source_id)


def remove_source_in(ws: Workspace, s: Session, source_id: int) -> RemovedSource:
    """:func:`remove_source` within the session ``s``: its caller's transaction decides
    whether the removal stands (``ingest --replace`` commits it with the new run, or not at
    all)."""
    source = s.get(Source, source_id)
    if source is None:
        raise SourceError(f"no source with id {source_id}; `synsetlab status` lists them")
    _refuse_if_frozen(ws, s, source)
    return _delete(s, source)


def _refuse_if_frozen(ws: Workspace, s: Session, source: Source) -> None:
    holding: dict[str, int] = {}
    image_ids: set[int] | None = None  # read for versions frozen before "sources" was kept
    for version in s.scalars(select(Version).order_by(Version.created_at)):
        recorded = (version.summary or {}).get("sources")
        if recorded is not None:
            held = recorded.get(str(source.id), 0)
        else:
            if image_ids is None:
                image_ids = set(s.scalars(select(Image.id).where(Image.source_id == source.id)))
            held = len(_named(ws, version.id) & image_ids) if image_ids else 0
        if held:
            holding[version.name] = held
    if holding:
        versions = ", ".join(f"{name} ({n} images)" for name, n in holding.items())
        raise SourceInUseError(
            f"source {source.id} ({source.kind} {source.uri}) is not removed: frozen versions "
            f"hold its images: {versions}. Versions never change and name their images, so "
            "those stay; leave them out of later versions with exclude decisions instead, and "
            "ingest corrected files from another location"
        )


def _named(ws: Workspace, version_id: str) -> set[int]:
    """The image ids a version's manifest names: labelled, excluded and unlabelled."""
    manifest = Manifest.from_bytes(ws.blobs.get(version_id))
    named = {e.image_id for e in manifest.entries}
    named.update(manifest.excluded)
    named.update(u.image_id for u in manifest.unlabelled)
    return named


def _delete(s: Session, source: Source) -> RemovedSource:
    """Delete the source's rows, dependants first: foreign keys hold on SQLite and PostgreSQL."""
    # Subqueries rather than lists of ids: an ImageNet source has more images than SQLite
    # accepts bound parameters in one statement.
    images = select(Image.id).where(Image.source_id == source.id)
    counts = {
        "split_assignments": _delete_where(
            s, SplitAssignment, SplitAssignment.image_id.in_(images)
        ),
        "decisions": _delete_where(s, Decision, Decision.image_id.in_(images)),
        "findings": _delete_where(s, Finding, Finding.image_id.in_(images)),
        "labels": _delete_where(
            s, Label, or_(Label.image_id.in_(images), Label.source_id == source.id)
        ),
        "boxes": _delete_where(s, Box, or_(Box.image_id.in_(images), Box.source_id == source.id)),
        "rejected_files": _delete_where(s, RejectedFile, RejectedFile.source_id == source.id),
        "images": _delete_where(s, Image, Image.source_id == source.id),
    }
    removed = RemovedSource(id=source.id, kind=source.kind, uri=source.uri, **counts)
    s.delete(source)
    return removed


def _delete_where(s: Session, table: type[Base], condition: ColumnElement[bool]) -> int:
    result = s.execute(delete(table).where(condition))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
