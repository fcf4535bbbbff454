"""A simulated box crowd working on a box project through :func:`next_box_task` and
:func:`submit_box_task`, the functions the server's routes call, many workers interleaved.

Each round every active worker asks for a task (in a seeded order), then answers it, each
call in its own transaction as each request would be. The crowd needs the true boxes of each
image: :func:`box_truth` reads them from a synthetic scene dataset's ``truth.json`` (found
beside the source the image was ingested from, matched by the image's sha256), else takes
the catalog's source boxes; gold images always answer by the catalog's boxes.

:func:`draw_only` is the baseline without verification: one drawing pass, every box drawn
accepted (for the bench's comparison).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from synsetlab.annotate.box_assign import next_box_task
from synsetlab.annotate.box_crowd import COVER_IOU, SimulatedBoxCrowd
from synsetlab.annotate.box_geometry import GOOD_IOU, best_iou
from synsetlab.annotate.box_submit import submit_box_task
from synsetlab.annotate.errors import AnnotationError, AnnotationForbiddenError
from synsetlab.annotate.projects import annotator_for, get_project
from synsetlab.catalog.annotation import (
    BoxDrawing,
    BoxItem,
    BoxItemStatus,
    BoxTask,
    DrawingStatus,
)
from synsetlab.catalog.models import Box, Image, Source
from synsetlab.workspace import Workspace

__all__ = ["BoxRun", "BoxTruth", "box_truth", "draw_only", "score_boxes", "simulate_box_project"]

#: Prefix of simulated workers' annotator names.
SIMULATED = "sim-"
#: Folders above a source's folder searched for a scene ``truth.json``.
_TRUTH_DEPTH = 5

Corners = tuple[float, float, float, float]


@dataclass(frozen=True)
class BoxTruth:
    """Every item's true boxes and its image size."""

    boxes: dict[int, list[Corners]]
    sizes: dict[int, tuple[int, int]]
    #: Items whose truth came from a scene's truth.json (the rest: catalog boxes).
    recorded: int


@dataclass
class BoxRun:
    """What a simulated crowd did, and how its boxes compare with the truth."""

    rounds: int = 0
    #: Tasks answered, by kind, and annotator seconds spent on them.
    actions: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    seconds: float = 0.0
    stopped: list[str] = field(default_factory=list)
    drawn: int = 0
    accepted: int = 0
    rejected: int = 0
    items: int = 0
    covered: int = 0
    #: Against the truth (non-gold items): mean IoU of accepted boxes with their best true
    #: box, and the share of true objects an accepted box covers (IoU >= 0.5).
    mean_iou: float = float("nan")
    objects: int = 0
    objects_covered: int = 0
    out_of_budget: bool = False

    @property
    def total_actions(self) -> int:
        return sum(self.actions.values())

    @property
    def object_coverage(self) -> float:
        return self.objects_covered / self.objects if self.objects else float("nan")


def box_truth(ws: Workspace, project: str) -> BoxTruth:
    """The true boxes of ``project``'s items (see the module docstring)."""
    from synsetlab.synthetic import SyntheticConfigError, load_scene_truth

    with ws.session() as s:
        p = get_project(s, project)
        rows = s.execute(
            select(
                BoxItem.id, BoxItem.image_id, BoxItem.wnid, BoxItem.gold, Image.sha256,
                Image.width, Image.height, Source.uri,
            )
            .join(Image, Image.id == BoxItem.image_id)
            .join(Source, Source.id == Image.source_id)
            .where(BoxItem.project_id == p.id)
        ).all()  # fmt: skip
        catalog: dict[tuple[int, str], list[Corners]] = defaultdict(list)
        for image_id, wnid, *corners in s.execute(
            select(Box.image_id, Box.wnid, Box.xmin, Box.ymin, Box.xmax, Box.ymax).where(
                Box.drawing_id.is_(None)
            )
        ):
            catalog[image_id, wnid].append(tuple(corners))
    scenes: dict[str, dict[str, list]] = {}
    by_sha: dict[str, dict[str, list[Corners]]] = {}
    for uri in {r[-1] for r in rows}:
        folder = Path(uri)
        for _ in range(_TRUTH_DEPTH):
            candidate = folder / "truth.json"
            if candidate.is_file() and str(candidate) not in scenes:
                try:
                    truth = load_scene_truth(folder)
                except SyntheticConfigError:  # a figure dataset's truth.json: no boxes
                    truth = None
                scenes[str(candidate)] = {}
                if truth is not None:
                    for image in truth.images:
                        objs: dict[str, list[Corners]] = defaultdict(list)
                        for o in image.objects:
                            objs[o.wnid].append(tuple(float(v) for v in o.box))
                        by_sha[image.sha256] = objs
                break
            folder = folder.parent
    boxes: dict[int, list[Corners]] = {}
    sizes: dict[int, tuple[int, int]] = {}
    recorded = 0
    for item_id, image_id, wnid, gold, sha, width, height, _ in rows:
        sizes[item_id] = (int(width), int(height))
        if not gold and sha in by_sha:
            boxes[item_id] = by_sha[sha].get(wnid, [])
            recorded += 1
        else:
            boxes[item_id] = catalog.get((image_id, wnid), [])
    return BoxTruth(boxes, sizes, recorded)


