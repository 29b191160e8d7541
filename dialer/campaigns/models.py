"""Campaigns, their entries (one per account), call attempts and blocked dials."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    literal_column,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dialer.campaigns.ranking import COMPONENTS
from dialer.db import Base, UTCDateTime, utcnow

CAMPAIGN_STATES = ("draft", "running", "paused", "stopped", "completed")
DIAL_MODES = ("preview", "progressive", "predictive", "ivr")


class Campaign(Base):
    """What to call, how and when: filters, dial mode, rules, pacing limits, who works it."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), default="draft")
    dial_mode: Mapped[str] = mapped_column(String(16), default="progressive")
    compliance_profile: Mapped[str] = mapped_column(String(32), default="vn-finance")
    # Filters that chose the accounts (DPD range, product, branch, min amount...).
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Ranking weight overrides ({"bucket": 15, ...}); empty means the documented defaults.
    ranking: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    max_attempts_per_entry: Mapped[int] = mapped_column(Integer, default=3)
    # Narrowings of the profile (never wider): calling window "HH:MM" at the phone's local
    # time, attempts per account per day, whether public holidays are skipped.
    window_start: Mapped[str | None] = mapped_column(String(5))
    window_end: Mapped[str | None] = mapped_column(String(5))
    max_attempts_per_day: Mapped[int | None] = mapped_column(Integer)
    skip_public_holidays: Mapped[bool | None] = mapped_column(Boolean)
    # Minutes before an entry is dialed again, by system result or action code
    # ({"no_answer": 60, "busy": 10}); results not listed use the action code's own interval.
    retry_minutes: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    caller_ids: Mapped[list[str]] = mapped_column(JSON, default=list)  # E.164, rotated
    # The call script's name (dialer/scripts): the agent's talk track and the IVR prompts.
    script: Mapped[str | None] = mapped_column(Text)
    # What a call answered by a machine gets: hung up on, or the script's voicemail message
    # after the beep (MachineDetection=DetectMessageEnd). AnsweredBy=unknown is treated
    # as a person or as a machine.
    on_machine: Mapped[str] = mapped_column(String(16), default="hangup", server_default="hangup")
    on_unknown: Mapped[str] = mapped_column(String(16), default="human", server_default="human")
    # Record the customer leg (the recording's SID, URL and duration land on the attempt).
    record_calls: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # Seconds an agent has after a call to record its action code; past it the attempt
    # gets a system code and the agent is paused (reason wrap_up_overrun).
    wrap_up_seconds: Mapped[int] = mapped_column(Integer, default=120, server_default="120")
    # Who is calling and where to call back: said in the abandon and voicemail messages (the
    # US and UK profiles require both).
    company_name: Mapped[str | None] = mapped_column(String(200))
    callback_number: Mapped[str | None] = mapped_column(String(32))
    team: Mapped[str | None] = mapped_column(String(64))  # agents of this team may work it
    agent_ids: Mapped[list[int]] = mapped_column(JSON, default=list)  # and these agents
    abandon_target: Mapped[float] = mapped_column(Float, default=0.03)
    max_lines_per_agent: Mapped[float] = mapped_column(Float, default=3.0)
    template_id: Mapped[int | None] = mapped_column(ForeignKey("campaign_templates.id"))
    paused_reason: Mapped[str | None] = mapped_column(String(200))
    # What the builder found at launch: accounts selected, and those left out by rule.
    build_summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    launched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CampaignTemplate(Base):
    """A saved campaign that launches itself every working day at a set local time."""

    __tablename__ = "campaign_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # The campaign's settings, as create_campaign takes them (name excluded).
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    launch_time: Mapped[str] = mapped_column(String(5))  # "HH:MM" in `timezone`
    timezone: Mapped[str] = mapped_column(String(64))
    holiday_country: Mapped[str] = mapped_column(String(2), default="VN")
    weekdays: Mapped[list[int]] = mapped_column(JSON, default=lambda: [0, 1, 2, 3, 4])
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_launched_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CampaignEntry(Base):
    """One account in one campaign: its rank and how far calling it has got."""

    __tablename__ = "campaign_entries"
    __table_args__ = (UniqueConstraint("campaign_id", "account_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # No index of its own: the unique (campaign_id, account_id) one serves every lookup by
    # campaign, and one index less is a faster build.
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    score: Mapped[float] = mapped_column(Float)
    # Why the entry ranks where it does: one column per component of ranking.COMPONENTS
    # (the builder computes them in SQL; columns, not JSON, so both engines write them the
    # same way and a supervisor's query can sum or compare them).
    score_callback: Mapped[float] = mapped_column(Float, default=0.0)
    score_broken: Mapped[float] = mapped_column(Float, default=0.0)
    score_bucket: Mapped[float] = mapped_column(Float, default=0.0)
    score_amount: Mapped[float] = mapped_column(Float, default=0.0)
    score_recency: Mapped[float] = mapped_column(Float, default=0.0)
    score_rpc: Mapped[float] = mapped_column(Float, default=0.0)
    score_attempts: Mapped[float] = mapped_column(Float, default=0.0)
    # Position in the campaign's ranking at build time (1 = dialed first): orders entries of
    # equal score in the dial queue. None for entries added otherwise.
    rank: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_result: Mapped[str | None] = mapped_column(String(64))  # action code or why closed
    # A queued entry is not dialed before this time (a retry, a rule's retry time). SQL
    # keeps it so `campaign rebuild` can put the entry back in the right Redis set.
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When a dial job last took the entry (queued -> dialing), on the system's clock: an
    # entry still dialing with no attempt since then lost its job before the call existed.
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    campaign: Mapped[Campaign] = relationship()

    @property
    def score_components(self) -> dict[str, float]:
        """The non-zero components of the score, by name: {"bucket": 30.0, ...}."""
        values = {name: getattr(self, f"score_{name}") for name in COMPONENTS}
        return {name: value for name, value in values.items() if value}


# Dial order, every term ascending so one index serves it and a key-set page can start
# after a row with one row-value comparison: score high to low, then the build's rank
# (entries added without one last), then the id. Migration 0012 holds the same index.
NO_RANK = 2147483647
# The constants are written into the SQL, not bound: an index on an expression serves a
# query only when the query's expression is the same text (a `? - score` is not).
DIAL_ORDER = (
    literal_column("0") - CampaignEntry.score,
    func.coalesce(CampaignEntry.rank, literal_column(str(NO_RANK))),
    CampaignEntry.id,
)
Index("ix_campaign_entries_dial_order", CampaignEntry.campaign_id, *DIAL_ORDER)


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
        # An attempt the carrier never made is taken back (campaigns/jobs.py _unplace);
        # SQLite would hand its id to the next attempt, and a late callback naming it
        # (?attempt=ID) would land on the wrong call. AUTOINCREMENT never reuses an id.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # outbound (a campaign's dial) or inbound (a borrower called the bank's number).
    direction: Mapped[str] = mapped_column(String(8), default="outbound", server_default="outbound")
    # An inbound call belongs to no campaign entry; its account is known once the caller is
    # identified (by number or keyed account number), and its phone if the number is known.
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"), index=True)
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("campaign_entries.id"), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    phone_id: Mapped[int | None] = mapped_column(ForeignKey("phones.id"), index=True)
    caller_number: Mapped[str | None] = mapped_column(String(32))  # inbound: who called
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
    # The keys pressed in the IVR menus, in order ("1-2": promise, within 3 days).
    ivr_path: Mapped[str | None] = mapped_column(String(32))
    # Milliseconds from the live answer to the start of the abandon message (the rule: 2 s).
    abandon_delay_ms: Mapped[int | None] = mapped_column(Integer)
    voicemail_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # message left then
    # The agent's own leg dropped during this call (the customer heard why; team lead told).
    agent_dropped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recording_sid: Mapped[str | None] = mapped_column(String(64))
    recording_url: Mapped[str | None] = mapped_column(String(500))
    recording_duration: Mapped[int | None] = mapped_column(Integer)

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
