"""The shape of the detector package: its names load on first use, so that scoring and
submission files (arrays, pycocotools) never pull torch in; ``records`` is a leaf."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import synsetlab.detect


def _loaded_after_import(module: str) -> list[str]:
    """The modules a fresh interpreter holds after ``import module`` (synsetlab's and torch)."""
    code = (
        f"import json, sys; import {module}; print(json.dumps(sorted(m for m in sys.modules "
        "if m.startswith('synsetlab') or m == 'torch')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return json.loads(done.stdout)


@pytest.mark.parametrize(
    "module",
    ["synsetlab.detect", "synsetlab.detect.evaluate", "synsetlab.detect.submit",
     "synsetlab.detect.localization", "synsetlab.detect.records"],
)  # fmt: skip
def test_scoring_a_detector_does_not_import_torch(module: str) -> None:
    assert "torch" not in _loaded_after_import(module)


def test_records_is_a_leaf() -> None:
    loaded = _loaded_after_import("synsetlab.detect.records")
    assert [m for m in loaded if m.startswith("synsetlab.")] == [
        "synsetlab.detect",
        "synsetlab.detect.records",
    ]


def test_every_public_name_loads_from_its_module() -> None:
    assert set(synsetlab.detect.__all__) <= set(dir(synsetlab.detect))
    for name in synsetlab.detect.__all__:
        assert getattr(synsetlab.detect, name) is not None
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        _ = synsetlab.detect.nothing
