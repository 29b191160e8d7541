"""call flow: IVR path, inbound attempts, voicemail, abandon delay, recordings, agent legs,
wrap-up limits, pause codes and the presence log, paid claims verified like promises

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dialer.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The shipped PAID and WFP codes now open a paid claim that the promise evaluation checks
# against the payments; a row an administrator edited (updated_at set) is left as it is.
PAID_CLAIM_CODES = ("PAID", "WFP")


def upgrade() -> None:
    op.create_table(
        "pause_codes",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("label_vi", sa.String(length=100), nullable=False),
        sa.Column("label_en", sa.String(length=100), nullable=False),
        sa.Column("system", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_pause_codes")),
    )
    op.create_table(
        "agent_presence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=32), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("from_state", sa.String(length=16), nullable=False),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("attempt_id", sa.Integer(), nullable=True),
        sa.Column("at", dialer.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_agent_presence_agent_id_agents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_presence")),
        sa.UniqueConstraint("event_id", name=op.f("uq_agent_presence_event_id")),
    )
    with op.batch_alter_table("agent_presence", schema=None) as batch_op:
        batch_op.create_index("ix_agent_presence_agent_at", ["agent_id", "at"], unique=False)

    # AUTOINCREMENT on SQLite (the table is rebuilt by the batch anyway): an attempt taken
    # back must not give its id to the next one.
    with op.batch_alter_table(
        "call_attempts", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.add_column(
            sa.Column("direction", sa.String(length=8), server_default="outbound", nullable=False)
        )
        batch_op.add_column(sa.Column("caller_number", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("ivr_path", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("abandon_delay_ms", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("voicemail_at", dialer.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("agent_dropped_at", dialer.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("recording_sid", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("recording_url", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("recording_duration", sa.Integer(), nullable=True))
        # Inbound calls: no campaign entry; the account and phone once the caller is known.
        for column in ("campaign_id", "entry_id", "account_id", "phone_id"):
            batch_op.alter_column(column, existing_type=sa.INTEGER(), nullable=True)

    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("on_machine", sa.String(length=16), server_default="hangup", nullable=False)
        )
        batch_op.add_column(
            sa.Column("on_unknown", sa.String(length=16), server_default="human", nullable=False)
        )
        batch_op.add_column(
            sa.Column("record_calls", sa.Boolean(), server_default=sa.text("false"), nullable=False)
        )
        batch_op.add_column(
            sa.Column("wrap_up_seconds", sa.Integer(), server_default="120", nullable=False)
        )
        batch_op.add_column(sa.Column("company_name", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("callback_number", sa.String(length=32), nullable=True))

    with op.batch_alter_table("promises", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), server_default="promise", nullable=False)
        )

    # An inbound caller keys in their account number's digits: looked up by an index.
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("keypad_no", sa.String(length=64), server_default="", nullable=False)
        )
    accounts = sa.table("accounts", sa.column("id", sa.Integer), sa.column("account_no"))
    keypad = sa.table("accounts", sa.column("id", sa.Integer), sa.column("keypad_no"))
    bind = op.get_bind()
    rows = bind.execute(sa.select(accounts.c.id, accounts.c.account_no)).all()
    for start in range(0, len(rows), 1000):
        bind.execute(
            keypad.update().where(keypad.c.id == sa.bindparam("row_id")),
            [
                {"row_id": row_id, "keypad_no": "".join(c for c in no if c.isdigit())}
                for row_id, no in rows[start : start + 1000]
            ],
        )
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.alter_column("keypad_no", server_default=None)
        batch_op.create_index(batch_op.f("ix_accounts_keypad_no"), ["keypad_no"], unique=False)

    codes = sa.table(
        "action_codes",
        sa.column("code", sa.String),
        sa.column("effects", sa.JSON),
        sa.column("updated_at", dialer.db.UTCDateTime),
    )
    rows = bind.execute(
        sa.select(codes.c.code, codes.c.effects).where(
            codes.c.code.in_(PAID_CLAIM_CODES), codes.c.updated_at.is_(None)
        )
    ).all()
    for code, effects in rows:
        bind.execute(
            codes.update()
            .where(codes.c.code == code)
            .values(effects={**(effects or {}), "paid_claim": True})
        )


def downgrade() -> None:
    with op.batch_alter_table("promises", schema=None) as batch_op:
        batch_op.drop_column("kind")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_accounts_keypad_no"))
        batch_op.drop_column("keypad_no")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        for column in (
            "callback_number",
            "company_name",
            "wrap_up_seconds",
            "record_calls",
            "on_unknown",
            "on_machine",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("call_attempts", schema=None) as batch_op:
        for column in ("campaign_id", "entry_id", "account_id", "phone_id"):
            batch_op.alter_column(column, existing_type=sa.INTEGER(), nullable=False)
        for column in (
            "recording_duration",
            "recording_url",
            "recording_sid",
            "agent_dropped_at",
            "voicemail_at",
            "abandon_delay_ms",
            "ivr_path",
            "caller_number",
            "direction",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("agent_presence", schema=None) as batch_op:
        batch_op.drop_index("ix_agent_presence_agent_at")
    op.drop_table("agent_presence")
    op.drop_table("pause_codes")
