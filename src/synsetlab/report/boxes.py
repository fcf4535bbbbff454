"""What a version's datasheet says of its boxes, and of the crowd projects that drew them.

From the manifest alone (so it reads the same however the catalog goes on): how many boxes
each image holds, the share of images with a box, and box sizes (area relative to the image,
and aspect) per class. Then the box projects (:mod:`synsetlab.annotate.box_projects`) whose
accepted drawings are among the version's boxes: how many of its boxes each gave, on how many
images, how many of those images the crowd verified as covered, and what the project cost in
annotator seconds and actions (:func:`~synsetlab.annotate.box_summary.box_progress`). A
project's cost is its record as of the page's build, not of the freeze: box projects are not
frozen with versions.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, MaxNLocator, NullFormatter
from sqlalchemy import select
from sqlalchemy.orm import Session

from synsetlab.annotate.box_summary import box_progress
from synsetlab.atomic import atomic_file
from synsetlab.catalog.annotation import (
    AnnotationProject,
    BoxDrawing,
    BoxItem,
    BoxItemStatus,
    DrawingStatus,
    ProjectKind,
)
from synsetlab.manifest import Manifest

__all__ = [
    "BoxClassRow",
    "BoxProjectRow",
    "BoxSection",
    "box_projects",
    "box_section",
    "box_sizes_png",
    "boxes_per_image_png",
]

#: Images with more boxes than this share the last bar of the boxes-per-image histogram.
MAX_BOXES_BAR = 20
#: Above this many classes, the size figure shows all boxes together rather than a line each.
MAX_CLASS_LINES = 8


@dataclass(frozen=True)
class BoxClassRow:
    """One class: its images, those with a box of it, and its boxes' sizes."""

    wnid: str
    name: str
    #: The version's images labelled with the class, and those of them with a box of it.
    images: int
    boxed_images: int
    #: Boxes of the class on any image of the version (a scene's image holds several).
    boxes: int
    #: Medians over the class's boxes: area over the image's area, and width over height;
    #: ``None`` without boxes.
    median_area: float | None
    median_aspect: float | None

    @property
    def boxed_share(self) -> float | None:
        return self.boxed_images / self.images if self.images else None


@dataclass(frozen=True)
class BoxProjectRow:
    """A box project whose accepted boxes are among the version's, and what it cost."""

    slug: str
    target_quality: float
    #: The version's boxes that are this project's accepted drawings, the images they lie
    #: on, and how many of those the crowd verified as covered (every instance boxed).
    boxes: int
    images: int
    covered: int
    #: The project as of now: boxes accepted, images covered, annotator seconds and tasks.
    accepted: int
    project_covered: int
    project_images: int
    seconds: float
    actions: int
    seconds_per_box: float
    actions_per_box: float


@dataclass
class BoxSection:
    """The datasheet's box section."""

    #: Labelled images, those with at least one box, and boxes.
    images: int
    boxed_images: int
    boxes: int
    rows: list[BoxClassRow] = field(default_factory=list)
    projects: list[BoxProjectRow] = field(default_factory=list)
    #: Figure file names in the datasheet's folder.
    figures: dict[str, str] = field(default_factory=dict)
    #: When the projects' cost was read (``2026-12-07 08:30 UTC``).
    taken_at: str = ""

    @property
    def boxed_share(self) -> float:
        return self.boxed_images / self.images if self.images else 0.0

    @property
    def boxes_per_image(self) -> float:
        return self.boxes / self.images if self.images else 0.0


def relative_area(box: Sequence[float], size: tuple[int, int]) -> float:
    """A box's area over its image's (inclusive pixels: width ``xmax - xmin + 1``), in (0, 1]."""
    x0, y0, x1, y1 = box
    width, height = size
    return min(1.0, (x1 - x0 + 1) * (y1 - y0 + 1) / float(width * height))


def aspect(box: Sequence[float]) -> float:
    """A box's width over its height (inclusive pixels)."""
    x0, y0, x1, y1 = box
    return (x1 - x0 + 1) / (y1 - y0 + 1)


