"""campaign settings, daily templates, entry not-before time

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 00:35:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dialer.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaign_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("launch_time", sa.String(length=5), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("holiday_country", sa.String(length=2), nullable=False),
        sa.Column("weekdays", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("last_launched_on", sa.Date(), nullable=True),
        sa.Column("created_at", dialer.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_templates")),
        sa.UniqueConstraint("name", name=op.f("uq_campaign_templates_name")),
    )
    with op.batch_alter_table("campaign_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("not_before", dialer.db.UTCDateTime(), nullable=True))

    # Existing campaigns get the defaults the model has (server defaults only for this step).
    new_columns = [
        sa.Column("ranking", sa.JSON(), nullable=False, server_default="{}"),
        sa.Column("window_start", sa.String(length=5), nullable=True),
        sa.Column("window_end", sa.String(length=5), nullable=True),
        sa.Column("max_attempts_per_day", sa.Integer(), nullable=True),
        sa.Column("skip_public_holidays", sa.Boolean(), nullable=True),
        sa.Column("retry_minutes", sa.JSON(), nullable=False, server_default="{}"),
        sa.Column("caller_ids", sa.JSON(), nullable=False, server_default="[]"),
        sa.Column("script", sa.Text(), nullable=True),
        sa.Column("team", sa.String(length=64), nullable=True),
        sa.Column("agent_ids", sa.JSON(), nullable=False, server_default="[]"),
        sa.Column("abandon_target", sa.Float(), nullable=False, server_default="0.03"),
        sa.Column("max_lines_per_agent", sa.Float(), nullable=False, server_default="3.0"),
        sa.Column("template_id", sa.Integer(), nullable=True),
        sa.Column("paused_reason", sa.String(length=200), nullable=True),
        sa.Column("build_summary", sa.JSON(), nullable=False, server_default="{}"),
    ]
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        for column in new_columns:
            batch_op.add_column(column)
        batch_op.create_foreign_key(
            batch_op.f("fk_campaigns_template_id_campaign_templates"),
            "campaign_templates",
            ["template_id"],
            ["id"],
        )
    # One caller ID becomes a list of them.
    campaigns = sa.table(
        "campaigns", sa.column("id"), sa.column("caller_id"), sa.column("caller_ids", sa.JSON)
    )
    conn = op.get_bind()
    for campaign_id, caller_id in conn.execute(
        sa.select(campaigns.c.id, campaigns.c.caller_id).where(campaigns.c.caller_id.is_not(None))
    ):
        conn.execute(
            campaigns.update().where(campaigns.c.id == campaign_id).values(caller_ids=[caller_id])
        )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("caller_id")
        for column in new_columns:
            if column.server_default is not None:
                batch_op.alter_column(column.name, server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("caller_id", sa.String(length=32), nullable=True))
        batch_op.drop_constraint(
            batch_op.f("fk_campaigns_template_id_campaign_templates"), type_="foreignkey"
        )
        for name in (
            "build_summary",
            "paused_reason",
            "template_id",
            "max_lines_per_agent",
            "abandon_target",
            "agent_ids",
            "team",
            "script",
            "caller_ids",
            "retry_minutes",
            "skip_public_holidays",
            "max_attempts_per_day",
            "window_end",
            "window_start",
            "ranking",
        ):
            batch_op.drop_column(name)
    with op.batch_alter_table("campaign_entries", schema=None) as batch_op:
        batch_op.drop_column("not_before")
    op.drop_table("campaign_templates")
