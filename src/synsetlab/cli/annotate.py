"""``synsetlab annotate``: crowd verification of candidate labels, as ImageNet's.

A project asks, per class, "does this image show a <synset>?" about every candidate label,
with gold questions mixed in; dynamic consensus decides each label once its votes are enough
(the target precision) or the vote limit is reached. ``aggregate`` turns the decisions into
label states (reversible); ``simulate`` lets a simulated crowd answer through the same
functions a server calls; ``assist`` (or ``create --assist``) gives each question a trained
model's calibrated probability as its prior. Every command imports its library where it runs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Column, Table

from synsetlab.cli.annotate_ask import ask
from synsetlab.cli.context import (
    OptionError,
    advance,
    console,
    current_workspace,
    err_console,
    progress_bar,
    user_errors,
)

if TYPE_CHECKING:
    import torch

    from synsetlab.annotate.assist import AssistReport
    from synsetlab.annotate.box_assist import BoxProposals
    from synsetlab.detect.predict import LoadedDetector
    from synsetlab.train.weights import LoadedModel
    from synsetlab.workspace import Workspace

app = typer.Typer(no_args_is_help=True)
app.command("ask")(ask)

NAME = typer.Argument(..., help="The project's name, e.g. shapes-verify.")
METHODS = ("dynamic", "dawid-skene", "majority")
KINDS = ("labels", "boxes")
FORMATS = ("crowdkit", "label-studio")
DEVICE = typer.Option("auto", help="cpu, cuda, cuda:1 ... (auto: CUDA when available).")


@app.command()
def create(
    name: str = NAME,
    kind: str = typer.Option(
        "labels", help="labels (verify candidate labels) or boxes (draw, verify, cover boxes)."
    ),
    target_quality: float | None = typer.Option(
        None,
        help="Box projects: posterior a box's quality and an image's coverage must reach, in "
        "(0.5, 1) (default 0.95).",
    ),
    classes: Path | None = typer.Option(
        None,
        help="A file of classes to verify, one wnid a line (# comments); default: every class "
        "with candidate labels.",
    ),
    target_precision: float | None = typer.Option(
        None, help="Posterior an accepted label must reach, in (0.5, 1) (default 0.997)."
    ),
    max_votes: int | None = typer.Option(
        None, help="Votes after which an image is decided anyway (default 10)."
    ),
    gold: float | None = typer.Option(
        None, help="Share of each page that is gold questions, in [0, 1) (default 0.1)."
    ),
    initial_items: int | None = typer.Option(
        None, help="Images per class in the initial subset (default 100)."
    ),
    initial_votes: int | None = typer.Option(
        None, help="Votes per image of the initial subset (default 10)."
    ),
    page_size: int | None = typer.Option(None, help="Images per page (default 10)."),
    min_seconds: float | None = typer.Option(
        None, help="Seconds per answer under which a vote is flagged too fast (default 0.5)."
    ),
    min_accuracy: float | None = typer.Option(
        None, help="Gold accuracy under which annotators are stopped (default 0.6)."
    ),
    seed: int | None = typer.Option(None, help="Seed of subsets, gold and pages (default 0)."),
    include_hidden_test: bool = typer.Option(
        False, help="Also verify images of the hidden test split (shows annotators its labels)."
    ),
    assist: Path | None = typer.Option(
        None,
        "--assist",
        metavar="CKPT",
        help="A trained checkpoint (synsetlab train) whose calibrated probability becomes each "
        "question's prior: images it is sure of need fewer votes (see annotate assist).",
    ),
    min_score: float | None = typer.Option(
        None,
        help="Box projects with --assist: detector score a proposal needs, in [0, 1] (default "
        "0.5).",
    ),
    device: str = DEVICE,
) -> None:
    """Create a verification project over the candidate labels of some classes (or, with
    --kind boxes, a box project over their labelled images).

    Gold questions are known positives (verified labels) and known negatives (images whose
    labels are unrelated to the class in the hierarchy). Images in the hidden test split, or
    excluded by curation, are left out.

    A box project's --assist takes a detector (synsetlab train-detector): its boxes enter as
    proposals that annotators verify instead of drawing.

    Example: synsetlab annotate create shapes-verify --classes classes.txt --target-precision
    0.997 --max-votes 10 --gold 0.1 --assist runs/tiny/best.pt

    Example: synsetlab annotate create shapes-boxes --kind boxes --classes classes.txt
    --target-quality 0.95 --assist runs/det/best.pt --min-score 0.5
    """
    from synsetlab.annotate.projects import ProjectOptions, create_project
    from synsetlab.ingest.classes import read_classes_file

    if kind not in KINDS:
        with user_errors():
            raise OptionError(f"--kind {kind!r}: choose one of {', '.join(KINDS)}")
    if kind == "boxes":
        _create_boxes(
            name, classes, target_quality, max_votes, gold, seed, include_hidden_test,
            assist=assist, min_score=min_score, device=device,
        )  # fmt: skip
        return
    for option, value in (("--target-quality", target_quality), ("--min-score", min_score)):
        if value is not None:
            with user_errors():
                raise OptionError(f"{option} is for box projects: add --kind boxes")
    given = {
        "target_precision": target_precision,
        "max_votes": max_votes,
        "gold": gold,
        "initial_items": initial_items,
        "initial_votes": initial_votes,
        "page_size": page_size,
        "min_seconds": min_seconds,
        "min_accuracy": min_accuracy,
        "seed": seed,
    }
    with user_errors():
        wanted = None
        if classes is not None:
            wanted = [c.label for c in read_classes_file(classes)]
        options = ProjectOptions(
            **{k: v for k, v in given.items() if v is not None},
            include_hidden_test=include_hidden_test,
        )
        ws = current_workspace()
        try:
            taxonomy = ws.taxonomy()
            # The checkpoint is read and matched to the classes before anything is stored:
            # a refused one leaves no project behind.
            loaded, where = _assist_model(assist, device) if assist is not None else (None, None)
            with ws.session() as s:
                made = create_project(s, name, taxonomy=taxonomy, classes=wanted, options=options)
                if loaded is not None:
                    from synsetlab.annotate.assist import require_shared

                    require_shared(loaded, made.slug, list(made.items), taxonomy)
            report = None
            if loaded is not None:
                from synsetlab.annotate.assist import assist_project

                report = assist_project(ws, made.slug, loaded, device=where)
        finally:
            ws.close()
    images = sum(made.items.values())
    console.print(
        f"created project {made.slug}: {images} candidate labels of {len(made.items)} classes "
        f"to verify ({made.initial} in the initial subsets), {made.gold_positive} known "
        f"positives and {made.gold_negative} known negatives as gold"
    )
    for reason, count in made.skipped.items():
        console.print(f"  left out: {count} labels ({reason})")
    if report is not None:
        _print_assist(report)
    console.print(
        f"Next: synsetlab annotate simulate {made.slug} (a simulated crowd), or import votes "
        f"with synsetlab annotate import {made.slug} FILE"
    )


@app.command()
def invite(
    name: str = NAME,
    annotators: int = typer.Option(..., "--annotators", help="How many invitations to make."),
    days: float = typer.Option(14.0, help="Days each invitation stays valid."),
    url: str = typer.Option(
        "http://127.0.0.1:8000",
        help="The site's address as annotators reach it (what `synsetlab serve` listens on, "
        "or the proxy in front of it).",
    ),
) -> None:
    """Make single-use invitation links to annotate the project, printed once (only their
    hashes are kept). Whoever follows one creates an annotator account, which may only
    annotate, or joins with the account they are logged in with.

    Example: synsetlab annotate invite shapes-verify --annotators 20
    """
    from synsetlab.annotate.invites import create_invites

    with user_errors():
        if not url.startswith(("http://", "https://")):
            raise OptionError(f"--url {url!r}: give the site's address, e.g. https://example.org")
        ws = current_workspace()
        try:
            with ws.session() as s:
                made = create_invites(s, name, annotators, days=days)
        finally:
            ws.close()
    base = url.rstrip("/")
    for i in made:  # alone on stdout, one a line: `... > links.txt` keeps just the links
        typer.echo(base + i.path)
    err_console.print(
        f"{len(made)} invitation(s) to {name}, each valid once until "
        f"{made[0].expires_at:%Y-%m-%d %H:%M} UTC, shown only now (only their hashes are "
        "kept). Next: synsetlab serve, and send each annotator one link"
    )


@app.command("list")
def list_() -> None:
    """Annotation projects, with their progress: a label project's images asked, decided
    and votes; a box project's images to box, covered, tasks answered and boxes accepted.

    Example: synsetlab annotate list
    """
    from synsetlab.annotate.box_projects import is_box_project
    from synsetlab.annotate.box_summary import box_progress
    from synsetlab.annotate.projects import list_projects
    from synsetlab.annotate.summary import project_progress

    with user_errors():
        ws = current_workspace()
        try:
            with ws.session() as s:
                rows = []
                for project in list_projects(s):
                    classes = str(len(project.classes))
                    if is_box_project(project):
                        b = box_progress(s, project)
                        rows.append((b.slug, "boxes", classes, str(b.images), str(b.covered),
                                     str(sum(b.actions.values())), str(b.accepted),
                                     str(b.annotators)))  # fmt: skip
                    else:
                        p = project_progress(s, project)
                        rows.append((p.slug, "labels", classes, str(p.images), str(p.decided),
                                     str(p.votes), "-", str(len(p.annotators))))  # fmt: skip
        finally:
            ws.close()
    if not rows:
        console.print("no annotation projects yet; create one with synsetlab annotate create NAME")
        return
    table = Table(
        Column("project", no_wrap=True),  # a name to copy into the next command, whole
        "kind", "classes", "images", "done", "answers", "boxes", "annotators",
        caption="done: labels decided, or images covered; answers: votes, or box tasks; "
        "boxes: accepted",
    )  # fmt: skip
    for row in rows:
        table.add_row(*row)
    console.print(table)


@app.command()
def status(name: str = NAME) -> None:
    """Per class: images, votes, accepted / rejected / pending and estimated precision; then
    the annotators (stopped ones with the reason).

    Estimated precision is the mean posterior of the accepted labels: the share of them
    expected right. A box project shows boxes drawn, accepted and rejected, images covered,
    and the cost: annotator seconds and tasks per accepted box.

    Example: synsetlab annotate status shapes-verify
    """
    from synsetlab.annotate.summary import project_progress

    if _is_boxes(name):
        _box_status(name)
        return
    with user_errors():
        ws = current_workspace()
        try:
            with ws.session() as s:
                p = project_progress(s, name)
        finally:
            ws.close()
    o = p.options
    table = Table(
        "class",
        "images",
        "votes",
        "accepted",
        "rejected",
        "pending",
        "precision",
        "table",
        # Short headers: the table fits 80 columns; the title says what precision means.
        title=f"{p.slug}: target precision {o.target_precision}, at most {o.max_votes} votes, "
        f"gold {o.gold:.0%}; precision: estimated from the votes",
    )
    for c in p.classes:
        table.add_row(
            f"{c.wnid} {escape(c.name)}",
            str(c.images),
            str(c.votes),
            str(c.accepted),
            str(c.rejected),
            str(c.pending),
            _share(c.estimated_precision),
            "ready" if c.table_ready else f"{c.subset_short} short",
        )
    accepted = [c for c in p.classes if c.accepted]
    overall = (
        sum(c.estimated_precision * c.accepted for c in accepted if c.estimated_precision)
        / sum(c.accepted for c in accepted)
        if accepted
        else None
    )
    table.add_row(
        "all",
        str(p.images),
        str(sum(c.votes for c in p.classes)),
        str(sum(c.accepted for c in p.classes)),
        str(sum(c.rejected for c in p.classes)),
        str(sum(c.pending for c in p.classes)),
        _share(overall),
        "",
    )
    console.print(table)
    stopped = [a for a in p.annotators if a.state == "stopped"]
    console.print(
        f"{len(p.annotators)} annotators ({len(stopped)} stopped), {p.pages} pages answered, "
        f"{p.open_pages} open; {p.votes} votes stored: {p.gold_votes} on gold, "
        f"{p.fast_votes} too fast (under {o.min_seconds:g} s), {p.discounted_votes} discounted"
    )
    for a in stopped:
        console.print(f"  stopped {escape(a.name)}: {escape(a.stop_reason)}")
    if p.decided:
        console.print(
            f"Next: synsetlab annotate aggregate {p.slug} writes the decisions as label states"
        )


@app.command()
def simulate(
    name: str = NAME,
    workers: int = typer.Option(50, help="Simulated workers."),
    spammers: float = typer.Option(0.1, help="Share of workers who answer without looking."),
    adversaries: float = typer.Option(0.0, help="Share of workers who invert their answers."),
    accuracy: float = typer.Option(0.8, help="Mean accuracy of an honest worker, in (0.5, 1)."),
    difficulty: float = typer.Option(
        0.0, help="How hard the images are, in [0, 1] (1: a coin flip)."
    ),
    budget: int | None = typer.Option(None, help="Stop after this many answers."),
    seed: int = typer.Option(0, help="Seed of the crowd's make-up and answers."),
) -> None:
    """A simulated crowd answers the project's pages through the functions a server calls,
    many workers interleaved, until every label is decided or the budget ends.

    Where the images came from the synthetic source, the crowd sees their true class (and
    the result is scored against the planted wrong labels); elsewhere it takes the source's
    labels as right. A box project's simulated crowd draws, verifies and covers boxes with
    its own box noise and miss rates; synthetic scenes' truth.json scores the boxes.

    Example: synsetlab annotate simulate shapes-verify --workers 50 --spammers 0.1 --seed 0
    """
    from synsetlab.annotate.crowd import CrowdConfig, SimulatedCrowd
    from synsetlab.annotate.crowd_run import catalog_truth, simulate_project

    if not 0.5 < accuracy < 1.0:
        with user_errors():
            raise OptionError(f"--accuracy {accuracy}: choose a mean accuracy in (0.5, 1)")
    if _is_boxes(name):
        _box_simulate(name, workers, spammers, budget, seed)
        return
    with user_errors():
        crowd = SimulatedCrowd(
            CrowdConfig(
                workers=workers,
                accuracy=(10 * accuracy, 10 * (1 - accuracy)),
                spammers=spammers,
                adversaries=adversaries,
                seed=seed,
            )
        )
        ws = current_workspace()
        try:
            truth = catalog_truth(ws, name)
            with progress_bar() as progress:
                task = progress.add_task("crowd: labels decided", total=None)
                run = simulate_project(
                    ws,
                    name,
                    crowd,
                    truth.right,
                    difficulty=difficulty,
                    budget=budget,
                    on_progress=advance(progress, task),
                )
        finally:
            ws.close()
    console.print(
        f"{workers} simulated workers answered {run.pages} pages in {run.rounds} rounds: "
        f"{run.votes} answers ({run.gold_votes} on gold, {run.fast_votes} too fast), "
        f"{run.votes_per_image:.2f} per image"
    )
    console.print(
        f"labels: {run.accepted} accepted, {run.rejected} rejected, {run.pending} undecided"
        + (" (budget spent)" if run.out_of_budget else "")
    )
    if run.stopped:
        console.print(f"stopped for their gold answers: {', '.join(run.stopped)}")
    if truth.recorded:
        console.print(
            f"against the synthetic truth ({truth.recorded} labels): precision of the accepted "
            f"{_share(run.precision)}, {run.wrong_rejected} of {run.wrong} planted wrong labels "
            "rejected"
        )
    console.print(f"Next: synsetlab annotate status {name}; synsetlab annotate aggregate {name}")


@app.command()
def assist(
    name: str = NAME,
    checkpoint: Path = typer.Option(
        ...,
        "--from",
        metavar="CKPT",
        help="A trained checkpoint (synsetlab train) over some of the project's classes or "
        "classes below them.",
    ),
    device: str = DEVICE,
    batch_size: int = typer.Option(64, help="Images per forward pass."),
    min_score: float | None = typer.Option(
        None,
        help="Box projects: detector score a proposal needs, in [0, 1] (default 0.5).",
    ),
) -> None:
    """Give each question a trained model's calibrated probability that its label is right, as
    the prior of dynamic consensus: images the model is sure of need fewer votes and come
    first. Running it again replaces the priors.

    The probability of a class the model does not predict is summed over its classes below
    it; questions about images the model trained on get none. Calibration: temperature
    scaling on the project's verified labels and gold, else on the checkpoint's val split,
    then shifted to the share of right candidates. Each prior is held within the target
    precision, so the model never accepts alone.

    A box project takes a detector checkpoint (synsetlab train-detector) instead: its boxes
    of each image's class, scored at least --min-score, enter as proposals that annotators
    verify instead of drawing; running it again replaces the proposals nobody voted on yet.

    Example: synsetlab annotate assist shapes-verify --from runs/tiny/best.pt

    Example: synsetlab annotate assist shapes-boxes --from runs/det/best.pt --min-score 0.5
    """
    from synsetlab.annotate.assist import assist_project

    if batch_size < 1:
        with user_errors():
            raise OptionError(f"--batch-size {batch_size}: give at least 1")
    if _is_boxes(name):
        _box_assist(name, checkpoint, device, min_score, batch_size)
        return
    if min_score is not None:
        with user_errors():
            raise OptionError(f"--min-score is for box projects; {name} verifies labels")
    with user_errors():
        ws = current_workspace()
        try:
            loaded, where = _assist_model(checkpoint, device)
            report = assist_project(ws, name, loaded, device=where, batch_size=batch_size)
        finally:
            ws.close()
    _print_assist(report)
    console.print(f"Next: synsetlab annotate simulate {name}, or synsetlab serve")


@app.command()
def aggregate(
    name: str = NAME,
    method: str = typer.Option(
        "dynamic", help="dynamic (consensus as votes came), dawid-skene or majority."
    ),
    undo: bool = typer.Option(False, help="Undo the project's outcomes instead."),
) -> None:
    """Write the crowd's decisions as label states (verified / rejected) with provenance;
    running it again replaces the project's earlier outcomes; --undo restores the states.

    Example: synsetlab annotate aggregate shapes-verify --method dawid-skene
    """
    from synsetlab.annotate.outcomes import aggregate_project, undo_outcomes

    # Options are checked before the project is looked up: a bad one is named whatever the
    # project.
    if method not in METHODS:
        with user_errors():
            raise OptionError(f"--method {method!r}: choose one of {', '.join(METHODS)}")
    if _is_boxes(name):
        _box_aggregate(name, undo)
        return
    with user_errors():
        ws = current_workspace()
        try:
            with ws.session() as s:
                result = (
                    undo_outcomes(s, name)
                    if undo
                    else aggregate_project(
                        s,
                        name,
                        method=method,  # type: ignore[arg-type]
                    )
                )
        finally:
            ws.close()
    if undo:
        console.print(f"undid {name}'s outcomes: {result.restored} labels got their state back")
        if result.changed_since:
            console.print(
                f"[yellow]{result.changed_since} labels changed since (another project or a "
                "curator) and kept their state[/yellow]"
            )
        return
    console.print(
        f"{result.method}: {result.verified} labels verified, {result.rejected} rejected, "
        f"{result.undecided} left as candidates"
        + (f" (replacing {result.undone} earlier outcomes)" if result.undone else "")
    )
    console.print(f"Undo: synsetlab annotate aggregate {name} --undo")


@app.command("export")
def export_(
    name: str = NAME,
    out: Path = typer.Argument(..., help="Folder to write."),
    format: str = typer.Option("crowdkit", "--format", help="crowdkit or label-studio."),
) -> None:
    """Write the project's questions and votes: crowd-kit CSVs (votes.csv: task,worker,label)
    or Label Studio tasks (tasks.json, label_config.xml).

    Example: synsetlab annotate export shapes-verify --format crowdkit out/votes
    """
    from synsetlab.annotate.exchange import export_project

    if format not in FORMATS:
        with user_errors():
            raise OptionError(f"--format {format!r}: choose one of {', '.join(FORMATS)}")
    with user_errors():
        ws = current_workspace()
        try:
            with ws.session() as s:
                done = export_project(
                    s,
                    name,
                    out,
                    format=format,  # type: ignore[arg-type]
                    image_url=ws.blobs.path,
                )
        finally:
            ws.close()
    console.print(
        f"wrote {done.questions} questions and {done.votes} votes: "
        + ", ".join(str(p) for p in done.files)
    )


@app.command("import")
def import_(
    name: str = NAME,
    votes: Path = typer.Argument(
        ..., help="A crowd-kit .csv (task,worker,label[,seconds]) or a Label Studio .json."
    ),
    add_workers: bool = typer.Option(
        False, help="Add the file's workers as annotators (else each must be one already)."
    ),
) -> None:
    """Store votes cast elsewhere; tasks are IMAGE_ID:WNID, as export writes them. The file is
    checked whole first: one bad line and nothing is imported.

    Example: synsetlab annotate import shapes-verify votes.csv --add-workers
    """
    from synsetlab.annotate.exchange import import_votes

    with user_errors():
        ws = current_workspace()
        try:
            with ws.session() as s:
                done = import_votes(s, name, votes, add_workers=add_workers)
        finally:
            ws.close()
    console.print(
        f"imported {done.votes} votes ({done.already} were stored already), "
        f"{done.workers_added} workers added; {done.decided} labels decided"
    )
    if done.stopped:
        console.print(f"stopped for their gold answers: {', '.join(done.stopped)}")


def _assist_model(checkpoint: Path, device: str) -> tuple[LoadedModel, torch.device]:
    """The classifier of ``checkpoint`` on ``device`` (a user error when either is bad)."""
    from synsetlab.train.distributed import resolve_device
    from synsetlab.train.weights import load_model

    where = resolve_device(device)
    return load_model(checkpoint, device=where), where


def _print_assist(report: AssistReport) -> None:
    c = report.calibration
    below = report.via_descendants
    console.print(
        f"assist: {report.priors} of {report.questions} questions got a prior from "
        f"{escape(report.checkpoint)}"
        + (f" ({below} summed over the model's classes below their own)" if below else "")
    )
    console.print(f"  calibration: {c.method}, temperature {c.temperature:.3g}: {escape(c.reason)}")
    shares = [
        f"{wnid} {p.right_share:.2f} ({p.share_from})"
        for wnid, p in report.by_class.items()
        if p.priors
    ]
    console.print("  share of right candidates the priors rest on: " + ", ".join(shares))
    if report.quantiles:
        q = report.quantiles
        console.print(
            f"  priors: min {q['min']:.3f}, 10% {q['p10']:.3f}, median {q['p50']:.3f}, "
            f"90% {q['p90']:.3f}, max {q['max']:.3f} (mean {q['mean']:.3f}); {report.capped} "
            "held at the target precision's bounds"
        )
        console.print("  per tenth of [0, 1]: " + " ".join(str(n) for n in report.histogram))
    if report.stored.replaced or report.stored.cleared:
        console.print(
            f"  replaced {report.stored.replaced} earlier priors, removed {report.stored.cleared}"
        )
    if report.stored.decided:
        console.print(
            f"  {report.stored.decided} pending questions decided by their votes and prior"
        )
    for note in report.notes:
        console.print(f"  [yellow]{escape(note)}[/yellow]")


def _share(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.4f}"


def _is_boxes(name: str) -> bool:
    """Whether project ``name`` is a box project (a user error when there is none)."""
    from synsetlab.annotate.box_projects import is_box_project
    from synsetlab.annotate.projects import get_project

    with user_errors():
        ws = current_workspace()
        try:
            with ws.session() as s:
                return is_box_project(get_project(s, name))
        finally:
            ws.close()


def _create_boxes(
    name: str,
    classes: Path | None,
    target_quality: float | None,
    max_votes: int | None,
    gold: float | None,
    seed: int | None,
    include_hidden_test: bool,
    *,
    assist: Path | None = None,
    min_score: float | None = None,
    device: str = "auto",
) -> None:
    from synsetlab.annotate.box_projects import BoxOptions, create_box_project
    from synsetlab.ingest.classes import read_classes_file

    if min_score is not None and assist is None:
        with user_errors():
            raise OptionError("--min-score is the score of a detector's proposals: add --assist")

    given = {"target_quality": target_quality, "max_votes": max_votes, "gold": gold, "seed": seed}
    with user_errors():
        if classes is None:
            raise OptionError("a box project needs --classes FILE: the classes to box")
        wanted = [c.label for c in read_classes_file(classes)]
        options = BoxOptions(
            **{k: v for k, v in given.items() if v is not None},
            include_hidden_test=include_hidden_test,
        )
        ws = current_workspace()
        try:
            taxonomy = ws.taxonomy()
            # The detector is read and matched to the classes before anything is stored: a
            # refused one leaves no project behind.
            loaded = _detector(assist, device) if assist is not None else None
            if loaded is not None:
                from synsetlab.annotate.box_assist import require_detector_classes

                require_detector_classes(loaded, wanted, checkpoint=str(assist))
            with ws.session() as s:
                made = create_box_project(
                    s, name, taxonomy=taxonomy, classes=wanted, options=options
                )
            proposals = None
            if loaded is not None:
                proposals = _propose(ws, made.slug, loaded, assist, min_score)
        finally:
            ws.close()
    console.print(
        f"created box project {made.slug}: {sum(made.items.values())} images of "
        f"{len(made.items)} classes to box, {made.gold_items} images with a source's boxes as "
        f"gold ({made.gold_drawings} gold boxes, good and perturbed)"
    )
    for reason, count in made.skipped.items():
        console.print(f"  left out: {count} images ({reason})")
    if proposals is not None:
        _print_proposals(proposals)
    console.print(f"Next: synsetlab annotate simulate {made.slug}, or synsetlab serve")


def _detector(checkpoint: Path, device: str) -> LoadedDetector:
    """The detector of ``checkpoint`` on ``device``; a classifier or any other file is a user
    error that says what a box project's --assist takes."""
    from synsetlab.annotate.errors import AnnotationError
    from synsetlab.detect.predict import load_detector
    from synsetlab.train.checkpoint import CheckpointError
    from synsetlab.train.distributed import resolve_device

    try:
        return load_detector(checkpoint, device=resolve_device(device))
    except CheckpointError as e:
        raise AnnotationError(
            f"--assist {checkpoint}: a box project's proposals come from a detector "
            f"checkpoint (synsetlab train-detector); {e}"
        ) from e


