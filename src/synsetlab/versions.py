"""Frozen dataset versions: freeze the current dataset and split, load, list and compare them.

A version is immutable: its manifest (see :mod:`synsetlab.manifest`) is stored in the blob
store under its own sha256, which is the version's id. Training, evaluation and challenges
refer to a version, never to "the current catalog", so every result can be reproduced.

Beside the manifest, freezing keeps what curation (:mod:`synsetlab.catalog.curation`) and the
crowd (:mod:`synsetlab.catalog.crowd`) had recorded about the version's images, so what its
datasheet says does not change either. Which labels rest on the crowd is part of the content:
the manifest's header carries their number and digest (``params["crowd"]``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from synsetlab.catalog.annotation import AnnotationProject
from synsetlab.catalog.crowd import CrowdSnapshot, crowd_digest
from synsetlab.catalog.curation import snapshot_curation
from synsetlab.catalog.current import CurrentImage, current_images
from synsetlab.catalog.models import (
    Box,
    Image,
    Source,
    SplitAssignment,
    SplitRun,
    Version,
    utcnow,
)
from synsetlab.errors import UserError
from synsetlab.manifest import (
    Manifest,
    ManifestBox,
    ManifestEntry,
    UnlabelledEntry,
    sorted_classes,
)
from synsetlab.workspace import Workspace


class VersionError(UserError, ValueError):
    """A version cannot be frozen or found as asked; the message says what to do."""


@dataclass(frozen=True)
class LoadedVersion:
    id: str
    name: str
    created_at: datetime
    manifest: Manifest


@dataclass
class VersionDiff:
    """What changed from version ``a`` to version ``b``, image by image (by image id)."""

    added: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    #: (image id, class in a, class in b)
    relabelled: list[tuple[int, str, str]] = field(default_factory=list)
    #: (image id, split in a, split in b)
    moved: list[tuple[int, str, str]] = field(default_factory=list)
    classes_added: list[str] = field(default_factory=list)
    classes_removed: list[str] = field(default_factory=list)
    #: Image ids that joined or left the unlabelled pool (a label settled leaves it).
    unlabelled_added: list[int] = field(default_factory=list)
    unlabelled_removed: list[int] = field(default_factory=list)
    #: False when a side was frozen before versions kept their pool: its changes are unknown.
    pool_recorded: bool = True


@dataclass(frozen=True)
class CrowdDiff:
    """How the labels resting on the crowd changed from version ``a`` to version ``b``."""

    #: Labels of each version that the crowd had verified.
    verified_a: int
    verified_b: int
    #: Image ids whose label in ``b`` is crowd-verified and was not in ``a`` (new images
    #: included), and those whose crowd-verified label of ``a`` is not one in ``b``.
    newly_verified: list[int]
    no_longer: list[int]


def freeze(ws: Workspace, name: str) -> LoadedVersion:
    """Freeze the current dataset with its split assignment as version ``name``."""
    name = name.strip()
    if not name:
        raise VersionError("a version needs a name, e.g. v1")
    with ws.session() as s:
        if s.scalar(select(Version.id).where(Version.name == name)) is not None:
            raise VersionError(
                f"a version named {name!r} exists already; versions never change, "
                "so choose a new name"
            )
        manifest, sources = _current_manifest(s)
        held = [e.image_id for e in (*manifest.entries, *manifest.unlabelled)]
        # Which labels the crowd verified, with its evidence, and how it went per class: what
        # the datasheet says of the crowd. Which labels rest on it is part of the content (a
        # digest in the header), so verification alone makes a new version; a version without
        # any such label keeps the bytes, and id, it had before.
        crowd = crowd_now(s, held, manifest.classes)
        verified = crowd_verified(manifest, crowd)
        if verified:
            params = {"verified": len(verified), "sha256": crowd_digest(verified)}
            manifest = replace(manifest, params={**manifest.params, "crowd": params})
        data = manifest.to_bytes()
        version_id = ws.blobs.put(data)
        same = s.get(Version, version_id)
        if same is not None:
            raise VersionError(
                f"nothing changed since version {same.name!r} ({version_id[:12]}): the same "
                "content would get the same id"
            )
        # What curation holds about the version's images now: its datasheet reads this, so
        # later curation runs do not change what the page says about a version that cannot.
        curation = ws.blobs.put(snapshot_curation(s, [*held, *manifest.excluded]).to_bytes())
        row = Version(
            id=version_id,
            name=name,
            images=len(manifest.entries),
            classes=len(manifest.classes),
            summary={
                "splits": manifest.splits,
                "excluded": len(manifest.excluded),
                "relabelled": sum(e.relabelled_from is not None for e in manifest.entries),
                "unlabelled": len(manifest.unlabelled),
                "params": manifest.params,
                "curation": curation,
                "crowd": ws.blobs.put(crowd.to_bytes()),
                "crowd_verified": len(verified),
                # Which sources' images the version names: removing a source looks here
                # instead of reading every version's manifest.
                "sources": sources,
            },
        )
        s.add(row)
        s.flush()
        return LoadedVersion(row.id, row.name, row.created_at, manifest)


def load_version(ws: Workspace, ref: str) -> LoadedVersion:
    """A version by name, full id, or an unambiguous id prefix of at least 8 characters."""
    row = find_version(ws, ref)
    manifest = Manifest.from_bytes(ws.blobs.get(row.id))
    return LoadedVersion(row.id, row.name, row.created_at, manifest)


def find_version(ws: Workspace, ref: str) -> Version:
    """The catalog row of a version, as :func:`load_version` finds it, without reading its
    manifest: commands check a version argument with it before their slow imports."""
    with ws.session() as s:
        row = s.scalar(select(Version).where(Version.name == ref))
        if row is None and len(ref) >= 8:
            matches = list(s.scalars(select(Version).where(Version.id.startswith(ref))))
            if len(matches) > 1:
                raise VersionError(f"{ref!r} matches {len(matches)} versions; give more of the id")
            row = matches[0] if matches else None
        if row is None:
            names = (
                ", ".join(s.scalars(select(Version.name).order_by(Version.created_at))) or "none"
            )
            raise VersionError(
                f"no version {ref!r} (versions: {names}); freeze one with "
                "`synsetlab version freeze --name NAME`"
            )
        return row


def crowd_record(ws: Workspace, version: LoadedVersion | Version) -> CrowdSnapshot | None:
    """The crowd's record frozen with ``version``; ``None`` for a version frozen before
    synsetlab kept one."""
    with ws.session() as s:
        summary = s.scalar(select(Version.summary).where(Version.id == version.id)) or {}
    address = summary.get("crowd")
    return CrowdSnapshot.from_bytes(ws.blobs.get(address)) if address else None


def crowd_verified(manifest: Manifest, crowd: CrowdSnapshot) -> set[tuple[int, str]]:
    """(image id, wnid) of the manifest's labelled images whose label the crowd verified."""
    pairs = crowd.verified_pairs()
    return {(e.image_id, e.wnid) for e in manifest.entries if (e.image_id, e.wnid) in pairs}


