"""``synsetlab curate duplicates`` on crowded pictures says so instead of making one cluster."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from typer.testing import CliRunner

from synsetlab.cli.app import app

runner = CliRunner(env={"COLUMNS": "200"})


def test_crowded_pictures_are_reported_as_such(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SYNSETLAB_WORKSPACE", raising=False)
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["init", "ws"]).exit_code == 0
    folder = tmp_path / "flat" / "n01530575"
    folder.mkdir(parents=True)
    for k in range(40):  # small, almost flat grey pictures: distinct bytes, one pHash
        flat = np.full((12, 12), 200, dtype=np.uint8)
        flat[k // 12, k % 12] = 190
        PILImage.fromarray(flat, "L").save(folder / f"flat{k:02d}.png")
    monkeypatch.chdir(tmp_path / "ws")
    ingest = runner.invoke(app, ["ingest", "imagefolder", str(tmp_path / "flat"), "--workers", "0"])
    assert ingest.exit_code == 0, ingest.output
    result = runner.invoke(app, ["curate", "duplicates", "--crowd-limit", "20", "--workers", "0"])
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    assert "40 images (40 contents) have hashes too crowded to compare" in out
    assert "crowded-hash" in out and "40 contents have about 20 or more others" in out
    listed = runner.invoke(app, ["findings", "list", "--kind", "near-duplicate"])
    assert "flat" not in listed.stdout  # no giant near-duplicate cluster of them
    refused = runner.invoke(app, ["curate", "duplicates", "--links-per-image", "0"])
    assert refused.exit_code != 0
