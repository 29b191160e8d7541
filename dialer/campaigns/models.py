"""Campaigns, their entries (one per account), call attempts and blocked dials."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dialer.db import Base, UTCDateTime, utcnow

CAMPAIGN_STATES = ("draft", "running", "paused", "stopped", "completed")
DIAL_MODES = ("preview", "progressive", "predictive", "ivr")


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), default="draft")
    dial_mode: Mapped[str] = mapped_column(String(16), default="progressive")
    compliance_profile: Mapped[str] = mapped_column(String(32), default="vn-finance")
    # Filters that chose the accounts (DPD range, product, branch, min amount...).
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    max_attempts_per_entry: Mapped[int] = mapped_column(Integer, default=3)
    caller_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    launched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CampaignEntry(Base):
    """One account in one campaign: its rank and how far calling it has got."""

    __tablename__ = "campaign_entries"
    __table_args__ = (UniqueConstraint("campaign_id", "account_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    score: Mapped[float] = mapped_column(Float)
    # Why the entry ranks where it does: {"bucket": 30.0, "amount": 12.5, ...}
    score_components: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_result: Mapped[str | None] = mapped_column(String(64))  # action code or why closed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    campaign: Mapped[Campaign] = relationship()


class CallAttempt(Base):
    """One call placed (or stopped by a rule) to one phone of a campaign entry."""

    __tablename__ = "call_attempts"
    __table_args__ = (
        # Reconciliation reads the open attempts every half minute: a partial index keeps
        # that to the calls in flight, however long the table grows.
        Index(
            "ix_call_attempts_open",
            "created_at",
            postgresql_where=text("ended_at IS NULL"),
            sqlite_where=text("ended_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("campaign_entries.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    phone_id: Mapped[int] = mapped_column(ForeignKey("phones.id"), index=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), index=True)
    call_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Carrier call status: queued, initiated, ringing, in-progress, completed, busy,
    # no-answer, failed, canceled.
    status: Mapped[str] = mapped_column(String(16), default="queued")
    answered_by: Mapped[str | None] = mapped_column(String(32))  # AMD result
    # System result: human, machine, no_answer, busy, failed, abandoned, canceled, error.
    result: Mapped[str | None] = mapped_column(String(16))
    action_code: Mapped[str | None] = mapped_column(ForeignKey("action_codes.code"))
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    connected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_seconds: Mapped[int | None] = mapped_column(Integer)

    @property
    def is_final(self) -> bool:
        return self.ended_at is not None


class BlockedDial(Base):
    """A dial that a compliance rule stopped, with the rule's name."""

    __tablename__ = "blocked_dials"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("campaign_entries.id"), index=True)
    phone_id: Mapped[int | None] = mapped_column(ForeignKey("phones.id"))
    rule: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DncNumber(Base):
    """A number never to be called (opt-outs from calls, wrong parties, regulator lists)."""

    __tablename__ = "dnc_numbers"

    number: Mapped[str] = mapped_column(String(32), primary_key=True)  # E.164
    reason: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(32), default="call")  # call | import | admin
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
