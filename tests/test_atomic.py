"""Single files written whole or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from synsetlab.atomic import atomic_file


def test_a_file_appears_whole_and_readable_by_others(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.csv"
    with atomic_file(target, "w", encoding="utf-8") as f:
        f.write("a,b\n")
        assert not target.exists()  # nothing under the name until the block ends
    assert target.read_text() == "a,b\n"
    assert target.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in target.parent.iterdir()] == ["out.csv"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "model.onnx"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk on fire"), atomic_file(target) as f:
        f.write(b"half of the new")
        raise RuntimeError("disk on fire")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]
