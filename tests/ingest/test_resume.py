"""kill -9 in the middle of an ingest, run it again: the catalog equals an uninterrupted run's."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from synsetlab.workspace import init_workspace, open_workspace
from tests.images import jpeg
from tests.ingest.test_pipeline import catalog_state

N_IMAGES = 600


def run_ingest(ws_root: Path, source: Path, **popen: object) -> subprocess.Popen:
    env = {**os.environ, "SYNSETLAB_INGEST_BATCH_SIZE": "8"}
    cmd = [sys.executable, "-m", "synsetlab", "--workspace", str(ws_root), "ingest"]
    cmd += ["imagefolder", str(source), "--workers", "1"]
    # A session of its own, so the kill can take its decode workers and fork server along;
    # no inherited output, so nothing left behind holds the test runner's pipes open.
    return subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        **popen,  # type: ignore[arg-type]
    )


def count_images(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM images").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


@pytest.mark.slow
def test_killed_ingest_resumes_to_the_same_catalog(tmp_path: Path) -> None:
    source = tmp_path / "photos"
    for i in range(N_IMAGES):
        folder = source / ("n01530575" if i % 2 else "n01531178")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i:04d}.jpg").write_bytes(jpeg((320, 240), seed=i, quality=85))
    (source / "n01530575" / "broken.jpg").write_bytes(b"\xff\xd8\xff broken")

    killed, straight = tmp_path / "killed", tmp_path / "straight"
    init_workspace(killed).close()
    init_workspace(straight).close()

    proc = run_ingest(killed, source)
    deadline = time.monotonic() + 120
    while count_images(killed / "catalog.db") < 16:
        assert proc.poll() is None, "ingest ended before it could be killed"
        assert time.monotonic() < deadline, "ingest made no progress"
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole process group: main, workers, fork server
    proc.wait()
    at_kill = count_images(killed / "catalog.db")
    assert 0 < at_kill < N_IMAGES, f"kill landed at {at_kill} of {N_IMAGES}: not in the middle"

    assert run_ingest(killed, source).wait() == 0
    assert run_ingest(straight, source).wait() == 0

    a, b = open_workspace(killed), open_workspace(straight)
    try:
        state = catalog_state(a)
        assert len(state["images"]) == N_IMAGES
        assert state == catalog_state(b)
    finally:
        a.close()
        b.close()
