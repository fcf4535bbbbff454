"""Votes in and out: crowd-kit's CSV layout and Label Studio's JSON.

A question's id outside synsetlab is ``IMAGE_ID:WNID`` (the catalog's image id and the
synset), the same in every format, so that votes exported, answered elsewhere and imported
land on the same questions.

Export (:func:`export_project`) writes a folder:

- ``crowdkit``: ``votes.csv`` (``task,worker,label,seconds``: crowd-kit's layout, every stored
  vote; ``workers.csv`` says who was stopped), ``gold.csv`` (``task,label``: crowd-kit's
  ``true_labels``), ``tasks.csv`` (each candidate question: image, synset, status, posterior)
  and ``workers.csv``;
- ``label-studio``: ``tasks.json`` (one Label Studio task per candidate question, its votes as
  annotations) and ``label_config.xml`` (the yes/no interface those tasks need).

Import (:func:`import_votes`) reads either back (``.csv``: crowd-kit, ``.json``: Label
Studio). Every row is checked before anything is written: an unknown question or worker, a
label other than yes/no, a worker answering a question twice, or a vote that contradicts a
stored one is refused with its line (or task) number, and nothing is imported.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from xml.sax.saxutils import quoteattr

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from synsetlab.annotate.assign import lock_project
from synsetlab.annotate.decide import recount
from synsetlab.annotate.errors import AnnotationError
from synsetlab.annotate.projects import annotator_for, get_project
from synsetlab.annotate.store import settle
from synsetlab.catalog.annotation import (
    AnnotationClass,
    AnnotationItem,
    AnnotationProject,
    AnnotationVote,
    Annotator,
)
from synsetlab.catalog.models import Image, utcnow

__all__ = [
    "FORMATS",
    "Exported",
    "Imported",
    "export_project",
    "import_votes",
    "question_key",
]

Format = Literal["crowdkit", "label-studio"]
FORMATS: tuple[str, ...] = ("crowdkit", "label-studio")
#: Problems an import error lists before "and N more".
_LISTED = 10
_YES = {"1", "true", "yes", "y", "t"}
_NO = {"0", "false", "no", "n", "f"}


@dataclass(frozen=True)
class Exported:
    format: str
    files: list[Path]
    questions: int
    votes: int


@dataclass(frozen=True)
class Imported:
    #: Votes stored, and votes the project held already with the same answer (skipped).
    votes: int
    already: int
    #: Workers added as annotators (``add_workers``).
    workers_added: int
    #: Questions decided as a result, and annotators stopped for their gold answers.
    decided: int
    stopped: list[str] = field(default_factory=list)


def question_key(image_id: int, wnid: str) -> str:
    """A question's id outside synsetlab: ``IMAGE_ID:WNID``."""
    return f"{image_id}:{wnid}"


def export_project(
    s: Session,
    project: str | AnnotationProject,
    out_dir: Path,
    *,
    format: Format,
    image_url: Callable[[str], str] | None = None,
) -> Exported:
    """Write the project's questions and votes to ``out_dir`` (created) in ``format``.

    ``image_url``: sha256 -> where the image can be read (Label Studio's ``data.image``), e.g.
    the blob store's path; default the sha256 itself.
    """
    if format not in FORMATS:
        raise AnnotationError(f"export format {format!r}: choose one of {', '.join(FORMATS)}")
    if isinstance(project, str):
        project = get_project(s, project)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    items = s.execute(
        select(
            AnnotationItem.id,
            AnnotationItem.image_id,
            AnnotationItem.wnid,
            AnnotationItem.gold,
            AnnotationItem.status,
            AnnotationItem.posterior,
            Image.sha256,
        )
        .join(Image, Image.id == AnnotationItem.image_id)
        .where(AnnotationItem.project_id == project.id)
        .order_by(AnnotationItem.id)
    ).all()
    votes = s.execute(
        select(
            AnnotationVote.item_id, Annotator.name, AnnotationVote.answer, AnnotationVote.seconds
        )
        .join(Annotator, Annotator.id == AnnotationVote.annotator_id)
        .where(Annotator.project_id == project.id)
        .order_by(AnnotationVote.id)
    ).all()
    key = {row.id: question_key(row.image_id, row.wnid) for row in items}
    if format == "crowdkit":
        files = _write_crowdkit(s, project, out_dir, items, votes, key)
    else:
        files = _write_label_studio(s, project, out_dir, items, votes, key, image_url)
    return Exported(format, files, sum(row.gold is None for row in items), len(votes))


