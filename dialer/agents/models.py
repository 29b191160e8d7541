"""Agents: the people who take connected calls, and the endpoint their softphone answers on."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from dialer.db import Base, UTCDateTime, utcnow


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Login name; also the softphone client identity (client:<username>).
    username: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # Where the system calls the agent into their conference room:
    # client:<identity> (browser softphone), sip:<uri>, or an E.164 number.
    endpoint: Mapped[str] = mapped_column(String(200))
    team: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def conference_room(self) -> str:
        """The agent's own nailed-up conference, where customers are bridged in."""
        return f"agent-{self.id}"


class PauseCode(Base):
    """Why an agent is away from calls (break, training, meeting...): data, so a team lead
    can add their own; `system` codes (wrap_up_overrun) are set by the dialer only."""

    __tablename__ = "pause_codes"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    label_vi: Mapped[str] = mapped_column(String(100))
    label_en: Mapped[str] = mapped_column(String(100))
    system: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)


class PresenceChange(Base):
    """One change of an agent's state, for reports (time in each state, pauses by reason).

    Written from the Redis stream the presence scripts append to (agents/events.py), so the
    voice webhook never waits for SQL; `event_id` is the stream entry's id, which makes the
    copy idempotent.
    """

    __tablename__ = "agent_presence"
    __table_args__ = (Index("ix_agent_presence_agent_at", "agent_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(32), unique=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"))
    campaign_id: Mapped[int | None] = mapped_column(Integer)
    from_state: Mapped[str] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))
    attempt_id: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
