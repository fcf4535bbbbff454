"""Fixtures of the export tests: a tiny version in a blob store (see :mod:`versions`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from synsetlab.blobs import BlobStore
from tests.export.versions import Version, make_version


@pytest.fixture
def version(tmp_path: Path) -> Version:
    return make_version(BlobStore(str(tmp_path / "blobs")))
