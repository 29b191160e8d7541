"""Presence reports from the SQL log (agent_presence): an agent's day, state by state."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from dialer.agents.models import PresenceChange
from dialer.agents.presence import WRAP_UP_OVERRUN, AgentState
from dialer.clock import local_iso


def seconds_between(
    session: Session, *, agent_id: int, start: datetime, end: datetime
) -> tuple[dict[str, float], dict[str, float], list[PresenceChange]]:
    """Seconds the agent spent in each state from `start` to `end`, seconds paused by
    reason, and the changes in between: the state at `start` is the last change before it
    (offline if none). Two queries whatever the length of the period."""
    before = session.scalar(
        select(PresenceChange)
        .where(PresenceChange.agent_id == agent_id, PresenceChange.at < start)
        .order_by(PresenceChange.at.desc(), PresenceChange.id.desc())
        .limit(1)
    )
    rows = list(
        session.scalars(
            select(PresenceChange)
            .where(
                PresenceChange.agent_id == agent_id,
                PresenceChange.at >= start,
                PresenceChange.at < end,
            )
            .order_by(PresenceChange.at, PresenceChange.id)
        )
    )
    state = before.to_state if before else AgentState.OFFLINE
    reason = before.reason if before else None
    since = start
    seconds: dict[str, float] = defaultdict(float)
    paused: dict[str, float] = defaultdict(float)

    def close(until: datetime) -> None:
        spent = max(0.0, (until - since).total_seconds())
        seconds[state] += spent
        if state == AgentState.PAUSED:
            paused[reason or "?"] += spent

    for row in rows:
        close(row.at)
        state, reason, since = row.to_state, row.reason, row.at
    close(end)
    return seconds, paused, rows


def presence_day(
    session: Session, *, agent_id: int, day: date, tz: str, now: datetime | None = None
) -> dict[str, Any]:
    """The agent's state changes on `day` (local), seconds in each state, seconds paused
    by reason, and how many wrap-ups ran out. The day is counted up to `now` at most."""
    zone = ZoneInfo(tz)
    start = datetime.combine(day, time(0), zone).astimezone(UTC)
    end = start + timedelta(days=1)
    if now is not None:
        end = max(start, min(end, now))
    seconds, paused, rows = seconds_between(session, agent_id=agent_id, start=start, end=end)
    return {
        "agent_id": agent_id,
        "date": day.isoformat(),
        "seconds_in_state": {k: round(v) for k, v in seconds.items() if v},
        "seconds_paused_by_reason": {k: round(v) for k, v in paused.items() if v},
        "wrap_up_overruns": sum(1 for r in rows if r.reason == WRAP_UP_OVERRUN),
        "changes": [
            {
                "at": local_iso(r.at, tz),
                "from": r.from_state,
                "to": r.to_state,
                "reason": r.reason,
                "attempt_id": r.attempt_id,
                "campaign_id": r.campaign_id,
            }
            for r in rows
        ],
    }
