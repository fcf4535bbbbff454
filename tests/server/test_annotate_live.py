"""The simulated crowd answers a small project through the HTTP API of a real uvicorn server,
many annotators at once: every label is decided, the planted wrong labels are rejected, and
each answer is stored exactly once, retried requests included."""

from __future__ import annotations

import shutil
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import select

from synsetlab.annotate import CrowdConfig, ProjectOptions, SimulatedCrowd, create_project
from synsetlab.annotate.crowd_run import catalog_truth
from synsetlab.annotate.projects import get_project
from synsetlab.catalog import AnnotationItem, AnnotationVote, ItemStatus, Role, User
from synsetlab.challenge import accounts
from synsetlab.taxonomy import Taxonomy
from synsetlab.workspace import open_workspace
from tests.server.live import serve
from tests.server.test_annotate_api import site_template  # noqa: F401 - the fixture

PROJECT = "crowd"
WORKERS = 8


def test_the_simulated_crowd_verifies_a_project_through_http(
    site_template: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    shutil.copytree(site_template, tmp_path / "ws")
    ws = open_workspace(tmp_path / "ws")
    options = ProjectOptions(
        target_precision=0.95, max_votes=5, initial_items=6, initial_votes=3, page_size=8, gold=0.1
    )
    with ws.session() as s:
        create_project(s, PROJECT, taxonomy=Taxonomy.wordnet(), options=options)
        # One password hash for every simulated annotator: hashing is slow on purpose.
        password_hash = s.scalars(select(User.password_hash).where(User.name == "ann")).one()
        tokens = {}
        for i in range(WORKERS):
            user = User(name=f"w{i}", password_hash=password_hash, role=Role.annotator)
            s.add(user)
            s.flush()
            tokens[f"w{i}"] = accounts.issue_token(s, user, name="crowd")
    truth = catalog_truth(ws, PROJECT).right
    crowd = SimulatedCrowd(CrowdConfig(workers=WORKERS, accuracy=(38, 2), spammers=0.0, seed=1))
    ids = dict(zip(crowd.ids, tokens, strict=True))
    seconds: dict[str, list[float]] = defaultdict(list)

    with serve(ws.root) as url, httpx.Client(base_url=url, timeout=60) as http:

        def call(kind: str, worker: str, method: str, path: str, **kw) -> httpx.Response:
            headers = {"Authorization": f"Bearer {tokens[ids[worker]]}"}
            start = time.perf_counter()
            answer = http.request(method, path, headers=headers, **kw)
            seconds[kind].append(time.perf_counter() - start)
            assert answer.status_code in (200, 201), answer.text
            return answer

        for w in crowd.ids:
            call("join", w, "POST", f"/api/annotate/projects/{PROJECT}/join", json={})
        stored, given, first = 0, 0, None
        with ThreadPoolExecutor(WORKERS) as pool:
            for _ in range(60):
                pages = list(
                    pool.map(
                        lambda w: (
                            w,
                            call("next", w, "GET", f"/api/annotate/projects/{PROJECT}/next"),
                        ),
                        crowd.ids,
                    )
                )
                tasks = [(w, a.json()["task"]) for w, a in pages if a.json()["task"]]
                if not tasks:
                    break
                bodies = []
                for w, task in tasks:  # answers drawn in one order: each worker's own stream
                    items = [i["item_id"] for i in task["images"]]
                    got = crowd.answer(w, np.array([truth[i] for i in items]))
                    body = {
                        "answers": dict(zip(map(str, items), got.labels.tolist(), strict=True)),
                        "seconds": float(got.seconds.sum()),
                    }
                    bodies.append((w, task["id"], body))
                    given += len(items)
                first = first or bodies[0]
                answers = pool.map(
                    lambda b: call("submit", b[0], "PUT", f"/api/annotate/tasks/{b[1]}", json=b[2]),
                    bodies,
                )
                stored += sum(a.json()["stored"] for a in answers)
        # A client that lost the answer to its first submit sends it again: nothing new.
        w, task_id, body = first
        again = call("submit", w, "PUT", f"/api/annotate/tasks/{task_id}", json=body).json()
        assert again["repeat"] and again["stored"] == 0

    with ws.session() as s:
        project_id = get_project(s, PROJECT).id
        votes = s.execute(
            select(AnnotationVote.item_id, AnnotationVote.annotator_id)
            .join(AnnotationItem, AnnotationItem.id == AnnotationVote.item_id)
            .where(AnnotationVote.propagated.is_(False), AnnotationItem.project_id == project_id)
        ).all()
        status = dict(
            s.execute(
                select(AnnotationItem.id, AnnotationItem.status).where(
                    AnnotationItem.gold.is_(None), AnnotationItem.project_id == project_id
                )
            ).all()
        )
    ws.close()
    assert len(votes) == len(set(votes)) == stored == given
    assert all(st is not ItemStatus.pending for st in status.values()), status
    accepted = [i for i, st in status.items() if st is ItemStatus.accepted]
    wrong = [i for i in status if not truth[i]]
    assert wrong, "the project needs planted wrong labels"
    # The order in which concurrent requests arrive changes the pages, hence the votes: a
    # crowd this small may decide a label or two wrong, as it would through the library.
    right = sum((status[i] is ItemStatus.accepted) == truth[i] for i in status)
    assert right >= 0.9 * len(status), (right, len(status))
    print(
        f"{len(status)} labels: {len(accepted)} accepted, {len(status) - len(accepted)} rejected "
        f"({len(wrong)} planted wrong), {right} right; {given} answers stored once each"
    )
    for kind in ("next", "submit"):
        p50, p99 = np.percentile(seconds[kind], [50, 99])
        n = len(seconds[kind])
        print(f"{kind}: {n} requests, p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")
        assert p50 < 1.0, (kind, p50)
