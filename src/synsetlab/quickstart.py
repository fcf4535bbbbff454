"""The quickstart: the whole system end to end on the embedded synthetic dataset.

Each stage of synsetlab adds its step here, so ``synsetlab quickstart`` always shows what the
project can do today, on data whose faults are known: the planted faults are scored against
what each stage found.
"""

from __future__ import annotations

import shutil
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # Imported where used instead: `synsetlab --help` reads DEFAULT_PER_CLASS, and the stages
    # bring SQLAlchemy, SciPy and matplotlib (seconds of start-up).
    from synsetlab.annotate.crowd_run import CrowdRun
    from synsetlab.annotate.outcomes import Aggregated
    from synsetlab.catalog.summary import CatalogSummary
    from synsetlab.challenge.leaderboard import Board
    from synsetlab.ingest.pipeline import IngestReport, ProgressFn
    from synsetlab.metrics import ClassificationReport
    from synsetlab.splits import SplitReport
    from synsetlab.synthetic import SyntheticReport, SyntheticTruth
    from synsetlab.train import TrainResult
    from synsetlab.train.loop import Reporter
    from synsetlab.versions import LoadedVersion
    from synsetlab.workspace import Workspace

SYNTHETIC_DIR = "sources/shapes"
VERSION = "v1"
#: Clean synthetic images a class. From scratch, the shapes need about this many: at 30 a class
#: the tiny-cpu recipe stays near 0.8 val top-1 error and the quick model behind label issues
#: flags wrong labels at precision ~0.16; at 100, ~0.4 and ~0.35-0.5 (README, "Benchmarks").
DEFAULT_PER_CLASS = 100


@dataclass
class PlantedVsFound:
    """One kind of planted fault against what the system found."""

    fault: str
    planted: int
    #: Planted faults found; ``None`` while no stage looks for this fault yet.
    found: int | None
    by: str
    #: Findings of this kind that are not planted faults (false alarms), when known.
    false_alarms: int | None = None


@dataclass
class QuickstartReport:
    workspace: Path
    synthetic: SyntheticReport
    ingest: IngestReport
    summary: CatalogSummary
    faults: list[PlantedVsFound]
    excluded: int = 0
    split: SplitReport | None = None
    version: LoadedVersion | None = None
    datasheet: Path | None = None
    #: The short CPU training run on v1, its validation metrics and test submission.
    training: TrainResult | None = None
    evaluation: ClassificationReport | None = None
    submission: Path | None = None
    #: The quickstart challenge: its public board, and an API token of its team.
    board: Board | None = None
    token: str | None = None
    #: Stage name -> one line about it, in the order run.
    stages: dict[str, str] = field(default_factory=dict)
    #: The simulated crowd's verification of the candidate labels, and what it wrote.
    crowd: CrowdRun | None = None
    crowd_outcome: Aggregated | None = None


