"""Stages (issue 15): an event is a conference with one or more stages (rooms).

New table ``stage``: each has its own moderator and projector links, pitch on stage and
state version, which move there from ``event`` (one source of truth: the stage). New table
``agendasession`` (optional blocks of a stage's pitches with a title and start time).
Pitches gain ``stage_id`` (required) and ``session_id`` (optional).

Every existing event gets one stage with the name "" (shown as the event's name), the
event's moderator and projector keys, its current pitch and version, so links, screens and
phones work on as before; every pitch is put on its event's stage.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MOVED = ("moderator_key", "projector_key", "current_pitch_id", "version")


def upgrade() -> None:
    op.create_table(
        "stage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("moderator_key", sa.String(length=64), nullable=False),
        sa.Column("projector_key", sa.String(length=64), nullable=False),
        sa.Column("current_pitch_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_stage_event_id", "stage", ["event_id"], unique=False)
    op.create_table(
        "agendasession",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stage_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=160), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["stage_id"], ["stage.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_agendasession_stage_id", "agendasession", ["stage_id"], unique=False)

    # One stage per event, holding what the event held.
    op.execute(
        "INSERT INTO stage (event_id, position, name, moderator_key, projector_key,"
        " current_pitch_id, version)"
        " SELECT id, 0, '', moderator_key, projector_key, current_pitch_id, version FROM event"
    )
    with op.batch_alter_table("pitch", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stage_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("session_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE pitch SET stage_id ="
        " (SELECT stage.id FROM stage WHERE stage.event_id = pitch.event_id)"
    )
    with op.batch_alter_table("pitch", schema=None) as batch_op:
        batch_op.alter_column("stage_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_index("ix_pitch_stage_id", ["stage_id"], unique=False)
        batch_op.create_foreign_key("fk_pitch_stage_id_stage", "stage", ["stage_id"], ["id"])
        batch_op.create_foreign_key(
            "fk_pitch_session_id_agendasession", "agendasession", ["session_id"], ["id"]
        )
    with op.batch_alter_table("event", schema=None) as batch_op:
        for column in MOVED:
            batch_op.drop_column(column)


def downgrade() -> None:
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("moderator_key", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("projector_key", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("current_pitch_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=True))
    # The first stage's links and state go back to the event (other stages are lost).
    for column in MOVED:
        op.execute(
            f"UPDATE event SET {column} = (SELECT s.{column} FROM stage s"
            " WHERE s.event_id = event.id ORDER BY s.position, s.id LIMIT 1)"
        )
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.alter_column("moderator_key", existing_type=sa.String(64), nullable=False)
        batch_op.alter_column("projector_key", existing_type=sa.String(64), nullable=False)
        batch_op.alter_column("version", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table("pitch", schema=None) as batch_op:
        batch_op.drop_constraint("fk_pitch_session_id_agendasession", type_="foreignkey")
        batch_op.drop_constraint("fk_pitch_stage_id_stage", type_="foreignkey")
        batch_op.drop_index("ix_pitch_stage_id")
        batch_op.drop_column("session_id")
        batch_op.drop_column("stage_id")
    op.drop_index("ix_agendasession_stage_id", table_name="agendasession")
    op.drop_table("agendasession")
    op.drop_index("ix_stage_event_id", table_name="stage")
    op.drop_table("stage")