def import_votes(
    s: Session,
    project: str | AnnotationProject,
    path: Path,
    *,
    add_workers: bool = False,
    now: datetime | None = None,
) -> Imported:
    """Store the votes of a crowd-kit CSV (``task,worker,label[,seconds]``) or a Label Studio
    JSON export in ``project``; each worker becomes (``add_workers``) or must be an annotator.

    Votes are checked first (see the module docstring) and then stored, counted and decided
    as page answers are. The caller commits.
    """
    now = now or utcnow()
    if isinstance(project, str):
        project = get_project(s, project)
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise AnnotationError(f"cannot read the votes file {path} ({e})") from e
    suffix = path.suffix.lower()
    if suffix == ".csv":
        rows = _read_crowdkit(text, path.name)
    elif suffix == ".json":
        rows = _read_label_studio(text, path.name)
    else:
        raise AnnotationError(
            f"{path.name}: give a crowd-kit .csv (task,worker,label) or a Label Studio .json export"
        )
    lock_project(s, project)
    items = {
        question_key(image_id, wnid): (item_id, class_id, gold)
        for item_id, image_id, wnid, class_id, gold in s.execute(
            select(
                AnnotationItem.id,
                AnnotationItem.image_id,
                AnnotationItem.wnid,
                AnnotationItem.class_id,
                AnnotationItem.gold,
            ).where(AnnotationItem.project_id == project.id)
        )
    }
    people = dict(
        s.execute(
            select(Annotator.name, Annotator.id).where(Annotator.project_id == project.id)
        ).all()
    )
    stored = {
        (item_id, annotator_id): answer
        for item_id, annotator_id, answer in s.execute(
            select(AnnotationVote.item_id, AnnotationVote.annotator_id, AnnotationVote.answer)
            .join(Annotator, Annotator.id == AnnotationVote.annotator_id)
            .where(Annotator.project_id == project.id)
        )
    }
    problems: list[str] = []
    first_seen: dict[tuple[str, str], str] = {}
    new_workers: list[str] = []
    accepted: list[_Row] = []
    already = 0
    for row in rows:
        if row.problem:
            problems.append(f"{row.where}: {row.problem}")
            continue
        if row.task not in items:
            problems.append(
                f"{row.where}: unknown task {row.task!r}: no such question in project "
                f"{project.slug!r} (tasks are IMAGE_ID:WNID, as `annotate export` writes them)"
            )
            continue
        if row.worker not in people and row.worker not in new_workers:
            if not add_workers:
                problems.append(
                    f"{row.where}: unknown worker {row.worker!r}: not an annotator of project "
                    f"{project.slug!r}; pass --add-workers (add_workers=True) to add the file's "
                    "workers"
                )
                continue
            new_workers.append(row.worker)
        pair = (row.task, row.worker)
        if pair in first_seen:
            problems.append(
                f"{row.where}: worker {row.worker!r} answered task {row.task!r} already "
                f"({first_seen[pair]}); a worker answers a question once"
            )
            continue
        first_seen[pair] = row.where
        previous = stored.get((items[row.task][0], people.get(row.worker, -1)))
        if previous is not None:
            if previous != row.label:
                problems.append(
                    f"{row.where}: worker {row.worker!r} already voted "
                    f"{'yes' if previous else 'no'} on task {row.task!r}; a vote is final"
                )
            else:
                already += 1
            continue
        accepted.append(row)
    if problems:
        more = f"; and {len(problems) - _LISTED} more" if len(problems) > _LISTED else ""
        raise AnnotationError(
            f"nothing was imported from {path.name}: " + "; ".join(problems[:_LISTED]) + more
        )
    for name in new_workers:
        people[name] = annotator_for(s, project, name=name).id
    if accepted:
        s.execute(
            insert(AnnotationVote),
            [
                {
                    "item_id": items[row.task][0],
                    "annotator_id": people[row.worker],
                    "task_id": None,
                    "answer": row.label,
                    "seconds": row.seconds,
                    "fast": row.seconds is not None and row.seconds < project.min_seconds,
                    "propagated": False,
                    "created_at": now,
                }
                for row in accepted
            ],
        )
    touched = {items[row.task][0]: items[row.task][1] for row in accepted}
    recount(s, touched)
    gold_voters = {people[row.worker] for row in accepted if items[row.task][2] is not None}
    settled = settle(s, project, touched, gold_voters, now=now)
    return Imported(len(accepted), already, len(new_workers), settled.decided, settled.stopped)


