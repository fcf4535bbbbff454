"""A tiny scenes workspace for box projects: gold images with a source's boxes, and images
to box that have none.

Two scene datasets of circles, triangles and rectangles: one ingested as Kaggle LOC (its
boxes, without planted faults, make the gold images), one as a plain image folder (labels,
no boxes: what the crowd boxes). The crowd's truth is the second's truth.json.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from synsetlab.ingest.imagefolder import open_imagefolder
from synsetlab.ingest.kaggle_loc import open_kaggle_loc
from synsetlab.ingest.pipeline import ingest
from synsetlab.synthetic import SceneConfig, generate_scenes
from synsetlab.workspace import Workspace, init_workspace, open_workspace

CLASSES = ("n13873502", "n13879320", "n13883346")  # circle, triangle, rectangle


def scene_config(per_class: int, seed: int) -> SceneConfig:
    return SceneConfig(
        classes=CLASSES,
        per_class=per_class,
        image_size=(64, 64),
        max_objects=3,
        scale_range=(0.25, 0.6),
        seed=seed,
        loose_box_rate=0.0,
        missing_box_rate=0.0,
        wrong_class_rate=0.0,
    )


def build(root: Path, *, gold_per_class: int = 4, per_class: int = 4) -> Path:
    """The template workspace under ``root``; returns its folder."""
    ws = init_workspace(root / "ws")
    generate_scenes(root / "gold", scene_config(gold_per_class, seed=11))
    generate_scenes(root / "todo", scene_config(per_class, seed=12))
    ingest(ws, open_kaggle_loc(root / "gold"), workers=0)
    ingest(ws, open_imagefolder(root / "todo" / "ILSVRC" / "Data" / "CLS-LOC" / "train"), workers=0)
    ws.close()
    return root / "ws"


def copy(template: Path, to: Path) -> Workspace:
    shutil.copytree(template, to)
    return open_workspace(to)