def simulate_box_project(
    ws: Workspace,
    project: str,
    crowd: SimulatedBoxCrowd,
    truth: BoxTruth,
    *,
    budget: int | None = None,
) -> BoxRun:
    """Let ``crowd`` work on ``project`` until no worker gets a task or ``budget`` tasks
    were answered."""
    if budget is not None and budget < 1:
        raise AnnotationError(f"budget {budget}: answer at least one task")
    with ws.session() as s:
        p = get_project(s, project)
        to_box = s.scalar(
            select(func.count()).where(BoxItem.project_id == p.id, BoxItem.gold.is_(False))
        )
        # Images to box have no catalog box of their class by construction: without a scene
        # set's truth.json the crowd would see no object, answer "none left" everywhere and
        # mark every image covered, which scores nothing and would be aggregated.
        if to_box and not truth.recorded:
            raise AnnotationError(
                f"the simulated box crowd needs the true boxes of {project!r}'s images, and "
                "none came from a synthetic scene set (its truth.json): simulate on images of "
                "`synsetlab synthetic generate DIR --kind scenes`, or have people draw the "
                "boxes (synsetlab serve)"
            )
        ids = {w: annotator_for(s, p, name=SIMULATED + w).id for w in crowd.ids}
    rng = np.random.default_rng(crowd.config.seed)
    run = BoxRun()
    active = list(crowd.ids)
    while active:
        tasks = []
        for w in [active[i] for i in rng.permutation(len(active))]:
            if budget is not None and run.total_actions + len(tasks) >= budget:
                run.out_of_budget = True
                break
            with ws.session() as s:
                try:
                    task = next_box_task(s, project, ids[w])
                except AnnotationForbiddenError:
                    active.remove(w)
                    continue
            if task is not None:
                tasks.append((w, task))
        if not tasks:
            break
        run.rounds += 1
        for w, task in tasks:
            with ws.session() as s:
                answer, seconds = _answer(s, crowd, w, task, truth)
                try:
                    done = submit_box_task(s, task.id, ids[w], answer, seconds=seconds)
                except AnnotationForbiddenError:  # stopped by an earlier task this round
                    continue
            run.actions[task.kind] += 1
            run.seconds += seconds
            if done.stopped:
                run.stopped.append(SIMULATED + w)
                active.remove(w)
        if run.out_of_budget:
            break
    with ws.session() as s:
        score_boxes(s, p.id, truth, run)
    return run


