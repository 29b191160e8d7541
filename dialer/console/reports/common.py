"""What the reports share: a report's columns (header and how a cell is written), the UTC
bounds of a range of local days, and which agents a team scope reaches."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, Select, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from dialer.agents.models import Agent

# How a cell is written: on a page (vnd, dd/mm/yyyy, h:mm:ss, %) and in a file (a number,
# a date cell; amounts with thousands separators in XLSX).
KINDS = ("text", "int", "amount", "rate", "seconds", "date", "hour")
MAX_RANGE_DAYS = 366  # a longer range is refused (400): a year at most per report


@dataclass(frozen=True)
class Column:
    key: str
    header: str  # a catalogue message (English id), translated where shown
    kind: str = "int"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown column kind {self.kind!r}")


def columns_by_key(columns: tuple[Column, ...]) -> dict[str, Column]:
    return {c.key: c for c in columns}


def day_start(day: date, tz: str) -> datetime:
    """The UTC moment a local day starts."""
    return datetime.combine(day, time(0), ZoneInfo(tz)).astimezone(UTC)


def range_bounds(first: date, last: date, tz: str) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the local days first..last (both included)."""
    return day_start(first, tz), day_start(last + timedelta(days=1), tz)


def days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def team_agents(team: str | None) -> Select:
    """The ids of a team's agents (every agent when team is None), as a subquery."""
    query = select(Agent.id)
    if team is not None:
        query = query.where(Agent.team == team)
    return query


def rate(part: float, whole: float, digits: int = 3) -> float:
    return round(part / whole, digits) if whole else 0.0


class quarter_hour(FunctionElement):
    """The UTC quarter hour a moment falls in (seconds since 1970 // 900), in SQL: a report
    groups by it in the database and turns each quarter into a local hour in Python, right
    for any zone (even +05:45), with at most 96 rows a day to read."""

    type = Integer()
    inherit_cache = True


@compiles(quarter_hour, "sqlite")
def _quarter_hour_sqlite(element, compiler, **kw) -> str:
    return f"(CAST(strftime('%s', {compiler.process(element.clauses, **kw)}) AS INTEGER) / 900)"


@compiles(quarter_hour, "postgresql")
def _quarter_hour_postgresql(element, compiler, **kw) -> str:
    moment = compiler.process(element.clauses, **kw)
    return f"CAST(floor(extract(epoch FROM {moment}) / 900) AS INTEGER)"


def local_hour_of_quarter(quarter: int, zone: ZoneInfo) -> int:
    """The local hour (0-23) of a UTC quarter hour from quarter_hour()."""
    return datetime.fromtimestamp(quarter * 900, UTC).astimezone(zone).hour
