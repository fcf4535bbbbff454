"""Hidden labels and private scores never leave the server before their time.

A participant logs in (cookie and token), submits, and every GET route of the app and every
page they link to is fetched; no response may contain a test image's label next to its id,
the answer key, or any private or whole-set score.
"""

import json
import re
from datetime import timedelta

from fastapi.testclient import TestClient
from starlette.routing import Mount

from synsetlab.catalog.models import utcnow
from synsetlab.challenge.challenges import get_challenge, load_answer_key
from synsetlab.challenge.submissions import add_baseline
from synsetlab.server import create_app
from tests.challenge.workspace import hidden_images, kaggle_csv, open_challenge
from tests.server.conftest import browser_login, register

PATH_VALUES = {"slug": "shapes", "name": "lab", "user": "alice"}


def routes(app) -> list[str]:
    """Every GET route of ``app`` with its path parameters filled in. FastAPI >= 0.165 lists
    an included router as one entry whose routes sit in ``effective_route_contexts``;
    earlier versions list each route."""
    urls = []
    for route in app.routes:
        if isinstance(route, Mount):
            continue
        contexts = getattr(route, "effective_route_contexts", None)
        for r in (contexts() if callable(contexts) else contexts) if contexts else [route]:
            if "GET" not in (getattr(r, "methods", None) or set()):
                continue
            path = getattr(r, "path_format", None) or r.path
            urls.append(re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES.get(m.group(1), "1"), path))
    return urls


def test_the_crawl_starts_from_every_route(ws):
    """The crawl below starts from routes(): it must see the pages and the API, not only
    the docs (it saw only those four under FastAPI 0.165)."""
    found = set(routes(create_app(ws)))
    assert {"/", "/c/shapes", "/c/shapes/leaderboard", "/api/challenges"} <= found, found
    assert len(found) > 20


def renderings(sub_scores: list[dict], parts: tuple[str, ...]) -> set[str]:
    """Scores of ``parts`` in every format a page or the API uses."""
    found = set()
    for scores in sub_scores:
        for part in parts:
            for metric in ("top1_error", "top5_error"):
                value = scores[part][metric]
                for x in (value["value"], value["low"], value["high"]):
                    found |= {f"{x:.4f}", f"{x:.6f}", json.dumps(x)}
    return found


def test_crawl_as_a_participant_finds_no_hidden_label_or_private_score(ws):
    open_challenge(ws, "secret", seed=None)  # the default: a random secret partition seed
    with ws.session() as s:
        secret = get_challenge(s, "secret")
        secret_seed = str(load_answer_key(ws.blobs, secret.answer_key_sha256).seed)
    assert len(secret_seed) > 20
    app = create_app(ws)
    with TestClient(app) as client:
        auth = register(client, "alice", "lab")
        browser_login(client, "alice")
        # Two submissions whose private scores differ from their public ones.
        for correct, seed in ((0.62, 1), (0.37, 4)):
            client.post(
                "/api/challenges/shapes/submissions",
                headers=auth,
                files={"file": ("p.csv", kaggle_csv(ws, correct=correct, seed=seed))},
            )
        add_baseline(ws, "shapes", "baseline", kaggle_csv(ws, correct=0.51, seed=9))
        with ws.session() as s:
            c = get_challenge(s, "shapes")
            key_sha = c.answer_key_sha256
            from sqlalchemy import select

            from synsetlab.catalog import Submission

            stored = [r.scores for r in s.scalars(select(Submission))]
        # Private values that happen to equal a public one cannot tell a leak apart, nor can
        # one equal to a published setting (the public fraction: 0.5).
        with ws.session() as s:
            fraction = get_challenge(s, "shapes").public_fraction
        public = renderings(stored, ("public",)) | {f"{fraction:.4f}", json.dumps(fraction)}
        forbidden = (
            renderings(stored, ("private", "all")) - public - {"0.0000", "1.0000", "0.0", "1.0"}
        )
        assert forbidden, "the test needs private scores that differ from the public ones"
        labelled = [f"{image_id},{wnid}" for image_id, wnid in hidden_images(ws)]

        seen: set[str] = set()
        queue = [
            *routes(app),
            "/api/challenges/secret",
            "/c/secret",
            "/api/challenges/shapes/leaderboard?partition=private",
            "/api/challenges/shapes/leaderboard?format=csv",
            "/api/challenges/shapes/results?format=csv",
            "/c/shapes/leaderboard?partition=private",
        ]
        crawled = 0
        while queue:
            url = queue.pop()
            if url in seen or url.startswith("/static"):
                continue
            seen.add(url)
            for headers in ({}, auth):
                answer = client.get(url, headers=headers)
                body = answer.text
                crawled += 1
                assert key_sha not in body, url
                assert secret_seed not in body and secret.answer_key_sha256 not in body, url
                leaked = [
                    s for s in forbidden if re.search(rf"(?<![\d.]){re.escape(s)}(?!\d)", body)
                ]
                assert not leaked, (url, leaked)
                assert not any(pair in body for pair in labelled), url
                assert not any(image_id in body for image_id, _ in hidden_images(ws)), url
            for link in re.findall(r'href="(/[^"#]*)"', body):
                queue.append(link.replace("&amp;", "&"))
        assert crawled > 30

        # Once the phase has ended, the same private scores are shown: the check can fail.
        with ws.session() as s:
            phase = get_challenge(s, "shapes").phases[0]
            phase.ends_at = utcnow() - timedelta(seconds=1)
            phase.starts_at = utcnow() - timedelta(hours=2)
        revealed = client.get("/api/challenges/shapes/leaderboard?partition=private").text
        assert any(s in revealed for s in forbidden)
