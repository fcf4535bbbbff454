"""Detector assistance for box projects: a trained detector's boxes offered for verification.

:func:`propose_boxes` runs a ``synsetlab train-detector`` checkpoint
(:func:`synsetlab.detect.predict.load_detector`) over the images a box project still has to
box, and stores each of its detections of the item's class with a score of at least
``min_score`` as a :class:`~synsetlab.catalog.BoxDrawing` of source ``proposal`` (no
annotator, the detector's ``score``). Proposals take the place of drawing: they go through
quality verification like any drawn box ("is this box tight and on a <synset>?", about 3 s
against about 25 s to draw one, Su et al. 2012; Papadopoulos et al. 2016, "We don't need no
bounding-boxes", built whole pipelines on verifying detector boxes), the items that get one
wait in ``verifying`` until they are decided, and coverage then asks for what the detector
missed. A detector never accepts a box alone: every proposal needs the crowd's quality votes.

Per item at most ``max_per_item`` proposals, best first, after non-maximum suppression with
the item's pending and accepted boxes (a proposal overlapping one of them by IoU >= 0.7
would ask about the same object twice). Running it again first removes the project's earlier
proposals that nobody has been asked about yet.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import delete, insert, select

from synsetlab.annotate.assign import lock_project_named
from synsetlab.annotate.box_decide import refresh_items
from synsetlab.annotate.box_geometry import GOOD_IOU, best_iou
from synsetlab.annotate.box_projects import require_box_project
from synsetlab.annotate.errors import AnnotationError
from synsetlab.annotate.projects import get_project
from synsetlab.catalog.annotation import (
    BoxDrawing,
    BoxItem,
    BoxItemStatus,
    BoxQualityVote,
    BoxTask,
    DrawingStatus,
)
from synsetlab.catalog.models import Image, utcnow

if TYPE_CHECKING:
    from synsetlab.blobs import BlobStore
    from synsetlab.detect.predict import LoadedDetector
    from synsetlab.workspace import Workspace

__all__ = [
    "MAX_PER_ITEM",
    "MIN_SCORE",
    "BoxProposals",
    "detect_blobs",
    "propose_boxes",
    "require_detector_classes",
]

#: Detector score a proposal needs by default (torchvision's detectors score in [0, 1]).
MIN_SCORE = 0.5
#: Proposals an item gets at most: each costs quality votes, and an item closes after
#: :data:`~synsetlab.annotate.box_decide.MAX_DRAWINGS` drawings.
MAX_PER_ITEM = 5

Corners = tuple[float, float, float, float]


@dataclass
class BoxProposals:
    """What :func:`propose_boxes` stored."""

    checkpoint: str
    #: Items asked about (not covered, not gold), on how many images.
    items: int
    images: int
    #: Proposals stored, and items that got at least one.
    proposals: int = 0
    items_proposed: int = 0
    #: Detections left out: below ``min_score``, of a class the item does not ask about,
    #: overlapping a box the item has, beyond ``max_per_item``.
    below_score: int = 0
    other_class: int = 0
    overlapping: int = 0
    over_limit: int = 0
    #: Earlier unvoted proposals removed first.
    replaced: int = 0
    #: The project's classes the detector does not know (their items get no proposal).
    unknown_classes: list[str] = field(default_factory=list)


def require_detector_classes(
    loaded: LoadedDetector, wnids: Sequence[str], *, checkpoint: str
) -> list[str]:
    """The project's classes the detector predicts; refused (:class:`AnnotationError`) when
    it predicts none of them."""
    known = [w for w in wnids if w in set(loaded.classes)]
    if not known:
        raise AnnotationError(
            f"the detector {checkpoint} predicts {', '.join(loaded.classes[:5])}"
            f"{' ...' if len(loaded.classes) > 5 else ''}, none of the project's classes "
            f"({', '.join(list(wnids)[:5])}): train one on these classes "
            "(synsetlab train-detector VERSION) or leave --assist out"
        )
    return known


def detect_blobs(
    loaded: LoadedDetector,
    blobs: BlobStore,
    shas: Sequence[str],
    *,
    batch_size: int = 8,
    max_per_image: int = 100,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``loaded``'s detections of the images ``shas`` name (read as stored, no EXIF turn, as
    the detector trained): per image ``(boxes (N, 4) in 0-based inclusive pixels, scores (N,),
    wnid indices (N,) into loaded.classes)``, best first; ``on_progress(n, total)`` after each
    batch of ``n`` images. The same steps as
    :func:`synsetlab.detect.predict.predict_split`, over blobs rather than a version's split."""
    import torch  # here, not above: importing synsetlab.annotate stays free of torch

    from synsetlab.data.dataset import decode_tensor
    from synsetlab.detect.data import AS_STORED, to_pixels

    model = loaded.model.eval()
    heads = model.roi_heads
    before, heads.detections_per_img = heads.detections_per_img, max_per_image
    out = []
    try:
        with torch.no_grad():
            for start in range(0, len(shas), batch_size):
                chunk = shas[start : start + batch_size]
                images = [decode_tensor(blobs.get(sha), orientation=AS_STORED) for sha in chunk]
                outputs = model([image.to(loaded.device).float().div_(255) for image in images])
                for output in outputs:
                    scores = output["scores"].float().cpu().numpy().astype(np.float64)
                    order = np.argsort(-scores, kind="stable")
                    boxes = to_pixels(output["boxes"].float().cpu().numpy().astype(np.float64))
                    labels = output["labels"].cpu().numpy().astype(np.int64) - 1
                    out.append((boxes[order], scores[order], labels[order]))
                if on_progress is not None:
                    on_progress(len(chunk), len(shas))
    finally:
        heads.detections_per_img = before
    return out


