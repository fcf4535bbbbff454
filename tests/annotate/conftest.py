"""Real workspaces of synthetic shapes for the catalog side of annotation.

The synthetic source is generated and ingested once per session into a template workspace;
each test gets its own copy of the folder (a fresh SQLite catalog with the same rows), so that
tests may write freely. The template's manifest and truth.json stay where ingest found them,
as the catalog's source records name them.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from synsetlab.annotate import ProjectOptions, annotator_for, create_project, get_project
from synsetlab.catalog import Label, LabelState
from synsetlab.ingest.manifest import open_manifest
from synsetlab.ingest.pipeline import ingest
from synsetlab.synthetic import SyntheticConfig, generate
from synsetlab.taxonomy import Taxonomy
from synsetlab.workspace import Workspace, init_workspace, open_workspace

#: circle, triangle, rectangle: siblings under "plane figure" (n13863186).
CIRCLE, TRIANGLE, RECTANGLE = "n13873502", "n13879320", "n13883346"
PLANE_FIGURE = "n13863186"
CLASSES = (CIRCLE, TRIANGLE, RECTANGLE)


def _template(root: Path, *, per_class: int, wrong: float) -> Path:
    ws = init_workspace(root / "ws")
    config = SyntheticConfig(
        classes=CLASSES,
        per_class=per_class,
        seed=3,
        wrong_label_rate=wrong,
        exact_duplicate_rate=0.0,
        near_duplicate_rate=0.0,
        corrupt_rate=0.0,
        image_size=(32, 32),
    )
    report = generate(root / "shapes", config)
    ingest(ws, open_manifest(report.manifest, kind="synthetic"), workers=0)
    ws.close()
    return root / "ws"


@pytest.fixture(scope="session")
def shapes_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 classes x 12 images, 2 of the 36 planted under a wrong class."""
    return _template(tmp_path_factory.mktemp("shapes"), per_class=12, wrong=0.06)


@pytest.fixture(scope="session")
def crowd_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 classes x 40 images, 18 of the 120 planted under a wrong class (15%)."""
    return _template(tmp_path_factory.mktemp("crowd"), per_class=40, wrong=0.15)


def copy_workspace(template: Path, to: Path) -> Workspace:
    shutil.copytree(template, to)
    return open_workspace(to)


@pytest.fixture
def shapes(shapes_template: Path, tmp_path: Path) -> Iterator[Workspace]:
    """A fresh copy of the small shapes workspace."""
    ws = copy_workspace(shapes_template, tmp_path / "ws")
    yield ws
    ws.close()


@pytest.fixture
def label_states() -> Callable[[Workspace], dict[int, LabelState]]:
    """Every label's state, by label id."""

    def states(ws: Workspace) -> dict[int, LabelState]:
        with ws.session() as s:
            return dict(s.execute(select(Label.id, Label.state)).all())

    return states


def new_project(ws: Workspace, slug: str = "verify", *, classes=None, **options) -> int:
    """Create a project over the shapes with ``options``; returns its id."""
    with ws.session() as s:
        create_project(
            s, slug, taxonomy=Taxonomy.wordnet(), classes=classes, options=ProjectOptions(**options)
        )
        return get_project(s, slug).id


def annotator(ws: Workspace, name: str, slug: str = "verify") -> int:
    """The id of annotator ``name`` of project ``slug`` (created on first use)."""
    with ws.session() as s:
        return annotator_for(s, get_project(s, slug), name=name).id
