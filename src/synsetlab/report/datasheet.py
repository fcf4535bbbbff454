"""Collect what a version's datasheet shows, and write it: ``index.html`` plus PNG files.

The page describes one frozen version (sizes per split and class, hierarchy coverage) and what
curation had found about its images (duplicates and leaks, quality, label issues) and decided
when it was frozen: freezing keeps that record (:mod:`synsetlab.catalog.curation`), so the page
reads the same however curation goes on. It says, per analysis, when it ran, with which
settings and what it found, or that it had not run (:mod:`synsetlab.report.curation`). Its
crowd section (:mod:`synsetlab.report.crowd`) reads the crowd's record frozen the same way:
which labels the crowd verified, per class precision, votes and agreement, annotator quality.
Its box section (:mod:`synsetlab.report.boxes`) shows boxes per image, box sizes per class,
and the box projects whose accepted boxes the version holds, with their cost.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from PIL import Image, ImageOps
from sqlalchemy import select

from synsetlab import __version__
from synsetlab.blobs import BlobStore
from synsetlab.catalog.curation import RecordedFinding
from synsetlab.catalog.models import Image as ImageRow
from synsetlab.curate.kinds import EXACT_DUPLICATE, LABEL_ISSUE, NEAR_DUPLICATE, QUALITY_KINDS
from synsetlab.report.boxes import BoxSection, box_projects, box_section
from synsetlab.report.crowd import CrowdSection, crowd_section, load_crowd
from synsetlab.report.curation import AnalysisState, analysis_states, load_curation, shown_time
from synsetlab.report.figures import hierarchy_png, split_sizes_png
from synsetlab.taxonomy import Taxonomy, find_overlaps
from synsetlab.versions import load_version
from synsetlab.workspace import Workspace

THUMB_PX = 112


@dataclass
class Thumb:
    src: str
    caption: str


@dataclass
class DatasheetData:
    name: str
    version_id: str
    created_at: datetime
    images: int
    splits: dict[str, int]
    #: (wnid, name, train, val, test), largest first
    classes: list[tuple[str, str, int, int, int]]
    hierarchy_root: str
    overlaps: list[tuple[str, str]]
    finding_counts: dict[str, int]
    #: Each analysis by name: its run (when, settings, findings) or that it had not run.
    analyses: dict[str, AnalysisState] = field(default_factory=dict)
    #: When curation's record was taken: at the freeze, or now for versions frozen before
    #: synsetlab kept it (``curation_live``: the page may then change).
    curation_taken_at: str = ""
    curation_live: bool = False
    duplicate_clusters: list[list[Thumb]] = field(default_factory=list)
    quality: dict[str, list[Thumb]] = field(default_factory=dict)
    label_issues: list[tuple[Thumb, str, str, float]] = field(default_factory=list)
    decisions: dict[str, int] = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    figures: dict[str, str] = field(default_factory=dict)
    #: What the crowd had verified, when the version was frozen.
    crowd: CrowdSection | None = None
    #: The version's boxes, and the box projects that drew some of them; ``None``: no box.
    boxes: BoxSection | None = None


def build_datasheet(ws: Workspace, version: str, out_dir: Path, *, force: bool = False) -> Path:
    """Write the datasheet of ``version`` to ``out_dir`` (refused if it exists, unless ``force``).

    Written into a temporary folder first and moved into place whole. Returns index.html.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        raise FileExistsError(f"{out_dir} is not empty; pass --force to replace it")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    try:
        data = collect(ws, version, tmp)
        # "html.j2": select_autoescape's default extensions miss the template's, which left
        # class names, captions and run notes unescaped.
        env = Environment(
            loader=PackageLoader("synsetlab.report"),
            autoescape=select_autoescape(["html.j2"]),
        )
        html = env.get_template("datasheet.html.j2").render(d=data, synsetlab_version=__version__)
        (tmp / "index.html").write_text(html, encoding="utf-8")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return out_dir / "index.html"


