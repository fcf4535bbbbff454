"""Annotator accounts and single-use invitations to annotate a project.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10

``users.role`` is a non-native enum (a VARCHAR(16) without a CHECK constraint on both SQLite
and PostgreSQL), so the new ``annotator`` role needs no change of the column; only the
invitations' table is new.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "annotation_invites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["annotation_projects.id"],
            name=op.f("fk_annotation_invites_project_id_annotation_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_annotation_invites_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotation_invites")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_annotation_invites_code_hash")),
    )
    op.create_index(
        op.f("ix_annotation_invites_project_id"),
        "annotation_invites",
        ["project_id"],
        unique=False,
    )


def downgrade() -> None:
    # Revision 0008's code cannot read an annotator's role. Making them participants would
    # let people who may have seen hidden test images compete, and deleting them would
    # delete their votes: the organiser decides, so the downgrade stops before any change.
    annotators = (
        op.get_bind()
        .execute(sa.text("SELECT count(*) FROM users WHERE role = 'annotator'"))
        .scalar_one()
    )
    if annotators:
        raise RuntimeError(
            f"{annotators} annotator account(s) exist, which revision 0008 cannot read: "
            "delete them or change their role before downgrading"
        )
    op.drop_index(op.f("ix_annotation_invites_project_id"), table_name="annotation_invites")
    op.drop_table("annotation_invites")
