"""action codes: administrator edits, disposition fields and corrections, audit log

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dialer.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("action_codes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("updated_at", dialer.db.UTCDateTime(), nullable=True))
    with op.batch_alter_table("dispositions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fields", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("applied", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("corrected_at", dialer.db.UTCDateTime(), nullable=True))
    op.create_table(
        "disposition_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=False),
        sa.Column("disposition_id", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=16), nullable=False),
        sa.Column("actor_name", sa.String(length=64), nullable=True),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("changed_at", dialer.db.UTCDateTime(), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_disposition_audit_agent_id_agents")
        ),
        sa.ForeignKeyConstraint(
            ["attempt_id"],
            ["call_attempts.id"],
            name=op.f("fk_disposition_audit_attempt_id_call_attempts"),
        ),
        sa.ForeignKeyConstraint(
            ["disposition_id"],
            ["dispositions.id"],
            name=op.f("fk_disposition_audit_disposition_id_dispositions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disposition_audit")),
    )
    with op.batch_alter_table("disposition_audit", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_disposition_audit_attempt_id"), ["attempt_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_disposition_audit_disposition_id"), ["disposition_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("disposition_audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disposition_audit_disposition_id"))
        batch_op.drop_index(batch_op.f("ix_disposition_audit_attempt_id"))
    op.drop_table("disposition_audit")
    with op.batch_alter_table("dispositions", schema=None) as batch_op:
        batch_op.drop_column("corrected_at")
        batch_op.drop_column("applied")
        batch_op.drop_column("fields")
    with op.batch_alter_table("action_codes", schema=None) as batch_op:
        batch_op.drop_column("updated_at")
