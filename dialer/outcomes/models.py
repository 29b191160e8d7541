"""Action codes (the catalogue), dispositions, promises to pay and callbacks."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Date, ForeignKey, String, UniqueConstraint
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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Promise(Base):
    """A promise to pay: amount by a date; kept or broken once evaluated against payments."""

    __tablename__ = "promises"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    disposition_id: Mapped[int] = mapped_column(ForeignKey("dispositions.id"), unique=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    due_date: Mapped[date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending|kept|broken
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


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


class Referral(Base):
    """An account sent to another team: field, restructuring, legal (fraud) or dispute."""

    __tablename__ = "referrals"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    disposition_id: Mapped[int | None] = mapped_column(ForeignKey("dispositions.id"))
    kind: Mapped[str] = mapped_column(String(16))  # field | restructuring | legal | dispute
    reason: Mapped[str | None] = mapped_column(String(2000))  # the agent's note, or the code
    referred_by: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    state: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