def box_section(
    manifest: Manifest, classes: Sequence[tuple[str, str]], out_dir: Path
) -> BoxSection | None:
    """The section for ``manifest``; ``classes``: (wnid, name) in the page's order. Writes
    the two figures into ``out_dir``. ``None`` when the version holds no box."""
    entries = manifest.entries
    total = sum(len(e.boxes) for e in entries)
    if not total:
        return None
    section = BoxSection(len(entries), sum(bool(e.boxes) for e in entries), total)
    images = Counter(e.wnid for e in entries)
    boxed = Counter(e.wnid for e in entries if any(b.wnid == e.wnid for b in e.boxes))
    areas: dict[str, list[float]] = defaultdict(list)
    aspects: dict[str, list[float]] = defaultdict(list)
    for e in entries:
        for b in e.boxes:
            corners = (b.xmin, b.ymin, b.xmax, b.ymax)
            areas[b.wnid].append(relative_area(corners, (e.width, e.height)))
            aspects[b.wnid].append(aspect(corners))
    names = dict(classes)
    order = [w for w, _ in classes] + sorted(set(areas) - set(names))
    for w in order:
        section.rows.append(
            BoxClassRow(
                w, names.get(w, w), images[w], boxed[w], len(areas[w]),
                float(np.median(areas[w])) if areas[w] else None,
                float(np.median(aspects[w])) if aspects[w] else None,
            )
        )  # fmt: skip
    section.figures["per_image"] = boxes_per_image_png(
        [len(e.boxes) for e in entries], out_dir / "boxes_per_image.png"
    ).name
    shown = {names.get(w, w): (areas[w], aspects[w]) for w in order if areas[w]}
    section.figures["sizes"] = box_sizes_png(shown, out_dir / "box_sizes.png").name
    return section


def box_projects(s: Session, manifest: Manifest) -> list[BoxProjectRow]:
    """The box projects whose accepted drawings are among ``manifest``'s boxes, matched by
    image, class and corners (so a project's later undo or new boxes do not change which
    boxes of this version it gave), with each project's cost as of now."""
    held = {
        (e.image_id, b.wnid, b.xmin, b.ymin, b.xmax, b.ymax)
        for e in manifest.entries
        for b in e.boxes
    }
    if not held:
        return []
    mine: dict[int, set[tuple]] = defaultdict(set)
    covered: dict[int, set[int]] = defaultdict(set)
    for project_id, image, wnid, x0, y0, x1, y1, status in s.execute(
        select(
            BoxItem.project_id, BoxItem.image_id, BoxItem.wnid, BoxDrawing.xmin, BoxDrawing.ymin,
            BoxDrawing.xmax, BoxDrawing.ymax, BoxItem.status,
        )
        .join(BoxItem, BoxItem.id == BoxDrawing.item_id)
        .where(BoxItem.gold.is_(False), BoxDrawing.status == DrawingStatus.accepted)
    ):  # fmt: skip
        key = (image, wnid, x0, y0, x1, y1)
        if key in held:
            mine[project_id].add(key)
            if status is BoxItemStatus.covered:
                covered[project_id].add(image)
    rows = []
    projects = s.scalars(
        select(AnnotationProject)
        .where(
            AnnotationProject.id.in_(list(mine)), AnnotationProject.kind == ProjectKind.boxes.value
        )
        .order_by(AnnotationProject.slug)
    )
    for project in projects:
        p = box_progress(s, project)
        rows.append(
            BoxProjectRow(
                slug=project.slug, target_quality=p.target_quality,
                boxes=len(mine[project.id]), images=len({k[0] for k in mine[project.id]}),
                covered=len(covered[project.id]), accepted=p.accepted,
                project_covered=p.covered, project_images=p.images, seconds=p.seconds,
                actions=sum(p.actions.values()), seconds_per_box=p.seconds_per_box,
                actions_per_box=p.actions_per_box,
            )
        )  # fmt: skip
    return rows


