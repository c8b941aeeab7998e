"""Networking (issue 4): profiles, QR secrets, contacts, blocks, notes, partner interest.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "network_state",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"]),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_table(
        "network_profile",
        sa.Column("attendee_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("opted_in", sa.Boolean(), nullable=False),
        sa.Column("consented_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consent_version", sa.String(length=20), nullable=False),
        sa.Column("org_type", sa.String(length=20), nullable=False),
        sa.Column("role", sa.String(length=80), nullable=False),
        sa.Column("interests", sa.Text(), nullable=False),
        sa.Column("offers", sa.Text(), nullable=False),
        sa.Column("seeks", sa.Text(), nullable=False),
        sa.Column("offers_text", sa.String(length=280), nullable=False),
        sa.Column("seeks_text", sa.String(length=280), nullable=False),
        sa.Column("email", sa.String(length=160), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=False),
        sa.Column("website", sa.String(length=200), nullable=False),
        sa.Column("linkedin", sa.String(length=200), nullable=False),
        sa.Column("share_email", sa.Boolean(), nullable=False),
        sa.Column("share_phone", sa.Boolean(), nullable=False),
        sa.Column("share_website", sa.Boolean(), nullable=False),
        sa.Column("share_linkedin", sa.Boolean(), nullable=False),
        sa.Column("qr_nonce", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["attendee_id"], ["attendee.id"]),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"]),
        sa.PrimaryKeyConstraint("attendee_id"),
    )
    op.create_index("ix_network_profile_event_id", "network_profile", ["event_id"])

    op.create_table(
        "contact_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("low_id", sa.Integer(), nullable=False),
        sa.Column("high_id", sa.Integer(), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"]),
        sa.ForeignKeyConstraint(["high_id"], ["attendee.id"]),
        sa.ForeignKeyConstraint(["low_id"], ["attendee.id"]),
        sa.ForeignKeyConstraint(["requester_id"], ["attendee.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("low_id", "high_id", name="uq_contact_pair"),
    )
    op.create_index("ix_contact_link_event_id", "contact_link", ["event_id"])
    op.create_index("ix_contact_link_high_id", "contact_link", ["high_id"])
    op.create_index("ix_contact_link_low_id", "contact_link", ["low_id"])

    op.create_table(
        "contact_block",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("blocker_id", sa.Integer(), nullable=False),
        sa.Column("blocked_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["blocked_id"], ["attendee.id"]),
        sa.ForeignKeyConstraint(["blocker_id"], ["attendee.id"]),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("blocker_id", "blocked_id", name="uq_contact_block"),
    )
    op.create_index("ix_contact_block_blocked_id", "contact_block", ["blocked_id"])
    op.create_index("ix_contact_block_blocker_id", "contact_block", ["blocker_id"])
    op.create_index("ix_contact_block_event_id", "contact_block", ["event_id"])

    op.create_table(
        "contact_note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("about_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=1000), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["about_id"], ["attendee.id"]),
        sa.ForeignKeyConstraint(["owner_id"], ["attendee.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("owner_id", "about_id", name="uq_contact_note"),
    )
    op.create_index("ix_contact_note_owner_id", "contact_note", ["owner_id"])

    op.create_table(
        "partner_interest",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("pitch_id", sa.Integer(), nullable=False),
        sa.Column("attendee_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("note", sa.String(length=280), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["attendee_id"], ["attendee.id"]),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"]),
        sa.ForeignKeyConstraint(["pitch_id"], ["pitch.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("attendee_id", "pitch_id", name="uq_partner_interest"),
    )
    op.create_index("ix_partner_interest_attendee_id", "partner_interest", ["attendee_id"])
    op.create_index("ix_partner_interest_event_id", "partner_interest", ["event_id"])
    op.create_index("ix_partner_interest_pitch_id", "partner_interest", ["pitch_id"])


def downgrade() -> None:
    for table in (
        "partner_interest",
        "contact_note",
        "contact_block",
        "contact_link",
        "network_profile",
        "network_state",
    ):
        op.drop_table(table)