@dataclass(frozen=True)
class _Row:
    """One vote read from a file, or why it could not be read."""

    where: str
    task: str = ""
    worker: str = ""
    label: bool = False
    seconds: float | None = None
    problem: str = ""


def _read_crowdkit(text: str, name: str) -> list[_Row]:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in ("task", "worker", "label") if c not in header]
    if missing:
        raise AnnotationError(
            f"{name}: line 1 lacks column(s) {', '.join(missing)}: a crowd-kit vote table has "
            "a header task,worker,label (and optionally seconds)"
        )
    reader.fieldnames = header
    rows = []
    for record in reader:
        where = f"{name} line {reader.line_num}"
        task = (record.get("task") or "").strip()
        worker = (record.get("worker") or "").strip()
        if not task or not worker:
            rows.append(_Row(where, problem="empty task or worker"))
            continue
        label = _label(record.get("label"))
        seconds, bad_seconds = _seconds(record.get("seconds"))
        problem = (
            ""
            if label is not None
            else (f"label {record.get('label')!r} is not yes/no (use 1/0, true/false or yes/no)")
        )
        problem = problem or bad_seconds
        rows.append(_Row(where, task, worker, bool(label), seconds, problem))
    if not rows:
        raise AnnotationError(f"{name}: no votes after the header")
    return rows


def _read_label_studio(text: str, name: str) -> list[_Row]:
    try:
        tasks = json.loads(text)
    except json.JSONDecodeError as e:
        raise AnnotationError(f"{name}: not valid JSON (line {e.lineno}: {e.msg})") from e
    if not isinstance(tasks, list):
        raise AnnotationError(
            f"{name}: a Label Studio export is a JSON list of tasks; export the project as "
            "JSON from Label Studio"
        )
    rows = []
    for t, task in enumerate(tasks, 1):
        where = f"{name} task {t}" + (
            f" (id {task['id']})" if isinstance(task, dict) and "id" in task else ""
        )
        data = task.get("data") if isinstance(task, dict) else None
        key = data.get("item") if isinstance(data, dict) else None
        if not isinstance(key, str):
            rows.append(
                _Row(
                    where,
                    problem="no data.item: tasks need the question id IMAGE_ID:WNID, as "
                    "`annotate export --format label-studio` writes it",
                )
            )
            continue
        for a, annotation in enumerate(task.get("annotations") or [], 1):
            here = f"{where} annotation {a}"
            if not isinstance(annotation, dict):
                rows.append(_Row(here, problem="an annotation must be an object"))
                continue
            if annotation.get("was_cancelled"):
                continue
            worker = _worker(annotation.get("completed_by"))
            choice = _choice(annotation.get("result"))
            label = _label(choice)
            seconds, bad_seconds = _seconds(annotation.get("lead_time"))
            problem = ""
            if worker is None:
                problem = "no completed_by: cannot tell whose vote it is"
            elif label is None:
                problem = f"choice {choice!r} is not yes/no"
            rows.append(_Row(here, key, worker or "", bool(label), seconds, problem or bad_seconds))
    if not rows:
        raise AnnotationError(f"{name}: no annotations in it")
    return rows


def _worker(completed_by: Any) -> str | None:
    """Label Studio's ``completed_by``: a user id, or an object with an email or id."""
    if isinstance(completed_by, dict):
        completed_by = completed_by.get("email") or completed_by.get("id")
    if isinstance(completed_by, (int, str)) and not isinstance(completed_by, bool):
        text = str(completed_by).strip()
        return text or None
    return None


