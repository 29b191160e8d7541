"""Import runs: who imported which file when, what it did, and the lines it refused."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dialer.db import Base, UTCDateTime, utcnow


class ImportKind(StrEnum):
    PORTFOLIO = "portfolio"  # accounts and phones (dialer accounts import)
    PAYMENTS = "payments"  # payments received (dialer payments import)


class ImportState(StrEnum):
    QUEUED = "queued"  # uploaded, waiting for a worker
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"  # refused half-way (broken quoting...) or stopped: nothing written


class LineKind(StrEnum):
    REJECTED = "rejected"  # not imported; its cells are kept for the file to send back
    WARNING = "warning"  # imported, with something to know


class ImportRun(Base):
    """One file imported from the console (a job) or the command line (`source`)."""

    __tablename__ = "import_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # ImportKind
    state: Mapped[str] = mapped_column(String(16), default=ImportState.QUEUED, index=True)
    source: Mapped[str] = mapped_column(String(8), default="web")  # web | cli
    file_name: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    who: Mapped[str] = mapped_column(String(200))  # the user's name then (or the OS user)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    total_lines: Mapped[int] = mapped_column(Integer, default=0)  # records after the header
    # What it did: portfolio imported (new) / updated; payments imported / duplicates /
    # unmatched (counted in rejected too, as the importer lists them).
    imported: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    unmatched: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    warnings: Mapped[int] = mapped_column(Integer, default=0)
    # The file's header cells as written (the rejected rows' file repeats them).
    header: Mapped[list[str] | None] = mapped_column(JSON)
    ignored_columns: Mapped[list[str] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)  # why a failed run stopped


class ImportRunFile(Base):
    """The uploaded bytes, in SQL so that a worker on any machine reads them; deleted once
    the run has finished."""

    __tablename__ = "import_run_files"

    run_id: Mapped[int] = mapped_column(
        ForeignKey("import_runs.id", ondelete="CASCADE"), primary_key=True
    )
    data: Mapped[bytes] = mapped_column(LargeBinary)


class ImportRunLine(Base):
    """A rejected line (with its cells as the file had them) or a warning of a run."""

    __tablename__ = "import_run_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("import_runs.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(8))  # LineKind
    line: Mapped[int] = mapped_column(Integer)  # physical line; the header is line 1
    account_no: Mapped[str | None] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(Text)  # the importer's, numbers masked
    cells: Mapped[list[Any] | None] = mapped_column(JSON)
