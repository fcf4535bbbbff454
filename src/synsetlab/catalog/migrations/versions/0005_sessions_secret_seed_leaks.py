"""Server-side web sessions; a secret partition seed; test-split leaks on challenges.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_web_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_web_sessions_token_hash")),
    )
    op.create_index(op.f("ix_web_sessions_user_id"), "web_sessions", ["user_id"], unique=False)
    op.create_index(
        op.f("ix_web_sessions_expires_at"), "web_sessions", ["expires_at"], unique=False
    )
    # Existing challenges keep their seed (it was the public default 0 or the organiser's);
    # new ones store NULL when the seed is secret. Leaks were not checked for them: NULL.
    with op.batch_alter_table("challenges") as batch:
        batch.alter_column("seed", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("leaked_images", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("leak_override", sa.Text(), nullable=True))


def downgrade() -> None:
    # The old schema needs a seed: a secret one lives in the answer key, so 0 stands in.
    op.execute(sa.text("UPDATE challenges SET seed = 0 WHERE seed IS NULL"))
    with op.batch_alter_table("challenges") as batch:
        batch.drop_column("leak_override")
        batch.drop_column("leaked_images")
        batch.alter_column("seed", existing_type=sa.Integer(), nullable=False)
    op.drop_index(op.f("ix_web_sessions_expires_at"), table_name="web_sessions")
    op.drop_index(op.f("ix_web_sessions_user_id"), table_name="web_sessions")
    op.drop_table("web_sessions")
