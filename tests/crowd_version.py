"""A workspace whose labels a simulated crowd verified between two frozen versions.

:func:`build_crowd_workspace` generates synthetic shapes (3 classes, some planted under a
wrong class), ingests and splits them, freezes ``v1`` (no crowd yet), lets a simulated crowd
with adversaries answer project ``verify`` through ``next_task``/``submit_task`` (some
annotators get stopped on gold), and aggregates its votes by ``method`` (or not at all).
Tests build it once (:func:`crowd_template`) and copy the folder for each test.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from synsetlab.annotate import (
    CrowdConfig,
    ProjectOptions,
    SimulatedCrowd,
    aggregate_project,
    catalog_truth,
    create_project,
    simulate_project,
)
from synsetlab.ingest.manifest import open_manifest
from synsetlab.ingest.pipeline import ingest
from synsetlab.splits import SplitPlan, assign_splits
from synsetlab.synthetic import SyntheticConfig, generate
from synsetlab.taxonomy import Taxonomy
from synsetlab.versions import freeze
from synsetlab.workspace import Workspace, init_workspace, open_workspace

#: circle, triangle, rectangle (siblings under "plane figure").
CLASSES = ("n13873502", "n13879320", "n13883346")


def build_crowd_workspace(
    root: Path, *, per_class: int = 24, method: str | None = "dynamic", seed: int = 2
) -> Path:
    """The workspace folder ``root/ws`` as the module docstring says; returns it."""
    ws = init_workspace(root / "ws")
    config = SyntheticConfig(
        classes=CLASSES,
        per_class=per_class,
        seed=3,
        wrong_label_rate=0.15,
        exact_duplicate_rate=0.0,
        near_duplicate_rate=0.0,
        corrupt_rate=0.0,
        image_size=(32, 32),
    )
    report = generate(root / "shapes", config)
    ingest(ws, open_manifest(report.manifest, kind="synthetic"), workers=0)
    assign_splits(ws, SplitPlan(val_per_class=2, test_per_class=2, seed=0))
    freeze(ws, "v1")
    with ws.session() as s:
        options = ProjectOptions(
            initial_items=8, initial_votes=4, max_votes=8, gold=0.3, page_size=8, seed=seed
        )
        create_project(s, "verify", taxonomy=Taxonomy.wordnet(), options=options)
    crowd = SimulatedCrowd(
        CrowdConfig(workers=14, accuracy=(18, 2), spammers=0.0, adversaries=0.15, seed=seed)
    )
    simulate_project(ws, "verify", crowd, catalog_truth(ws, "verify").right)
    if method is not None:
        with ws.session() as s:
            aggregate_project(s, "verify", method=method)  # type: ignore[arg-type]
    ws.close()
    return root / "ws"


def copy_workspace(template: Path, to: Path) -> Workspace:
    """A fresh copy of a built workspace (its own SQLite catalog and blob store)."""
    shutil.copytree(template, to)
    return open_workspace(to)


_built: dict[str | None, Path] = {}


def crowd_template(factory: pytest.TempPathFactory, *, method: str | None = "dynamic") -> Path:
    """:func:`build_crowd_workspace` under pytest's temporary folder, built once per test
    process for each ``method`` (test modules copy it, never write to it)."""
    if method not in _built:
        _built[method] = build_crowd_workspace(factory.mktemp("crowd"), method=method)
    return _built[method]
