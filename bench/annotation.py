"""The annotation server under a crowd: many annotators answering pages at once, on SQLite and
on PostgreSQL.

A catalog of ``--classes`` x ``--per-class`` candidate labels (``--wrong`` of them planted under
a wrong class; image rows only, no bytes: no page shows a thumbnail here) gets a verification
project with the default options (dynamic consensus, target precision 0.997, gold 10%, pages
of 10). A real ``synsetlab serve`` process (one uvicorn worker) hosts it. ``--annotators``
simulated annotators (the library's :class:`SimulatedCrowd`: honest accuracy Beta(8, 2), 10%
spammers), each with an API token, run at once for ``--seconds``: fetch the next page
(``GET /api/annotate/projects/bench/next``), answer it from the truth, submit it
(``PUT /api/annotate/tasks/{id}``), again: with no pause (the server's capacity), or with
``--pace 1`` after looking at the page as long as the simulated person takes (about 3 s an
image: the latency people see).

Printed per database: requests/s, p50 and p99 latency and errors (any status other than 200)
for each kind of request; votes stored per second; lost votes (answers the server said it
stored that are not in the catalog) and duplicated votes (one annotator's two votes on one
question); both targets are 0. Peak resident memory of the server process.

Baseline, in the same run: the same crowd through the library (``next_task`` then
``submit_task``, one transaction each, one process, no HTTP) on a fresh copy of the same
catalog for the same time: what the assignment and consensus code can do at all. The ratio is
the server's share of it.

    python bench/annotation.py                        # SQLite, 200 annotators for 60 s
    python bench/annotation.py --pace 1 --seconds 120 # at people's pace
    python bench/annotation.py --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres
    python bench/annotation.py --classes 100 --per-class 600 --annotators 50   # 60,000 labels

The crowd's precision against majority vote and Dawid-Skene is ``bench/annotate_consensus.py``;
the votes model assistance saves, ``bench/annotate_assist.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import resource
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import numpy as np
from argon2 import PasswordHasher
from sqlalchemy import create_engine, func, insert, select

from synsetlab.annotate import CrowdConfig, ProjectOptions, SimulatedCrowd, create_project
from synsetlab.annotate.assign import next_task
from synsetlab.annotate.errors import AnnotationForbiddenError
from synsetlab.annotate.members import join_project
from synsetlab.annotate.projects import get_project
from synsetlab.annotate.submit import submit_task
from synsetlab.catalog import AnnotationItem, AnnotationVote, Role, User
from synsetlab.catalog.models import Image, Label, LabelState, Source
from synsetlab.challenge import accounts
from synsetlab.taxonomy import Taxonomy, ilsvrc2012_wnids
from synsetlab.workspace import Workspace, init_workspace

sys.path.insert(0, str(Path(__file__).parent))
from server_load import free_port, fresh_pg_database, start

PROJECT = "bench"


def seed_catalog(ws: Workspace, classes: int, per_class: int, wrong: float, seed: int) -> None:
    """``classes`` x ``per_class`` images, each with a candidate label of an ILSVRC-2012 class
    (none an ancestor of another); ``wrong`` of them truly of another class, recorded in the
    source key as ``<n>:<true wnid>``."""
    rng = np.random.default_rng(seed)
    wnids = ilsvrc2012_wnids()[:: max(1, 1000 // classes)][:classes]
    n = classes * per_class
    given = np.repeat(np.arange(classes), per_class)
    true = given.copy()
    flip = rng.random(n) < wrong
    true[flip] = (given[flip] + rng.integers(1, classes, flip.sum())) % classes
    with ws.session() as s:
        source = Source(kind="bench", uri="bench://annotation", options={})
        s.add(source)
        s.flush()
        images = [
            {"id": i + 1, "sha256": hashlib.sha256(b"bench %d" % i).hexdigest(),
             "size_bytes": 1000, "format": "JPEG", "width": 64, "height": 64, "mode": "RGB",
             "source_id": source.id, "source_key": f"{i}:{wnids[true[i]]}"}
            for i in range(n)
        ]  # fmt: skip
        s.execute(insert(Image), images)
        s.execute(
            insert(Label),
            [
                {"image_id": i + 1, "wnid": wnids[given[i]], "source_id": source.id,
                 "state": LabelState.candidate}
                for i in range(n)
            ],
        )  # fmt: skip


def build(root: Path, db_url: str | None, args: argparse.Namespace) -> tuple[Workspace, dict]:
    """The workspace with its project and annotators; returns it and each question's truth."""
    ws = init_workspace(root, db_url=db_url)
    seed_catalog(ws, args.classes, args.per_class, args.wrong, args.seed)
    with ws.session() as s:
        create_project(s, PROJECT, taxonomy=Taxonomy.wordnet(), options=ProjectOptions())
    with ws.session() as s:
        rows = s.execute(
            select(AnnotationItem.id, AnnotationItem.wnid, AnnotationItem.gold, Image.source_key)
            .join(Image, Image.id == AnnotationItem.image_id)
            .where(AnnotationItem.project_id == get_project(s, PROJECT).id)
        ).all()
    truth = {
        item: bool(gold) if gold is not None else key.split(":")[1] == wnid
        for item, wnid, gold, key in rows
    }
    return ws, truth


