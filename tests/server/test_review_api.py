"""The review API and page through the app: curators only, CSRF on cookie requests, decisions
under the account's name, thumbnails cached by ETag."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image as PILImage
from sqlalchemy import select

from synsetlab.catalog import AnnotationItem, AnnotationProject, Decision, Image, Role, User
from synsetlab.challenge import accounts
from synsetlab.server import create_app
from synsetlab.workspace import Workspace, init_workspace
from tests.challenge.workspace import team_member
from tests.curate.test_review import BRAMBLING, GOLDFINCH, ReviewCatalog, review_catalog
from tests.server.conftest import browser_login


@pytest.fixture
def review_ws(tmp_path: Path) -> Iterator[tuple[Workspace, ReviewCatalog]]:
    ws = init_workspace(tmp_path / "ws")
    cat = review_catalog(ws, tmp_path / "photos")
    team_member(ws, "curie", role=Role.admin)
    team_member(ws, "bob", team="lab")
    yield ws, cat
    ws.close()


@pytest.fixture
def client(review_ws) -> Iterator[TestClient]:
    ws, _ = review_ws
    with TestClient(create_app(ws), base_url="http://testserver") as c:
        yield c


def bearer(ws: Workspace, user: str) -> dict[str, str]:
    with ws.session() as s:
        row = s.scalars(select(User).where(User.name == user)).one()
        token = accounts.issue_token(s, row, name="test")
    return {"Authorization": f"Bearer {token}"}


def page_csrf(client: TestClient) -> str:
    html = client.get("/review").text
    return re.search(r'data-csrf-token="([^"]+)"', html).group(1)


def decisions(ws: Workspace) -> list[tuple[str, str | None, int | None]]:
    with ws.session() as s:
        rows = s.scalars(select(Decision).order_by(Decision.id)).all()
        return [(d.action.value, d.author, d.finding_id) for d in rows]


def test_a_participant_cannot_review(client: TestClient, review_ws) -> None:
    ws, cat = review_ws
    with ws.session() as s:
        sha = s.scalars(select(Image.sha256)).first()
    assert client.get("/api/review/queue").status_code == 401
    assert (
        client.get("/review", follow_redirects=False).headers["location"] == "/login?next=/review"
    )
    bob = bearer(ws, "bob")
    for answer in (
        client.get("/api/review/queue", headers=bob),
        client.get(f"/api/review/items/{cat.findings['blurry:2']}", headers=bob),
        client.post(f"/api/review/items/{cat.findings['blurry:2']}/decision",
                    json={"action": "exclude"}, headers=bob),
        client.post("/api/review/undo", json={}, headers=bob),
        client.get(f"/thumbs/{sha}", headers=bob),
    ):  # fmt: skip
        assert answer.status_code == 403, answer.text
        assert "needs the admin role" in answer.text
    browser_login(client, "bob")
    page = client.get("/review")
    assert page.status_code == 403 and "needs the admin role" in page.text
    assert decisions(ws) == []


def test_a_curator_reviews_with_a_token(client: TestClient, review_ws) -> None:
    ws, cat = review_ws
    curie = bearer(ws, "curie")
    queue = client.get("/api/review/queue", headers=curie).json()
    assert queue["total"] == 9 and queue["pending"]["label-issue"] == 2
    assert [e["finding_id"] for e in queue["items"][:2]] == [
        cat.findings["blurry:2"], cat.findings["blurry:6"],
    ]  # fmt: skip
    only = client.get("/api/review/queue?kind=near-duplicate", headers=curie).json()
    assert only["total"] == 2 and {e["kind"] for e in only["items"]} == {"near-duplicate"}

    item = client.get(f"/api/review/items/{cat.findings['label-issue:3']}", headers=curie).json()
    assert item["view"] == "label"
    assert (item["given"]["name"], item["suggested"]["name"]) == ("brambling", "goldfinch")
    assert len(item["suggested"]["examples"]) == 3

    url = f"/api/review/items/{cat.findings['label-issue:3']}/decision"
    answer = client.post(url, json={"action": "relabel"}, headers=curie)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["decision"]["author"] == "curie" and body["pending"]["label-issue"] == 1
    again = client.post(url, json={"action": "keep"}, headers=curie)
    assert again.status_code == 409 and "decided already" in again.json()["detail"]
    undone = client.post("/api/review/undo", json={}, headers=curie).json()
    assert undone["undone"]["undone_by"] == "curie" and undone["pending"]["label-issue"] == 2
    assert decisions(ws) == [("relabel", "curie", cat.findings["label-issue:3"])]


def test_bad_requests_get_clear_answers(client: TestClient, review_ws) -> None:
    ws, cat = review_ws
    curie = bearer(ws, "curie")
    hidden = f"/api/review/items/{cat.findings['label-issue:7']}/decision"
    refused = client.post(hidden, json={"action": "relabel"}, headers=curie)
    assert refused.status_code == 409 and "hidden test split" in refused.json()["detail"]
    assert decisions(ws) == []
    allowed = client.post(
        hidden, json={"action": "relabel", "allow_hidden_test": True}, headers=curie
    )
    assert allowed.status_code == 200 and allowed.json()["decision"]["wnid"] == BRAMBLING

    missing = client.get("/api/review/items/999", headers=curie)
    assert missing.status_code == 404 and "no finding 999" in missing.json()["detail"]
    url = f"/api/review/items/{cat.findings['blurry:2']}/decision"
    assert client.post(url, json={"action": "delete"}, headers=curie).status_code == 422
    no_class = client.post(url, json={"action": "relabel"}, headers=curie)
    assert no_class.status_code == 400 and "suggests no class" in no_class.json()["detail"]
    small = f"/api/review/items/{cat.findings['small-class']}"
    assert client.get(small, headers=curie).status_code == 400
    nothing = client.post("/api/review/undo", json={"decision_id": 999}, headers=curie)
    assert nothing.status_code == 404


def test_the_page_needs_its_csrf_token_to_decide(client: TestClient, review_ws) -> None:
    ws, cat = review_ws
    browser_login(client, "curie")
    page = client.get("/review")
    assert page.status_code == 200
    assert '<script src="/static/review.js" defer></script>' in page.text
    assert "label-issue (2)" in page.text
    token = page_csrf(client)
    assert client.get("/api/review/queue").json()["total"] == 9  # reading needs no token
    url = f"/api/review/items/{cat.findings['blurry:2']}/decision"
    for headers in ({}, {"X-CSRF-Token": "forged"}):
        answer = client.post(url, json={"action": "exclude"}, headers=headers)
        assert answer.status_code == 403 and "reload it" in answer.json()["detail"]
    assert decisions(ws) == []
    answer = client.post(url, json={"action": "exclude"}, headers={"X-CSRF-Token": token})
    assert answer.status_code == 200, answer.text
    assert decisions(ws) == [("exclude", "curie", cat.findings["blurry:2"])]
    assert client.post("/api/review/undo", json={}).status_code == 403
    assert client.post("/api/review/undo", json={}, headers={"X-CSRF-Token": token}).is_success


def test_thumbnails_are_resized_and_cached(client: TestClient, review_ws) -> None:
    ws, cat = review_ws
    curie = bearer(ws, "curie")
    item = client.get(f"/api/review/items/{cat.findings['blurry:2']}", headers=curie).json()
    url = f"/thumbs/{item['image']['sha256']}?size=32"
    first = client.get(url, headers=curie)
    assert first.status_code == 200 and first.headers["content-type"] == "image/jpeg"
    assert first.headers["cache-control"] == "private, max-age=31536000, immutable"
    with PILImage.open(io.BytesIO(first.content)) as img:
        assert max(img.size) == 32
    etag = first.headers["etag"]
    again = client.get(url, headers={**curie, "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    weak = client.get(url, headers={**curie, "If-None-Match": f'"other", W/{etag}'})
    assert weak.status_code == 304
    other_size = client.get(url.replace("32", "64"), headers={**curie, "If-None-Match": etag})
    assert other_size.status_code == 200 and other_size.headers["etag"] != etag

    browser_login(client, "curie")  # the page's <img>s come with the cookie alone
    assert client.get(url).status_code == 200
    # Only catalog images: the blob store holds version manifests and answer keys too.
    not_an_image = ws.blobs.put(b"an answer key")
    assert client.get(f"/thumbs/{not_an_image}").status_code == 404
    assert client.get("/thumbs/not-a-sha").status_code == 422
    assert client.get(url.replace("size=32", "size=8")).status_code == 422


def projects_and_questions(ws: Workspace) -> tuple[list[str], list[tuple[int, str]]]:
    with ws.session() as s:
        slugs = list(s.scalars(select(AnnotationProject.slug).order_by(AnnotationProject.id)))
        asked = s.execute(
            select(AnnotationItem.image_id, AnnotationItem.wnid)
            .where(AnnotationItem.gold.is_(None))
            .order_by(AnnotationItem.id)
        ).all()
    return slugs, [tuple(row) for row in asked]


def test_a_curator_sends_a_label_issue_to_the_crowd(client: TestClient, review_ws) -> None:
    ws, cat = review_ws
    curie = bearer(ws, "curie")
    assert client.get("/api/review/crowd", headers=curie).json() == {
        "projects": [], "default": "review",
    }  # fmt: skip
    url = f"/api/review/items/{cat.findings['label-issue:3']}/crowd"
    answer = client.post(url, json={}, headers=curie)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["decision"]["crowd"] and body["decision"]["author"] == "curie"
    assert body["asked"]["created"] and body["asked"]["project"] == "review"
    assert [(q["image_id"], q["wnid"]) for q in body["asked"]["added"]] == [
        (cat.ids[3], BRAMBLING), (cat.ids[3], GOLDFINCH),
    ]  # fmt: skip
    assert body["pending"]["label-issue"] == 1
    assert client.get("/api/review/crowd", headers=curie).json()["projects"] == ["review"]
    item = client.get(f"/api/review/items/{cat.findings['label-issue:3']}", headers=curie).json()
    assert [(c["wnid"], c["status"]) for c in item["crowd"]] == [
        (BRAMBLING, "pending"), (GOLDFINCH, "pending"),
    ]  # fmt: skip

    again = client.post(url, json={"project": "review"}, headers=curie).json()
    assert again["asked"]["added"] == [] and again["decision"]["id"] == body["decision"]["id"]
    assert projects_and_questions(ws) == (["review"], [(cat.ids[3], BRAMBLING),
                                                       (cat.ids[3], GOLDFINCH)])  # fmt: skip

    hidden = client.post(f"/api/review/items/{cat.findings['label-issue:7']}/crowd", json={},
                         headers=curie)  # fmt: skip
    assert hidden.status_code == 403 and "hidden test split" in hidden.json()["detail"]
    blurry = client.post(f"/api/review/items/{cat.findings['blurry:2']}/crowd", json={},
                         headers=curie)  # fmt: skip
    assert blurry.status_code == 400 and "not a label issue" in blurry.json()["detail"]
    nope = client.post(url, json={"project": "nope"}, headers=curie)
    assert nope.status_code == 404 and "no annotation project 'nope'" in nope.json()["detail"]
    assert client.post(url, json={"project": ""}, headers=curie).status_code == 422
    assert len(projects_and_questions(ws)[1]) == 2


def test_only_curators_send_to_the_crowd(client: TestClient, review_ws) -> None:
    ws, cat = review_ws
    team_member(ws, "ann", role=Role.annotator)
    url = f"/api/review/items/{cat.findings['label-issue:3']}/crowd"
    for user, refusal in (("bob", "needs the admin role"),
                          ("ann", "annotator account may only annotate")):  # fmt: skip
        for answer in (
            client.get("/api/review/crowd", headers=bearer(ws, user)),
            client.post(url, json={}, headers=bearer(ws, user)),
        ):
            assert answer.status_code == 403 and refusal in answer.json()["detail"], answer.text
    assert client.post(url, json={}).status_code == 401
    browser_login(client, "curie")  # the page's cookie needs its CSRF token
    assert client.post(url, json={}).status_code == 403
    assert projects_and_questions(ws) == ([], [])
    assert client.post(url, json={}, headers={"X-CSRF-Token": page_csrf(client)}).is_success
    assert decisions(ws) == [("keep", "curie", cat.findings["label-issue:3"])]