def _choice(result: Any) -> Any:
    """The first choice of a Label Studio result list (a ``choices`` control)."""
    for region in result or []:
        if isinstance(region, dict) and region.get("type") == "choices":
            choices = (region.get("value") or {}).get("choices") or []
            return choices[0] if choices else None
    return None


def _label(value: Any) -> bool | None:
    text = str(value).strip().casefold() if value is not None else ""
    return True if text in _YES else False if text in _NO else None


def _seconds(value: Any) -> tuple[float | None, str]:
    """(seconds, problem) from an optional number >= 0."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, ""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None, f"seconds {value!r} is not a number"
    if not (math.isfinite(seconds) and seconds >= 0):
        return None, f"seconds {value!r} must be a time >= 0"
    return seconds, ""


def _write_crowdkit(
    s: Session, project: AnnotationProject, out_dir: Path, items, votes, key
) -> list[Path]:
    paths = [out_dir / n for n in ("votes.csv", "gold.csv", "tasks.csv", "workers.csv")]
    with paths[0].open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["task", "worker", "label", "seconds"])
        for item_id, worker, answer, seconds in votes:
            writer.writerow(
                [key[item_id], worker, int(answer), "" if seconds is None else f"{seconds:.3f}"]
            )
    with paths[1].open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["task", "label"])
        writer.writerows([key[row.id], int(row.gold)] for row in items if row.gold is not None)
    with paths[2].open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["task", "image_id", "wnid", "sha256", "status", "posterior"])
        for row in items:
            if row.gold is None:
                posterior = "" if row.posterior is None else f"{row.posterior:.6f}"
                writer.writerow(
                    [key[row.id], row.image_id, row.wnid, row.sha256, row.status.value, posterior]
                )
    with paths[3].open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["worker", "state", "stop_reason"])
        for name, state, reason in s.execute(
            select(Annotator.name, Annotator.state, Annotator.stop_reason)
            .where(Annotator.project_id == project.id)
            .order_by(Annotator.id)
        ):
            writer.writerow([name, state.value, reason])
    return paths


def _write_label_studio(
    s: Session, project: AnnotationProject, out_dir: Path, items, votes, key, image_url
) -> list[Path]:
    classes = {
        c.wnid: c
        for c in s.scalars(select(AnnotationClass).where(AnnotationClass.project_id == project.id))
    }
    by_item: dict[int, list[dict[str, Any]]] = {}
    for item_id, worker, answer, seconds in votes:
        annotation: dict[str, Any] = {
            "result": [
                {
                    "from_name": "answer",
                    "to_name": "image",
                    "type": "choices",
                    "value": {"choices": ["yes" if answer else "no"]},
                }
            ],
            "completed_by": {"email": worker},
            "was_cancelled": False,
        }
        if seconds is not None:
            annotation["lead_time"] = round(seconds, 3)
        by_item.setdefault(item_id, []).append(annotation)
    tasks = []
    for row in items:
        if row.gold is not None:
            continue
        klass = classes[row.wnid]
        name = klass.lemmas.split("; ")[0]
        tasks.append(
            {
                "data": {
                    "image": image_url(row.sha256) if image_url else row.sha256,
                    "item": key[row.id],
                    "wnid": row.wnid,
                    "synset": name,
                    "question": f"Does the image show a {name}: {klass.gloss}?",
                },
                "annotations": by_item.get(row.id, []),
            }
        )
    path = out_dir / "tasks.json"
    path.write_text(json.dumps(tasks, indent=1) + "\n", encoding="utf-8")
    config = out_dir / "label_config.xml"
    config.write_text(
        "<View>\n"
        f"  <Header value={quoteattr('$question')}/>\n"
        '  <Image name="image" value="$image"/>\n'
        '  <Choices name="answer" toName="image" choice="single" showInline="true">\n'
        '    <Choice value="yes" hotkey="1"/>\n'
        '    <Choice value="no" hotkey="2"/>\n'
        "  </Choices>\n"
        "</View>\n",
        encoding="utf-8",
    )
    return [path, config]
