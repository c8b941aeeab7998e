"""The schema of the previous release: events, pitches, attendees and votes.

This is what ``create_all`` made before the organiser settings (commit 359c6e6). Databases
made by that release have these four tables and no ``alembic_version``; the start-up
migration recognises them (no ``event.date`` column) and stamps them at this revision.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The pitch states as SQLAlchemy stores an Enum: by member name (PostgreSQL type "pitchstate").
PITCH_STATE = sa.Enum("PENDING", "OPEN", "CLOSED", "REVEALED", name="pitchstate")


def upgrade() -> None:
    op.create_table(
        "event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("moderator_key", sa.String(length=64), nullable=False),
        sa.Column("projector_key", sa.String(length=64), nullable=False),
        sa.Column("organizer_key", sa.String(length=64), nullable=False),
        sa.Column("scale_min", sa.Integer(), nullable=False),
        sa.Column("scale_max", sa.Integer(), nullable=False),
        sa.Column("scale_labels", sa.String(), nullable=False),
        sa.Column("live_results", sa.Boolean(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("current_pitch_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_event_code", "event", ["code"], unique=True)

    op.create_table(
        "pitch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=160), nullable=False),
        sa.Column("presenter", sa.String(length=160), nullable=False),
        sa.Column("state", PITCH_STATE, nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_pitch_event_id", "pitch", ["event_id"], unique=False)

    op.create_table(
        "attendee",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("organization", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_attendee_event_id", "attendee", ["event_id"], unique=False)
    op.create_index("ix_attendee_token", "attendee", ["token"], unique=True)

    op.create_table(
        "vote",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("pitch_id", sa.Integer(), nullable=False),
        sa.Column("attendee_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["attendee_id"], ["attendee.id"]),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"]),
        sa.ForeignKeyConstraint(["pitch_id"], ["pitch.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("attendee_id", "pitch_id", name="uq_vote_attendee_pitch"),
    )
    op.create_index("ix_vote_event_id", "vote", ["event_id"], unique=False)
    op.create_index("ix_vote_pitch_id", "vote", ["pitch_id"], unique=False)


def downgrade() -> None:
    op.drop_table("vote")
    op.drop_table("attendee")
    op.drop_table("pitch")
    op.drop_table("event")
    PITCH_STATE.drop(op.get_bind(), checkfirst=True)
