"""A small labelled workspace shared by the split and version tests."""

from __future__ import annotations

from pathlib import Path

from synsetlab.ingest.imagefolder import open_imagefolder
from synsetlab.ingest.pipeline import ingest
from synsetlab.workspace import Workspace
from tests.images import jpeg

CLASSES = ("n01530575", "n01531178", "n01532829")  # brambling, goldfinch, house finch


def fill(
    ws: Workspace, root: Path, per_class: int = 12, classes: tuple[str, ...] = CLASSES
) -> None:
    """Ingest ``per_class`` distinct tiny JPEGs into each class folder."""
    for c, wnid in enumerate(classes):
        folder = root / wnid
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            (folder / f"{i:03d}.jpg").write_bytes(jpeg((48, 40), seed=1000 * c + i))
    ingest(ws, open_imagefolder(root), workers=0)
