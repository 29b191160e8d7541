"""score components as columns, build rank, saved account lists

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dialer.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# ranking.COMPONENTS, frozen here: a migration must not change when the code does.
COMPONENTS = ("callback", "broken", "bucket", "amount", "recency", "rpc", "attempts")


def _json_number(dialect: str, key: str) -> str:
    """SQL reading one number out of the old score_components JSON column."""
    if dialect == "postgresql":
        return f"CAST(score_components ->> '{key}' AS DOUBLE PRECISION)"
    return f"json_extract(score_components, '$.{key}')"


def _components_json(dialect: str) -> str:
    """SQL building the old JSON (non-zero components only) from the columns."""
    pairs = ", ".join(f"'{c}', NULLIF(score_{c}, 0)" for c in COMPONENTS)
    if dialect == "postgresql":
        return f"json_strip_nulls(json_build_object({pairs}))"
    # A JSON merge patch drops the keys whose value is null.
    return f"json_patch('{{}}', json_object({pairs}))"


def upgrade() -> None:
    op.create_table(
        "account_lists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("created_at", dialer.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_lists")),
        sa.UniqueConstraint("name", name=op.f("uq_account_lists_name")),
    )
    op.create_table(
        "account_list_members",
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["account_lists.id"],
            name=op.f("fk_account_list_members_list_id_account_lists"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_account_list_members_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("list_id", "account_id", name=op.f("pk_account_list_members")),
    )

    # Score components move from one JSON column to a column each (server default only
    # for this step, as in 0003), existing entries keep their numbers.
    with op.batch_alter_table("campaign_entries", schema=None) as batch_op:
        for name in COMPONENTS:
            batch_op.add_column(
                sa.Column(f"score_{name}", sa.Float(), nullable=False, server_default="0")
            )
        batch_op.add_column(sa.Column("rank", sa.Integer(), nullable=True))
        # The unique (campaign_id, account_id) index serves lookups by campaign: one index
        # less to write when a build inserts a million entries.
        batch_op.drop_index(batch_op.f("ix_campaign_entries_campaign_id"))
    dialect = op.get_bind().dialect.name
    assignments = ", ".join(
        f"score_{c} = COALESCE({_json_number(dialect, c)}, 0)" for c in COMPONENTS
    )
    op.execute(f"UPDATE campaign_entries SET {assignments}")
    with op.batch_alter_table("campaign_entries", schema=None) as batch_op:
        batch_op.drop_column("score_components")
        for name in COMPONENTS:
            batch_op.alter_column(f"score_{name}", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("campaign_entries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("score_components", sa.JSON(), nullable=False, server_default="{}")
        )
    op.execute(
        f"UPDATE campaign_entries SET score_components = "
        f"{_components_json(op.get_bind().dialect.name)}"
    )
    with op.batch_alter_table("campaign_entries", schema=None) as batch_op:
        batch_op.alter_column("score_components", server_default=None)
        batch_op.drop_column("rank")
        batch_op.create_index(
            batch_op.f("ix_campaign_entries_campaign_id"), ["campaign_id"], unique=False
        )
        for name in COMPONENTS:
            batch_op.drop_column(f"score_{name}")
    op.drop_table("account_list_members")
    op.drop_table("account_lists")
