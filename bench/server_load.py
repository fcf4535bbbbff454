"""Challenge server under a bounded load from loopback, on SQLite and on PostgreSQL.

A real ``synsetlab serve`` process (one uvicorn worker) hosts a classification challenge on a
version of ``--images`` hidden test images. ``--clients`` concurrent clients run for
``--seconds``: most read the public leaderboard, ``--submitters`` of them each submit a
prediction file for their own team as fast as answers come back. Reported per kind of
request: requests/s, p50 and p99 latency, and errors (any status other than 200/201).
Lost submissions: accepted (201) answers whose submission is not stored and scored
afterwards; both targets are 0.

Baseline, in the same run with the same clients: a bare uvicorn app answering a constant
JSON document (what one process can serve at all); the ratio is the leaderboard's share of
that ceiling.

    python bench/server_load.py                       # SQLite, 50 clients for 30 s
    python bench/server_load.py --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from synsetlab.catalog import Submission, SubmissionStatus, Version
from synsetlab.catalog.models import utcnow
from synsetlab.challenge.challenges import create_challenge
from synsetlab.challenge.phases import PhaseSpec
from synsetlab.manifest import Manifest, ManifestEntry
from synsetlab.workspace import init_workspace

CLASSES = tuple(f"n{10000000 + i:08d}" for i in range(100))
BARE_APP = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b'{"challenge": "bench", "entries": []}'
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_workspace(root: Path, n_images: int, db_url: str | None) -> tuple[Path, bytes]:
    """A workspace with a frozen version of ``n_images`` test images and an open challenge;
    returns its folder and a valid submission file."""
    ws = init_workspace(root, db_url=db_url)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, len(CLASSES), n_images)
    entries = [
        ManifestEntry(
            image_id=i, sha256=hashlib.sha256(f"bench {i}".encode()).hexdigest(),
            wnid=CLASSES[c], split="test", hidden=True, source="bench", source_key=str(i),
            format="JPEG", width=500, height=375,
        )
        for i, c in enumerate(labels)
    ]  # fmt: skip
    manifest = Manifest(classes=CLASSES, entries=tuple(entries))
    version_id = ws.blobs.put(manifest.to_bytes())
    with ws.session() as s:
        s.add(Version(id=version_id, name="v1", images=n_images, classes=len(CLASSES)))
    now = utcnow()
    phase = PhaseSpec("dev", now - timedelta(hours=1), now + timedelta(days=1))
    create_challenge(ws, "v1", name="bench", slug="bench", phases=[phase], public_fraction=0.3)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["ImageId", "PredictionString"])
    for e in entries:
        guesses = rng.choice(len(CLASSES), 5, replace=False)
        writer.writerow([e.sha256, " ".join(CLASSES[g] for g in guesses)])
    ws.close()
    return root, buf.getvalue().encode()


def start(
    args: list[str], url: str, log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen:
    """A server process, its output to ``log`` (a pipe would fill under load and stall it),
    once ``url`` answers."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            args, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(url, timeout=2)
            return process
        except httpx.HTTPError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {log.read_text()[-2000:]}") from None
            time.sleep(0.2)


async def load(
    url: str,
    seconds: float,
    clients: int,
    submitters: list[str],
    data: bytes,
    board_path: str,
) -> dict[str, list[tuple[float, int]]]:
    """Run the clients; returns (latency s, status) per request kind."""
    results: dict[str, list[tuple[float, int]]] = defaultdict(list)
    accepted: list[int] = []
    stop = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:

        async def reader() -> None:
            while time.monotonic() < stop:
                t = time.perf_counter()
                try:
                    status = (await http.get(board_path)).status_code
                except httpx.HTTPError:
                    status = -1
                results["leaderboard"].append((time.perf_counter() - t, status))

        async def submitter(token: str) -> None:
            headers = {"Authorization": f"Bearer {token}"}
            while time.monotonic() < stop:
                t = time.perf_counter()
                try:
                    r = await http.post(
                        "/api/challenges/bench/submissions",
                        headers=headers,
                        files={"file": ("p.csv", data, "text/csv")},
                    )
                    status = r.status_code
                    if status == 201:
                        accepted.append(r.json()["id"])
                except httpx.HTTPError:
                    status = -1
                results["submit"].append((time.perf_counter() - t, status))

        tasks = [reader() for _ in range(clients - len(submitters))]
        tasks += [submitter(token) for token in submitters]
        await asyncio.gather(*tasks)
    results["_accepted"] = [(0.0, i) for i in accepted]
    return results


