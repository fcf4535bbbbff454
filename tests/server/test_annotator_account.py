"""An annotator account's own account over the API, and what the site tells about projects.

An annotator sees itself on ``/api/me`` (its role and the projects it annotates, nothing of
other annotators) and revokes its own tokens; participants and admins see what they saw
before. A project name that the site does not know is refused naming only the projects the
caller annotates or may join: never one open by invitation only, whose questions are about
the hidden test split. The curator's library call (what the CLI prints) still names them all.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from synsetlab.annotate import ProjectOptions, create_project, get_project
from synsetlab.annotate.errors import AnnotationNotFoundError
from synsetlab.annotate.invites import create_invites
from synsetlab.catalog import Annotator, AnnotatorState
from synsetlab.taxonomy import Taxonomy
from synsetlab.workspace import Workspace
from tests.server.test_annotate_api import (  # noqa: F401 - fixtures
    PROJECT,
    all_yes,
    client,
    joined,
    next_page,
    page_login,
    site,
    site_template,
    token,
)

#: The project open by invitation only (it asks about hidden test images): Eve's.
SECRET = "secret"


def with_secret_project(client: TestClient, site: Workspace) -> dict[str, str]:  # noqa: F811
    """Add project :data:`SECRET` and let Eve in with an invitation; returns her token."""
    with site.session() as s:
        create_project(s, SECRET, taxonomy=Taxonomy.wordnet(),
                       options=ProjectOptions(include_hidden_test=True))  # fmt: skip
        (code,) = (i.code for i in create_invites(s, SECRET, 1))
    eve = token(client, "eve")
    answer = client.post(f"/api/annotate/projects/{SECRET}/join", json={"code": code}, headers=eve)
    assert answer.status_code == 201, answer.text
    return eve


def test_an_annotator_sees_its_own_account_and_projects_only(
    client: TestClient,  # noqa: F811
    site: Workspace,  # noqa: F811
) -> None:
    ann = token(client, "ann")
    me = client.get("/api/me", headers=ann)
    assert me.status_code == 200, me.text
    assert me.json() == {"user": "ann", "role": "annotator", "annotation_projects": []}
    with_secret_project(client, site)
    joined(client, "ann")
    with site.session() as s:
        person = s.scalars(select(Annotator).where(Annotator.name == "ann")).one()
        person.state = AnnotatorState.stopped
        person.stop_reason = "gold accuracy 0.31 (95% interval 0.12-0.58) under 0.6"
    me = client.get("/api/me", headers=ann)
    assert me.json() == {
        "user": "ann", "role": "annotator",
        "annotation_projects": [{"project": PROJECT, "annotator": "ann", "state": "stopped"}],
    }  # fmt: skip
    assert SECRET not in me.text and "eve" not in me.text  # nothing of other annotators
    eve = client.get("/api/me", headers=token(client, "eve")).json()
    assert eve["annotation_projects"] == [
        {"project": SECRET, "annotator": "eve", "state": "active"}
    ]

    # Participants and admins see what they saw before, annotating or not.
    joined(client, "bob")
    for user, expected in (
        ("bob", {"user": "bob", "role": "participant", "team": "lab", "team_approved": True}),
        ("curie", {"user": "curie", "role": "admin", "team": None, "team_approved": False}),
    ):
        assert client.get("/api/me", headers=token(client, user)).json() == expected


def test_an_annotator_revokes_its_own_tokens(
    client: TestClient,  # noqa: F811
    site: Workspace,  # noqa: F811
) -> None:
    logged_in = client.post("/api/tokens", json={"user": "ann", "password": "password-of-ann"})
    assert logged_in.status_code == 201, logged_in.text
    first = {"Authorization": f"Bearer {logged_in.json()['token']}"}
    second, eve = joined(client, "ann"), token(client, "eve")
    # The page's cookie is no API credential: a cross-site request cannot revoke anything.
    page_login(client, "ann")
    assert client.delete("/api/tokens").status_code == 401
    client.cookies.clear()

    revoked = client.delete("/api/tokens", headers=second)
    assert revoked.status_code == 200 and revoked.json() == {"revoked": 2}
    for auth in (first, second):
        for url in ("/api/me", "/api/annotate/projects", f"/api/annotate/projects/{PROJECT}/next"):
            answer = client.get(url, headers=auth)
            assert answer.status_code == 401, (url, answer.text)
            assert "unknown or revoked" in answer.json()["detail"]
    assert client.delete("/api/tokens", headers=first).status_code == 401
    assert client.get("/api/me", headers=eve).status_code == 200  # another's tokens live on
    # Revoking ended the tokens, not the votes or the membership: a new token carries on.
    again = token(client, "ann")
    assert next_page(client, again)["task"] is not None


def test_an_unknown_project_is_refused_naming_only_the_callers_projects(
    client: TestClient,  # noqa: F811
    site: Workspace,  # noqa: F811
) -> None:
    eve = with_secret_project(client, site)
    ann, bob, curie = joined(client, "ann"), token(client, "bob"), token(client, "curie")
    routes = (
        ("GET", "/api/annotate/projects/{}/next"),
        ("GET", "/api/annotate/projects/{}/progress"),
        ("POST", "/api/annotate/projects/{}/join"),
    )
    for auth, sees in ((ann, [PROJECT]), (bob, [PROJECT]), (eve, [SECRET, PROJECT])):
        for method, url in routes:
            answer = client.request(method, url.format("nope"), headers=auth, json={})
            assert answer.status_code == 404, (url, answer.text)
            detail = answer.json()["detail"]
            assert detail.startswith("no annotation project 'nope' among those you annotate or may")
            assert f"({', '.join(sees)})" in detail, detail
            if SECRET not in sees:
                assert SECRET not in detail
    # An admin may join a project open by invitation only: it is named to them.
    answer = client.get("/api/annotate/projects/nope/progress", headers=curie)
    assert f"({PROJECT}, {SECRET})" in answer.json()["detail"]

    # Anonymous visitors are asked to log in before any project is looked up.
    for method, url in routes:
        answer = client.request(method, url.format("nope"), json={})
        assert answer.status_code == 401 and SECRET not in answer.text
    for url in ("/annotate/nope", f"/annotate/{SECRET}"):
        answer = client.get(url, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == f"/login?next={url}"

    # The curator on the workspace (the CLI) is told every project there is.
    with site.session() as s, pytest.raises(AnnotationNotFoundError, match=rf"{PROJECT}, {SECRET}"):
        get_project(s, "nope")


def test_refusals_about_anothers_work_name_neither_them_nor_their_project(
    client: TestClient,  # noqa: F811
    site: Workspace,  # noqa: F811
) -> None:
    eve = with_secret_project(client, site)
    eves_page = next_page_of(client, eve)["task"]  # a page of the secret project
    ann = joined(client, "ann")
    url = f"/api/annotate/tasks/{eves_page['id']}"
    stolen = client.put(url, json={"answers": all_yes(eves_page)}, headers=ann)
    assert stolen.status_code == 403 and "another annotator" in stolen.json()["detail"]
    assert "eve" not in stolen.text and SECRET not in stolen.text
    for image in eves_page["images"][:2]:
        thumb = client.get(image["thumb"], headers=ann)
        assert thumb.status_code == 404 and SECRET not in thumb.text
    for suffix in ("next", "progress"):  # a name Ann knows: she is told to join, nothing more
        answer = client.get(f"/api/annotate/projects/{SECRET}/{suffix}", headers=ann)
        assert answer.status_code == 403 and "you are not an annotator" in answer.json()["detail"]
        assert "eve" not in answer.text


def test_the_annotate_page_of_an_unknown_project_names_only_the_callers_projects(
    client: TestClient,  # noqa: F811
    site: Workspace,  # noqa: F811
) -> None:
    with_secret_project(client, site)
    page_login(client, "ann")
    answer = client.get("/annotate/nope")
    assert answer.status_code == 404
    assert "no annotation project" in answer.text and SECRET not in answer.text


def next_page_of(client: TestClient, auth: dict[str, str]) -> dict:  # noqa: F811 - a fixture's name
    answer = client.get(f"/api/annotate/projects/{SECRET}/next", headers=auth)
    assert answer.status_code == 200, answer.text
    return answer.json()
