"""Upvotes keep the attendee's newest wish: ``questionupvote`` gains ``up`` and ``seq``.

A taken-back upvote was a deleted row, so an older "upvote" that arrived late (sent on a
socket that died, processed by another app process after the phone's newer "take back")
brought it back. Now the row stays with ``up`` false, and a wish applies only if its
``seq`` (the phone's, as on votes) is not older than the stored one. Existing rows are
upvotes (``up`` true) with seq 0, so any wish a phone makes after the upgrade applies.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# '1' and '0' are valid literals for boolean and integer columns on both dialects.
NEW_COLUMNS = (("up", sa.Boolean(), "1"), ("seq", sa.BigInteger(), "0"))


def upgrade() -> None:
    for name, type_, fill in NEW_COLUMNS:
        with op.batch_alter_table("questionupvote") as batch:
            batch.add_column(sa.Column(name, type_, nullable=False, server_default=fill))
        with op.batch_alter_table("questionupvote") as batch:
            batch.alter_column(name, existing_type=type_, server_default=None)


def downgrade() -> None:
    # Taken-back upvotes were no rows before 0008.
    op.execute("DELETE FROM questionupvote WHERE NOT up")
    with op.batch_alter_table("questionupvote") as batch:
        batch.drop_column("seq")
        batch.drop_column("up")