def propose_boxes(
    ws: Workspace,
    project: str,
    loaded: LoadedDetector,
    *,
    checkpoint: str = "",
    min_score: float = MIN_SCORE,
    max_per_item: int = MAX_PER_ITEM,
    batch_size: int = 8,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> BoxProposals:
    """Store ``loaded``'s detections on ``project``'s items as proposals to verify (see the
    module docstring). Refused with :class:`AnnotationError`, nothing written: a label
    project, ``min_score`` outside [0, 1], ``max_per_item`` below 1, a detector of none of
    the project's classes."""
    if not (isinstance(min_score, (int, float)) and 0.0 <= min_score <= 1.0):
        raise AnnotationError(f"min score {min_score}: choose a detector score in [0, 1]")
    if not isinstance(max_per_item, int) or max_per_item < 1:
        raise AnnotationError(f"max proposals per image {max_per_item}: give at least 1")
    with ws.session() as s:
        p = get_project(s, project)
        require_box_project(p)
        rows = s.execute(
            select(BoxItem.id, BoxItem.wnid, Image.sha256, Image.width, Image.height)
            .join(Image, Image.id == BoxItem.image_id)
            .where(
                BoxItem.project_id == p.id,
                BoxItem.gold.is_(False),
                BoxItem.status != BoxItemStatus.covered,
            )
            .order_by(BoxItem.id)
        ).all()
        wnids = list(dict.fromkeys(w for _, w, *_ in rows))
    if not rows:
        raise AnnotationError(f"project {project!r} has no image left to box: every one is covered")
    known = require_detector_classes(loaded, wnids, checkpoint=checkpoint or "given")
    report = BoxProposals(checkpoint, items=len(rows), images=len({r[2] for r in rows}))
    report.unknown_classes = [w for w in wnids if w not in known]
    index = {w: i for i, w in enumerate(loaded.classes)}
    shas = list(dict.fromkeys(r[2] for r in rows if r[1] in index))
    found = dict(
        zip(shas, detect_blobs(loaded, ws.blobs, shas, batch_size=batch_size,
                               on_progress=on_progress), strict=True)
    )  # fmt: skip
    now = utcnow()
    with ws.session() as s:
        p = lock_project_named(s, project)
        # Asked about (an open or answered task, a vote): kept, whatever this run finds.
        asked = select(BoxTask.drawing_id).where(BoxTask.drawing_id.is_not(None))
        voted = select(BoxQualityVote.drawing_id)
        report.replaced = int(
            s.execute(
                delete(BoxDrawing)
                .where(
                    BoxDrawing.item_id.in_([r[0] for r in rows]),
                    BoxDrawing.source == "proposal",
                    BoxDrawing.status == DrawingStatus.pending,
                    BoxDrawing.id.not_in(voted),
                    BoxDrawing.id.not_in(asked),
                )
                .execution_options(synchronize_session=False)
            ).rowcount
            or 0
        )
        held: dict[int, list[Corners]] = defaultdict(list)
        kept: Counter[int] = Counter()  # pending proposals kept: they count towards the limit
        for item_id, source, status, *corners in s.execute(
            select(BoxDrawing.item_id, BoxDrawing.source, BoxDrawing.status, BoxDrawing.xmin,
                   BoxDrawing.ymin, BoxDrawing.xmax, BoxDrawing.ymax)
            .where(
                BoxDrawing.item_id.in_([r[0] for r in rows]),
                BoxDrawing.status != DrawingStatus.rejected,
            )
        ):  # fmt: skip
            held[item_id].append(tuple(corners))
            kept[item_id] += source == "proposal" and status is DrawingStatus.pending
        new = []
        for item_id, wnid, sha, width, height in rows:
            if wnid not in index:
                continue
            boxes, scores, labels = found[sha]
            mine = labels == index[wnid]
            report.other_class += int((~mine).sum())
            taken = list(held[item_id])
            stored = 0
            room = max_per_item - kept[item_id]
            for box, score in zip(boxes[mine], scores[mine], strict=True):
                if score < min_score:
                    report.below_score += 1
                    continue
                corners = _clipped(box, (width, height))
                if corners is None:  # wholly outside the image
                    continue
                if taken and best_iou(corners, taken)[0] >= GOOD_IOU:
                    report.overlapping += 1
                    continue
                if stored >= room:
                    report.over_limit += 1
                    continue
                taken.append(corners)
                stored += 1
                new.append(
                    {"item_id": item_id, "annotator_id": None, "source": "proposal",
                     "xmin": corners[0], "ymin": corners[1], "xmax": corners[2],
                     "ymax": corners[3], "score": float(score), "gold": None,
                     "status": DrawingStatus.pending, "yes_votes": 0, "no_votes": 0,
                     "created_at": now}
                )  # fmt: skip
            report.items_proposed += bool(stored)
        if new:
            s.execute(insert(BoxDrawing), new)
        report.proposals = len(new)
        s.flush()
        # Items with a pending proposal wait in verifying: nobody draws what the detector
        # may have boxed already.
        refresh_items(s, p, {r[0] for r in rows}, now=now)
    return report


def _clipped(box: np.ndarray, size: tuple[int, int]) -> Corners | None:
    """The box within the image's pixels, or None when nothing of it is left."""
    width, height = size
    x0, y0, x1, y1 = (float(v) for v in box)
    x0, x1 = max(0.0, x0), min(float(width - 1), x1)
    y0, y1 = max(0.0, y0), min(float(height - 1), y1)
    if x1 <= x0 or y1 <= y0:
        return None
    return (round(x0, 2), round(y0, 2), round(x1, 2), round(y1, 2))
