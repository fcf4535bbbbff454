"""The datasheet's box section: boxes per image, sizes per class, and the box projects whose
accepted boxes a version holds, with their cost."""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from synsetlab.annotate.box_crowd import BoxCrowdConfig, SimulatedBoxCrowd
from synsetlab.annotate.box_outcomes import aggregate_boxes, undo_boxes
from synsetlab.annotate.box_projects import create_box_project
from synsetlab.annotate.box_run import box_truth, simulate_box_project
from synsetlab.annotate.box_summary import box_progress
from synsetlab.report import build_datasheet
from synsetlab.report.boxes import aspect, relative_area
from synsetlab.splits import SplitPlan, assign_splits
from synsetlab.taxonomy import Taxonomy
from synsetlab.versions import freeze
from synsetlab.workspace import Workspace
from tests.annotate.boxes_world import CLASSES, build, copy

NAME = "shapes-boxes"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("boxsheet"), gold_per_class=2, per_class=3)


@pytest.fixture
def ws(template: Path, tmp_path: Path) -> Iterator[Workspace]:
    ws = copy(template, tmp_path / "ws")
    assign_splits(ws, SplitPlan(val_per_class=1, test_per_class=1, seed=0))
    yield ws
    ws.close()


def section(html: str) -> str:
    return html.split("<h2>Boxes</h2>", 1)[1]


def cells(html: str, marker: str) -> list[str]:
    row = section(html).split(marker, 1)[1].split("</tr>", 1)[0]
    return [re.sub(r"<[^>]+>", "", c).strip() for c in row.split("</td>")][:-1]


def test_boxes_per_image_sizes_and_the_crowd_projects_cost(ws: Workspace, tmp_path: Path) -> None:
    with ws.session() as s:
        create_box_project(s, NAME, taxonomy=Taxonomy.wordnet(), classes=list(CLASSES))
    truth = box_truth(ws, NAME)
    run = simulate_box_project(ws, NAME, SimulatedBoxCrowd(BoxCrowdConfig(workers=10)), truth)
    with ws.session() as s:
        done = aggregate_boxes(s, NAME)
    assert done.boxes == run.accepted > 0
    v1 = freeze(ws, "v1")
    # Later changes to the catalog do not change which of v1's boxes the project gave.
    with ws.session() as s:
        undo_boxes(s, NAME)
        progress = box_progress(s, NAME)
    page = build_datasheet(ws, "v1", tmp_path / "v1")
    html = page.read_text()
    part = section(html)
    entries = v1.manifest.entries
    boxes = sum(len(e.boxes) for e in entries)
    boxed = sum(bool(e.boxes) for e in entries)
    assert f"<b>{boxes}</b>boxes" in part
    assert f"<b>{boxed}</b>of {len(entries)} images boxed" in part
    for wnid in CLASSES:
        mine = [
            (relative_area((b.xmin, b.ymin, b.xmax, b.ymax), (e.width, e.height)),
             aspect((b.xmin, b.ymin, b.xmax, b.ymax)))
            for e in entries for b in e.boxes if b.wnid == wnid
        ]  # fmt: skip
        images = Counter(e.wnid for e in entries)[wnid]
        with_box = sum(e.wnid == wnid and any(b.wnid == wnid for b in e.boxes) for e in entries)
        row = cells(html, f"<td><code>{wnid}</code></td>")
        assert row[1:4] == [str(images), f"{with_box} ({100 * with_box / images:.0f}%)",
                            str(len(mine))]  # fmt: skip
        assert row[4] == f"{statistics.median(a for a, _ in mine):.3f}"
        assert row[5] == f"{statistics.median(r for _, r in mine):.2f}"
    # The project: its boxes in v1 (every accepted one: all were aggregated before the
    # freeze), and its cost from box_progress.
    project = cells(html, f"<td><code>{NAME}</code></td>")
    assert project[0] == str(run.accepted)
    assert project[3] == str(progress.accepted)
    assert project[4] == f"{progress.seconds:.0f}"
    assert project[5] == f"{progress.seconds_per_box:.1f}"
    assert project[6] == f"{progress.actions_per_box:.2f}"
    assert int(project[2]) <= int(project[1]) <= run.items
    for name in ("boxes_per_image.png", "box_sizes.png"):
        assert f'src="{name}"' in part
        with Image.open(page.parent / name) as img:
            assert img.format == "PNG" and img.width > 400


def test_a_version_of_source_boxes_lists_no_project(ws: Workspace, tmp_path: Path) -> None:
    freeze(ws, "v1")
    html = build_datasheet(ws, "v1", tmp_path / "v1").read_text()
    assert "No box project's boxes are in this version" in section(html)
    assert (tmp_path / "v1" / "box_sizes.png").exists()
