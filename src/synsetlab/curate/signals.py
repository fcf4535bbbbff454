"""Per-content signals that curation reads, stored once per content (sha256) in ``blob_signals``.

:func:`update_signals` measures (see :mod:`synsetlab.curate.measure`) only the contents that
have no signals yet, or that were measured before a signal existed, on all cores.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import insert, select, update

from synsetlab.catalog.models import BlobSignals, utcnow
from synsetlab.catalog.models import Image as ImageRow
from synsetlab.curate.measure import hamming, init_reader, measure, measure_chunk
from synsetlab.parallel import map_chunks
from synsetlab.workspace import Workspace

__all__ = ["hamming", "measure", "update_signals"]


def update_signals(
    ws: Workspace,
    *,
    workers: int | None = None,
    batch_size: int = 512,
    on_progress: Callable[[int, int], None] | None = None,
) -> int:
    """Measure every stored content without signals, or without the centre hashes (rows
    written before ``phash_inset`` existed); return how many were measured.

    ``on_progress(n, total)`` is called after each batch written.
    """
    workers = ws.settings.resolved_workers() if workers is None else workers
    with ws.session() as s:
        done = set(s.scalars(select(BlobSignals.sha256)))
        stale = set(s.scalars(select(BlobSignals.sha256).where(BlobSignals.phash_inset.is_(None))))
        todo = sorted(set(s.scalars(select(ImageRow.sha256).distinct())) - (done - stale))
    pending: list[dict] = []
    measured = 0

    def flush() -> None:
        nonlocal pending, measured
        if pending:
            new = [row for row in pending if row["sha256"] not in stale]
            now = utcnow()  # the column default covers inserts only
            old = [{**row, "computed_at": now} for row in pending if row["sha256"] in stale]
            with ws.session() as s:
                if new:
                    s.execute(insert(BlobSignals), new)
                if old:
                    s.execute(update(BlobSignals), old)  # by primary key: one UPDATE per row
            measured += len(pending)
            if on_progress is not None:
                on_progress(len(pending), len(todo))
            pending = []

    chunks = map_chunks(
        measure_chunk,
        todo,
        workers=workers,
        initializer=init_reader,
        initargs=(ws.settings.resolved_blob_url(),),
        preload=["synsetlab.curate.measure"],
    )
    for shas, results in chunks:
        pending.extend({"sha256": sha, **r} for sha, r in zip(shas, results, strict=True) if r)
        if len(pending) >= batch_size:
            flush()
    flush()
    return measured
