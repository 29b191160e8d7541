"""when a dial job claimed a campaign entry

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dialer.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("campaign_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_at", dialer.db.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("campaign_entries", schema=None) as batch_op:
        batch_op.drop_column("claimed_at")
