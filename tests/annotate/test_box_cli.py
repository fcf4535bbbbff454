"""The documented box project commands, run through the CLI."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from synsetlab.annotate.box_summary import box_progress
from synsetlab.catalog import Box
from synsetlab.cli.app import app
from synsetlab.workspace import open_workspace
from tests.annotate.boxes_world import CLASSES, build

runner = CliRunner(env={"COLUMNS": "200"})


def _crowd_boxes(ws_dir: Path) -> int:
    ws = open_workspace(ws_dir)
    try:
        with ws.session() as s:
            return s.scalar(select(func.count()).where(Box.drawing_id.is_not(None)))
    finally:
        ws.close()


def test_create_simulate_status_aggregate_undo(tmp_path: Path) -> None:
    ws = build(tmp_path, gold_per_class=2, per_class=2)
    classes = tmp_path / "classes.txt"
    classes.write_text("\n".join(CLASSES) + "\n")
    w = ["-w", str(ws)]

    def call(*args: str) -> str:
        result = runner.invoke(app, [*w, "annotate", *args])
        assert result.exit_code == 0, result.output
        return result.stdout

    out = call("create", "shapes-boxes", "--kind", "boxes", "--classes", str(classes),
               "--target-quality", "0.95")  # fmt: skip
    assert "6 images of 3 classes to box" in out
    out = call("simulate", "shapes-boxes", "--workers", "30", "--seed", "0")
    assert "mean IoU of accepted boxes" in out
    out = call("status", "shapes-boxes")
    assert "6 covered" in out and "per accepted box" in out
    # The list shows the box project's kind and box figures, beside a label project's.
    call("create", "shapes-verify", "--classes", str(classes))
    ws_ = open_workspace(ws)
    try:
        with ws_.session() as s:
            p = box_progress(s, "shapes-boxes")
    finally:
        ws_.close()
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
            for line in call("list").splitlines() if line.startswith("│ shapes")}  # fmt: skip
    assert rows["shapes-boxes"] == ["boxes", "3", "6", "6", str(sum(p.actions.values())),
                                    str(p.accepted), str(p.annotators)]  # fmt: skip
    assert rows["shapes-verify"][:2] == ["labels", "3"] and rows["shapes-verify"][5] == "-"
    out = call("aggregate", "shapes-boxes")
    written = _crowd_boxes(ws)
    assert written > 0 and f"{written} accepted boxes written" in out
    out = call("aggregate", "shapes-boxes", "--undo")
    assert f"{written} catalog boxes removed" in out and _crowd_boxes(ws) == 0


def test_box_options_are_refused_where_they_do_not_fit(tmp_path: Path) -> None:
    ws = build(tmp_path, gold_per_class=1, per_class=1)
    w = ["-w", str(ws)]
    result = runner.invoke(app, [*w, "annotate", "create", "x", "--kind", "shapes"])
    assert result.exit_code == 1 and "--kind 'shapes': choose one of labels, boxes" in result.stderr
    result = runner.invoke(app, [*w, "annotate", "create", "x", "--kind", "boxes"])
    assert result.exit_code == 1 and "needs --classes FILE" in result.stderr