def collect(ws: Workspace, version: str, out_dir: Path) -> DatasheetData:
    """Gather the datasheet's content, writing its figures and thumbnails into ``out_dir``."""
    v = load_version(ws, version)
    m = v.manifest
    taxonomy = ws.taxonomy()
    names = {w: taxonomy.name_of(w) for w in m.classes}
    per_class: dict[str, Counter[str]] = defaultdict(Counter)
    for e in m.entries:
        per_class[e.wnid][e.split] += 1
    classes = sorted(
        ((w, names[w], c["train"], c["val"], c["test"]) for w, c in per_class.items()),
        key=lambda row: (-(row[2] + row[3] + row[4]), row[0]),
    )
    root, groups = _hierarchy_groups(taxonomy, list(m.classes))
    thumbs = _Thumbs(ws.blobs, out_dir / "thumbs")
    by_image = {e.image_id: e for e in m.entries}
    data = DatasheetData(
        name=v.name,
        version_id=v.id,
        created_at=v.created_at,
        images=len(m.entries),
        splits=m.splits,
        classes=classes,
        hierarchy_root=f"{names.get(root, taxonomy.get(root).name)} ({root})",
        overlaps=find_overlaps(taxonomy, m.classes),
        finding_counts={},
        params=m.params,
    )
    snapshot, data.curation_live = load_curation(ws, v)
    data.curation_taken_at = shown_time(snapshot.taken_at)
    data.analyses = {a.analysis.name: a for a in analysis_states(snapshot)}
    data.decisions = dict(snapshot.decisions)
    findings = list(snapshot.findings)
    data.finding_counts = dict(sorted(Counter(f.kind for f in findings).items()))
    with ws.session() as s:
        # The manifest keeps no record of the images a version excluded; their rows stay, as
        # a source whose images a version names is never removed.
        rows = s.execute(select(ImageRow.id, ImageRow.sha256).where(ImageRow.id.in_(m.excluded)))
        sha_of = dict(rows.all())
    sha_of.update({i: e.sha256 for i, e in by_image.items()})
    # Images the version holds without a label (a crowd-rejected or conflicting label) are in
    # duplicate clusters too.
    unlabelled = {u.image_id: u.sha256 for u in m.unlabelled}
    sha_of.update(unlabelled)

    def thumb(image_id: int, caption: str) -> Thumb:
        if image_id in by_image:
            where = by_image[image_id].split
        else:
            where = "unlabelled" if image_id in unlabelled else "excluded"
        return thumbs.of(sha_of[image_id], f"{caption} · {where}")

    clusters: dict[str, list[RecordedFinding]] = defaultdict(list)
    for f in findings:
        if f.kind in (EXACT_DUPLICATE, NEAR_DUPLICATE) and "cluster" in f.detail:
            clusters[f"{f.kind}:{f.detail['cluster']}"].append(f)
    for members in list(clusters.values())[:8]:
        data.duplicate_clusters.append([thumb(f.image_id, f.kind) for f in members[:6]])
    for kind in QUALITY_KINDS:
        chosen = [f for f in findings if f.kind == kind][:8]
        if chosen:
            data.quality[kind] = [thumb(f.image_id, f"score {f.score or 0:.2f}") for f in chosen]
    for f in [f for f in findings if f.kind == LABEL_ISSUE and f.image_id in by_image][:24]:
        e = by_image[f.image_id]
        given = names.get(f.detail.get("given", e.wnid), e.wnid)
        suggested = f.detail.get("suggested", "")
        suggested_name = taxonomy.name_of(suggested)
        data.label_issues.append(
            (thumb(e.image_id, "label"), given, suggested_name, f.score or 0.0)
        )
    crowd, live = load_crowd(ws, v)
    data.crowd = crowd_section(crowd, m, [(w, name) for w, name, *_ in classes], out_dir, live=live)
    data.boxes = box_section(m, [(w, name) for w, name, *_ in classes], out_dir)
    if data.boxes is not None:
        with ws.session() as s:
            data.boxes.projects = box_projects(s, m)
        data.boxes.taken_at = shown_time(datetime.now(timezone.utc).isoformat())
    data.figures["splits"] = split_sizes_png(per_class, names, out_dir / "split_sizes.png").name
    data.figures["hierarchy"] = hierarchy_png(
        groups,
        out_dir / "hierarchy.png",
        title=f"Classes per branch under {taxonomy.get(root).name}",
    ).name
    return data


def _hierarchy_groups(taxonomy: Taxonomy, wnids: list[str]) -> tuple[str, dict[str, int]]:
    """The classes' deepest common ancestor, and how many classes sit under each of its children."""
    root = wnids[0]
    for w in wnids[1:]:
        root = taxonomy.lowest_common_ancestor(root, w)
    groups: Counter[str] = Counter()
    for w in wnids:
        path = next((p for p in taxonomy.hypernym_paths(w) if root in p), [w])
        below = (
            path[path.index(root) + 1] if root in path and path.index(root) + 1 < len(path) else w
        )
        groups[taxonomy.get(below).name] += 1
    return root, dict(groups)


class _Thumbs:
    """Small JPEG thumbnails of version images, written once each, EXIF orientation applied."""

    def __init__(self, blobs: BlobStore, folder: Path) -> None:
        self.blobs, self.folder = blobs, folder

    def of(self, sha256: str, caption: str) -> Thumb:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{sha256[:16]}.jpg"
        if not path.exists():
            with Image.open(io.BytesIO(self.blobs.get(sha256))) as img:
                small = ImageOps.exif_transpose(img).convert("RGB")
                small.thumbnail((THUMB_PX, THUMB_PX))
                small.save(path, "JPEG", quality=85)
        return Thumb(f"thumbs/{path.name}", caption)
