"""index on campaign entries in dial order, for key-set paging of the entries report

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 01:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The same expressions as dialer.campaigns.models.DIAL_ORDER, so both planners use it.
    op.create_index(
        "ix_campaign_entries_dial_order",
        "campaign_entries",
        [
            "campaign_id",
            sa.text("(0 - score)"),
            sa.text("coalesce(rank, 2147483647)"),
            "id",
        ],
    )


def downgrade() -> None:
    op.drop_index("ix_campaign_entries_dial_order", table_name="campaign_entries")
