"""Organiser settings (issue 5): event settings, consent records, partners, presenters,
"delete my data".

A database of the previous release fails without this with ``no such column: event.date``.
New NOT NULL columns get a server default only while existing rows are filled; the default
is dropped again afterwards, so the schema equals what ``create_all`` makes. Each existing
event gets its own random export salt (an empty one would make pseudonymous voter ids in
exports reversible).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (name, type, fill value for existing rows: the model's default).
EVENT_COLUMNS: list[tuple[str, sa.types.TypeEngine[Any], str]] = [
    ("date", sa.String(length=10), ""),
    ("languages", sa.String(length=32), "de,en"),
    ("topics", sa.String(), "[]"),
    ("org_type_matrix", sa.String(), "{}"),
    ("networking_enabled", sa.Boolean(), "1"),
    ("retention_days", sa.Integer(), "90"),
    ("privacy_version", sa.String(length=20), "1"),
    ("export_salt", sa.String(length=64), ""),
]


def upgrade() -> None:
    with op.batch_alter_table("event") as batch:
        for name, type_, fill in EVENT_COLUMNS:
            # '1' and '90' are valid literals for boolean and integer columns on both dialects.
            batch.add_column(sa.Column(name, type_, nullable=False, server_default=fill))
    # A random salt per event, in SQL so that `migrate --sql` prints it too (32 hex digits,
    # like secrets.token_hex(16) in the model).
    if op.get_context().dialect.name == "postgresql":
        op.execute("UPDATE event SET export_salt = md5(random()::text || id::text)")
    else:
        op.execute("UPDATE event SET export_salt = lower(hex(randomblob(16)))")
    with op.batch_alter_table("event") as batch:
        for name, type_, _ in EVENT_COLUMNS:
            batch.alter_column(name, existing_type=type_, server_default=None)

    with op.batch_alter_table("pitch") as batch:
        batch.add_column(sa.Column("presenter_attendee_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "pitch_presenter_attendee_id_fkey", "attendee", ["presenter_attendee_id"], ["id"]
        )
    with op.batch_alter_table("attendee") as batch:
        batch.add_column(sa.Column("anonymised_at", sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        "consentrecord",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("attendee_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("text_version", sa.String(length=20), nullable=False),
        sa.Column("given_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["attendee_id"], ["attendee.id"]),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_consentrecord_attendee_id", "consentrecord", ["attendee_id"])
    op.create_index("ix_consentrecord_event_id", "consentrecord", ["event_id"])

    op.create_table(
        "partner",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("org_type", sa.String(length=60), nullable=False),
        sa.Column("contact", sa.String(length=120), nullable=False),
        sa.Column("email", sa.String(length=160), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id", "name", name="uq_partner_event_name"),
    )
    op.create_index("ix_partner_event_id", "partner", ["event_id"])


def downgrade() -> None:
    op.drop_table("partner")
    op.drop_table("consentrecord")
    with op.batch_alter_table("attendee") as batch:
        batch.drop_column("anonymised_at")
    with op.batch_alter_table("pitch") as batch:
        batch.drop_constraint("pitch_presenter_attendee_id_fkey", type_="foreignkey")
        batch.drop_column("presenter_attendee_id")
    with op.batch_alter_table("event") as batch:
        for name, _, _ in reversed(EVENT_COLUMNS):
            batch.drop_column(name)
