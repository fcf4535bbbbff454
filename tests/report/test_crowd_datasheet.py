"""The datasheet's crowd section: what the crowd had verified when the version was frozen."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from synsetlab.annotate import aggregate_project, undo_outcomes
from synsetlab.catalog import Label, Version
from synsetlab.curate.decisions import exclude
from synsetlab.report import build_datasheet
from synsetlab.versions import crowd_record, crowd_verified, freeze
from synsetlab.workspace import Workspace
from tests.crowd_version import copy_workspace, crowd_template


@pytest.fixture
def crowd(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Iterator[Workspace]:
    """v1 frozen before the crowd; its votes since aggregated by dynamic consensus."""
    ws = copy_workspace(crowd_template(tmp_path_factory), tmp_path / "ws")
    yield ws
    ws.close()


def section(html: str) -> str:
    return html.split("<h2>Crowd verification at freeze</h2>", 1)[1]


def class_row(html: str, wnid: str) -> list[str]:
    """The cells of one class's row in the crowd section's table."""
    row = section(html).split(f"<td><code>{wnid}</code></td>", 1)[1].split("</tr>", 1)[0]
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in row.split("</td>")][:-1]


def test_a_version_frozen_before_the_crowd_says_it_had_not_run(
    crowd: Workspace, tmp_path: Path
) -> None:
    html = build_datasheet(crowd, "v1", tmp_path / "v1").read_text()
    assert "Crowd verification: not run before this version was frozen" in section(html)
    assert "<code>synsetlab annotate create</code>" in section(html)
    assert "crowd-verified" not in html and not (tmp_path / "v1" / "annotator_quality.png").exists()


def test_the_section_shows_per_class_precision_votes_agreement_and_annotators(
    crowd: Workspace, tmp_path: Path
) -> None:
    v2 = freeze(crowd, "v2")
    record = crowd_record(crowd, v2)
    page = build_datasheet(crowd, "v2", tmp_path / "v2")
    html = page.read_text()
    crowd_part = section(html)
    verified = crowd_verified(v2.manifest, record)
    assert f"<b>{len(verified)}</b>labels crowd-verified" in html  # the card at the top
    assert "As recorded when the version was frozen" in crowd_part
    for wnid, c in record.classes.items():
        images = sum(e.wnid == wnid for e in v2.manifest.entries)
        mine = sum(w == wnid for _, w in verified)
        cells = class_row(html, wnid)
        assert cells[1:9] == [str(images), str(mine), str(c.questions), str(c.verified),
                              str(c.rejected), str(c.undecided), f"{c.estimated_precision:.4f}",
                              f"{c.votes_per_image:.1f}"]  # fmt: skip
        assert cells[9:] == [f"{c.agreement:.2f}", f"{c.kappa:.2f}"]
    project = record.projects[0]
    assert f"{project.verified} verified, {project.rejected} rejected by <b>dynamic</b>" in html
    assert "target precision 0.997, at most 8 votes, gold 30%" in html
    assert "Fleiss' observed agreement" in html and "Fleiss' kappa" in html
    # Annotators: the figure, the distribution of gold accuracy, those stopped and why.
    with Image.open(page.parent / "annotator_quality.png") as img:
        assert img.format == "PNG" and img.width > 300
    assert 'src="annotator_quality.png"' in html and "quartiles" in crowd_part
    stopped = [a for a in record.annotators if a.state == "stopped"]
    assert f"{len(stopped)} annotators were stopped" in crowd_part
    assert "confidently below the project&#39;s 60% accuracy" in crowd_part
    assert "sim-" not in html  # no annotator's name
    # Hidden test images: counted, never listed; the crowd did not verify theirs.
    tests = sum(e.hidden for e in v2.manifest.entries)
    assert f"{tests} test images' labels do not" in crowd_part


def test_later_annotation_does_not_change_the_page(crowd: Workspace, tmp_path: Path) -> None:
    freeze(crowd, "v2")
    first = build_datasheet(crowd, "v2", tmp_path / "first").read_text()
    with crowd.session() as s:
        undo_outcomes(s, "verify")
        aggregate_project(s, "verify", method="majority")
    assert build_datasheet(crowd, "v2", tmp_path / "again").read_text() == first
    v3 = freeze(crowd, "v3")
    html = build_datasheet(crowd, "v3", tmp_path / "v3").read_text()
    assert "rejected by <b>majority</b>" in html and "rejected by <b>majority</b>" not in first
    assert "majority vote gives no estimate" in html
    for wnid in crowd_record(crowd, v3).classes:
        assert class_row(html, wnid)[7] == "—"  # est. precision


def test_votes_not_aggregated_are_said_to_leave_the_labels_alone(
    crowd: Workspace, tmp_path: Path
) -> None:
    with crowd.session() as s:
        undo_outcomes(s, "verify")  # the votes stay; no outcome is in force
        image = s.scalars(select(Label.image_id)).first()
        exclude(s, [image], reason="by hand")  # so that v2 differs from v1
    freeze(crowd, "v2")
    html = build_datasheet(crowd, "v2", tmp_path / "v2").read_text()
    # A version frozen before versions kept the crowd's record shows the record of now.
    with crowd.session() as s:
        row = s.scalar(select(Version).where(Version.name == "v1"))
        row.summary = {k: v for k, v in row.summary.items() if k != "crowd"}
    old = build_datasheet(crowd, "v1", tmp_path / "v1").read_text()
    part = section(html)
    assert "As recorded when the version was frozen" in part
    assert "no project's votes had been aggregated into label states" in part
    assert "none of its labels rests on the crowd" in part
    assert "<b>0</b>of " in part and "not aggregated" in part
    assert "</b>labels crowd-verified</div>" not in html  # no card at the top
    assert "This version was frozen before synsetlab kept the crowd" in section(old)
    assert "no project's votes had been aggregated" in section(old)