def _propose(
    ws: Workspace,
    name: str,
    loaded: LoadedDetector,
    checkpoint: Path,
    min_score: float | None,
    batch_size: int = 8,
) -> BoxProposals:
    from synsetlab.annotate.box_assist import MIN_SCORE, propose_boxes

    with progress_bar() as progress:
        task = progress.add_task("detector: images", total=None)
        return propose_boxes(
            ws, name, loaded, checkpoint=str(checkpoint),
            min_score=MIN_SCORE if min_score is None else min_score, batch_size=batch_size,
            on_progress=advance(progress, task),
        )  # fmt: skip


def _print_proposals(report: BoxProposals) -> None:
    console.print(
        f"assist: {report.proposals} proposals from {escape(report.checkpoint)} on "
        f"{report.items_proposed} of {report.items} images, to verify instead of drawing"
        + (f" (replacing {report.replaced} unvoted earlier ones)" if report.replaced else "")
    )
    left = {
        "below the score": report.below_score,
        "of another class": report.other_class,
        "overlapping a box the image has": report.overlapping,
        "past the limit an image": report.over_limit,
    }
    shown = ", ".join(f"{n} {why}" for why, n in left.items() if n)
    if shown:
        console.print(f"  detections left out: {shown}")
    if report.unknown_classes:
        console.print(
            f"  [yellow]the detector does not know {', '.join(report.unknown_classes)}: "
            "their images are drawn by hand[/yellow]"
        )


