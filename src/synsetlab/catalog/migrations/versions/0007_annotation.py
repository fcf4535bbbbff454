"""Crowd verification: projects, their questions, annotators, pages, votes and outcomes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "annotation_projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("target_precision", sa.Float(), nullable=False),
        sa.Column("max_votes", sa.Integer(), nullable=False),
        sa.Column("initial_items", sa.Integer(), nullable=False),
        sa.Column("initial_votes", sa.Integer(), nullable=False),
        sa.Column("gold_fraction", sa.Float(), nullable=False),
        sa.Column("page_size", sa.Integer(), nullable=False),
        sa.Column("min_seconds", sa.Float(), nullable=False),
        sa.Column("min_accuracy", sa.Float(), nullable=False),
        sa.Column("task_minutes", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotation_projects")),
        sa.UniqueConstraint("slug", name=op.f("uq_annotation_projects_slug")),
    )
    op.create_table(
        "annotation_classes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("wnid", sa.String(length=64), nullable=False),
        sa.Column("lemmas", sa.Text(), nullable=False),
        sa.Column("gloss", sa.Text(), nullable=False),
        sa.Column("ancestors", sa.JSON(), nullable=False),
        sa.Column("consensus", sa.JSON(), nullable=True),
        sa.Column("estimated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["annotation_projects.id"],
            name=op.f("fk_annotation_classes_project_id_annotation_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotation_classes")),
        sa.UniqueConstraint(
            "project_id", "wnid", name=op.f("uq_annotation_classes_project_id_wnid")
        ),
    )
    op.create_index(
        op.f("ix_annotation_classes_project_id"), "annotation_classes", ["project_id"], unique=False
    )
    op.create_table(
        "annotators",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column(
            "state",
            sa.Enum("active", "stopped", name="annotator_state", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("stop_reason", sa.Text(), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["annotation_projects.id"],
            name=op.f("fk_annotators_project_id_annotation_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_annotators_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotators")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_annotators_project_id_name")),
        sa.UniqueConstraint("project_id", "user_id", name=op.f("uq_annotators_project_id_user_id")),
    )
    op.create_index(op.f("ix_annotators_project_id"), "annotators", ["project_id"], unique=False)
    op.create_table(
        "annotation_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("class_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("wnid", sa.String(length=64), nullable=False),
        sa.Column("gold", sa.Boolean(), nullable=True),
        sa.Column("initial", sa.Boolean(), nullable=False),
        sa.Column("yes_votes", sa.Integer(), nullable=False),
        sa.Column("no_votes", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "accepted",
                "rejected",
                name="annotation_item_status",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("posterior", sa.Float(), nullable=True),
        sa.Column("prior", sa.Float(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["class_id"],
            ["annotation_classes.id"],
            name=op.f("fk_annotation_items_class_id_annotation_classes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name=op.f("fk_annotation_items_image_id_images"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["annotation_projects.id"],
            name=op.f("fk_annotation_items_project_id_annotation_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotation_items")),
        sa.UniqueConstraint(
            "project_id",
            "image_id",
            "wnid",
            name=op.f("uq_annotation_items_project_id_image_id_wnid"),
        ),
    )
    op.create_index(
        "ix_annotation_items_class_id_status",
        "annotation_items",
        ["class_id", "status"],
        unique=False,
    )
    op.create_index(
        op.f("ix_annotation_items_image_id"), "annotation_items", ["image_id"], unique=False
    )
    op.create_index(
        op.f("ix_annotation_items_project_id"), "annotation_items", ["project_id"], unique=False
    )
    op.create_table(
        "annotation_tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("annotator_id", sa.Integer(), nullable=False),
        sa.Column("class_id", sa.Integer(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["annotator_id"],
            ["annotators.id"],
            name=op.f("fk_annotation_tasks_annotator_id_annotators"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["class_id"],
            ["annotation_classes.id"],
            name=op.f("fk_annotation_tasks_class_id_annotation_classes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["annotation_projects.id"],
            name=op.f("fk_annotation_tasks_project_id_annotation_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotation_tasks")),
    )
    op.create_index(
        op.f("ix_annotation_tasks_annotator_id"), "annotation_tasks", ["annotator_id"], unique=False
    )
    op.create_index(
        "ix_annotation_tasks_project_id_submitted_at",
        "annotation_tasks",
        ["project_id", "submitted_at"],
        unique=False,
    )
    op.create_table(
        "annotation_outcomes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("label_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column(
            "state_before",
            sa.Enum(
                "candidate",
                "verified",
                "rejected",
                name="label_state",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "state_after",
            sa.Enum(
                "candidate",
                "verified",
                "rejected",
                name="label_state",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("yes_votes", sa.Integer(), nullable=False),
        sa.Column("no_votes", sa.Integer(), nullable=False),
        sa.Column("posterior", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["label_id"],
            ["labels.id"],
            name=op.f("fk_annotation_outcomes_label_id_labels"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["annotation_projects.id"],
            name=op.f("fk_annotation_outcomes_project_id_annotation_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotation_outcomes")),
    )
    op.create_index(
        op.f("ix_annotation_outcomes_label_id"), "annotation_outcomes", ["label_id"], unique=False
    )
    op.create_index(
        op.f("ix_annotation_outcomes_project_id"),
        "annotation_outcomes",
        ["project_id"],
        unique=False,
    )
    op.create_table(
        "annotation_task_items",
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["annotation_items.id"],
            name=op.f("fk_annotation_task_items_item_id_annotation_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["annotation_tasks.id"],
            name=op.f("fk_annotation_task_items_task_id_annotation_tasks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("task_id", "item_id", name=op.f("pk_annotation_task_items")),
    )
    op.create_index(
        op.f("ix_annotation_task_items_item_id"), "annotation_task_items", ["item_id"], unique=False
    )
    op.create_table(
        "annotation_votes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("annotator_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("answer", sa.Boolean(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("fast", sa.Boolean(), nullable=False),
        sa.Column("propagated", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["annotator_id"],
            ["annotators.id"],
            name=op.f("fk_annotation_votes_annotator_id_annotators"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["annotation_items.id"],
            name=op.f("fk_annotation_votes_item_id_annotation_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["annotation_tasks.id"],
            name=op.f("fk_annotation_votes_task_id_annotation_tasks"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotation_votes")),
        sa.UniqueConstraint(
            "item_id", "annotator_id", name=op.f("uq_annotation_votes_item_id_annotator_id")
        ),
    )
    op.create_index(
        op.f("ix_annotation_votes_annotator_id"), "annotation_votes", ["annotator_id"], unique=False
    )
    op.create_index(
        op.f("ix_annotation_votes_task_id"), "annotation_votes", ["task_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_annotation_votes_task_id"), table_name="annotation_votes")
    op.drop_index(op.f("ix_annotation_votes_annotator_id"), table_name="annotation_votes")
    op.drop_table("annotation_votes")
    op.drop_index(op.f("ix_annotation_task_items_item_id"), table_name="annotation_task_items")
    op.drop_table("annotation_task_items")
    op.drop_index(op.f("ix_annotation_outcomes_project_id"), table_name="annotation_outcomes")
    op.drop_index(op.f("ix_annotation_outcomes_label_id"), table_name="annotation_outcomes")
    op.drop_table("annotation_outcomes")
    op.drop_index("ix_annotation_tasks_project_id_submitted_at", table_name="annotation_tasks")
    op.drop_index(op.f("ix_annotation_tasks_annotator_id"), table_name="annotation_tasks")
    op.drop_table("annotation_tasks")
    op.drop_index(op.f("ix_annotation_items_project_id"), table_name="annotation_items")
    op.drop_index(op.f("ix_annotation_items_image_id"), table_name="annotation_items")
    op.drop_index("ix_annotation_items_class_id_status", table_name="annotation_items")
    op.drop_table("annotation_items")
    op.drop_index(op.f("ix_annotators_project_id"), table_name="annotators")
    op.drop_table("annotators")
    op.drop_index(op.f("ix_annotation_classes_project_id"), table_name="annotation_classes")
    op.drop_table("annotation_classes")
    op.drop_table("annotation_projects")
