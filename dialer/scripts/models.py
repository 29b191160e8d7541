"""Call scripts saved by an administrator (the shipped defaults are files in this package).

A saved script lives in SQL, not in DIALER_HOME: web, worker and pacer processes may run
on several machines, and every one of them must render the same text for the same call.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dialer.db import Base, UTCDateTime, utcnow


class CallScript(Base):
    __tablename__ = "call_scripts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    # Bumped on every save, so a process's compiled copy knows when it is stale.
    version: Mapped[int] = mapped_column(Integer, default=1)
    source: Mapped[str] = mapped_column(Text)  # the YAML document, as saved (checked whole)
    description: Mapped[str | None] = mapped_column(String(500))
    updated_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
