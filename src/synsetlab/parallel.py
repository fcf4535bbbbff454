"""Ordered, memory-bounded parallel map over worker processes, for per-image work.

``concurrent.futures`` and ``multiprocessing.Pool.imap`` either return results out of order or
read their whole input ahead; ingesting a 150 GB archive needs both order (results are written
as they come) and a bounded window of items in flight. This is the small piece that gives both.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver
import sys
import types
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
#: What data-loading workers need (:func:`synsetlab.data.loader.create_loader`), imported once
#: by the fork server: minutes for a dozen workers importing torch themselves.
LOADER_PRELOAD = ("torch", "torchvision", "synsetlab.data")


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

    ctx = worker_context(preload)
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


def worker_context(preload: Sequence[str] = ()) -> multiprocessing.context.BaseContext:
    """The start method for worker processes: forkserver where there is one, else spawn.

    Not fork: callers hold database connections (a forked child closing a PostgreSQL
    connection ends it for the parent too), CUDA contexts and rich's refresh thread. The fork
    server imports ``preload`` and what the main script imported, once; each worker forks
    from it with those loaded instead of importing them itself (seconds each). The server is
    one per process: the first caller to start it sets what it preloads.
    """
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if ctx.get_start_method() == "forkserver":
        ctx.set_forkserver_preload([*preload, *main_imports()])
    return ctx


def start_loader_server(workers: int | None = None) -> None:
    """Start the fork server of data-loading workers now, in the background, unless
    ``workers`` is 0 (``None``: not known yet, so start). Call it before a command's heavy
    imports.

    The server's imports (:data:`LOADER_PRELOAD`) then overlap this process's own, instead of
    following them when the first worker is asked for: ``synsetlab train v1 --recipe tiny-cpu
    --epochs 1 --set workers=2`` took 9.5-10.7 s on 2 cores instead of 11.6-13.2 s (three
    runs each).
    """
    if workers != 0 and worker_context(LOADER_PRELOAD).get_start_method() == "forkserver":
        multiprocessing.forkserver.ensure_running()


def main_imports() -> list[str]:
    """The modules whose names or members the main script's top level holds.

    Each worker re-runs the main script (as spawn does, to find what it defines): with these
    already loaded in the fork server, that re-run imports nothing. ``"__main__"`` in the
    preload list should do this itself, but CPython 3.11's server never gets the script's
    path (it asks for ``main_path``; spawn names it ``init_main_from_path``), so a script
    importing ``synsetlab.train`` cost each of 8 workers seconds: 8 s more start-up on an H100
    machine, 3.7 s on 2 cores. Modules found only beside the script are not preloaded there
    either (that server does not get the script's folder on its ``sys.path``).
    """
    main = sys.modules.get("__main__")
    if main is None or getattr(main, "__file__", None) is None:
        return []
    names = set()
    for value in vars(main).values():
        name = value.__name__ if isinstance(value, types.ModuleType) else None
        name = name or getattr(value, "__module__", None)
        if isinstance(name, str) and name in sys.modules and name != "__main__":
            names.add(name)
    return sorted(names)
