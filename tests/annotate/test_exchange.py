"""Votes in and out: crowd-kit CSV and Label Studio JSON, round trips and bad files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from synsetlab.annotate import (
    AnnotationError,
    export_project,
    import_votes,
    next_task,
    project_progress,
    submit_task,
)
from synsetlab.catalog import AnnotationItem, AnnotationVote, Annotator
from synsetlab.workspace import Workspace
from tests.annotate.conftest import CIRCLE, TRIANGLE, annotator, new_project


def vote_count(ws: Workspace) -> int:
    with ws.session() as s:
        return s.scalar(select(func.count()).select_from(AnnotationVote))


def some_votes(ws: Workspace, slug: str = "verify", people: int = 3) -> None:
    for i in range(people):
        person = annotator(ws, f"a{i}", slug)
        with ws.session() as s:
            task = next_task(s, slug, person)
            submit_task(
                s, task.id, person, {q: q % 3 != 0 for q in task.item_ids}, client_seconds=6.0
            )


def counts(ws: Workspace, slug: str) -> dict[tuple[int, str], tuple[int, int]]:
    from synsetlab.annotate import get_project

    with ws.session() as s:
        project = get_project(s, slug)
        rows = s.execute(
            select(
                AnnotationItem.image_id,
                AnnotationItem.wnid,
                AnnotationItem.yes_votes,
                AnnotationItem.no_votes,
            ).where(AnnotationItem.project_id == project.id)
        ).all()
    return {(i, w): (y, n) for i, w, y, n in rows}


@pytest.mark.parametrize("fmt", ["crowdkit", "label-studio"])
def test_votes_exported_and_imported_land_on_the_same_questions(
    shapes: Workspace, tmp_path: Path, fmt: str
) -> None:
    new_project(shapes, "first", classes=[CIRCLE, TRIANGLE], page_size=5, gold=0.0)
    new_project(shapes, "second", classes=[CIRCLE, TRIANGLE], page_size=5, gold=0.0)
    some_votes(shapes, "first")
    with shapes.session() as s:
        done = export_project(s, "first", tmp_path / "out", format=fmt, image_url=shapes.blobs.path)
    assert done.votes == 15 and done.questions == sum(len(v) for v in [counts(shapes, "first")])
    source = done.files[0]
    if fmt == "crowdkit":
        rows = list(csv.DictReader(source.open()))
        assert set(rows[0]) == {"task", "worker", "label", "seconds"}
        assert rows[0]["seconds"] == "1.200" and rows[0]["task"].count(":") == 1
    else:
        tasks = json.loads(source.read_text())
        assert len(tasks) == done.questions and tasks[0]["data"]["image"].startswith("/")
        assert "<Choices" in (tmp_path / "out" / "label_config.xml").read_text()
    with shapes.session() as s:
        imported = import_votes(s, "second", source, add_workers=True)
    assert imported.votes == 15 and imported.workers_added == 3 and imported.already == 0
    assert counts(shapes, "second") == counts(shapes, "first")
    with shapes.session() as s:  # importing again stores nothing new
        again = import_votes(s, "second", source)
    assert again.votes == 0 and again.already == 15


def test_the_crowdkit_files_read_back_in_crowdkit(shapes: Workspace, tmp_path: Path) -> None:
    import pandas as pd

    from synsetlab.annotate import majority_vote

    new_project(shapes, page_size=5, gold=0.3)
    some_votes(shapes)
    with shapes.session() as s:
        export_project(s, "verify", tmp_path, format="crowdkit")
    votes = pd.read_csv(tmp_path / "votes.csv")
    gold = pd.read_csv(tmp_path / "gold.csv").set_index("task")["label"].astype(bool)
    result = majority_vote(votes, gold=gold[gold.index.isin(votes["task"])])
    assert len(result.items) == votes["task"].nunique()
    workers = pd.read_csv(tmp_path / "workers.csv", keep_default_na=False)
    assert list(workers["state"]) == ["active"] * 3


#: Each file has a good vote on line 2 ({good}): it must not be imported either.
BAD_CSV = [
    ("task,worker\n1:n1,a\n", "line 1 lacks column.s. label"),
    ("task,worker,label\n", "no votes after the header"),
    ("task,worker,label\n{good}99999:n13873502,a0,1\n", "line 3: unknown task '99999:n1387"),
    ("task,worker,label\n{good}{q},stranger,1\n", "line 3: unknown worker 'stranger'.*--add-w"),
    ("task,worker,label\n{good}{q},a0,maybe\n", "line 3: label 'maybe' is not yes/no"),
    ("task,worker,label,seconds\n{good}{q},a0,1,-3\n", "line 3: seconds '-3' must be a time"),
    (
        "task,worker,label\n{good}{q},a0,1\n{q},a0,0\n",
        r"line 4: worker 'a0' answered task .* already \(votes.csv line 3\)",
    ),
    ("task,worker,label\n{good}{voted},a0,0\n", "line 3: worker 'a0' already voted yes"),
]


@pytest.mark.parametrize(("text", "message"), BAD_CSV)
def test_bad_vote_files_are_refused_whole(
    shapes: Workspace, tmp_path: Path, text: str, message: str
) -> None:
    new_project(shapes, classes=[CIRCLE], page_size=3, gold=0.0)
    person = annotator(shapes, "a0")
    with shapes.session() as s:
        task = next_task(s, "verify", person)
        submit_task(s, task.id, person, dict.fromkeys(task.item_ids, True))
        images = dict(s.execute(select(AnnotationItem.id, AnnotationItem.image_id)).all())
    free = [f"{image}:{CIRCLE}" for i, image in images.items() if i not in task.item_ids]
    voted = f"{images[task.item_ids[0]]}:{CIRCLE}"
    path = tmp_path / "votes.csv"
    path.write_text(text.format(good=f"{free[0]},a0,1\n", q=free[1], voted=voted))
    before = vote_count(shapes)
    with pytest.raises(AnnotationError, match=message), shapes.session() as s:
        import_votes(s, "verify", path)
    assert vote_count(shapes) == before


def test_bad_label_studio_files_and_unknown_formats(shapes: Workspace, tmp_path: Path) -> None:
    new_project(shapes, classes=[CIRCLE], gold=0.0)
    cases = {
        "broken.json": ("[{", "not valid JSON"),
        "object.json": ('{"tasks": []}', "a JSON list of tasks"),
        "noitem.json": (
            '[{"id": 7, "data": {"image": "x.jpg"}, "annotations": []}]',
            r"task 1 \(id 7\): no data.item",
        ),
        "nobody.json": (
            json.dumps([{"data": {"item": f"1:{CIRCLE}"}, "annotations": [{"result": []}]}]),
            "annotation 1: no completed_by",
        ),
        "votes.txt": ("task,worker,label\n", "give a crowd-kit .csv"),
    }
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(AnnotationError, match=message), shapes.session() as s:
            import_votes(s, "verify", tmp_path / name, add_workers=True)
    with pytest.raises(AnnotationError, match="cannot read the votes file"), shapes.session() as s:
        import_votes(s, "verify", tmp_path / "missing.csv")
    assert vote_count(shapes) == 0


def test_imported_gold_answers_stop_a_bad_worker(shapes: Workspace, tmp_path: Path) -> None:
    new_project(shapes, gold=0.3)
    with shapes.session() as s:
        gold = s.execute(
            select(AnnotationItem.image_id, AnnotationItem.wnid, AnnotationItem.gold).where(
                AnnotationItem.gold.is_not(None)
            )
        ).all()
    lines = ["task,worker,label"] + [f"{i}:{w},bad,{int(not g)}" for i, w, g in gold[:20]]
    (tmp_path / "votes.csv").write_text("\n".join(lines) + "\n")
    with shapes.session() as s:
        done = import_votes(s, "verify", tmp_path / "votes.csv", add_workers=True)
    assert done.votes == 20 and done.stopped == ["bad"]
    with shapes.session() as s:
        assert s.scalar(select(Annotator.state).where(Annotator.name == "bad")).value == "stopped"
        assert project_progress(s, "verify").discounted_votes == 20
