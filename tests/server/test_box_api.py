"""The box task API through the app: an annotator gets a draw task and answers it, a quality
task on someone else's box, and each bad answer is refused with a 4xx and nothing stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from synsetlab.annotate.box_projects import create_box_project
from synsetlab.catalog.annotation import BoxDrawing, BoxQualityVote
from synsetlab.server import create_app
from synsetlab.taxonomy import Taxonomy
from synsetlab.workspace import Workspace
from tests.annotate.boxes_world import CLASSES, build, copy
from tests.server.conftest import browser_login, register

NAME = "shapes-boxes"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("boxapi"), gold_per_class=1, per_class=2)


@pytest.fixture
def client(template: Path, tmp_path: Path) -> Iterator[TestClient]:
    ws = copy(template, tmp_path / "ws")
    with ws.session() as s:
        project = create_box_project(s, NAME, taxonomy=Taxonomy.wordnet(), classes=list(CLASSES))
        del project
    with ws.session() as s:
        from synsetlab.annotate import get_project

        get_project(s, NAME).gold_fraction = 0.0
    with TestClient(create_app(ws), base_url="http://testserver") as c:
        yield c
    ws.close()


def _joined(client: TestClient, user: str) -> dict[str, str]:
    auth = register(client, user)
    answer = client.post(f"/api/annotate/projects/{NAME}/join", json={}, headers=auth)
    assert answer.status_code == 201, answer.text
    return auth


def _stored(client: TestClient) -> tuple[int, int]:
    ws: Workspace = client.app.state.workspace
    with ws.session() as s:
        return (
            s.scalar(select(func.count()).select_from(BoxDrawing).where(BoxDrawing.gold.is_(None))),
            s.scalar(select(func.count()).select_from(BoxQualityVote)),
        )


def test_draw_then_verify_through_the_api(client: TestClient) -> None:
    ann, eve = _joined(client, "ann"), _joined(client, "eve")
    got = client.get(f"/api/annotate/projects/{NAME}/boxes/next", headers=ann).json()
    task = got["task"]
    assert task["kind"] == "draw" and task["boxes"] == [] and task["drawing"] is None
    assert task["image"]["width"] == 64 and task["image"]["url"].startswith("/annotate/thumbs/")
    image = client.get(task["image"]["url"], headers=ann)
    assert image.status_code == 200
    url = f"/api/annotate/box-tasks/{task['id']}"
    bad = [
        ({"box": [0, 0, 64, 10]}, 400, "outside the 64x64 image"),
        ({"box": [20, 5, 10, 30]}, 400, "inverted"),
        ({"box": [5, 5, 5, 30]}, 400, "no area"),
        ({"box": [1, 1, 9, 9], "wnid": "n02084071"}, 400, "asks about"),
        ({"item_id": task["item_id"], "answer": True}, 400, "asks to draw a box"),
    ]
    for answer, code, message in bad:
        refused = client.put(url, json={"answer": answer}, headers=ann)
        assert refused.status_code == code and message in refused.json()["detail"], refused.text
    assert _stored(client) == (0, 0)
    assert client.put(url, json={"answer": {"box": [1, 1, 9, 9]}}, headers=eve).status_code == 403
    done = client.put(url, json={"answer": {"box": [1, 1, 30, 30]}, "seconds": 21.5}, headers=ann)
    assert done.status_code == 200 and done.json()["stored"] and done.json()["kind"] == "draw"
    again = client.put(url, json={"answer": {"box": [1, 1, 30, 30]}}, headers=ann)
    assert again.json()["repeat"] is True
    other = client.put(url, json={"answer": {"box": [1, 1, 31, 30]}}, headers=ann)
    assert other.status_code == 409

    quality = client.get(f"/api/annotate/projects/{NAME}/boxes/next", headers=eve).json()["task"]
    assert quality["kind"] == "quality" and quality["drawing"]["box"] == [1.0, 1.0, 30.0, 30.0]
    qurl = f"/api/annotate/box-tasks/{quality['id']}"
    wrong = {"drawing_id": quality["drawing"]["id"] + 5, "answer": True}
    refused = client.put(qurl, json={"answer": wrong}, headers=eve)
    assert refused.status_code == 400 and "not on box task" in refused.json()["detail"]
    vote = {"drawing_id": quality["drawing"]["id"], "answer": True}
    assert client.put(qurl, json={"answer": vote}, headers=eve).status_code == 200
    assert _stored(client) == (1, 1)
    # ann never gets her own box to verify.
    mine = client.get(f"/api/annotate/projects/{NAME}/boxes/next", headers=ann).json()["task"]
    assert mine is None or mine["kind"] != "quality"


def test_unknown_task_and_label_pages_of_a_box_project(client: TestClient) -> None:
    ann = _joined(client, "ann")
    assert (
        client.put("/api/annotate/box-tasks/999", json={"answer": {}}, headers=ann).status_code
        == 404
    )
    labels = client.get(f"/api/annotate/projects/{NAME}/next", headers=ann)
    assert labels.status_code == 400 and "box project" in labels.json()["detail"]


def test_box_projects_are_listed_with_their_kind_and_box_progress(client: TestClient) -> None:
    ws: Workspace = client.app.state.workspace
    with ws.session() as s:
        from synsetlab.annotate.projects import create_project

        create_project(s, "verify", taxonomy=Taxonomy.wordnet(), classes=list(CLASSES))
    ann, eve = _joined(client, "ann"), _joined(client, "eve")
    assert (
        client.post("/api/annotate/projects/verify/join", json={}, headers=ann).status_code == 201
    )
    # ann draws a box; eve and two others say it is good: it is accepted.
    task = client.get(f"/api/annotate/projects/{NAME}/boxes/next", headers=ann).json()["task"]
    box = {"answer": {"box": [1, 1, 30, 30]}, "seconds": 20}
    assert client.put(f"/api/annotate/box-tasks/{task['id']}", json=box, headers=ann).json()[
        "stored"
    ]
    for auth in (eve, _joined(client, "bob"), _joined(client, "cat")):
        q = client.get(f"/api/annotate/projects/{NAME}/boxes/next", headers=auth).json()["task"]
        assert q["kind"] == "quality"
        vote = {"answer": {"drawing_id": q["drawing"]["id"], "answer": True}}
        assert client.put(f"/api/annotate/box-tasks/{q['id']}", json=vote, headers=auth).is_success
    listed = client.get("/api/annotate/projects", headers=ann).json()["projects"]
    kinds = {p["project"]: p["kind"] for p in listed}
    assert kinds == {NAME: "boxes", "verify": "labels"}
    boxes = next(p["progress"] for p in listed if p["project"] == NAME)
    assert (boxes["kind"], boxes["pages"], boxes["boxes_accepted"], boxes["your_boxes"]) == (
        "boxes", 1, 1, 1,
    )  # fmt: skip
    assert boxes["images"] == 6 and boxes["images_covered"] == 0 and boxes["undecided"] == 6
    labels = next(p["progress"] for p in listed if p["project"] == "verify")
    assert labels["kind"] == "labels" and labels["boxes_accepted"] == 0
    mine = client.get(f"/api/annotate/projects/{NAME}/progress", headers=eve).json()
    assert (mine["kind"], mine["pages"], mine["boxes_accepted"], mine["your_boxes"]) == (
        "boxes", 1, 1, 0,
    )  # fmt: skip
    # The index page says the same, in words.
    browser_login(client, "ann")
    index = client.get("/annotate").text
    row = index.split('<tr data-kind="boxes">', 1)[1].split("</tr>", 1)[0]
    assert f'href="/annotate/{NAME}"' in row and "<td>boxes</td>" in row
    assert "1 task<" in row and "1 box accepted (1 yours); 0 of 6 images covered" in row
    label_row = index.split('<tr data-kind="labels">', 1)[1].split("</tr>", 1)[0]
    assert "<td>labels</td>" in label_row and "images left for you" in label_row
