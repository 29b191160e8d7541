"""Users who sign in to the desk and the console, and the API clients with bearer tokens."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from dialer.db import Base, UTCDateTime, utcnow


class Role(StrEnum):
    AGENT = "agent"  # takes calls at the desk; sees their own calls and campaigns
    LEAD = "lead"  # team lead: the console, their team's agents and accounts
    ADMIN = "admin"  # everything, every team


class Scope(StrEnum):
    """What an API client's token may reach."""

    PAYMENTS = "payments"  # POST /api/payments only (the bank's payment feed)
    API = "api"  # the whole JSON API, acting for any agent (integrations, the demo's bots)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    team: Mapped[str | None] = mapped_column(String(64))
    # The agent this user is at the desk (role agent); one user per agent.
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), unique=True)
    # werkzeug's scrypt hash ("scrypt:32768:8:1$salt$hash").
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    locale: Mapped[str] = mapped_column(String(8), default="vi")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiClient(Base):
    """One of the bank's systems: its token is shown once at creation, only its SHA-256 is
    kept (the token is 256 random bits, so a fast hash is enough)."""

    __tablename__ = "api_clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_prefix: Mapped[str] = mapped_column(String(16))  # to tell tokens apart in lists
    scope: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