def diff_crowd(
    a: Manifest, crowd_a: CrowdSnapshot, b: Manifest, crowd_b: CrowdSnapshot
) -> CrowdDiff:
    """Labels that came to rest on the crowd from version ``a`` to ``b``, and those that no
    longer do (relabelled, rejected, excluded, removed, or the outcome undone)."""
    old, new = crowd_verified(a, crowd_a), crowd_verified(b, crowd_b)
    return CrowdDiff(
        verified_a=len(old),
        verified_b=len(new),
        newly_verified=sorted(image_id for image_id, _ in new - old),
        no_longer=sorted(image_id for image_id, _ in old - new),
    )


def list_versions(ws: Workspace) -> list[Version]:
    with ws.session() as s:
        return list(s.scalars(select(Version).order_by(Version.created_at)))


def diff_versions(a: Manifest, b: Manifest) -> VersionDiff:
    """Images added, removed, relabelled and moved between splits, from ``a`` to ``b``, and
    the changes of the unlabelled pool."""
    old = {e.image_id: e for e in a.entries}
    new = {e.image_id: e for e in b.entries}
    diff = VersionDiff(
        added=sorted(new.keys() - old.keys()),
        removed=sorted(old.keys() - new.keys()),
        classes_added=sorted(set(b.classes) - set(a.classes)),
        classes_removed=sorted(set(a.classes) - set(b.classes)),
    )
    diff.pool_recorded = a.pool_recorded and b.pool_recorded
    if diff.pool_recorded:
        old_pool = {u.image_id for u in a.unlabelled}
        new_pool = {u.image_id for u in b.unlabelled}
        diff.unlabelled_added = sorted(new_pool - old_pool)
        diff.unlabelled_removed = sorted(old_pool - new_pool)
    for image_id in sorted(old.keys() & new.keys()):
        x, y = old[image_id], new[image_id]
        if x.wnid != y.wnid:
            diff.relabelled.append((image_id, x.wnid, y.wnid))
        if x.split != y.split:
            diff.moved.append((image_id, x.split, y.split))
    return diff


