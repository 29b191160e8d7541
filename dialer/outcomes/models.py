"""Action codes (the catalogue), dispositions, promises to pay and callbacks."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ColumnElement,
    Date,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    and_,
)
from sqlalchemy.orm import Mapped, mapped_column

from dialer.db import Base, UTCDateTime, utcnow


class ActionCode(Base):
    """One code of the catalogue; seeded from dialer/outcomes/default_codes.json."""

    __tablename__ = "action_codes"

    code: Mapped[str] = mapped_column(String(8), primary_key=True)
    label_vi: Mapped[str] = mapped_column(String(200))
    label_en: Mapped[str] = mapped_column(String(200))
    # Who may set it: any of "system", "agent", "ivr".
    setters: Mapped[list[str]] = mapped_column(JSON, default=list)
    is_contact: Mapped[bool] = mapped_column(Boolean, default=False)
    is_right_party: Mapped[bool] = mapped_column(Boolean, default=False)
    is_promise: Mapped[bool] = mapped_column(Boolean, default=False)
    is_refusal: Mapped[bool] = mapped_column(Boolean, default=False)
    is_final: Mapped[bool] = mapped_column(Boolean, default=False)
    # Fields the setter must give: promise_amount, promise_date, callback_at, note, new_phone.
    requires: Mapped[list[str]] = mapped_column(JSON, default=list)
    # What follows: {"retry_after_minutes": 60, "retire_phone": true, "refer": "legal", ...}
    effects: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Last edit by an administrator (None: as seeded from the defaults file).
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Disposition(Base):
    """The action code recorded for one call attempt, with the fields it required."""

    __tablename__ = "dispositions"
    __table_args__ = (UniqueConstraint("attempt_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("call_attempts.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), index=True)
    code: Mapped[str] = mapped_column(ForeignKey("action_codes.code"))
    set_by: Mapped[str] = mapped_column(String(16))  # system | agent | ivr
    note: Mapped[str | None] = mapped_column(String(2000))
    # The other fields the setter gave: promise_amount, promise_date, callback_at, new_phone
    # (JSON-ready values), so a correction and the audit log can show them as given.
    fields: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # What applying the code changed, so that a correction can undo exactly that: ids of the
    # rows it created, the phone it retired, the suppression date it replaced...
    applied: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    corrected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DispositionAudit(Base):
    """One change of a disposition: the first recording (before is None) or a correction."""

    __tablename__ = "disposition_audit"

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("call_attempts.id"), index=True)
    disposition_id: Mapped[int] = mapped_column(ForeignKey("dispositions.id"), index=True)
    actor: Mapped[str] = mapped_column(String(16))  # agent | ivr | system | supervisor
    actor_name: Mapped[str | None] = mapped_column(String(64))  # the supervisor's name
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # {"code": "PTP", "promise_amount": 3000000, "promise_date": "2026-11-25", ...}
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any]] = mapped_column(JSON)


class Promise(Base):
    """A promise to pay: amount by a date; kept or broken once evaluated against payments."""

    __tablename__ = "promises"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    disposition_id: Mapped[int] = mapped_column(ForeignKey("dispositions.id"), unique=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    # promise: to pay `amount` by `due_date`; paid_claim: the borrower says they have paid
    # (PAID, WFP), verified the same way against the payments (kept = verified).
    kind: Mapped[str] = mapped_column(String(16), default="promise", server_default="promise")
    amount: Mapped[int] = mapped_column(BigInteger)
    due_date: Mapped[date] = mapped_column(Date)
    # pending | kept | broken; the daily evaluation (outcomes/promises.py) settles pending ones.
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The local date of the evaluation that settled it, and the payments it counted then.
    settled_on: Mapped[date | None] = mapped_column(Date)
    paid_amount: Mapped[int | None] = mapped_column(BigInteger)

    @classmethod
    def standing(cls) -> ColumnElement[bool]:
        """A promise to pay that stands: not a "says paid" claim, not cancelled (a
        correction of its call's code keeps the row, cancelled)."""
        return and_(cls.kind == "promise", cls.state != "cancelled")


class Callback(Base):
    """A call the borrower asked for at a given time."""

    __tablename__ = "callbacks"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    disposition_id: Mapped[int] = mapped_column(ForeignKey("dispositions.id"), unique=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    state: Mapped[str] = mapped_column(String(16), default="scheduled")  # scheduled|done
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Done when a call at or after due_at is bridged to an agent (not when merely dialed).
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_attempt_id: Mapped[int | None] = mapped_column(ForeignKey("call_attempts.id"))


class Referral(Base):
    """An account sent to another team: field, restructuring, legal (fraud) or dispute."""

    __tablename__ = "referrals"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    disposition_id: Mapped[int | None] = mapped_column(ForeignKey("dispositions.id"))
    kind: Mapped[str] = mapped_column(String(16))  # field | restructuring | legal | dispute
    reason: Mapped[str | None] = mapped_column(String(2000))  # the agent's note, or the code
    referred_by: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    # open | accepted | returned | closed (outcomes/referrals.py: TRANSITIONS)
    state: Mapped[str] = mapped_column(String(16), default="open", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Who in the receiving team handled it last, and what they said.
    handled_by: Mapped[str | None] = mapped_column(String(100))
    handler_note: Mapped[str | None] = mapped_column(String(2000))


class Alert(Base):
    """A team lead's alert raised by an action code (GSF: fraud suspected), shown on the
    supervisor console and POSTed to DIALER_ALERT_WEBHOOK_URL by an RQ job."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("disposition_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # the action code that raised it (GSF)
    label: Mapped[str] = mapped_column(String(200))  # the code's label when raised
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("call_attempts.id"))
    disposition_id: Mapped[int | None] = mapped_column(ForeignKey("dispositions.id"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    team: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(100))
    # Webhook delivery: pending | sent | failed (given up after the job's retries).
    webhook_state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    webhook_attempts: Mapped[int] = mapped_column(Integer, default=0)
    webhook_queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    webhook_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    webhook_error: Mapped[str | None] = mapped_column(String(500))
