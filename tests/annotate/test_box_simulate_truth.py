"""The simulated box crowd refuses images whose true boxes nobody knows (figures, not a scene
set): it would answer "none left" everywhere and mark every image covered."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from synsetlab.catalog.annotation import BoxItem, BoxItemStatus, BoxTask
from synsetlab.cli.app import app
from synsetlab.workspace import open_workspace

runner = CliRunner(env={"COLUMNS": "200"})


def test_simulating_boxes_without_true_boxes_is_refused_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    ws = tmp_path / "ws"
    classes = tmp_path / "classes.txt"
    classes.write_text("n13873502\nn13879320\n")
    for args in (
        ["synthetic", "generate", str(tmp_path / "shapes"), "--per-class", "3", "--classes",
         "circle,triangle", "--exact-duplicate-rate", "0", "--near-duplicate-rate", "0",
         "--corrupt-rate", "0", "--wrong-label-rate", "0"],
        ["init", str(ws)],
        ["-w", str(ws), "ingest", "manifest", str(tmp_path / "shapes" / "manifest.csv")],
        ["-w", str(ws), "annotate", "create", "figs", "--kind", "boxes", "--classes",
         str(classes)],
    ):  # fmt: skip
        result = runner.invoke(app, args)
        assert result.exit_code == 0, f"{args}\n{result.output}"
    result = runner.invoke(app, ["-w", str(ws), "annotate", "simulate", "figs", "--seed", "0"])
    assert result.exit_code == 1
    assert "needs the true boxes" in result.stderr and "--kind scenes" in result.stderr
    workspace = open_workspace(ws)
    try:
        with workspace.session() as s:
            assert s.scalar(select(func.count()).select_from(BoxTask)) == 0
            statuses = set(s.scalars(select(BoxItem.status)))
    finally:
        workspace.close()
    assert statuses == {BoxItemStatus.drawing}  # no image marked covered