def annotator_tokens(ws: Workspace, n: int) -> list[str]:
    """``n`` annotator accounts joined to the project, one API token each."""
    with ws.session() as s:
        project = get_project(s, PROJECT)
        # One hash for all: argon2 is slow on purpose, and nobody logs in with a password here.
        hashed = PasswordHasher().hash("bench-password")
        tokens = []
        for i in range(n):
            user = User(name=f"annotator{i}", password_hash=hashed, role=Role.annotator)
            s.add(user)
            s.flush()
            join_project(s, project, user, invited=True)
            tokens.append(accounts.issue_token(s, user, name="bench"))
    return tokens


def crowd_for(n: int, seed: int) -> SimulatedCrowd:
    return SimulatedCrowd(CrowdConfig(workers=n, spammers=0.1, seed=seed))


async def load(
    url: str,
    tokens: list[str],
    truth: dict,
    crowd: SimulatedCrowd,
    seconds: float,
    pace: float,
) -> dict[str, list]:
    """Every annotator fetches, answers and submits pages until time is up; returns per kind
    (latency s, status), and under ``"stored"`` the votes each submit said it stored."""
    results: dict[str, list] = defaultdict(list)
    stop = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=len(tokens), max_keepalive_connections=len(tokens))
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:

        async def request(kind: str, method: str, path: str, **kw) -> httpx.Response | None:
            """One request, timed; a broken connection counts as an error (status -1)."""
            t = time.perf_counter()
            try:
                r = await http.request(method, path, **kw)
            except httpx.HTTPError:
                results[kind].append((time.perf_counter() - t, -1))
                return None
            results[kind].append((time.perf_counter() - t, r.status_code))
            return r

        async def annotator(worker: str, token: str) -> None:
            headers = {"Authorization": f"Bearer {token}"}
            while time.monotonic() < stop:
                r = await request(
                    "next", "GET", f"/api/annotate/projects/{PROJECT}/next", headers=headers
                )
                if r is None:
                    continue
                if r.status_code == 403 and "stopped" in r.text:
                    results["next"].pop()  # a refusal as it should be, not an error
                    results["stopped"].append(worker)  # failed gold: no more pages
                    return
                task = r.json().get("task") if r.status_code == 200 else None
                if task is None:
                    await asyncio.sleep(0.5)  # nothing for me now: pages are out with others
                    continue
                items = [image["item_id"] for image in task["images"]]
                got = crowd.answer(worker, np.array([truth[i] for i in items], dtype=bool))
                if pace:  # looking at the page, as long as the simulated person takes
                    await asyncio.sleep(pace * float(got.seconds.sum()))
                body = {
                    "answers": dict(zip(map(str, items), got.labels.tolist(), strict=True)),
                    "seconds": float(got.seconds.sum()),
                }
                # A submit whose answer was lost is sent again, as a client would: the
                # server stores it once (the repeat stores nothing).
                for _ in range(5):
                    r = await request(
                        "submit", "PUT", f"/api/annotate/tasks/{task['id']}", headers=headers,
                        json=body,
                    )  # fmt: skip
                    if r is not None:
                        break
                if r is None:
                    continue
                if r.status_code == 200:
                    results["stored"].append(r.json()["stored"])
                elif r.status_code == 403 and "stopped" in r.text:
                    results["stopped"].append(worker)
                    return

        await asyncio.gather(
            *(annotator(w, token) for w, token in zip(crowd.ids, tokens, strict=True))
        )
    return results


def summary(name: str, rows: list[tuple[float, int]], seconds: float) -> None:
    if not rows:
        print(f"  {name:<8} no requests")
        return
    latencies = np.array([r[0] for r in rows]) * 1000
    errors = Counter(status for _, status in rows if status != 200)
    p50, p99 = np.percentile(latencies, [50, 99])
    kinds = ", ".join(f"{n} x {'no answer' if s == -1 else s}" for s, n in sorted(errors.items()))
    print(
        f"  {name:<8} {len(rows):>7} requests {len(rows) / seconds:>7.1f}/s   p50 {p50:7.1f} ms"
        f"   p99 {p99:7.1f} ms   errors {errors.total()}" + (f" ({kinds})" if kinds else "")
    )