def prepare_directory(directory: Path, *, force: bool) -> Path:
    """Check ``directory`` can hold a new quickstart workspace; with ``force`` clear an old one.

    Only a folder that is a synsetlab workspace is ever removed.
    """
    from synsetlab.settings import WORKSPACE_FILE

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
    per_class: int = DEFAULT_PER_CLASS,
    seed: int = 0,
    force: bool = False,
    workers: int | None = None,
    label_issues: bool = True,
    crowd: bool = True,
    train: bool = True,
    train_overrides: dict[str, Any] | None = None,
    on_progress: ProgressFn | None = None,
    on_stage: Callable[[str], None] | None = None,
    reporter: Reporter | None = None,
) -> QuickstartReport:
    """Build a workspace in ``directory`` from a synthetic dataset: ingest, curate, verify the
    labels with a simulated crowd (``crowd``), split, freeze version v1 and write its
    datasheet; score every stage against the planted faults. With ``train``, also train the
    ``tiny-cpu`` recipe (with ``train_overrides``) on v1, evaluate it on val and write a
    submission for the hidden test split."""
    from synsetlab.catalog.summary import summarize
    from synsetlab.curate.decisions import exclude_findings
    from synsetlab.curate.duplicates import find_duplicates
    from synsetlab.curate.quality import find_quality_issues
    from synsetlab.ingest.manifest import open_manifest
    from synsetlab.ingest.pipeline import ingest
    from synsetlab.report import build_datasheet
    from synsetlab.splits import SplitPlan, assign_splits
    from synsetlab.synthetic import SyntheticConfig, SyntheticConfigError, generate, load_truth
    from synsetlab.versions import freeze
    from synsetlab.workspace import init_workspace

    if per_class < 5:
        raise SyntheticConfigError(
            f"per_class must be at least 5 (train, val and test need images), got {per_class}"
        )
    directory = prepare_directory(directory, force=force)
    stage = on_stage or (lambda name: None)
    ws = init_workspace(directory)
    try:
        stage("generate")
        synthetic = generate(
            directory / SYNTHETIC_DIR, SyntheticConfig(per_class=per_class, seed=seed)
        )
        truth = load_truth(synthetic.out_dir)
        stage("ingest")
        ingested = ingest(
            ws,
            open_manifest(synthetic.manifest, kind="synthetic"),
            workers=workers,
            on_progress=on_progress,
        )
        with ws.session() as s:
            summary = summarize(s)
        report = QuickstartReport(directory, synthetic, ingested, summary, [])
        report.faults.append(
            PlantedVsFound(
                "corrupt files", synthetic.counts["corrupt"], ingested.rejected, "ingest", 0
            )
        )
        stage("curate duplicates")
        dup = find_duplicates(ws, flips=True, workers=workers)
        report.stages["duplicates"] = (
            f"{dup.exact_clusters} exact and {dup.near_clusters} near-duplicate clusters"
        )
        report.faults += _score_duplicates(ws, truth)
        stage("curate quality")
        quality = find_quality_issues(ws, workers=workers)
        report.stages["quality"] = f"{quality.flagged} images with a quality finding"
        if label_issues:
            stage("curate label-issues")
            found = _label_issues(ws, truth, report, seed=seed, workers=workers,
                                  on_progress=on_progress)  # fmt: skip
            report.faults.append(found)
        if crowd:
            stage("annotate: simulated crowd")
            report.faults.append(_crowd(ws, report, seed=seed, on_progress=on_progress))
        stage("decide")
        with ws.session() as s:
            report.excluded = exclude_findings(s, "exact-duplicate", keep="first")
            report.excluded += exclude_findings(s, "near-duplicate", keep="best")
        stage("split")
        held_out = max(1, per_class // 10)  # per class, in val and in test
        plan = SplitPlan(val_per_class=held_out, test_per_class=held_out, seed=seed)
        report.split = assign_splits(ws, plan)
        stage("freeze")
        report.version = freeze(ws, VERSION)
        stage("report")
        report.datasheet = build_datasheet(ws, VERSION, directory / "reports" / VERSION)
        if crowd:
            # The crowd's decisions become label states only now, for the next version: v1
            # and its datasheet are built from the candidates (see _crowd).
            stage("annotate: label states")
            from synsetlab.annotate.outcomes import aggregate_project

            with ws.session() as s:
                report.crowd_outcome = aggregate_project(s, CROWD_PROJECT, method="dynamic")
                report.summary = summarize(s)
        if train:
            _train(ws, report, train_overrides or {}, stage, reporter)
            stage("challenge")
            _challenge(ws, report)
    finally:
        ws.close()
    return report


#: The quickstart's verification project, and its simulated crowd: workers right 90% of the
#: time on average (Beta(18, 2)), a tenth of them spammers. Small initial subsets (30 a class)
#: and long pages (20) keep the stage to seconds; a vote limit of 20 (not 10) lets a label the
#: crowd disagrees on gather more votes rather than be rejected at 10.
CROWD_PROJECT = "quickstart-verify"
CROWD_WORKERS = 30
CROWD_ACCURACY = (18.0, 2.0)
CROWD_SPAMMERS = 0.1


def _crowd(
    ws: Workspace, report: QuickstartReport, *, seed: int, on_progress: ProgressFn | None
) -> PlantedVsFound:
    """A simulated crowd verifies every candidate label (dynamic consensus, gold mixed in),
    through the functions the server calls. Scored against the planted wrong labels: found =
    wrong labels rejected; false alarms = right labels rejected.

    Its decisions are written as label states after v1 is frozen (reversible: ``synsetlab
    annotate aggregate quickstart-verify --undo``), so that the next version takes them:
    written before, a rejected label leaves its image unlabelled, and at a small --per-class a
    class can fall below what the split needs (val + test + 1 train image)."""
    from synsetlab.annotate.crowd import CrowdConfig, SimulatedCrowd
    from synsetlab.annotate.crowd_run import catalog_truth, simulate_project
    from synsetlab.annotate.projects import ProjectOptions, create_project

    options = ProjectOptions(initial_items=30, max_votes=20, page_size=20, seed=seed)
    with ws.session() as s:
        create_project(s, CROWD_PROJECT, taxonomy=ws.taxonomy(), options=options)
    truth = catalog_truth(ws, CROWD_PROJECT)
    config = CrowdConfig(
        workers=CROWD_WORKERS, accuracy=CROWD_ACCURACY, spammers=CROWD_SPAMMERS, seed=seed
    )
    crowd = SimulatedCrowd(config)
    run = simulate_project(ws, CROWD_PROJECT, crowd, truth.right, on_progress=on_progress)
    report.crowd = run
    right_rejected = run.rejected - run.wrong_rejected
    return PlantedVsFound(
        "wrong labels", run.wrong, run.wrong_rejected, "annotate (simulated crowd)", right_rejected
    )


#: The recipe the quickstart trains.
RECIPE = "tiny-cpu"


def _train(
    ws: Workspace,
    report: QuickstartReport,
    overrides: dict[str, Any],
    stage: Callable[[str], None],
    reporter: Reporter | None,
) -> None:
    from synsetlab.train import resolve_config, train
    from synsetlab.train.inference import evaluate_split, evaluation_dir, write_submission
    from synsetlab.train.weights import load_model

    assert report.version is not None
    version, run = report.version, ws.root / "runs" / f"{RECIPE}-{VERSION}"
    stage("train")
    config = resolve_config(RECIPE, {"workers": 0, **overrides})
    n_train = version.manifest.splits.get("train", 0)
    if n_train < 2 * config.batch_size:  # a small --per-class: still a few steps an epoch
        config = config.model_copy(update={"batch_size": max(2, n_train // 4)})
    report.training = train(version.manifest, ws.blobs, config, run, version_id=version.id,
                            reporter=reporter)  # fmt: skip
    stage("evaluate")
    loaded = load_model(report.training.paths.best)
    report.evaluation = evaluate_split(
        loaded, version.manifest, ws.blobs, "val", taxonomy=ws.taxonomy(),
        out_dir=evaluation_dir(loaded.path, VERSION, "val"),
        extra={"version": VERSION, "version_id": version.id},
    )  # fmt: skip
    stage("submission")
    report.submission = ws.root / "submission.csv"
    write_submission(loaded, version.manifest, ws.blobs, report.submission)


#: The quickstart challenge's id, and its team.
CHALLENGE = "quickstart"
TEAM = "quickstart-team"


def _challenge(ws: Workspace, report: QuickstartReport) -> None:
    """Host a challenge on v1's hidden test split: the trained model's submission, scored
    against the chance baseline (the five most frequent classes), on the public board."""
    import secrets
    from datetime import timedelta

    from synsetlab.catalog.models import utcnow
    from synsetlab.challenge import accounts
    from synsetlab.challenge.baselines import class_prior_submission
    from synsetlab.challenge.challenges import create_challenge, get_challenge
    from synsetlab.challenge.leaderboard import leaderboard
    from synsetlab.challenge.phases import PhaseSpec
    from synsetlab.challenge.submissions import add_baseline, submit

    assert report.version is not None and report.submission is not None
    now = utcnow()
    dev = PhaseSpec("dev", now - timedelta(minutes=1), now + timedelta(days=30), per_day=5)
    create_challenge(ws, VERSION, name="Quickstart shapes", slug=CHALLENGE, phases=[dev],
                     public_fraction=0.5)  # fmt: skip
    add_baseline(ws, CHALLENGE, "class prior", class_prior_submission(report.version.manifest))
    with ws.session() as s:
        # A random password: the printed API token is how this team submits from the CLI.
        user = accounts.create_user(s, "quickstart", secrets.token_urlsafe(16))
        accounts.create_team(s, user, TEAM)
        who = accounts.member(s, user)
        report.token = accounts.issue_token(s, user, name="quickstart")
    submit(ws, who, CHALLENGE, report.submission.read_bytes(), filename="submission.csv")
    with ws.session() as s:
        c = get_challenge(s, CHALLENGE)
        report.board = leaderboard(s, c, c.phases[0], "public", now=utcnow())


def _score_corrupt(ws: Workspace, truth: SyntheticTruth) -> PlantedVsFound:
    from sqlalchemy import select

    from synsetlab.catalog.models import RejectedFile

    with ws.session() as s:
        rejected = set(s.scalars(select(RejectedFile.source_key)))
    corrupt = {f.path for f in truth.files if f.kind == "corrupt"}
    return PlantedVsFound(
        "corrupt files", len(corrupt), len(rejected & corrupt), "ingest", len(rejected - corrupt)
    )


def _images_by_key(ws: Workspace) -> dict[str, int]:
    from sqlalchemy import select

    from synsetlab.catalog.models import Image

    with ws.session() as s:
        return dict(s.execute(select(Image.source_key, Image.id)).all())


def _clusters(ws: Workspace, kinds: tuple[str, ...]) -> dict[int, set[str]]:
    """image id -> the duplicate clusters (by kind) it was found in."""
    from sqlalchemy import select

    from synsetlab.catalog.models import Finding

    out: dict[int, set[str]] = defaultdict(set)
    with ws.session() as s:
        for f in s.scalars(select(Finding).where(Finding.kind.in_(kinds))):
            out[f.image_id].add(f"{f.kind}:{f.detail['cluster']}")
    return out


def _score_duplicates(ws: Workspace, truth: SyntheticTruth) -> list[PlantedVsFound]:
    """A planted copy is found when it shares a cluster with its original."""
    ids = _images_by_key(ws)
    exact = _clusters(ws, ("exact-duplicate",))
    both = _clusters(ws, ("exact-duplicate", "near-duplicate"))
    planted = {"exact-duplicate": [], "near-duplicate": []}
    for f in truth.files:
        if f.kind in planted and f.original:
            planted[f.kind].append((ids.get(f.path), ids.get(f.original)))
    found_exact = sum(1 for a, b in planted["exact-duplicate"] if exact[a] & exact[b])
    found_near = sum(1 for a, b in planted["near-duplicate"] if both[a] & both[b])
    copies = {a for pairs in planted.values() for a, _ in pairs} | {
        b for pairs in planted.values() for _, b in pairs
    }
    near_false = sum(1 for image_id, c in both.items() if c and image_id not in copies)
    exact_false = sum(1 for image_id, c in exact.items() if c and image_id not in copies)
    return [
        PlantedVsFound("exact duplicates", len(planted["exact-duplicate"]), found_exact,
                       "curate duplicates", exact_false),
        PlantedVsFound("near duplicates", len(planted["near-duplicate"]), found_near,
                       "curate duplicates", near_false),
    ]  # fmt: skip


def _label_issues(
    ws: Workspace,
    truth: SyntheticTruth,
    report: QuickstartReport,
    *,
    seed: int,
    workers: int | None,
    on_progress: ProgressFn | None,
) -> PlantedVsFound:
    from sqlalchemy import select

    from synsetlab.catalog.models import Finding
    from synsetlab.curate.label_issues import find_label_issues

    # The quick model's defaults: ~2 min on two idle cores for the default 1,000 images.
    result = find_label_issues(ws, seed=seed, workers=workers, on_progress=on_progress)
    ids = _images_by_key(ws)
    wrong = {ids[f.path] for f in truth.files if f.wrong_label and f.path in ids}
    with ws.session() as s:
        flagged = set(s.scalars(select(Finding.image_id).where(Finding.kind == "label-issue")))
    report.stages["label issues"] = f"{len(flagged)} images flagged ({result.seconds:.0f} s)"
    return PlantedVsFound(
        "wrong labels",
        len(wrong),
        len(flagged & wrong),
        "curate label-issues",
        len(flagged - wrong),
    )
