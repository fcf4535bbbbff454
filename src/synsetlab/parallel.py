"""Ordered, memory-bounded parallel map over worker processes, for per-image work.

``concurrent.futures`` and ``multiprocessing.Pool.imap`` either return results out of order or
read their whole input ahead; ingesting a 150 GB archive needs both order (results are written
as they come) and a bounded window of items in flight. This is the small piece that gives both.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: Items per task: large enough to amortise pickling, small enough to balance the workers.
CHUNK = 16
#: Tasks in flight per worker: bounds memory when items carry their bytes.
IN_FLIGHT_PER_WORKER = 4


def map_chunks(
    fn: Callable[[list[T]], list[R]],
    items: Iterable[T],
    *,
    workers: int,
    initializer: Callable[..., None] | None = None,
    initargs: tuple[Any, ...] = (),
    preload: Sequence[str] = (),
    chunk: int = CHUNK,
) -> Iterator[tuple[list[T], list[R]]]:
    """Yield ``(chunk, fn(chunk))`` for consecutive chunks of ``items``, in input order.

    ``fn`` must be a picklable module-level function returning one result per item.
    ``workers=0`` runs everything in this process (``initializer`` too). ``preload`` names
    modules the fork server imports once, so workers start without importing them again.
    """
    stream = iter(items)
    if workers == 0:
        if initializer is not None:
            initializer(*initargs)
        while batch := list(islice(stream, chunk)):
            yield batch, fn(batch)
        return

    # Not fork: callers hold database connections and rich's refresh thread.
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if ctx.get_start_method() == "forkserver" and preload:
        ctx.set_forkserver_preload(list(preload))
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=initializer, initargs=initargs
    ) as pool:
        window: deque[tuple[list[T], Future[list[R]]]] = deque()
        while True:
            while len(window) < workers * IN_FLIGHT_PER_WORKER:
                batch = list(islice(stream, chunk))
                if not batch:
                    break
                window.append((batch, pool.submit(fn, batch)))
            if not window:
                return
            batch, future = window.popleft()
            yield batch, future.result()
