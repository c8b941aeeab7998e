"""The event's time zone (issue 9): times people read are shown in it.

Existing events get Europe/Berlin, the model's default (the model event is German).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("event") as batch:
        batch.add_column(
            sa.Column(
                "timezone", sa.String(length=64), nullable=False, server_default="Europe/Berlin"
            )
        )
    with op.batch_alter_table("event") as batch:
        batch.alter_column("timezone", existing_type=sa.String(length=64), server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("event") as batch:
        batch.drop_column("timezone")