def boxes_per_image_png(counts: Sequence[int], path: Path) -> Path:
    """Bars: how many images hold 0, 1, 2, ... boxes (the last bar: that many or more)."""
    clipped = np.minimum(np.asarray(counts, dtype=int), MAX_BOXES_BAR)
    top = int(clipped.max()) if len(clipped) else 0
    heights = np.bincount(clipped, minlength=top + 1)
    fig = Figure(figsize=(6.0, 3.2), dpi=110)
    ax = fig.subplots()
    x = np.arange(top + 1)
    ax.bar(x, heights, color=["#BAB0AC"] + ["#4C78A8"] * top, width=0.8)
    labels = [str(k) for k in x]
    if top == MAX_BOXES_BAR:
        labels[-1] = f"{MAX_BOXES_BAR}+"
    ax.set_xticks(x, labels)
    ax.set_xlabel("boxes on the image")
    ax.set_ylabel("images")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    boxed = int((clipped > 0).sum())
    ax.set_title(
        f"Boxes per image: {boxed} of {len(clipped)} images have a box "
        f"({100 * boxed / max(1, len(clipped)):.0f}%)",
        loc="left",
    )
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    with atomic_file(path) as f:
        fig.savefig(f, format="png")
    return path


def box_sizes_png(per_class: dict[str, tuple[list[float], list[float]]], path: Path) -> Path:
    """Two histograms on log axes: box area over image area, and aspect (width / height);
    a line per class up to :data:`MAX_CLASS_LINES` classes, else all boxes as bars."""
    fig = Figure(figsize=(9.0, 3.4), dpi=110)
    left, right = fig.subplots(1, 2)
    all_areas = np.clip([x for a, _ in per_class.values() for x in a], 1e-6, 1.0)
    all_aspects = np.clip([x for _, r in per_class.values() for x in r], 1e-3, 1e3)
    area_bins = _log_bins(all_areas, high=1.0)
    # Aspect bins symmetric about 1 (a square), so wide and tall read alike.
    spread = max(1.5, float(np.max(np.abs(np.log10(all_aspects)))) * 1.1)
    aspect_bins = np.logspace(-np.log10(spread), np.log10(spread), 25)
    if len(per_class) <= MAX_CLASS_LINES:
        for name, (areas, aspects) in per_class.items():
            left.hist(np.clip(areas, 1e-6, 1.0), bins=area_bins, histtype="step", linewidth=1.4,
                      label=f"{name} ({len(areas)})")  # fmt: skip
            right.hist(np.clip(aspects, 1e-3, 1e3), bins=aspect_bins, histtype="step",
                       linewidth=1.4)  # fmt: skip
        left.legend(frameon=False, fontsize=7, loc="upper left")
    else:
        left.hist(all_areas, bins=area_bins, color="#4C78A8")
        right.hist(all_aspects, bins=aspect_bins, color="#72B7B2")
    left.set_xscale("log")
    right.set_xscale("log")
    for ax in (left, right):
        # Plain numbers (0.1, 0.2, 0.5) rather than powers of ten: the ranges are narrow.
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    left.set_xlabel("box area / image area")
    left.set_title("Box sizes", loc="left")
    right.xaxis.set_major_locator(FixedLocator([0.1, 0.25, 0.5, 0.67, 1, 1.5, 2, 4, 10]))
    right.set_xlim(aspect_bins[0], aspect_bins[-1])
    right.axvline(1.0, color="#59636e", linestyle="--", linewidth=0.8)
    right.set_xlabel("aspect: width / height")
    right.set_title("Box shapes", loc="left")
    for ax in (left, right):
        ax.set_ylabel("boxes")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    with atomic_file(path) as f:
        fig.savefig(f, format="png")
    return path


def _log_bins(values: np.ndarray, *, high: float, count: int = 24) -> np.ndarray:
    """``count`` log-spaced bins from just below the smallest value to ``high``."""
    top = min(high, float(values.max()) * 1.2)
    low = min(float(values.min()) / 1.2, top / 10)
    return np.logspace(np.log10(low), np.log10(top), count + 1)
