"""Centre-of-picture perceptual hashes, for slightly cropped near duplicates.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: rows measured before keep their other signals and get these on demand.
    with op.batch_alter_table("blob_signals") as batch:
        batch.add_column(sa.Column("phash_inset", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("dhash_inset", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("blob_signals") as batch:
        batch.drop_column("dhash_inset")
        batch.drop_column("phash_inset")
