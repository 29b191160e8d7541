"""referral worklist states, callbacks done on connect, team-lead alerts with webhook delivery

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dialer.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("accepted_at", dialer.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("returned_at", dialer.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("closed_at", dialer.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("handled_by", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("handler_note", sa.String(length=2000), nullable=True))
        batch_op.create_index(batch_op.f("ix_referrals_state"), ["state"], unique=False)

    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("done_at", dialer.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("done_attempt_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_callbacks_done_attempt_id_call_attempts"),
            "call_attempts",
            ["done_attempt_id"],
            ["id"],
        )

    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=True),
        sa.Column("disposition_id", sa.Integer(), nullable=True),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("team", sa.String(length=64), nullable=True),
        sa.Column("note", sa.String(length=2000), nullable=True),
        sa.Column("created_at", dialer.db.UTCDateTime(), nullable=False),
        sa.Column("acknowledged_at", dialer.db.UTCDateTime(), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=100), nullable=True),
        sa.Column("webhook_state", sa.String(length=16), nullable=False),
        sa.Column("webhook_attempts", sa.Integer(), nullable=False),
        sa.Column("webhook_queued_at", dialer.db.UTCDateTime(), nullable=True),
        sa.Column("webhook_sent_at", dialer.db.UTCDateTime(), nullable=True),
        sa.Column("webhook_error", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_alerts_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_alerts_agent_id_agents")
        ),
        sa.ForeignKeyConstraint(
            ["attempt_id"], ["call_attempts.id"], name=op.f("fk_alerts_attempt_id_call_attempts")
        ),
        sa.ForeignKeyConstraint(
            ["disposition_id"],
            ["dispositions.id"],
            name=op.f("fk_alerts_disposition_id_dispositions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("disposition_id", name=op.f("uq_alerts_disposition_id")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alerts_account_id"), ["account_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_alerts_acknowledged_at"), ["acknowledged_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_alerts_webhook_state"), ["webhook_state"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alerts_webhook_state"))
        batch_op.drop_index(batch_op.f("ix_alerts_acknowledged_at"))
        batch_op.drop_index(batch_op.f("ix_alerts_account_id"))
    op.drop_table("alerts")

    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_callbacks_done_attempt_id_call_attempts"), type_="foreignkey"
        )
        batch_op.drop_column("done_attempt_id")
        batch_op.drop_column("done_at")

    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_referrals_state"))
        batch_op.drop_column("handler_note")
        batch_op.drop_column("handled_by")
        batch_op.drop_column("closed_at")
        batch_op.drop_column("returned_at")
        batch_op.drop_column("accepted_at")