def stored_votes(db_url: str) -> tuple[int, int]:
    """(votes the annotators gave, distinct (question, annotator) among them) in the catalog."""
    engine = create_engine(db_url)
    with engine.connect() as conn:
        given = AnnotationVote.propagated.is_(False)
        votes = conn.scalar(select(func.count()).select_from(AnnotationVote).where(given))
        pairs = select(AnnotationVote.item_id, AnnotationVote.annotator_id).where(given).distinct()
        distinct = conn.scalar(select(func.count()).select_from(pairs.subquery()))
    engine.dispose()
    return int(votes), int(distinct)


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_server(label: str, db_url: str | None, args: argparse.Namespace) -> float:
    """Votes stored per second by the server on ``db_url`` (SQLite in the workspace if None)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        started = time.perf_counter()
        ws, truth = build(root, db_url, args)
        tokens = annotator_tokens(ws, args.annotators)
        url_db = str(ws.engine.url.render_as_string(hide_password=False))
        ws.close()
        built = time.perf_counter() - started
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = Path(tmp) / "server.log"
        server = start(
            [sys.executable, "-m", "synsetlab", "-w", str(root), "serve", "--port", str(port)],
            f"{url}/api/challenges",
            log,
        )
        try:
            crowd = crowd_for(args.annotators, args.seed)
            results = asyncio.run(load(url, tokens, truth, crowd, args.seconds, args.pace))
            server_rss = peak_rss_mib(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=60)
        votes, distinct = stored_votes(url_db)
        failures = [line for line in log.read_text().splitlines() if "Error" in line]
    said = sum(results["stored"])
    rate = votes / args.seconds
    print(
        f"{label}: {args.annotators} annotators for {args.seconds:.0f} s on "
        f"{len(truth):,} questions (built in {built:.0f} s)"
    )
    summary("next", results["next"], args.seconds)
    summary("submit", results["submit"], args.seconds)
    if failures:
        print(f"  server log: {len(failures)} error lines, e.g. {failures[0][:160]}")
    print(
        f"  votes stored {votes:,} ({rate:.1f}/s); said stored {said:,}; "
        f"lost {max(said - votes, 0)}; duplicated {votes - distinct}; "
        f"{len(set(results['stopped']))} annotators stopped for gold; "
        f"server peak RSS {server_rss:.0f} MiB"
    )
    return rate


def run_library(args: argparse.Namespace) -> float:
    """Votes stored per second by the library alone, on SQLite, same crowd and catalog."""
    with tempfile.TemporaryDirectory() as tmp:
        ws, truth = build(Path(tmp) / "ws", None, args)
        crowd = crowd_for(args.annotators, args.seed)
        with ws.session() as s:
            project = get_project(s, PROJECT)
            people = {}
            hashed = "unused"
            for w in crowd.ids:
                user = User(name=f"lib-{w}", password_hash=hashed, role=Role.annotator)
                s.add(user)
                s.flush()
                people[w] = join_project(s, project, user, invited=True).id
        votes = 0
        stop = time.monotonic() + args.seconds
        while time.monotonic() < stop and people:
            for w in list(people):
                with ws.session() as s:
                    try:
                        task = next_task(s, PROJECT, people[w])
                    except AnnotationForbiddenError:  # failed gold: no more pages
                        del people[w]
                        continue
                if task is None:
                    continue
                got = crowd.answer(w, np.array([truth[i] for i in task.item_ids], dtype=bool))
                with ws.session() as s:
                    done = submit_task(
                        s,
                        task.id,
                        people[w],
                        dict(zip(task.item_ids, got.labels.tolist(), strict=True)),
                        client_seconds=float(got.seconds.sum()),
                    )
                votes += done.votes
                if done.stopped:
                    del people[w]
                if time.monotonic() >= stop:
                    break
        ws.close()
    rate = votes / args.seconds
    print(
        f"baseline, the library in one process: {votes:,} votes in {args.seconds:.0f} s "
        f"({rate:.1f}/s)"
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--annotators", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--classes", type=int, default=20)
    parser.add_argument("--per-class", type=int, default=500)
    parser.add_argument("--wrong", type=float, default=0.2, help="share of wrong candidates")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--pace",
        type=float,
        default=0.0,
        help="pause before each submit: the simulated person's seconds on the page times this "
        "(0: none, the server's capacity; 1: people's pace, about 3 s an image)",
    )
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("SYNSETLAB_TEST_PG_URL"),
        help="PostgreSQL server to also run on (default: $SYNSETLAB_TEST_PG_URL)",
    )
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}; {args.classes} classes x {args.per_class} candidates")
    base = run_library(args)
    rate = run_server("SQLite", None, args)
    print(f"  server / library: {rate / base:.2f}x")
    if args.pg_url:
        url, drop = fresh_pg_database(args.pg_url)
        try:
            rate = run_server("PostgreSQL", url, args)
            print(f"  server / library: {rate / base:.2f}x")
        finally:
            drop()
    else:
        print("PostgreSQL: skipped (pass --pg-url or set SYNSETLAB_TEST_PG_URL)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"bench process peak RSS {peak:.0f} MiB")


if __name__ == "__main__":
    main()
