"""The annotation API and pages through the app: an annotator gets and answers pages, each
vote stored once, nobody reaches another's page, annotator accounts reach nothing else, and
invitations work once.

:func:`annotation_site` builds the workspace the other ``test_annotate_*`` modules use too:
synthetic shapes (3 classes x 12) with a few verified labels, a hidden test split frozen into
version v1 with challenge "shapes" on it, and project "verify" over the other candidates.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from synsetlab.annotate import ProjectOptions, create_project
from synsetlab.annotate.invites import create_invites
from synsetlab.catalog import (
    AnnotationItem,
    AnnotationVote,
    Annotator,
    AnnotatorState,
    Image,
    Label,
    LabelState,
    Role,
    SplitAssignment,
    User,
)
from synsetlab.challenge import accounts
from synsetlab.challenge.challenges import create_challenge
from synsetlab.server import create_app
from synsetlab.taxonomy import Taxonomy
from synsetlab.versions import freeze
from synsetlab.workspace import Workspace, open_workspace
from tests.annotate.conftest import _template
from tests.challenge.workspace import phase, team_member
from tests.server.conftest import csrf

PROJECT = "verify"
#: Small pages, a small initial subset: one annotator gets three pages, one per class.
OPTIONS = ProjectOptions(page_size=10, initial_items=4, initial_votes=2, max_votes=4, gold=0.2)


@dataclass(frozen=True)
class Hidden:
    """An image of the hidden test split and its label: what no annotator may see."""

    image_id: int
    sha256: str
    wnid: str


def annotation_site(root: Path) -> Path:
    """The workspace described in the module's docstring, at ``root / "ws"``, with users
    ann and eve (annotators), bob (participant, team lab) and curie (admin), each with password
    ``password-of-<name>``."""
    path = _template(root, per_class=12, wrong=0.06)
    ws = open_workspace(path)
    with ws.session() as s:
        ids = sorted(s.scalars(select(Image.id)))
        for n, image_id in enumerate(ids):
            hidden = n % 6 == 5
            s.add(SplitAssignment(image_id=image_id, split="test" if hidden else "train",
                                  hidden=hidden))  # fmt: skip
        # Two verified labels a class: the pages' examples and known positives.
        for wnid in {w for (w,) in s.execute(select(Label.wnid))}:
            rows = s.scalars(
                select(Label).where(Label.wnid == wnid).order_by(Label.image_id).limit(4)
            ).all()
            for label in [r for r in rows if ids.index(r.image_id) % 6 != 5][:2]:
                label.state = LabelState.verified
    freeze(ws, "v1")
    create_challenge(ws, "v1", name="Shapes", slug="shapes", seed=0,
                     phases=[phase("dev", timedelta(hours=-1), timedelta(days=1))])  # fmt: skip
    with ws.session() as s:
        create_project(s, PROJECT, taxonomy=Taxonomy.wordnet(), options=OPTIONS)
    team_member(ws, "ann", role=Role.annotator)
    team_member(ws, "eve", role=Role.annotator)
    team_member(ws, "bob", team="lab")
    team_member(ws, "curie", role=Role.admin)
    ws.close()
    return path


def hidden_images(ws: Workspace) -> list[Hidden]:
    with ws.session() as s:
        rows = s.execute(
            select(Image.id, Image.sha256, Label.wnid)
            .join(Label, Label.image_id == Image.id)
            .join(SplitAssignment, SplitAssignment.image_id == Image.id)
            .where(SplitAssignment.hidden)
        ).all()
    return [Hidden(*row) for row in rows]


@pytest.fixture(scope="session")
def site_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return annotation_site(tmp_path_factory.mktemp("annotation-site"))


@pytest.fixture
def site(site_template: Path, tmp_path: Path) -> Iterator[Workspace]:
    shutil.copytree(site_template, tmp_path / "ws")
    ws = open_workspace(tmp_path / "ws")
    yield ws
    ws.close()


@pytest.fixture
def client(site: Workspace) -> Iterator[TestClient]:
    with TestClient(create_app(site), base_url="http://testserver") as c:
        yield c


def token(client: TestClient, user: str) -> dict[str, str]:
    """A new API token of ``user``, as a header (issued in the catalog: logging in through
    the API takes a password hash, a quarter of a second)."""
    ws = client.app.state.workspace
    with ws.session() as s:
        row = s.scalars(select(User).where(User.name == user)).one()
        return {"Authorization": f"Bearer {accounts.issue_token(s, row, name='test')}"}


def page_login(client: TestClient, user: str) -> Path:
    """Log in through the form; returns where the login sent the browser."""
    answer = client.post(
        "/login",
        data={"user": user, "password": f"password-of-{user}",
              "csrf_token": csrf(client.get("/login").text)},
        follow_redirects=False,
    )  # fmt: skip
    assert answer.status_code == 303, answer.text
    return Path(answer.headers["location"])


def joined(client: TestClient, user: str, project: str = PROJECT) -> dict[str, str]:
    auth = token(client, user)
    answer = client.post(f"/api/annotate/projects/{project}/join", json={}, headers=auth)
    assert answer.status_code == 201, answer.text
    return auth


def next_page(client: TestClient, auth: dict[str, str], after: int | None = None) -> dict:
    url = f"/api/annotate/projects/{PROJECT}/next" + (f"?after={after}" if after else "")
    answer = client.get(url, headers=auth)
    assert answer.status_code == 200, answer.text
    return answer.json()


def all_yes(task: dict) -> dict[str, bool]:
    return {str(image["item_id"]): True for image in task["images"]}


def stored_votes(ws: Workspace) -> list[tuple[int, int, int | None]]:
    """(question, annotator, page) of every vote given (not carried up)."""
    with ws.session() as s:
        return s.execute(
            select(AnnotationVote.item_id, AnnotationVote.annotator_id, AnnotationVote.task_id)
            .where(AnnotationVote.propagated.is_(False))
            .order_by(AnnotationVote.id)
        ).all()


def test_an_annotator_gets_and_answers_pages_each_vote_stored_once(
    client: TestClient, site: Workspace
) -> None:
    auth = token(client, "ann")
    listed = client.get("/api/annotate/projects", headers=auth).json()
    assert listed["projects"] == [] and [p["project"] for p in listed["joinable"]] == [PROJECT]
    refused = client.get(f"/api/annotate/projects/{PROJECT}/next", headers=auth)
    assert refused.status_code == 403 and "join it from /annotate" in refused.json()["detail"]
    joined(client, "ann")

    task = next_page(client, auth)["task"]
    assert task["question"].startswith("Select every image that shows a ")
    assert (
        task["question"] == f"Select every image that shows a {task['lemmas'][0]}: {task['gloss']}"
    )
    assert len(task["examples"]) == 2 and 4 <= len(task["images"]) <= 10
    assert set(task["images"][0]) == {"item_id", "sha256", "thumb"}  # nothing marks gold
    assert next_page(client, auth)["task"]["id"] == task["id"]  # still open: the same page
    ahead = next_page(client, auth, after=task["id"])["task"]
    assert ahead["id"] != task["id"] and ahead["wnid"] != task["wnid"]
    ids = {i["item_id"] for i in task["images"]}
    assert not ids & {i["item_id"] for i in ahead["images"]}

    url = f"/api/annotate/tasks/{task['id']}"
    body = {"answers": all_yes(task), "seconds": 4.0 * len(ids)}
    first = client.put(url, json=body, headers=auth)
    assert first.status_code == 200, first.text
    assert first.json() == {
        "task_id": task["id"], "stored": len(ids), "repeat": False, "fast": 0, "stopped": False,
    }  # fmt: skip
    again = client.put(url, json=body, headers=auth)  # a retried request, a double Enter
    assert again.json()["repeat"] is True and again.json()["stored"] == 0
    votes = stored_votes(site)
    assert len(votes) == len(ids) and {v[0] for v in votes} == ids
    changed = {**body["answers"], str(min(ids)): False}
    conflict = client.put(url, json={"answers": changed}, headers=auth)
    assert conflict.status_code == 409 and "a vote is final" in conflict.json()["detail"]
    assert len(stored_votes(site)) == len(ids)

    # The page fetched ahead is what comes next, then a new one.
    assert next_page(client, auth)["task"]["id"] == ahead["id"]
    mine = client.get(f"/api/annotate/projects/{PROJECT}/progress", headers=auth).json()
    assert (mine["pages"], mine["answers"], mine["open_pages"], mine["state"]) == (
        1, len(ids), 1, "active",
    )  # fmt: skip


def test_fast_answers_are_flagged_and_bad_answers_refused(client: TestClient) -> None:
    auth = joined(client, "ann")
    task = next_page(client, auth)["task"]
    url = f"/api/annotate/tasks/{task['id']}"
    first = str(task["images"][0]["item_id"])
    for body, detail in (
        ({"answers": {first: True}}, "do not fit page"),
        ({"answers": {**all_yes(task), first: "maybe"}}, "answers are yes/no"),
        ({"answers": {**all_yes(task), "x": True}}, "is not a question id"),
        ({"answers": all_yes(task), "seconds": -1}, "give a time >= 0"),
    ):
        answer = client.put(url, json=body, headers=auth)
        assert answer.status_code == 400 and detail in answer.json()["detail"], answer.text
    missing = client.put("/api/annotate/tasks/999", json={"answers": {}}, headers=auth)
    assert missing.status_code == 404 and "no page 999" in missing.json()["detail"]
    fast = client.put(url, json={"answers": all_yes(task), "seconds": 0.5}, headers=auth).json()
    assert fast["fast"] == len(task["images"])


def test_another_annotators_page_is_refused(client: TestClient, site: Workspace) -> None:
    ann, eve = joined(client, "ann"), joined(client, "eve")
    task = next_page(client, ann)["task"]
    url = f"/api/annotate/tasks/{task['id']}"
    stolen = client.put(url, json={"answers": all_yes(task)}, headers=eve)
    assert stolen.status_code == 403 and "another annotator" in stolen.json()["detail"]
    bob = token(client, "bob")  # a participant in no project: the same answer
    assert client.put(url, json={"answers": all_yes(task)}, headers=bob).status_code == 403
    assert stored_votes(site) == []
    assert next_page(client, eve)["task"]["id"] != task["id"]  # Eve gets a page of her own


def test_a_stopped_annotator_is_told_why(client: TestClient, site: Workspace) -> None:
    auth = joined(client, "ann")
    with site.session() as s:
        person = s.scalars(select(Annotator).where(Annotator.name == "ann")).one()
        person.state = AnnotatorState.stopped
        person.stop_reason = "gold accuracy 0.31 (95% interval 0.12-0.58) under 0.6"
    answer = client.get(f"/api/annotate/projects/{PROJECT}/next", headers=auth)
    assert answer.status_code == 403 and "was stopped" in answer.json()["detail"]
    assert "gold accuracy 0.31" in answer.json()["detail"]


def test_no_work_left_says_so(client: TestClient, site: Workspace) -> None:
    auth = joined(client, "ann")
    pages = 0
    while (task := next_page(client, auth)["task"]) is not None:
        url = f"/api/annotate/tasks/{task['id']}"
        assert client.put(url, json={"answers": all_yes(task)}, headers=auth).is_success
        pages += 1
    assert pages == 3  # one person answers each class's initial subset once, then waits
    done = next_page(client, auth)
    assert done["task"] is None
    assert done["message"].startswith("No page for you now: the images of project verify")


def test_cookie_requests_need_the_pages_csrf_token(client: TestClient, site: Workspace) -> None:
    assert client.get("/api/annotate/projects").status_code == 401
    assert page_login(client, "ann") == Path("/annotate")  # an annotator lands on their pages
    index = client.get("/annotate")
    assert index.status_code == 200 and f'action="/annotate/{PROJECT}/join"' in index.text
    joining = client.post(f"/annotate/{PROJECT}/join", data={"csrf_token": csrf(index.text)},
                          follow_redirects=False)  # fmt: skip
    assert joining.headers["location"] == f"/annotate/{PROJECT}"
    page = client.get(f"/annotate/{PROJECT}")
    assert (
        page.status_code == 200 and '<script src="/static/annotate.js" defer></script>' in page.text
    )
    assert '<a href="/annotate">annotate</a>' in page.text and 'href="/team"' not in page.text
    token_ = re.search(r'data-csrf-token="([^"]+)"', page.text).group(1)
    task = client.get(f"/api/annotate/projects/{PROJECT}/next").json()["task"]  # GET: no token
    url = f"/api/annotate/tasks/{task['id']}"
    for headers in ({}, {"X-CSRF-Token": "forged"}):
        answer = client.put(url, json={"answers": all_yes(task)}, headers=headers)
        assert answer.status_code == 403 and "reload it" in answer.json()["detail"]
    assert stored_votes(site) == []
    answer = client.put(url, json={"answers": all_yes(task)}, headers={"X-CSRF-Token": token_})
    assert answer.status_code == 200 and len(stored_votes(site)) == len(task["images"])


def test_thumbnails_only_of_ones_own_pages(client: TestClient, site: Workspace) -> None:
    ann = joined(client, "ann")
    task = next_page(client, ann)["task"]
    for image in (task["images"][0], task["examples"][0]):
        first = client.get(image["thumb"], headers=ann)
        assert first.status_code == 200 and first.headers["content-type"] == "image/jpeg"
        assert "immutable" in first.headers["cache-control"]
        cached = client.get(image["thumb"], headers={**ann, "If-None-Match": first.headers["etag"]})
        assert cached.status_code == 304
    eve = joined(client, "eve")
    with site.session() as s:
        every = set(s.scalars(select(Image.sha256)))
        asked = set(
            s.scalars(
                select(Image.sha256).join(AnnotationItem, AnnotationItem.image_id == Image.id)
            )
        )
    never_shown = sorted(every - asked - {i["sha256"] for i in task["examples"]})[0]
    for sha, auth in ((task["images"][0]["sha256"], eve), (never_shown, ann)):
        answer = client.get(f"/annotate/thumbs/{sha}?size=64", headers=auth)
        assert answer.status_code == 404 and "on your pages" in answer.text
    assert client.get(task["images"][0]["thumb"]).status_code == 401  # nobody logged in


def test_annotators_and_participants_reach_nothing_else(client: TestClient) -> None:
    ann, bob = token(client, "ann"), token(client, "bob")
    # Their own account (/api/me, revoking their tokens) is theirs: test_annotator_account.py.
    for url, method in (
        ("/api/teams", "POST"), ("/api/teams/lab/join", "POST"),
        ("/api/challenges/shapes/submissions", "GET"), ("/api/review/queue", "GET"),
        ("/api/admin/challenges/shapes/similar", "GET"),
    ):  # fmt: skip
        answer = client.request(method, url, headers=ann, json={"name": "annotators"})
        assert answer.status_code == 403, (url, answer.text)
        assert "annotator account may only annotate" in answer.json()["detail"]
    for url in ("/api/review/queue", "/api/admin/challenges/shapes/similar"):
        assert client.get(url, headers=bob).status_code == 403
    for user, pages in (
        ("ann", ["/team", "/review", "/admin", "/c/shapes/submit", "/c/shapes/submissions"]),
        ("bob", ["/review", "/admin"]),
    ):
        client.cookies.clear()
        page_login(client, user)
        for url in pages:
            answer = client.get(url)
            assert answer.status_code == 403, (user, url, answer.status_code)


def test_an_invitation_makes_an_annotator_account_once(client: TestClient, site: Workspace) -> None:
    with site.session() as s:
        code, spare = (i.code for i in create_invites(s, PROJECT, 2))
    url = f"/annotate/join/{code}"
    form = client.get(url)
    assert form.status_code == 200 and "Join verify" in form.text
    assert form.headers["cache-control"] == "no-store"
    fields = {"user": "zoe", "password": "password-of-zoe", "csrf_token": csrf(form.text)}
    made = client.post(url, data=fields, follow_redirects=False)
    assert made.status_code == 303 and made.headers["location"] == f"/annotate/{PROJECT}"
    with site.session() as s:
        zoe = s.scalars(select(User).where(User.name == "zoe")).one()
        assert zoe.role is Role.annotator
        assert s.scalars(select(Annotator.name).where(Annotator.user_id == zoe.id)).all() == ["zoe"]
    assert client.get(f"/annotate/{PROJECT}").status_code == 200  # logged in as zoe
    client.cookies.clear()
    again = client.get(url)
    assert again.status_code == 409 and "used already" in again.text
    reuse = client.post(url, data={"user": "mallory", "password": "password-of-mallory",
                                   "csrf_token": csrf(client.get("/login").text)})  # fmt: skip
    assert reuse.status_code == 409
    with site.session() as s:
        assert s.scalars(select(User).where(User.name == "mallory")).all() == []
    unknown = client.get("/annotate/join/not-a-code")
    assert unknown.status_code == 404 and "no such invitation" in unknown.text

    # A participant logged in joins with the spare code, through the API's join route.
    bob = token(client, "bob")
    answer = client.post(f"/api/annotate/projects/{PROJECT}/join", json={"code": spare},
                         headers=bob)  # fmt: skip
    assert answer.status_code == 201 and answer.json()["annotator"] == "bob"


def test_self_registered_annotators_join_open_projects_only(
    client: TestClient, site: Workspace
) -> None:
    with site.session() as s:
        create_project(s, "secret", taxonomy=Taxonomy.wordnet(),
                       options=ProjectOptions(include_hidden_test=True))  # fmt: skip
        (code,) = (i.code for i in create_invites(s, "secret", 1))
    form = client.get("/annotate/join")
    made = client.post("/annotate/join", data={"user": "sam", "password": "password-of-sam",
                                               "csrf_token": csrf(form.text)})  # fmt: skip
    assert made.status_code == 200 and "Welcome, sam" in made.text
    assert [p for p in re.findall(r'action="/annotate/([\w-]+)/join"', made.text)] == [PROJECT]
    sam, bob = token(client, "sam"), token(client, "bob")
    refused = client.post("/api/annotate/projects/secret/join", json={}, headers=sam)
    assert refused.status_code == 403 and "by invitation only" in refused.json()["detail"]
    # A participant may not annotate hidden test images even with an invitation ...
    refused = client.post("/api/annotate/projects/secret/join", json={"code": code}, headers=bob)
    assert refused.status_code == 403 and "participants may not" in refused.json()["detail"]
    # ... which stays unused for an annotator account.
    ok = client.post("/api/annotate/projects/secret/join", json={"code": code}, headers=sam)
    assert ok.status_code == 201, ok.text
    wrong = client.post(f"/api/annotate/projects/{PROJECT}/join", json={"code": code},
                        headers=sam)  # fmt: skip
    assert wrong.status_code == 409