def _box_assist(
    name: str, checkpoint: Path, device: str, min_score: float | None, batch_size: int
) -> None:
    with user_errors():
        ws = current_workspace()
        try:
            loaded = _detector(checkpoint, device)
            report = _propose(ws, name, loaded, checkpoint, min_score, batch_size)
        finally:
            ws.close()
    _print_proposals(report)
    console.print(f"Next: synsetlab annotate simulate {name}, or synsetlab serve")


def _box_status(name: str) -> None:
    from synsetlab.annotate.box_summary import box_progress

    with user_errors():
        ws = current_workspace()
        try:
            with ws.session() as s:
                p = box_progress(s, name)
        finally:
            ws.close()
    console.print(f"{p.slug}: boxes, target quality {p.target_quality:g}")
    console.print(
        f"images: {p.images} to box, {p.covered} covered, {p.verifying} being verified, "
        f"{p.drawing} waiting for a box"
    )
    console.print(
        f"boxes: {p.drawn} drawn, {p.accepted} accepted, {p.rejected} rejected, {p.pending} pending"
    )
    actions = sum(p.actions.values())
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(p.actions.items())) or "none"
    console.print(
        f"cost: {actions} tasks answered ({kinds}; {p.gold_actions} gold), "
        f"{p.seconds:.0f} annotator seconds; {_share(p.seconds_per_box)} s and "
        f"{_share(p.actions_per_box)} tasks per accepted box; {p.open_tasks} open"
    )
    console.print(f"{p.annotators} annotators ({len(p.stopped)} stopped)")
    for who, reason in p.stopped:
        console.print(f"  stopped {escape(who)}: {escape(reason)}")
    if p.accepted:
        console.print(
            f"Next: synsetlab annotate aggregate {p.slug} writes the accepted boxes into the "
            "catalog"
        )


