"""Reports a team lead answers to their managers with (docs/console.md): agent KPIs over a
day or a range of days. Figures from SQL (calls, codes, promises) and the presence log
(time in each state), so a report never depends on what Redis still holds."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dialer.agents.models import Agent
from dialer.agents.reports import seconds_between
from dialer.campaigns.models import CallAttempt
from dialer.console.reports.common import Column, range_bounds, rate
from dialer.messages import N_
from dialer.outcomes.models import ActionCode, Disposition, Promise

# The agent KPI report's columns, in order (headers are catalogue messages).
AGENT_COLUMNS = (
    Column("agent", N_("Agent"), "text"),
    Column("team", N_("Team"), "text"),
    Column("calls_handled", N_("Calls handled")),
    Column("right_party", N_("Right-party contacts")),
    Column("promises", N_("Promises")),
    Column("promised_amount", N_("Promised amount (VND)"), "amount"),
    Column("talk_seconds", N_("Talk time"), "seconds"),
    Column("wrap_up_seconds", N_("Wrap-up time"), "seconds"),
    Column("pause_seconds", N_("Pause time"), "seconds"),
    Column("ready_seconds", N_("Waiting ready"), "seconds"),
    Column("occupancy", N_("Occupancy"), "rate"),
)
BUSY = ("on_call", "reserved", "wrap_up")


def agent_day(
    session: Session, *, day: date, tz: str, team: str | None, now: datetime
) -> list[dict[str, Any]]:
    """The agent KPIs of one local day (agent_range over that day alone)."""
    return agent_range(session, first=day, last=day, tz=tz, team=team, now=now)


def agent_range(
    session: Session, *, first: date, last: date, tz: str, team: str | None, now: datetime
) -> list[dict[str, Any]]:
    """One row per agent (of the team, or all) who took a call or was on line on a local
    day from `first` to `last` (both included), the figures summed over those days: calls
    handled (bridged to them), right-party contacts and promises they recorded, talk time
    of their calls, wrap-up / pause / ready time from the presence log, and occupancy (busy
    over busy plus ready)."""
    start, end = range_bounds(first, last, tz)
    agents_q = select(Agent).order_by(Agent.name)
    if team is not None:
        agents_q = agents_q.where(Agent.team == team)
    agents = list(session.scalars(agents_q))
    ids = [a.id for a in agents]
    if not ids:
        return []
    in_range = (CallAttempt.connected_at >= start, CallAttempt.connected_at < end)
    handled = dict(
        session.execute(
            select(CallAttempt.agent_id, func.count())
            .where(CallAttempt.agent_id.in_(ids), *in_range)
            .group_by(CallAttempt.agent_id)
        ).all()
    )
    talk: dict[int, float] = defaultdict(float)
    for agent_id, connected, ended in session.execute(
        select(CallAttempt.agent_id, CallAttempt.connected_at, CallAttempt.ended_at).where(
            CallAttempt.agent_id.in_(ids), CallAttempt.ended_at.is_not(None), *in_range
        )
    ):
        talk[agent_id] += max(0.0, (ended - connected).total_seconds())
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
                Promise.standing(),
                Promise.created_at >= start,
                Promise.created_at < end,
            )
            .group_by(Promise.agent_id)
        )
    }
    rows = []
    counted_until = max(start, min(end, now))  # today counts up to now
    for agent in agents:
        # The whole range at once: two queries per agent, whatever its length.
        spent, _, _ = seconds_between(session, agent_id=agent.id, start=start, end=counted_until)
        seconds: dict[str, int] = defaultdict(int, {k: round(v) for k, v in spent.items()})
        busy = sum(seconds[s] for s in BUSY)
        ready = seconds["ready"]
        n, amount = promised.get(agent.id, (0, 0))
        if not (handled.get(agent.id) or busy or ready or seconds["paused"]):
            continue  # not on line on any of those days
        rows.append(
            {
                "agent": agent.name,
                "team": agent.team,
                "calls_handled": handled.get(agent.id, 0),
                "right_party": right_party.get(agent.id, 0),
                "promises": n,
                "promised_amount": int(amount or 0),
                "talk_seconds": round(talk[agent.id]),
                "wrap_up_seconds": seconds["wrap_up"],
                "pause_seconds": seconds["paused"],
                "ready_seconds": ready,
                "occupancy": rate(busy, busy + ready),
            }
        )
    return rows
