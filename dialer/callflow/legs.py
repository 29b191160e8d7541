"""The agents' own legs (softphone, SIP or phone, nailed up in their room) and what
happens to a customer when the agent's leg drops under them.

- The agent's leg answered: they sit in their room, ready.
- It ended while they were ready, paused or wrapping up: they are offline.
- It ended while they were on a call: they are offline, the team lead gets an alert, the
  customer (whose <Dial> into the room ends with it) hears a short message and the call
  ends; the attempt waits for its action code (the agent's, once back, or the wrap-up
  sweep's NDP).
"""

from __future__ import annotations

import logging

from sqlalchemy import update

from dialer.agents import presence
from dialer.agents.presence import AgentState
from dialer.callflow import common
from dialer.campaigns.models import CallAttempt, Campaign
from dialer.outcomes import alerts
from dialer.runtime import Runtime
from dialer.telephony.twiml import HANGUP, Hangup, JoinRoom, Reply, agent_room

log = logging.getLogger(__name__)

LEG_DROPPED = "leg_dropped"  # the presence log's reason
ALERT_KIND = "LEGDROP"  # the team-lead alert of an agent's leg dropped mid-call


def agent_answered(rt: Runtime, *, agent_id: int | None) -> Reply:
    """The agent's softphone answered: into their room, ready for calls."""
    if agent_id is None:
        return HANGUP
    if presence.get(rt.redis, agent_id).state == AgentState.OFFLINE:
        log.warning("agent %s answered but is not logged in; hanging up", agent_id)
        return HANGUP
    # A repeated delivery (agent already ready or talking) must not change their state.
    presence.connected(rt.redis, agent_id, rt.now_ts())
    return (JoinRoom(agent_room(agent_id), end_on_exit=True),)


def agent_leg_ended(rt: Runtime, *, agent_id: int | None, call_sid: str | None) -> None:
    """The agent's leg is over (logout, network loss, softphone closed)."""
    if agent_id is None:
        return
    current = presence.get(rt.redis, agent_id)
    # Only the leg we know of may log the agent out (not an old, replaced one).
    if current.agent_call_sid not in (None, call_sid):
        return
    before = presence.set_offline(rt.redis, agent_id, rt.now_ts(), reason=LEG_DROPPED)
    if before.state == AgentState.ON_CALL and before.attempt_id is not None:
        dropped_mid_call(rt, before.attempt_id, agent_id)


def dropped_mid_call(rt: Runtime, attempt_id: int, agent_id: int) -> bool:
    """Note (once) that the agent's leg dropped during this call, and tell the team lead.
    True the first time."""
    now = rt.clock.now()
    with rt.db.begin() as s:
        first = s.execute(
            update(CallAttempt)
            .where(CallAttempt.id == attempt_id, CallAttempt.agent_dropped_at.is_(None))
            .values(agent_dropped_at=now)
        ).rowcount
        if not first:
            return False
        attempt = s.get_one(CallAttempt, attempt_id)
        if attempt.account_id is not None:
            alerts.raise_event_alert(
                s,
                kind=ALERT_KIND,
                label="Đường dây của nhân viên bị ngắt giữa cuộc gọi / Agent's line dropped "
                "during a call",
                account_id=attempt.account_id,
                attempt_id=attempt.id,
                agent_id=agent_id,
                now=now,
            )
    log.warning("agent %s: their leg dropped during attempt %s", agent_id, attempt_id)
    return True


def dial_ended(rt: Runtime, *, attempt_id: int | None, call_status: str) -> Reply:
    """The customer's <Dial> into an agent's room is over. If the customer is still on the
    line, the room ended under them: the agent's leg dropped. They hear why; the call ends."""
    if attempt_id is None or call_status != "in-progress":
        return HANGUP  # the customer hung up (or the call is gone): nothing to say
    with rt.db.session() as s:
        attempt = s.get(CallAttempt, attempt_id)
        if attempt is None or attempt.agent_id is None:
            return HANGUP
        agent_id = attempt.agent_id
        campaign = s.get(Campaign, attempt.campaign_id) if attempt.campaign_id else None
        script = common.script_of(s, campaign)
        caller = common.caller_of(campaign, rt.settings)
        message = common.say(script, "agent_dropped", common.caller_context(caller))
    dropped_mid_call(rt, attempt_id, agent_id)
    return (message, Hangup())
