"""Decisions say who took and who undid them, and a reviewer may keep an image (``keep``).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-09

``decisions.action`` is a non-native enum (a VARCHAR(16) without a CHECK constraint on both
SQLite and PostgreSQL), so the new ``keep`` action needs no change of the column.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Decisions taken before this revision keep author NULL: nobody recorded who took them.
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("author", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("undone_by", sa.String(length=64), nullable=True))


def downgrade() -> None:
    # Revision 0007 knows no ``keep`` action, and a keep changes nothing in the dataset:
    # dropping those rows is the only way to leave a catalog its code can read.
    op.execute(sa.text("DELETE FROM decisions WHERE action = 'keep'"))
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_column("undone_by")
        batch_op.drop_column("author")