def summary(name: str, rows: list[tuple[float, int]], seconds: float) -> float:
    latencies = np.array([r[0] for r in rows]) * 1000
    errors = sum(1 for _, status in rows if status not in (200, 201))
    rate = len(rows) / seconds
    p50, p99 = np.percentile(latencies, [50, 99])
    print(
        f"  {name:<12} {len(rows):>7} requests {rate:>8.1f}/s   p50 {p50:7.1f} ms"
        f"   p99 {p99:7.1f} ms   errors {errors}"
    )
    return rate


def run_backend(label: str, db_url: str | None, args: argparse.Namespace, bare_rate: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root, data = build_workspace(Path(tmp) / "ws", args.images, db_url)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = start(
            [sys.executable, "-m", "synsetlab", "-w", str(root), "serve", "--port", str(port)],
            f"{url}/api/challenges",
            Path(tmp) / "server.log",
            env={"SYNSETLAB_SERVER__SUBMIT_RATE": "1000000/minute",
                 "SYNSETLAB_SERVER__LOGIN_RATE": "1000000/minute"},
        )  # fmt: skip
        try:
            tokens = [
                httpx.post(
                    f"{url}/api/register",
                    json={"user": f"user{i}", "password": "bench-password", "team": f"team{i}"},
                ).json()["token"]
                for i in range(args.submitters)
            ]
            results = asyncio.run(
                load(url, args.seconds, args.clients, tokens, data,
                     "/api/challenges/bench/leaderboard")
            )  # fmt: skip
        finally:
            server.terminate()
            server.wait(timeout=30)
        print(
            f"{label}: {args.clients} clients for {args.seconds:.0f} s, {args.images} test images"
        )
        board_rate = summary("leaderboard", results["leaderboard"], args.seconds)
        summary("submit", results["submit"], args.seconds)
        accepted = [i for _, i in results["_accepted"]]
        engine = create_engine(db_url or f"sqlite:///{root / 'catalog.db'}")
        with engine.connect() as conn:
            stored = set(
                conn.scalars(
                    select(Submission.id).where(Submission.status == SubmissionStatus.scored)
                )
            )
            total = conn.scalar(select(func.count()).select_from(Submission))
        engine.dispose()
        lost = sum(1 for i in accepted if i not in stored)
        print(f"  accepted {len(accepted)}, stored {total}, scored {len(stored)}, lost {lost}")
        print(f"  leaderboard / bare ASGI: {board_rate / bare_rate:.2f}x")


def bare_baseline(args: argparse.Namespace) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "bare_app.py").write_text(BARE_APP)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = start(
            [sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(port),
             "--app-dir", tmp, "--log-level", "warning"],
            url,
            Path(tmp) / "server.log",
        )  # fmt: skip
        try:
            results = asyncio.run(load(url, args.seconds, args.clients, [], b"", "/"))
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"baseline, bare uvicorn app: {args.clients} clients for {args.seconds:.0f} s")
    return summary("constant", results["leaderboard"], args.seconds)


def fresh_pg_database(admin_url: str) -> tuple[str, Callable[[], None]]:
    url = make_url(admin_url)
    name = f"synsetlab_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url.set(database=name).render_as_string(hide_password=False), drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--submitters", type=int, default=5, help="clients that submit")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--images", type=int, default=10_000, help="hidden test images")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("SYNSETLAB_TEST_PG_URL"),
        help="PostgreSQL server to also run on (default: $SYNSETLAB_TEST_PG_URL)",
    )
    args = parser.parse_args()
    bare = bare_baseline(args)
    run_backend("SQLite", None, args, bare)
    if args.pg_url:
        url, drop = fresh_pg_database(args.pg_url)
        try:
            run_backend("PostgreSQL", url, args, bare)
        finally:
            drop()
    else:
        print("PostgreSQL: skipped (pass --pg-url or set SYNSETLAB_TEST_PG_URL)")


if __name__ == "__main__":
    main()
