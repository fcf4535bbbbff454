"""The quickstart: the whole system end to end on the embedded synthetic dataset.

Each stage of synsetlab adds its step here, so ``synsetlab quickstart`` always shows what the
project can do today, on data whose faults are known.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from synsetlab.catalog.summary import CatalogSummary, summarize
from synsetlab.ingest.manifest import open_manifest
from synsetlab.ingest.pipeline import IngestReport, ProgressFn, ingest
from synsetlab.settings import WORKSPACE_FILE
from synsetlab.synthetic import SyntheticConfig, SyntheticReport, generate
from synsetlab.workspace import init_workspace

SYNTHETIC_DIR = "sources/shapes"


@dataclass
class PlantedVsFound:
    """One kind of planted fault: how many were planted, how many the system found so far."""

    fault: str
    planted: int
    #: ``None`` while no stage looks for this fault yet.
    found: int | None
    by: str


@dataclass
class QuickstartReport:
    workspace: Path
    synthetic: SyntheticReport
    ingest: IngestReport
    summary: CatalogSummary
    faults: list[PlantedVsFound]


def prepare_directory(directory: Path, *, force: bool) -> Path:
    """Check ``directory`` can hold a new quickstart workspace; with ``force`` clear an old one.

    Only a folder that is a synsetlab workspace is ever removed.
    """
    directory = Path(directory).expanduser().resolve()
    if directory.exists() and any(directory.iterdir()):
        if not force:
            raise FileExistsError(
                f"{directory} is not empty; pass --force to rebuild a quickstart workspace there, "
                "or choose another folder"
            )
        if not (directory / WORKSPACE_FILE).is_file():
            raise FileExistsError(
                f"{directory} is not empty and not a synsetlab workspace; refusing to delete it"
            )
        shutil.rmtree(directory)
    return directory


def run_quickstart(
    directory: Path,
    *,
    per_class: int = 30,
    seed: int = 0,
    force: bool = False,
    workers: int | None = None,
    on_progress: ProgressFn | None = None,
) -> QuickstartReport:
    """Build a workspace in ``directory`` from a freshly generated synthetic dataset."""
    directory = prepare_directory(directory, force=force)
    ws = init_workspace(directory)
    try:
        synthetic = generate(
            directory / SYNTHETIC_DIR, SyntheticConfig(per_class=per_class, seed=seed)
        )
        report = ingest(
            ws,
            open_manifest(synthetic.manifest, kind="synthetic"),
            workers=workers,
            on_progress=on_progress,
        )
        with ws.session() as s:
            summary = summarize(s)
    finally:
        ws.close()
    counts = synthetic.counts
    faults = [
        PlantedVsFound("corrupt files", counts["corrupt"], report.rejected, "ingest"),
        PlantedVsFound(
            "exact duplicates",
            counts["exact-duplicate"],
            summary.images - summary.unique_blobs,
            "catalog (same sha256)",
        ),
        PlantedVsFound("near duplicates", counts["near-duplicate"], None, "curation (to come)"),
        PlantedVsFound("wrong labels", counts["wrong-label"], None, "curation (to come)"),
    ]
    return QuickstartReport(directory, synthetic, report, summary, faults)
