"""Curation analyses record each completed run: when, with what, on how many images, found what.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

#: The analyses and their finding kinds as of this revision (``curate.kinds`` may change
#: later; a migration must not).
ANALYSIS_KINDS = {
    "duplicates": ("exact-duplicate", "near-duplicate", "split-leak", "crowded-hash"),
    "quality": ("too-small", "extreme-aspect", "near-constant", "blurry", "greyscale", "tiny-file"),
    "balance": ("small-class", "large-class"),
    "label-issues": ("label-issue", "class-overlap"),
}
BEFORE = "runs before this catalog was upgraded to keep them were not recorded"


def upgrade() -> None:
    runs = op.create_table(
        "analysis_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("analysis", sa.String(length=32), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("params", sa.JSON(), nullable=True),
        sa.Column("images", sa.Integer(), nullable=True),
        sa.Column("findings", sa.Integer(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analysis_runs")),
    )
    op.create_index(op.f("ix_analysis_runs_analysis"), "analysis_runs", ["analysis"], unique=False)
    # A catalog with images may have been curated already, and a run that found nothing left
    # no trace: say so once per analysis (finished_at NULL), so that no datasheet states "not
    # run" about a time nobody kept track of. A new catalog has no images yet: nothing to say.
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT id FROM images LIMIT 1")).first() is None:
        return
    findings = sa.table("findings", sa.column("kind", sa.String()))
    per_kind = dict(
        bind.execute(sa.select(findings.c.kind, sa.func.count()).group_by(findings.c.kind)).all()
    )
    op.bulk_insert(
        runs,
        [
            {"analysis": name, "finished_at": None, "params": None, "images": None,
             "findings": sum(per_kind.get(k, 0) for k in kinds), "complete": None,
             "note": BEFORE}
            for name, kinds in ANALYSIS_KINDS.items()
        ],
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index(op.f("ix_analysis_runs_analysis"), table_name="analysis_runs")
    op.drop_table("analysis_runs")
