"""The one ingestion pipeline every source goes through.

The main process lists items (cheap, sequential: archives are read in order) and keeps the
catalog; worker processes decode, hash and store the bytes (the expensive part). Results are
written in batches, one transaction each, with an image's labels and boxes in the same
transaction as the image: a killed run leaves whole images or none. A run skips every key its
source already holds (as an image or as a rejection), which makes ingestion idempotent and lets
a killed run resume where it stopped. A replacing run (``replace=True``) is the exception: it
writes in one transaction with the removal of the earlier run, so that it replaces it whole
or not at all.
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from synsetlab.catalog import Box, Image, Label, LabelState, RejectedFile, Source
from synsetlab.ingest.classes import check_classes
from synsetlab.ingest.decode import (
    Decoded,
    Reason,
    Rejection,
    init_worker,
    process_chunk,
)
from synsetlab.ingest.records import SourceError, SourceItem, SourceSpec
from synsetlab.ingest.sources import remove_source_in
from synsetlab.parallel import map_chunks
from synsetlab.taxonomy import Taxonomy
from synsetlab.workspace import Workspace

#: ``on_progress(finished, total)``: items finished since the last call, and the source's
#: item count when known.
ProgressFn = Callable[[int, int | None], None]


@dataclass
class IngestReport:
    """What one run of the pipeline did."""

    source_id: int
    kind: str
    uri: str
    #: Items listed by the source and not already in the catalog.
    processed: int = 0
    added: int = 0
    rejected: int = 0
    #: Items skipped because an earlier run already recorded them.
    already_known: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


def ingest(
    ws: Workspace,
    spec: SourceSpec,
    *,
    label_state: LabelState | str | None = None,
    workers: int | None = None,
    batch_size: int | None = None,
    taxonomy: Taxonomy | None = None,
    on_progress: ProgressFn | None = None,
    replace: bool = False,
) -> IngestReport:
    """Ingest every item of ``spec`` into the workspace; return what happened.

    ``label_state`` defaults to the source's own (verified for curated datasets, candidate
    for folders and manifests). ``workers=0`` decodes in this process. ``on_progress(n, total)``
    is called after each batch with the number of items it finished.

    Every class the source names up front (``spec.classes``) is checked first: an unknown one
    raises :class:`~synsetlab.ingest.classes.UnknownClassError` with nothing written.
    ``replace=True`` removes what earlier runs of this source recorded (see
    :func:`~synsetlab.ingest.sources.remove_source`) and ingests it anew, with other options,
    in one transaction: a replacing run that fails midway (an unreadable archive, a killed
    process) leaves the earlier source whole, and starts over when run again.
    """
    start = time.perf_counter()
    state = LabelState(label_state or spec.label_state)
    workers = ws.settings.resolved_workers() if workers is None else workers
    batch_size = batch_size or ws.settings.ingest_batch_size
    taxonomy = taxonomy or ws.taxonomy()
    check_classes(spec.classes, taxonomy)
    run = functools.partial(_run, ws, spec, state=state, taxonomy=taxonomy, workers=workers,
                            batch_size=batch_size, on_progress=on_progress)  # fmt: skip
    if not replace:
        report = run(ws.session)
    else:
        # One transaction from the removal to the last image: a run that fails or is killed
        # midway leaves the earlier source as it was. Readers see that source until the
        # commit (SQLite's WAL); other writers wait for it.
        with ws.session() as s:
            earlier = s.scalar(
                select(Source.id).where(Source.kind == spec.kind, Source.uri == spec.uri)
            )
            if earlier is not None:
                remove_source_in(ws, s, earlier)
            report = run(lambda: nullcontext(s))
    report.seconds = time.perf_counter() - start
    return report


def _run(
    ws: Workspace,
    spec: SourceSpec,
    session: Callable[[], AbstractContextManager[Session]],
    *,
    state: LabelState,
    taxonomy: Taxonomy,
    workers: int,
    batch_size: int,
    on_progress: ProgressFn | None,
) -> IngestReport:
    """Ingest ``spec``, writing the source row and each batch in ``session()``: a transaction
    of its own each (``ws.session``: a killed run keeps whole batches and resumes), or one
    open session throughout."""
    with session() as s:
        source_id = _get_or_create_source(s, spec)
        known = _known_keys(s, source_id)
    report = IngestReport(source_id, spec.kind, spec.uri, already_known=len(known))
    remaining = None if spec.total is None else max(spec.total - len(known), 0)

    def fresh_items() -> Iterator[SourceItem]:
        for item in spec.items(known.__contains__):
            if item.key not in known:  # readers may not skip; a key listed twice keeps the first
                known.add(item.key)
                yield item

    def write(batch: list[tuple[SourceItem, Decoded | Rejection]]) -> None:
        if not batch:
            return
        with session() as s:
            _add_rows(s, source_id, state, batch, report)
        if on_progress is not None:
            on_progress(len(batch), remaining)

    pending: list[tuple[SourceItem, Decoded | Rejection]] = []
    for item, result in _results(ws, fresh_items(), taxonomy, workers):
        pending.append((item, result))
        if len(pending) >= batch_size:
            write(pending)
            pending = []
    write(pending)
    return report


def _label_problem(item: SourceItem, taxonomy: Taxonomy) -> Rejection | None:
    """A rejection when the item's label or a box's class is not a known class."""
    for wnid in filter(None, (item.label, *(b.wnid for b in item.boxes))):
        if wnid not in taxonomy:
            return Rejection(
                Reason.unknown_label,
                f"label {wnid!r} is not a WordNet 3.0 noun synset nor a workspace class "
                "(map source labels to wnids, or add the class with `synsetlab taxonomy add`)",
            )
    return None


def _results(
    ws: Workspace, items: Iterable[SourceItem], taxonomy: Taxonomy, workers: int
) -> Iterator[tuple[SourceItem, Decoded | Rejection]]:
    """``(item, result)`` for every item, in listing order."""
    checked = ((item, _label_problem(item, taxonomy)) for item in items)
    for chunk, results in map_chunks(
        process_chunk,
        checked,
        workers=workers,
        initializer=init_worker,
        initargs=(ws.settings.resolved_blob_url(), ws.settings.max_image_pixels),
        preload=["synsetlab.ingest.decode"],
    ):
        yield from zip((item for item, _ in chunk), results, strict=True)


def _get_or_create_source(s: Session, spec: SourceSpec) -> int:
    row = s.scalars(select(Source).where(Source.kind == spec.kind, Source.uri == spec.uri)).first()
    if row is None:
        row = Source(kind=spec.kind, uri=spec.uri, options=dict(spec.options))
        s.add(row)
        s.flush()
    elif row.options != dict(spec.options):
        raise SourceError(
            f"{spec.kind} source {spec.uri} was ingested before with options {row.options}; "
            f"ingesting it again with {dict(spec.options)} would give its files two "
            "meanings. Run again with the same options, or pass --replace to forget what "
            f"the earlier runs recorded and ingest it anew (`synsetlab ingest remove "
            f"{row.id}` forgets it alone)"
        )
    return row.id


def _known_keys(s: Session, source_id: int) -> set[str]:
    keys = set(s.scalars(select(Image.source_key).where(Image.source_id == source_id)))
    keys.update(
        s.scalars(select(RejectedFile.source_key).where(RejectedFile.source_id == source_id))
    )
    return keys


def _add_rows(
    s: Session,
    source_id: int,
    state: LabelState,
    results: list[tuple[SourceItem, Decoded | Rejection]],
    report: IngestReport,
) -> None:
    # Bulk INSERT ... RETURNING rather than the ORM's unit of work: 5x fewer round trips and
    # no per-object bookkeeping, which matters at ImageNet's 1.3 M rows.
    rejected = [(item, r) for item, r in results if isinstance(r, Rejection)]
    decoded = [(item, r) for item, r in results if isinstance(r, Decoded)]
    report.processed += len(results)
    report.rejected += len(rejected)
    report.added += len(decoded)
    report.reasons.update(r.reason.value for _, r in rejected)
    if rejected:
        s.execute(
            insert(RejectedFile),
            [
                {"source_id": source_id, "source_key": item.key, "reason": r.reason.value,
                 "detail": r.detail}
                for item, r in rejected
            ],
        )  # fmt: skip
    if not decoded:
        return
    image_rows = [
        {
            "sha256": d.sha256,
            "size_bytes": d.size_bytes,
            "format": d.format,
            "width": d.width,
            "height": d.height,
            "mode": d.mode,
            "exif_orientation": d.exif_orientation,
            "source_id": source_id,
            "source_key": item.key,
            "source_split": item.split,
        }
        for item, d in decoded
    ]
    ids = s.scalars(
        insert(Image).returning(Image.id, sort_by_parameter_order=True), image_rows
    ).all()
    labels = [
        {"image_id": image_id, "wnid": item.label, "source_id": source_id, "state": state}
        for image_id, (item, _) in zip(ids, decoded, strict=True)
        if item.label is not None
    ]
    boxes = [
        {"image_id": image_id, "wnid": b.wnid, "xmin": b.xmin, "ymin": b.ymin,
         "xmax": b.xmax, "ymax": b.ymax, "source_id": source_id}
        for image_id, (item, _) in zip(ids, decoded, strict=True)
        for b in item.boxes
    ]  # fmt: skip
    if labels:
        s.execute(insert(Label), labels)
    if boxes:
        s.execute(insert(Box), boxes)