def crowd_now(s: Session, image_ids: list[int], classes: tuple[str, ...]) -> CrowdSnapshot:
    """What the crowd holds now about a version's images and classes (see
    :func:`synsetlab.annotate.snapshot.snapshot_crowd`); the annotation package, and pandas,
    load only where a project exists."""
    if s.scalar(select(AnnotationProject.id).limit(1)) is None:
        return CrowdSnapshot(taken_at=utcnow().isoformat(timespec="seconds"))
    from synsetlab.annotate.snapshot import snapshot_crowd

    return snapshot_crowd(s, image_ids, classes)


def _current_manifest(s: Session) -> tuple[Manifest, dict[str, int]]:
    """The manifest the catalog gives now, and how many of the images it names (labelled,
    unlabelled or excluded) each source holds: ``{str(source id): count}``."""
    everything = current_images(s, include_excluded=True)
    kept = [i for i in everything if not i.excluded]
    images = [i for i in kept if i.wnid is not None]
    assigned = dict(s.execute(select(SplitAssignment.image_id, SplitAssignment.split)).all())
    hidden = set(s.scalars(select(SplitAssignment.image_id).where(SplitAssignment.hidden)))
    missing = [i.image_id for i in images if i.image_id not in assigned]
    if not assigned:
        raise VersionError("no split yet: run `synsetlab split ...` before freezing a version")
    if missing:
        raise VersionError(
            f"{len(missing)} labelled images have no split (added or relabelled since the last "
            "split): run `synsetlab split` again before freezing"
        )
    info = {
        row.id: row
        for row in s.execute(
            select(
                Image.id,
                Image.format,
                Image.width,
                Image.height,
                Image.exif_orientation,
                Image.source_key,
                Image.source_id,
                Source.kind,
            ).join(Source, Source.id == Image.source_id)
        )
    }
    boxes: dict[int, list[ManifestBox]] = defaultdict(list)
    for b in s.scalars(select(Box).order_by(Box.id)):
        boxes[b.image_id].append(ManifestBox(b.wnid, b.xmin, b.ymin, b.xmax, b.ymax))

    def stored(image: CurrentImage) -> dict[str, Any]:
        row = info[image.image_id]
        return {
            "image_id": image.image_id,
            "sha256": image.sha256,
            "source": row.kind,
            "source_key": row.source_key,
            "format": row.format,
            "width": row.width,
            "height": row.height,
            "exif_orientation": row.exif_orientation,
        }

    entries = [
        ManifestEntry(
            **stored(image),
            wnid=image.wnid,  # type: ignore[arg-type]
            split=assigned[image.image_id],
            hidden=image.image_id in hidden,
            boxes=tuple(boxes.get(image.image_id, ())),
            relabelled_from=image.source_wnid if image.source_wnid != image.wnid else None,
        )
        for image in images
    ]
    unlabelled = [
        UnlabelledEntry(**stored(image), candidates=image.competing)
        for image in kept
        if image.wnid is None
    ]
    excluded = tuple(i.image_id for i in everything if i.excluded)
    split_run = s.scalar(select(SplitRun).order_by(SplitRun.id.desc()))
    params = {
        "split": split_run.params if split_run else {},
        "unlabelled_or_conflicting": len(kept) - len(images),
    }
    classes = sorted_classes(e.wnid for e in entries)
    named = [*(e.image_id for e in entries), *(u.image_id for u in unlabelled), *excluded]
    sources = Counter(info[image_id].source_id for image_id in named)
    manifest = Manifest(classes, tuple(entries), params, excluded, tuple(unlabelled))
    return manifest, {str(source): n for source, n in sorted(sources.items())}