def _box_simulate(name: str, workers: int, spammers: float, budget: int | None, seed: int) -> None:
    from synsetlab.annotate.box_crowd import BoxCrowdConfig, SimulatedBoxCrowd
    from synsetlab.annotate.box_run import box_truth, simulate_box_project

    with user_errors():
        crowd = SimulatedBoxCrowd(BoxCrowdConfig(workers=workers, spammers=spammers, seed=seed))
        ws = current_workspace()
        try:
            truth = box_truth(ws, name)
            run = simulate_box_project(ws, name, crowd, truth, budget=budget)
        finally:
            ws.close()
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(run.actions.items()))
    console.print(
        f"{workers} simulated workers answered {run.total_actions} box tasks in {run.rounds} "
        f"rounds ({kinds}), {run.seconds:.0f} annotator seconds"
        + (" (budget spent)" if run.out_of_budget else "")
    )
    console.print(
        f"boxes: {run.drawn} drawn, {run.accepted} accepted, {run.rejected} rejected; images: "
        f"{run.covered} of {run.items} covered"
    )
    if run.stopped:
        console.print(f"stopped for their gold tasks: {', '.join(run.stopped)}")
    console.print(
        f"against the truth ({truth.recorded} images from a scene's truth.json, the rest from "
        f"catalog boxes): mean IoU of accepted boxes {_share(run.mean_iou)}, "
        f"{run.objects_covered} of {run.objects} objects covered"
    )
    console.print(f"Next: synsetlab annotate status {name}; synsetlab annotate aggregate {name}")


def _box_aggregate(name: str, undo: bool) -> None:
    from synsetlab.annotate.box_outcomes import aggregate_boxes, undo_boxes

    with user_errors():
        ws = current_workspace()
        try:
            with ws.session() as s:
                result = undo_boxes(s, name) if undo else aggregate_boxes(s, name)
        finally:
            ws.close()
    if undo:
        console.print(f"undid {name}'s boxes: {result} catalog boxes removed")
        return
    console.print(
        f"{result.boxes} accepted boxes written on {result.images} images ({result.covered} "
        f"images covered, {result.unfinished} unfinished)"
        + (f", replacing {result.undone} earlier boxes" if result.undone else "")
    )
    console.print(f"Undo: synsetlab annotate aggregate {name} --undo")
