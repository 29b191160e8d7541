"""Reports a team lead answers to their managers with (docs/console.md): agent KPIs per
day first. Figures from SQL (calls, codes, promises) and the presence log (time in each
state), so a report never depends on what Redis still holds."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dialer.agents.models import Agent
from dialer.agents.reports import presence_day
from dialer.campaigns.models import CallAttempt
from dialer.messages import N_
from dialer.outcomes.models import ActionCode, Disposition, Promise

# The agent KPI report's columns, in order, with their headers (catalogue messages).
AGENT_COLUMNS = {
    "agent": N_("Agent"),
    "team": N_("Team"),
    "calls_handled": N_("Calls handled"),
    "right_party": N_("Right-party contacts"),
    "promises": N_("Promises"),
    "promised_amount": N_("Promised amount (VND)"),
    "talk_seconds": N_("Talk time"),
    "wrap_up_seconds": N_("Wrap-up time"),
    "pause_seconds": N_("Pause time"),
    "ready_seconds": N_("Waiting ready"),
    "occupancy": N_("Occupancy"),
}
BUSY = ("on_call", "reserved", "wrap_up")


def _day_bounds(day: date, tz: str) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), ZoneInfo(tz)).astimezone(UTC)
    return start, start + timedelta(days=1)


def agent_day(
    session: Session, *, day: date, tz: str, team: str | None, now: datetime
) -> list[dict[str, Any]]:
    """One row per agent (of the team, or all) who took a call or was on line that day:
    calls handled (bridged to them), right-party contacts and promises they recorded, talk
    time of their calls, wrap-up / pause / ready time from the presence log, and occupancy
    (busy over busy plus ready)."""
    start, end = _day_bounds(day, tz)
    agents_q = select(Agent).order_by(Agent.name)
    if team is not None:
        agents_q = agents_q.where(Agent.team == team)
    agents = list(session.scalars(agents_q))
    ids = [a.id for a in agents]
    if not ids:
        return []
    in_day = (CallAttempt.connected_at >= start, CallAttempt.connected_at < end)
    handled = dict(
        session.execute(
            select(CallAttempt.agent_id, func.count())
            .where(CallAttempt.agent_id.in_(ids), *in_day)
            .group_by(CallAttempt.agent_id)
        ).all()
    )
    talk: dict[int, float] = {}
    for agent_id, connected, ended in session.execute(
        select(CallAttempt.agent_id, CallAttempt.connected_at, CallAttempt.ended_at).where(
            CallAttempt.agent_id.in_(ids), CallAttempt.ended_at.is_not(None), *in_day
        )
    ):
        talk[agent_id] = talk.get(agent_id, 0.0) + max(0.0, (ended - connected).total_seconds())
    right_party = dict(
        session.execute(
            select(Disposition.agent_id, func.count())
            .join(ActionCode, ActionCode.code == Disposition.code)
            .where(
                Disposition.agent_id.in_(ids),
                Disposition.set_by == "agent",
                ActionCode.is_right_party.is_(True),
                Disposition.created_at >= start,
                Disposition.created_at < end,
            )
            .group_by(Disposition.agent_id)
        ).all()
    )
    promised = {
        agent_id: (n, amount)
        for agent_id, n, amount in session.execute(
            select(Promise.agent_id, func.count(), func.sum(Promise.amount))
            .where(
                Promise.agent_id.in_(ids),
                Promise.kind == "promise",
                Promise.created_at >= start,
                Promise.created_at < end,
            )
            .group_by(Promise.agent_id)
        )
    }
    rows = []
    for agent in agents:
        seconds = presence_day(session, agent_id=agent.id, day=day, tz=tz, now=now)[
            "seconds_in_state"
        ]
        busy = sum(seconds.get(s, 0) for s in BUSY)
        ready = seconds.get("ready", 0)
        n, amount = promised.get(agent.id, (0, 0))
        if not (handled.get(agent.id) or busy or ready or seconds.get("paused")):
            continue  # not on line that day
        rows.append(
            {
                "agent": agent.name,
                "team": agent.team,
                "calls_handled": handled.get(agent.id, 0),
                "right_party": right_party.get(agent.id, 0),
                "promises": n,
                "promised_amount": int(amount or 0),
                "talk_seconds": round(talk.get(agent.id, 0.0)),
                "wrap_up_seconds": seconds.get("wrap_up", 0),
                "pause_seconds": seconds.get("paused", 0),
                "ready_seconds": ready,
                "occupancy": round(busy / (busy + ready), 3) if busy + ready else 0.0,
            }
        )
    return rows
