"""Admission (issue 12): modes, invite lists, join origins, removing stuffing with undo.

New tables ``event_admission`` (mode, cap, expected attendees, the hall-code secret; an
event without a row is open, so existing events need none), ``invite``, ``audit_log`` and
``removed_vote`` (votes set aside by a removal, restored by undo). Attendees gain where
they joined from (an address group, never the full address), a device label, how they
were admitted, when they first loaded the vote page, and when they were removed.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (name, type, fill value for existing attendees: the model's default).
ATTENDEE_COLUMNS: list[tuple[str, sa.types.TypeEngine[Any], str]] = [
    ("address_group", sa.String(length=48), ""),
    ("device", sa.String(length=40), ""),
    ("via", sa.String(length=16), "open"),
]
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "event_admission",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("attendee_cap", sa.Integer(), nullable=False),
        sa.Column("expected_attendees", sa.Integer(), nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("closed_at", TIME, nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"]),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_table(
        "invite",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("organization", sa.String(length=80), nullable=False),
        sa.Column("email", sa.String(length=160), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("attendee_id", sa.Integer(), nullable=True),
        sa.Column("bound_at", TIME, nullable=True),
        sa.Column("rebind_allowed", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(["attendee_id"], ["attendee.id"]),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_invite_event_id", "invite", ["event_id"])
    op.create_index("ix_invite_token", "invite", ["token"], unique=True)
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=60), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("attendees", sa.Integer(), nullable=False),
        sa.Column("votes", sa.Integer(), nullable=False),
        sa.Column("attendee_ids", sa.String(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("undone_at", TIME, nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_log_event_id", "audit_log", ["event_id"])
    op.create_table(
        "removed_vote",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("audit_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("pitch_id", sa.Integer(), nullable=False),
        sa.Column("attendee_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(["attendee_id"], ["attendee.id"]),
        sa.ForeignKeyConstraint(["audit_id"], ["audit_log.id"]),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_removed_vote_audit_id", "removed_vote", ["audit_id"])
    op.create_index("ix_removed_vote_event_id", "removed_vote", ["event_id"])

    with op.batch_alter_table("attendee") as batch:
        for name, type_, fill in ATTENDEE_COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=False, server_default=fill))
        batch.add_column(sa.Column("vote_page_at", TIME, nullable=True))
        batch.add_column(sa.Column("removed_at", TIME, nullable=True))
    with op.batch_alter_table("attendee") as batch:
        for name, type_, _ in ATTENDEE_COLUMNS:
            batch.alter_column(name, existing_type=type_, server_default=None)
    op.create_index("ix_attendee_removed_at", "attendee", ["removed_at"])


def downgrade() -> None:
    op.drop_index("ix_attendee_removed_at", "attendee")
    with op.batch_alter_table("attendee") as batch:
        for name in ("removed_at", "vote_page_at", *(c[0] for c in reversed(ATTENDEE_COLUMNS))):
            batch.drop_column(name)
    op.drop_table("removed_vote")
    op.drop_table("audit_log")
    op.drop_table("invite")
    op.drop_table("event_admission")
