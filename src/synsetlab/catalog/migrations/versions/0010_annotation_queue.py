"""Each question's value of one more vote, stored, so that handing out a page walks an index.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

``annotation_items.value`` is NULL where it is not known yet: every row after this upgrade,
and any question whose votes, prior or class table changed since. The next page computes
the NULL ones of its project (see ``synsetlab.annotate.assign``), so existing projects need
no backfill here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("annotation_items") as batch:
        batch.add_column(sa.Column("value", sa.Float(), nullable=True))
    op.create_index(
        "ix_annotation_items_queue",
        "annotation_items",
        ["project_id", "status", "value"],
        unique=False,
    )
    # (class_id, status) becomes the prefix of the class's queue.
    op.drop_index("ix_annotation_items_class_id_status", table_name="annotation_items")
    op.create_index(
        "ix_annotation_items_class_queue",
        "annotation_items",
        ["class_id", "status", "value"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_annotation_items_class_queue", table_name="annotation_items")
    op.create_index(
        "ix_annotation_items_class_id_status",
        "annotation_items",
        ["class_id", "status"],
        unique=False,
    )
    op.drop_index("ix_annotation_items_queue", table_name="annotation_items")
    with op.batch_alter_table("annotation_items") as batch:
        batch.drop_column("value")