def _answer(s, crowd: SimulatedBoxCrowd, worker: str, task, truth: BoxTruth) -> tuple[dict, float]:
    true_boxes = truth.boxes[task.item_id]
    size = truth.sizes[task.item_id]
    if task.kind == "draw":
        box, source, seconds = crowd.draw(worker, true_boxes, task.shown, size)
        if box is None:
            return {"box": None}, seconds
        if source == "extreme":
            x0, y0, x1, y1 = box
            my = (y0 + y1) / 2
            mx = (x0 + x1) / 2
            return {"extreme": [[x0, my], [mx, y0], [x1, my], [mx, y1]]}, seconds
        return {"box": list(box)}, seconds
    if task.kind == "quality":
        others = [
            (d.xmin, d.ymin, d.xmax, d.ymax)
            for d in s.scalars(
                select(BoxDrawing).where(
                    BoxDrawing.item_id == task.item_id,
                    BoxDrawing.status == DrawingStatus.accepted,
                    BoxDrawing.id != task.drawing_id,
                )
            )
        ]
        good = _good(task.drawing, true_boxes, others)
        answer, seconds = crowd.verify(worker, good, "quality")
        return {"drawing_id": task.drawing_id, "answer": answer}, seconds
    complete = all(best_iou(t, task.shown)[0] >= COVER_IOU for t in true_boxes)
    answer, seconds = crowd.verify(worker, complete, "coverage")
    return {"item_id": task.item_id, "answer": answer}, seconds


def _good(box: Sequence[float], true_boxes: Sequence[Corners], others: Sequence[Corners]) -> bool:
    """Tight on a true object (IoU >= GOOD_IOU) that no other accepted box covers."""
    for t in true_boxes:
        if best_iou(box, [t])[0] >= GOOD_IOU and best_iou(t, others)[0] < COVER_IOU:
            return True
    return False


def score_boxes(s, project_id: int, truth: BoxTruth, run: BoxRun) -> None:
    """Fill ``run``'s counts and its comparison with ``truth`` from what was stored."""
    items = s.execute(
        select(BoxItem.id, BoxItem.status).where(
            BoxItem.project_id == project_id, BoxItem.gold.is_(False)
        )
    ).all()
    run.items = len(items)
    run.covered = sum(status is BoxItemStatus.covered for _, status in items)
    ids = [i for i, _ in items]
    drawings = s.execute(
        select(BoxDrawing.item_id, BoxDrawing.status, BoxDrawing.xmin, BoxDrawing.ymin,
               BoxDrawing.xmax, BoxDrawing.ymax)
        .where(BoxDrawing.item_id.in_(ids), BoxDrawing.gold.is_(None))
    ).all()  # fmt: skip
    accepted: dict[int, list[Corners]] = defaultdict(list)
    for item_id, status, *corners in drawings:
        run.drawn += 1
        run.accepted += status is DrawingStatus.accepted
        run.rejected += status is DrawingStatus.rejected
        if status is DrawingStatus.accepted:
            accepted[item_id].append(tuple(corners))
    _compare(accepted, {i: truth.boxes[i] for i in ids}, run)
    if not run.actions:
        for kind, _ in s.execute(
            select(BoxTask.kind, BoxTask.id).where(
                BoxTask.project_id == project_id, BoxTask.submitted_at.is_not(None)
            )
        ):
            run.actions[kind] += 1


def _compare(
    accepted: Mapping[int, list[Corners]], truth: Mapping[int, list[Corners]], run: BoxRun
) -> None:
    ious = [best_iou(b, truth[i])[0] for i, boxes in accepted.items() for b in boxes if i in truth]
    run.mean_iou = float(np.mean(ious)) if ious else float("nan")
    run.objects = sum(len(t) for t in truth.values())
    run.objects_covered = sum(
        best_iou(t, accepted.get(i, []))[0] >= COVER_IOU for i, ts in truth.items() for t in ts
    )


def draw_only(crowd: SimulatedBoxCrowd, truth: BoxTruth, items: Sequence[int]) -> BoxRun:
    """The baseline without verification: each item drawn by one worker after another (in
    turn) until one says none is left, every box accepted; no quality or coverage step."""
    run = BoxRun()
    turn = 0
    accepted: dict[int, list[Corners]] = defaultdict(list)
    for item_id in items:
        for _ in range(len(truth.boxes[item_id]) + 1):
            w = crowd.ids[turn % len(crowd.ids)]
            turn += 1
            box, source, seconds = crowd.draw(
                w, truth.boxes[item_id], accepted[item_id], truth.sizes[item_id]
            )
            run.actions[source] += 1
            run.seconds += seconds
            if box is None:
                break
            accepted[item_id].append(box)
            run.drawn += 1
            run.accepted += 1
    run.items = len(items)
    run.covered = len(items)
    _compare(accepted, {i: truth.boxes[i] for i in items}, run)
    return run
