"""Agents: the people who take connected calls, and the endpoint their softphone answers on."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, String
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
