"""Box tasks: draw, verify and cover boxes on the annotation machinery (issue 14).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07

A project gains ``kind`` (every existing project is a label project) and, for box projects,
``target_quality``. New tables: the (image, synset) pairs to box, the boxes drawn or proposed
on them, units of box work issued to annotators, and quality and coverage votes. Catalog
``boxes`` gain ``drawing_id``: the crowd drawing a box was accepted from (NULL for a source's
boxes), so undoing an aggregation removes exactly the boxes it wrote.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "box_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("class_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("wnid", sa.String(length=64), nullable=False),
        sa.Column("gold", sa.Boolean(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "drawing",
                "verifying",
                "covered",
                name="box_item_status",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("coverage_yes", sa.Integer(), nullable=False),
        sa.Column("coverage_no", sa.Integer(), nullable=False),
        sa.Column("coverage_posterior", sa.Float(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["class_id"],
            ["annotation_classes.id"],
            name=op.f("fk_box_items_class_id_annotation_classes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name=op.f("fk_box_items_image_id_images"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["annotation_projects.id"],
            name=op.f("fk_box_items_project_id_annotation_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_box_items")),
        sa.UniqueConstraint(
            "project_id", "image_id", "wnid", name=op.f("uq_box_items_project_id_image_id_wnid")
        ),
    )
    with op.batch_alter_table("box_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_box_items_image_id"), ["image_id"], unique=False)
        batch_op.create_index("ix_box_items_queue", ["project_id", "status"], unique=False)

    op.create_table(
        "box_drawings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("annotator_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("x_min", sa.Float(), nullable=False),
        sa.Column("y_min", sa.Float(), nullable=False),
        sa.Column("x_max", sa.Float(), nullable=False),
        sa.Column("y_max", sa.Float(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("gold", sa.Boolean(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "accepted",
                "rejected",
                name="box_drawing_status",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("yes_votes", sa.Integer(), nullable=False),
        sa.Column("no_votes", sa.Integer(), nullable=False),
        sa.Column("posterior", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["annotator_id"],
            ["annotators.id"],
            name=op.f("fk_box_drawings_annotator_id_annotators"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["box_items.id"],
            name=op.f("fk_box_drawings_item_id_box_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_box_drawings")),
    )
    with op.batch_alter_table("box_drawings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_box_drawings_annotator_id"), ["annotator_id"], unique=False
        )
        batch_op.create_index("ix_box_drawings_item_id_status", ["item_id", "status"], unique=False)

    op.create_table(
        "box_tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("annotator_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("drawing_id", sa.Integer(), nullable=True),
        sa.Column("shown", sa.JSON(), nullable=False),
        sa.Column("gold", sa.Boolean(), nullable=True),
        sa.Column("correct", sa.Boolean(), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["annotator_id"],
            ["annotators.id"],
            name=op.f("fk_box_tasks_annotator_id_annotators"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["drawing_id"],
            ["box_drawings.id"],
            name=op.f("fk_box_tasks_drawing_id_box_drawings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["box_items.id"],
            name=op.f("fk_box_tasks_item_id_box_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["annotation_projects.id"],
            name=op.f("fk_box_tasks_project_id_annotation_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_box_tasks")),
    )
    with op.batch_alter_table("box_tasks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_box_tasks_annotator_id"), ["annotator_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_box_tasks_drawing_id"), ["drawing_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_box_tasks_item_id"), ["item_id"], unique=False)
        batch_op.create_index(
            "ix_box_tasks_project_id_submitted_at", ["project_id", "submitted_at"], unique=False
        )

    op.create_table(
        "box_coverage_votes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("annotator_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("answer", sa.Boolean(), nullable=False),
        sa.Column("boxes", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["annotator_id"],
            ["annotators.id"],
            name=op.f("fk_box_coverage_votes_annotator_id_annotators"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["box_items.id"],
            name=op.f("fk_box_coverage_votes_item_id_box_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["box_tasks.id"],
            name=op.f("fk_box_coverage_votes_task_id_box_tasks"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_box_coverage_votes")),
        sa.UniqueConstraint(
            "item_id",
            "annotator_id",
            "boxes",
            name=op.f("uq_box_coverage_votes_item_id_annotator_id_boxes"),
        ),
    )
    with op.batch_alter_table("box_coverage_votes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_box_coverage_votes_annotator_id"), ["annotator_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_box_coverage_votes_task_id"), ["task_id"], unique=False
        )

    op.create_table(
        "box_quality_votes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("drawing_id", sa.Integer(), nullable=False),
        sa.Column("annotator_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("answer", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["annotator_id"],
            ["annotators.id"],
            name=op.f("fk_box_quality_votes_annotator_id_annotators"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["drawing_id"],
            ["box_drawings.id"],
            name=op.f("fk_box_quality_votes_drawing_id_box_drawings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["box_tasks.id"],
            name=op.f("fk_box_quality_votes_task_id_box_tasks"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_box_quality_votes")),
        sa.UniqueConstraint(
            "drawing_id", "annotator_id", name=op.f("uq_box_quality_votes_drawing_id_annotator_id")
        ),
    )
    with op.batch_alter_table("box_quality_votes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_box_quality_votes_annotator_id"), ["annotator_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_box_quality_votes_task_id"), ["task_id"], unique=False)

    with op.batch_alter_table("annotation_projects", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="labels")
        )
        batch_op.add_column(sa.Column("target_quality", sa.Float(), nullable=True))

    with op.batch_alter_table("boxes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("drawing_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_boxes_drawing_id"), ["drawing_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_boxes_drawing_id_box_drawings"),
            "box_drawings",
            ["drawing_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    # Without boxes.drawing_id the crowd's boxes could no longer be told from a source's, nor
    # undone: the organiser undoes them first, so the downgrade stops before any change.
    crowd = (
        op.get_bind()
        .execute(sa.text("SELECT count(*) FROM boxes WHERE drawing_id IS NOT NULL"))
        .scalar_one()
    )
    if crowd:
        raise RuntimeError(
            f"{crowd} catalog box(es) came from box projects, which revision 0010 cannot tell "
            "from a source's boxes: run `synsetlab annotate aggregate NAME --undo` for each "
            "box project before downgrading"
        )
    with op.batch_alter_table("boxes", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_boxes_drawing_id_box_drawings"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_boxes_drawing_id"))
        batch_op.drop_column("drawing_id")

    with op.batch_alter_table("annotation_projects", schema=None) as batch_op:
        batch_op.drop_column("target_quality")
        batch_op.drop_column("kind")

    with op.batch_alter_table("box_quality_votes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_box_quality_votes_task_id"))
        batch_op.drop_index(batch_op.f("ix_box_quality_votes_annotator_id"))

    op.drop_table("box_quality_votes")
    with op.batch_alter_table("box_coverage_votes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_box_coverage_votes_task_id"))
        batch_op.drop_index(batch_op.f("ix_box_coverage_votes_annotator_id"))

    op.drop_table("box_coverage_votes")
    with op.batch_alter_table("box_tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_box_tasks_project_id_submitted_at")
        batch_op.drop_index(batch_op.f("ix_box_tasks_item_id"))
        batch_op.drop_index(batch_op.f("ix_box_tasks_drawing_id"))
        batch_op.drop_index(batch_op.f("ix_box_tasks_annotator_id"))

    op.drop_table("box_tasks")
    with op.batch_alter_table("box_drawings", schema=None) as batch_op:
        batch_op.drop_index("ix_box_drawings_item_id_status")
        batch_op.drop_index(batch_op.f("ix_box_drawings_annotator_id"))

    op.drop_table("box_drawings")
    with op.batch_alter_table("box_items", schema=None) as batch_op:
        batch_op.drop_index("ix_box_items_queue")
        batch_op.drop_index(batch_op.f("ix_box_items_image_id"))

    op.drop_table("box_items")
