"""Box projects: which (image, synset) pairs get boxes drawn, verified and covered, and gold.

:func:`create_box_project` makes one :class:`~synsetlab.catalog.BoxItem` per image whose
label (verified, or a candidate not rejected) is one of the project's classes and that has no
box of that class in the catalog yet. Images that have a source's boxes of the class are gold
(up to :data:`~synsetlab.annotate.projects.GOLD_PER_CLASS` a class): a drawing on one is
scored by IoU against them; each of their boxes is shown for quality verification as is (a
known good box) and perturbed (a known bad one); coverage is asked with all of them shown
(known yes) or all but one (known no). Images of the hidden test split are left out unless
asked, and so are images that curation excluded, as for label projects.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from synsetlab.annotate.box_geometry import perturbed
from synsetlab.annotate.errors import AnnotationError
from synsetlab.annotate.projects import (
    GOLD_PER_CLASS,
    ProjectOptions,
    _check_new,
    _excluded_images,
    _hidden_images,
    _project_row,
    class_rng,
    class_row,
)
from synsetlab.annotate.quality import MIN_ACCURACY
from synsetlab.catalog.annotation import (
    AnnotationProject,
    BoxDrawing,
    BoxItem,
    BoxItemStatus,
    DrawingStatus,
    ProjectKind,
)
from synsetlab.catalog.models import Box, Image, Label, LabelState, utcnow
from synsetlab.taxonomy import Taxonomy

__all__ = [
    "TARGET_QUALITY",
    "BoxOptions",
    "CreatedBoxProject",
    "create_box_project",
    "is_box_project",
    "require_box_project",
]

#: Posterior a box's quality and an image's coverage must reach by default.
TARGET_QUALITY = 0.95
#: Quality (or coverage) votes after which a drawing (or an image) is decided anyway.
MAX_BOX_VOTES = 7


@dataclass(frozen=True)
class BoxOptions:
    """A box project's options; :meth:`check` names every value out of range."""

    #: P(box good | votes) an accepted box must reach, and P(all boxed | votes) a covered
    #: image, in (0.5, 1).
    target_quality: float = TARGET_QUALITY
    #: Votes after which a drawing or an image's coverage is decided whatever its posterior.
    max_votes: int = MAX_BOX_VOTES
    #: Share of tasks that are gold, in [0, 1).
    gold: float = 0.1
    #: Gold accuracy an annotator must not be confidently below.
    min_accuracy: float = MIN_ACCURACY
    #: Minutes a task stays open.
    task_minutes: int = 10
    seed: int = 0
    include_hidden_test: bool = False

    def check(self) -> None:
        """Raise :class:`AnnotationError` naming every option out of range."""
        problems = []
        if not (isinstance(self.target_quality, (int, float)) and 0.5 < self.target_quality < 1.0):
            problems.append(
                f"target quality {self.target_quality} (choose a value strictly between 0.5 "
                "and 1, e.g. 0.95)"
            )
        if not isinstance(self.max_votes, int) or self.max_votes < 1:
            problems.append(f"max votes {self.max_votes} (need a whole number >= 1)")
        if problems:
            raise AnnotationError("box project options: " + "; ".join(problems))
        self.as_project_options().check()

    def as_project_options(self) -> ProjectOptions:
        """The label project's options the shared columns store (one unit a task)."""
        return ProjectOptions(
            target_precision=self.target_quality,
            max_votes=self.max_votes,
            initial_items=1,
            initial_votes=1,
            gold=self.gold,
            page_size=1,
            min_accuracy=self.min_accuracy,
            task_minutes=self.task_minutes,
            seed=self.seed,
            include_hidden_test=self.include_hidden_test,
        )

    @classmethod
    def of(cls, project: AnnotationProject) -> BoxOptions:
        """The options a stored box project was created with."""
        return cls(
            target_quality=float(project.target_quality or TARGET_QUALITY),
            max_votes=project.max_votes,
            gold=project.gold_fraction,
            min_accuracy=project.min_accuracy,
            task_minutes=project.task_minutes,
            seed=project.seed,
            include_hidden_test=bool(project.options.get("include_hidden_test", False)),
        )


@dataclass
class CreatedBoxProject:
    """What :func:`create_box_project` stored."""

    slug: str
    #: Images to box, per class (wnid -> count), in class order.
    items: dict[str, int]
    #: Gold images (with a source's boxes), and gold drawings (good and perturbed).
    gold_items: int
    gold_drawings: int
    #: Images left out, by reason.
    skipped: dict[str, int] = field(default_factory=dict)


def is_box_project(project: AnnotationProject) -> bool:
    """True for a project of kind ``boxes``."""
    return project.kind == ProjectKind.boxes.value


def require_box_project(project: AnnotationProject) -> None:
    """Refuse a label project where a box project is needed."""
    if not is_box_project(project):
        raise AnnotationError(
            f"project {project.slug!r} verifies labels, it has no boxes: create a box project "
            "with `synsetlab annotate create NAME --kind boxes`"
        )


