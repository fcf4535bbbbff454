"""``synsetlab quickstart``: the main job on the embedded synthetic dataset."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from synsetlab.cli.context import advance, console, progress_bar, user_errors
from synsetlab.cli.workspace import print_summary
from synsetlab.quickstart import DEFAULT_PER_CLASS, run_quickstart
from synsetlab.taxonomy import Taxonomy


def quickstart(
    directory: Path = typer.Argument(
        Path("quickstart-workspace"), help="Folder for the new workspace."
    ),
    per_class: int = typer.Option(DEFAULT_PER_CLASS, help="Clean synthetic images per class."),
    seed: int = typer.Option(0, help="Seed of the synthetic dataset and the split."),
    force: bool = typer.Option(False, help="Rebuild DIR if it holds an earlier workspace."),
    workers: int | None = typer.Option(
        None, help="Processes for per-image work (default: every core)."
    ),
    label_issues: bool = typer.Option(
        True, help="Look for wrong labels (trains a small CNN on the CPU)."
    ),
    crowd: bool = typer.Option(
        True, help="Verify the labels with a simulated crowd (dynamic consensus, gold)."
    ),
    train: bool = typer.Option(
        True, help="Train the tiny-cpu recipe on v1, evaluate it and write a submission."
    ),
    epochs: int | None = typer.Option(None, help="Training epochs (default: the recipe's)."),
) -> None:
    """Generate a synthetic dataset with planted faults, then ingest, curate, split, freeze
    and report on it, printing what was found against what was planted; then train a small
    model on the version, evaluate it and write a challenge submission.

    Example: synsetlab quickstart ./demo
    """
    with user_errors(), progress_bar() as progress:
        task = progress.add_task("start", total=None)

        def on_stage(name: str) -> None:
            progress.update(task, description=name, completed=0, total=None)

        class StepCounter:  # the training loop's progress, on the same bar
            def epoch_start(self, epoch: int, epochs: int, steps: int) -> None:
                progress.update(task, description=f"train: epoch {epoch}/{epochs}",
                                completed=0, total=steps)  # fmt: skip

            def step(self, images: int, loss: float, lr: float) -> None:
                progress.update(task, advance=1)

            def epoch_end(self, record: dict) -> None:
                pass

        report = run_quickstart(
            directory,
            per_class=per_class,
            seed=seed,
            force=force,
            workers=workers,
            label_issues=label_issues,
            crowd=crowd,
            train=train,
            train_overrides={"epochs": epochs},
            on_progress=advance(progress, task),
            on_stage=on_stage,
            reporter=StepCounter(),
        )
    syn, ing = report.synthetic, report.ingest
    console.print(
        f"1. generated {syn.counts['total']} synthetic files ({syn.counts['clean']} clean) "
        f"in {syn.out_dir} ({syn.seconds:.1f} s)"
    )
    console.print(
        f"2. ingested them into workspace {report.workspace}: {ing.added} images added, "
        f"{ing.rejected} files rejected ({ing.seconds:.1f} s)"
    )
    console.print("3. curated: " + "; ".join(f"{k}: {v}" for k, v in report.stages.items()))
    if report.crowd is not None and report.crowd_outcome is not None:
        from synsetlab.quickstart import (
            CROWD_ACCURACY,
            CROWD_PROJECT,
            CROWD_SPAMMERS,
            CROWD_WORKERS,
        )

        run, out = report.crowd, report.crowd_outcome
        a, b = CROWD_ACCURACY
        console.print(
            f"   verified by {CROWD_WORKERS} simulated workers (mean accuracy {a / (a + b):.2g}, "
            f"{CROWD_SPAMMERS:.0%} spammers, gold mixed in): {out.verified} labels verified and "
            f"{out.rejected} rejected ({run.wrong_rejected} of {run.wrong} planted wrong labels), "
            f"{run.votes_per_image:.1f} votes per image; label states written after v1 was "
            f"frozen, for the next version (undo: synsetlab annotate aggregate {CROWD_PROJECT} "
            "--undo)"
        )
    console.print(f"4. excluded {report.excluded} duplicate copies (reversible decisions)")
    if report.split is not None:
        splits = ", ".join(f"{k} {n}" for k, n in sorted(report.split.per_split.items()))
        console.print(f"5. split {splits}, duplicate clusters kept whole")
    if report.version is not None:
        console.print(f"6. froze version {report.version.name} ({report.version.id[:12]})")
    if report.datasheet is not None:
        console.print(f"7. datasheet: {report.datasheet}")
    if report.training is not None and report.evaluation is not None:
        t, e = report.training, report.evaluation
        chance = 1 - 1 / len(e.classes)
        console.print(
            f"8. trained tiny-cpu on v1: {t.epochs_done} epochs in {t.paths.root}; val top-1 "
            f"error {e.top1_error:.3f} (chance {chance:.3f}), top-5 error {e.top5_error:.3f}; "
            f"submission for the hidden test split: {report.submission}"
        )
    if report.board is not None:
        from synsetlab.cli.challenge import board_table
        from synsetlab.quickstart import CHALLENGE, TEAM

        console.print(
            f"9. challenge {CHALLENGE} on v1's hidden test split: team {TEAM} submitted the "
            "model's predictions, against the class-prior baseline:"
        )
        console.print(board_table(report.board.to_dict()))
        console.print(
            f"   see it with: cd {report.workspace} && synsetlab serve, then open "
            f"http://127.0.0.1:8000/c/{CHALLENGE}/leaderboard\n"
            f"   API token of team {TEAM} (shown once): {report.token}"
        )
    print_summary(report.summary, Taxonomy.wordnet(), max_classes=10)
    table = Table(
        "planted fault",
        "planted",
        "found",
        "recall",
        "false alarms",
        "found by",
        title="Planted vs found",
    )
    for f in report.faults:
        found = "-" if f.found is None else str(f.found)
        recall = "-" if f.found is None or not f.planted else f"{f.found / f.planted:.0%}"
        alarms = "-" if f.false_alarms is None else str(f.false_alarms)
        table.add_row(f.fault, str(f.planted), found, recall, alarms, f.by)
    console.print(table)
    console.print(
        f"Next: cd {report.workspace} && synsetlab status; synsetlab findings list; "
        "synsetlab evaluate runs/tiny-cpu-v1/best.pt v1 --tta flip"
    )


def register(app: typer.Typer) -> None:
    app.command()(quickstart)
