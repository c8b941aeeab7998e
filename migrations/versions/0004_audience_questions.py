"""Audience questions (issue 16) and device-bound networking blocks (issue 11).

New tables ``question`` and ``questionupvote`` (one upvote per attendee and question, a
unique key, so counts are exact under storms); the event's Q&A settings; when a pitch left
the stage (questions stay open for a while after); the device hash on networking profiles
and blocks, so a block follows the person's device rather than only the attendee row.
New NOT NULL columns get a server default only while existing rows are filled (the model's
default), then it is dropped, so the schema equals the models.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, type, fill value for existing rows: the model's default).
NEW_COLUMNS: list[tuple[str, str, sa.types.TypeEngine[Any], str]] = [
    ("event", "questions_enabled", sa.Boolean(), "1"),
    ("event", "questions_anonymous", sa.Boolean(), "1"),
    ("event", "questions_premoderated", sa.Boolean(), "0"),
    ("event", "questions_open_minutes", sa.Integer(), "5"),
    ("event", "question_max_length", sa.Integer(), "280"),
    ("event", "questions_projector_top", sa.Boolean(), "0"),
    ("network_profile", "device_hash", sa.String(length=64), ""),
    ("contact_block", "blocked_device", sa.String(length=64), ""),
]


def upgrade() -> None:
    for table, name, type_, fill in NEW_COLUMNS:
        with op.batch_alter_table(table) as batch:
            # '1', '0' and '5' are valid literals for boolean and integer columns on both dialects.
            batch.add_column(sa.Column(name, type_, nullable=False, server_default=fill))
        with op.batch_alter_table(table) as batch:
            batch.alter_column(name, existing_type=type_, server_default=None)
    op.create_index("ix_network_profile_device_hash", "network_profile", ["device_hash"])
    op.create_index("ix_contact_block_blocked_device", "contact_block", ["blocked_device"])
    with op.batch_alter_table("pitch") as batch:
        batch.add_column(sa.Column("left_stage_at", sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        "question",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("pitch_id", sa.Integer(), nullable=False),
        sa.Column("attendee_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.Column("show_name", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("hide_reason", sa.String(length=24), nullable=False),
        sa.Column("highlighted", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["attendee_id"], ["attendee.id"]),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"]),
        sa.ForeignKeyConstraint(["pitch_id"], ["pitch.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_question_attendee_id", "question", ["attendee_id"])
    op.create_index("ix_question_event_id", "question", ["event_id"])
    op.create_index("ix_question_pitch_id", "question", ["pitch_id"])

    op.create_table(
        "questionupvote",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("attendee_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["attendee_id"], ["attendee.id"]),
        sa.ForeignKeyConstraint(["question_id"], ["question.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "question_id", "attendee_id", name="uq_question_upvote_question_attendee"
        ),
    )
    op.create_index("ix_questionupvote_attendee_id", "questionupvote", ["attendee_id"])
    op.create_index("ix_questionupvote_question_id", "questionupvote", ["question_id"])


def downgrade() -> None:
    op.drop_table("questionupvote")
    op.drop_table("question")
    with op.batch_alter_table("pitch") as batch:
        batch.drop_column("left_stage_at")
    op.drop_index("ix_contact_block_blocked_device", "contact_block")
    op.drop_index("ix_network_profile_device_hash", "network_profile")
    for table, name, _, _ in reversed(NEW_COLUMNS):
        with op.batch_alter_table(table) as batch:
            batch.drop_column(name)