def create_box_project(
    s: Session,
    slug: str,
    *,
    taxonomy: Taxonomy,
    classes: Sequence[str],
    options: BoxOptions | None = None,
) -> CreatedBoxProject:
    """Store a box project over the labelled images of ``classes`` (wnids).

    Refused with :class:`AnnotationError`, nothing written: a malformed or taken name, bad
    options, an unknown class, or a class with no image to box.
    """
    options = options or BoxOptions()
    options.check()
    _check_new(s, slug, options.as_project_options())
    wnids = list(dict.fromkeys(c.strip() for c in classes))
    if not wnids:
        raise AnnotationError("the class list is empty: name at least one class to box")
    unknown = [w for w in wnids if w not in taxonomy]
    if unknown:
        raise AnnotationError(
            f"unknown class(es) {', '.join(unknown[:5])}: neither a WordNet 3.0 noun synset nor "
            "a class of this workspace (`synsetlab taxonomy search TEXT` finds wnids)"
        )
    excluded = _excluded_images(s)
    hidden = set() if options.include_hidden_test else _hidden_images(s)
    labelled: dict[str, set[int]] = defaultdict(set)
    for image_id, wnid in s.execute(
        select(Label.image_id, Label.wnid).where(
            Label.wnid.in_(wnids), Label.state != LabelState.rejected
        )
    ):
        labelled[wnid].add(image_id)
    boxes: dict[tuple[int, str], list[tuple[float, float, float, float]]] = defaultdict(list)
    crowd_boxed: set[tuple[int, str]] = set()
    for image_id, wnid, x0, y0, x1, y1, drawing in s.execute(
        select(Box.image_id, Box.wnid, Box.xmin, Box.ymin, Box.xmax, Box.ymax, Box.drawing_id)
        .where(Box.wnid.in_(wnids))
        .order_by(Box.id)
    ):
        if drawing is None:
            boxes[image_id, wnid].append((x0, y0, x1, y1))
        else:
            crowd_boxed.add((image_id, wnid))
    empty = [w for w in wnids if not labelled[w] - excluded - hidden]
    if empty:
        shown = ", ".join(f"{w} ({taxonomy.name_of(w)})" for w in empty[:5])
        raise AnnotationError(
            f"no image to box for {shown}: no image of this workspace is labelled so (or all "
            "are excluded or in the hidden test split); leave it out of the class list"
        )

    project = _project_row(s, slug, options.as_project_options(), {})
    project.kind = ProjectKind.boxes.value
    project.target_quality = float(options.target_quality)
    rows = {w: class_row(project, w, taxonomy=taxonomy, among=set(wnids)) for w in wnids}
    s.add_all(rows.values())
    s.flush()
    skipped: dict[str, int] = defaultdict(int)
    report = CreatedBoxProject(slug, {}, 0, 0)
    now = utcnow()
    for wnid in wnids:
        rng = class_rng(options.seed, wnid)
        todo, gold = [], []
        for image_id in sorted(labelled[wnid]):
            if image_id in excluded:
                skipped["excluded by a curation decision"] += 1
            elif image_id in hidden:
                skipped["hidden test split"] += 1
            elif (image_id, wnid) in crowd_boxed:
                skipped["boxed by the crowd already"] += 1
            elif (image_id, wnid) in boxes:
                gold.append(image_id)
            else:
                todo.append(image_id)
        if len(gold) > GOLD_PER_CLASS:
            chosen = set(rng.permutation(gold)[:GOLD_PER_CLASS].tolist())
            skipped["boxed by a source already"] += len(gold) - len(chosen)
            gold = [i for i in gold if i in chosen]
        s.execute(
            insert(BoxItem),
            [
                {"project_id": project.id, "class_id": rows[wnid].id, "image_id": i,
                 "wnid": wnid, "gold": i in gold, "status": BoxItemStatus.drawing,
                 "accepted": 0, "coverage_yes": 0, "coverage_no": 0}
                for i in sorted([*todo, *gold])
            ],
        )  # fmt: skip
        report.items[wnid] = len(todo)
        report.gold_items += len(gold)
        if options.gold <= 0 or not gold:
            continue
        ids = dict(
            s.execute(
                select(BoxItem.image_id, BoxItem.id).where(
                    BoxItem.project_id == project.id, BoxItem.wnid == wnid, BoxItem.gold
                )
            ).all()
        )
        sizes = {  # the gold images' sizes only: perturbed boxes stay inside them
            i: (w, h)
            for i, w, h in s.execute(
                select(Image.id, Image.width, Image.height).where(Image.id.in_(gold))
            )
        }
        drawings = []
        for image_id in gold:
            size = sizes[image_id]
            for box in boxes[image_id, wnid]:
                bad = perturbed(box, size, rng)
                for corners, good in ((box, True), (bad, False)):
                    drawings.append(
                        {"item_id": ids[image_id], "annotator_id": None, "source": "gold",
                         "xmin": corners[0], "ymin": corners[1], "xmax": corners[2],
                         "ymax": corners[3], "gold": good, "status": DrawingStatus.pending,
                         "yes_votes": 0, "no_votes": 0, "created_at": now}
                    )  # fmt: skip
        if drawings:
            s.execute(insert(BoxDrawing), drawings)
        report.gold_drawings += len(drawings)
    if not sum(report.items.values()):
        raise AnnotationError(
            "nothing to box: every image of these classes has boxes already (they serve as "
            "gold only); ingest images without boxes, e.g. with `synsetlab ingest imagefolder`"
        )
    project.options = {**project.options, "skipped": dict(skipped)}
    report.skipped = dict(skipped)
    s.flush()
    return report
