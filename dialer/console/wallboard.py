"""The live wallboard's picture of the floor at one moment: agents by state with their time
in it, calls ringing and connected, the dial level, abandon rates against the target, the
queues, blocked dials, today's promises, open alerts. A team lead's is their team's."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import redis as redis_lib
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dialer.agents import presence
from dialer.agents.models import Agent
from dialer.campaigns import service as campaigns
from dialer.campaigns.models import CallAttempt, Campaign
from dialer.outcomes import alerts
from dialer.outcomes.models import Promise

WATCHED_STATES = ("running", "paused")
OVERRUN = "wrap_up_overrun"


def _local_day_start(now: datetime, tz: str) -> datetime:
    zone = ZoneInfo(tz)
    return datetime.combine(now.astimezone(zone).date(), time.min, zone)


def snapshot(
    session: Session, r: redis_lib.Redis, *, team: str | None, now: datetime, tz: str
) -> dict[str, Any]:
    """The wallboard's figures (team None: every team)."""
    agents_q = select(Agent).where(Agent.active.is_(True)).order_by(Agent.name)
    campaigns_q = select(Campaign).where(Campaign.state.in_(WATCHED_STATES))
    if team is not None:
        agents_q = agents_q.where(Agent.team == team)
        campaigns_q = campaigns_q.where(Campaign.team == team)
    watched = list(session.scalars(campaigns_q.order_by(Campaign.id)))
    wrap_up = {c.id: c.wrap_up_seconds for c in watched}
    now_ts = now.timestamp()
    floor, by_state = [], {state: 0 for state in presence.STATES}
    agent_ids = []
    for agent in session.scalars(agents_q):
        state = presence.get(r, agent.id)
        by_state[state.state] = by_state.get(state.state, 0) + 1
        if state.state == presence.AgentState.OFFLINE:
            continue
        agent_ids.append(agent.id)
        seconds = max(0, int(now_ts - state.since)) if state.since else 0
        limit = wrap_up.get(state.campaign_id or -1)
        floor.append(
            {
                "id": agent.id,
                "name": agent.name,
                "state": state.state,
                "seconds": seconds,
                "pause_reason": state.pause_reason,
                "pause_pending": state.pause_pending,
                "campaign_id": state.campaign_id,
                # Over the limit now, or paused by the dialer for having been.
                "overrun": state.pause_reason == OVERRUN
                or (
                    state.state == presence.AgentState.WRAP_UP
                    and limit is not None
                    and seconds > limit
                ),
            }
        )
    ids = [c.id for c in watched]
    open_calls = (
        dict(
            session.execute(
                select(CallAttempt.connected_at.is_not(None), func.count())
                .where(
                    CallAttempt.campaign_id.in_(ids),
                    CallAttempt.ended_at.is_(None),
                    CallAttempt.call_sid.is_not(None),
                )
                .group_by(CallAttempt.connected_at.is_not(None))
            ).all()
        )
        if ids
        else {}
    )
    ringing, connected = open_calls.get(False, 0), open_calls.get(True, 0)
    available = by_state.get("ready", 0) + by_state.get("on_call", 0) + by_state.get("wrap_up", 0)
    day_start = _local_day_start(now, tz)
    promise_q = select(func.count(), func.coalesce(func.sum(Promise.amount), 0)).where(
        Promise.standing(), Promise.created_at >= day_start
    )
    if team is not None:
        promise_q = promise_q.join(Agent, Agent.id == Promise.agent_id).where(Agent.team == team)
    promises, promised = session.execute(promise_q).one()
    statuses = [campaigns.status(session, r, c, now) for c in watched]
    blocked: dict[str, int] = {}
    for status in statuses:
        for rule, count in status["blocked"].items():
            blocked[rule] = blocked.get(rule, 0) + count
    return {
        "at": now.isoformat(timespec="seconds"),
        "agents": floor,
        "by_state": by_state,
        "ringing": ringing,
        "connected": connected,
        # Lines per agent working the campaigns: what the pacer is dialing at.
        "dial_level": round((ringing + connected) / available, 2) if available else 0.0,
        "campaigns": [
            {
                "id": s["id"],
                "name": s["name"],
                "state": s["state"],
                "dial_mode": s["dial_mode"],
                "queued": s["queued"],
                "retry_waiting": s["retry_waiting"],
                "calls_placed": s["calls_placed"],
                "connected": s["connected_to_agent"],
                "abandon_rate": s["abandon_rate"],
                "abandon_target": s["abandon_target"],
                "abandon_window": s["abandon_rate_window"],
            }
            for s in statuses
        ],
        "blocked": blocked,
        "promises": int(promises),
        "promised_amount": int(promised),
        "alerts": [
            a
            for a in alerts.list_alerts(session, open_only=True, tz=tz)
            if team is None or a["team"] == team
        ][:10],
    }
