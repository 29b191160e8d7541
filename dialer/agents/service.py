"""Agents: create them, log them in (call their softphone into their room), log them out."""

from __future__ import annotations

import logging
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from dialer.agents import pauses, presence
from dialer.agents.models import Agent
from dialer.campaigns.models import Campaign
from dialer.messages import N_, Message
from dialer.runtime import Runtime
from dialer.telephony.carrier import CallRequest, CarrierError

log = logging.getLogger(__name__)
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")
_ENDPOINT = re.compile(r"^(client:[A-Za-z0-9._-]{1,120}|sip:\S{3,190}|\+\d{8,15})$")


class AgentError(ValueError):
    """An agent request that cannot be carried out; the message says why."""


def list_agents(session: Session, *, team: str | None) -> list[Agent]:
    """The active agents (of a team, or all when team is None), by name."""
    query = select(Agent).where(Agent.active.is_(True)).order_by(Agent.name, Agent.id)
    if team is not None:
        query = query.where(Agent.team == team)
    return list(session.scalars(query))


def create_agent(
    session: Session,
    username: str,
    name: str,
    endpoint: str | None = None,
    team: str | None = None,
) -> Agent:
    """A new agent; their endpoint defaults to the browser softphone client:<username>."""
    username = (username or "").strip().lower()
    if not _USERNAME.match(username):
        raise AgentError("username must be 2-63 characters: a-z, 0-9, '.', '_' or '-'")
    if not (name or "").strip():
        raise AgentError("an agent needs a name")
    endpoint = (endpoint or f"client:{username}").strip()
    if not _ENDPOINT.match(endpoint):
        raise AgentError("endpoint must be client:<identity>, sip:<uri> or an E.164 number")
    if session.scalar(select(Agent).where(Agent.username == username)) is not None:
        raise AgentError(f"agent {username!r} exists already")
    agent = Agent(username=username, name=name.strip(), endpoint=endpoint, team=team)
    session.add(agent)
    session.flush()
    return agent


def may_work(
    campaign_team: str | None, campaign_agent_ids: list[int], agent_team: str | None, agent_id: int
) -> bool:
    """Whether an agent may work a campaign: anyone when it names no team and no agents,
    else its team's members and the agents it names."""
    if campaign_team is None and not campaign_agent_ids:
        return True
    return agent_id in campaign_agent_ids or (
        campaign_team is not None and agent_team == campaign_team
    )


def login(rt: Runtime, agent_id: int, campaign_id: int) -> presence.AgentPresence:
    """Call the agent's endpoint into their own conference room for this campaign."""
    with rt.db.begin() as s:
        agent = s.get(Agent, agent_id)
        if agent is None or not agent.active:
            raise AgentError(Message(N_("no active agent {agent}"), agent=agent_id))
        campaign = s.get(Campaign, campaign_id)
        if campaign is None:
            raise AgentError(Message(N_("no campaign {campaign}"), campaign=campaign_id))
        if campaign.state not in ("draft", "running", "paused"):
            raise AgentError(
                Message(
                    N_("campaign {campaign} is {state}"), campaign=campaign_id, state=campaign.state
                )
            )
        if not may_work(campaign.team, campaign.agent_ids, agent.team, agent.id):
            raise AgentError(
                Message(
                    N_("agent {agent} is not in campaign {campaign}'s team or agent list"),
                    agent=agent.username,
                    campaign=campaign_id,
                )
            )
        endpoint = agent.endpoint
    # Connecting before the call (atomically, only from offline): the softphone may
    # answer before create() returns.
    if not presence.set_connecting(rt.redis, agent_id, campaign_id, "", rt.now_ts()):
        current = presence.get(rt.redis, agent_id)
        raise AgentError(
            Message(
                N_("agent {agent} is {state} already; log out first"),
                agent=agent_id,
                state=current.state,
            )
        )
    base = rt.settings.webhook_base
    try:
        sid = rt.carrier.place_call(
            CallRequest(
                to=endpoint,
                from_=rt.settings.caller_id,
                url=f"{base}/twilio/agent?agent={agent_id}",
                status_callback=f"{base}/twilio/agent-status?agent={agent_id}",
                status_callback_events=("completed",),
                timeout=30,
            )
        )
    except CarrierError as exc:
        presence.set_offline(rt.redis, agent_id, rt.now_ts(), reason="softphone unreachable")
        raise AgentError(
            Message(N_("could not call the agent's softphone: {reason}"), reason=str(exc))
        ) from exc
    presence.set_agent_call(rt.redis, agent_id, sid)
    return presence.get(rt.redis, agent_id)


def logout(rt: Runtime, agent_id: int) -> presence.AgentPresence:
    """Take the agent out of rotation and hang up their leg."""
    before = presence.set_offline(rt.redis, agent_id, rt.now_ts())
    if before.agent_call_sid:
        try:
            rt.carrier.hangup(before.agent_call_sid)
        except CarrierError as exc:
            log.warning("agent %s leg %s did not hang up: %s", agent_id, before.agent_call_sid, exc)
    return presence.get(rt.redis, agent_id)


def pause(rt: Runtime, agent_id: int, code: str) -> presence.AgentPresence:
    """Away from calls for a reason (a pause code): at once when ready, after the call in
    progress otherwise (state unchanged, pause_pending set)."""
    with rt.db.session() as s:
        if s.get(Agent, agent_id) is None:
            raise AgentError(f"no agent {agent_id}")
        try:
            chosen = pauses.chosen_or_raise(s, code=code)
        except pauses.PauseCodeError as exc:
            raise AgentError(str(exc)) from None
    if presence.pause(rt.redis, agent_id, chosen.code, rt.now_ts()) is None:
        state = presence.get(rt.redis, agent_id).state
        raise AgentError(
            Message(
                N_("agent {agent} is {state}: log in before pausing"), agent=agent_id, state=state
            )
        )
    return presence.get(rt.redis, agent_id)


def resume(rt: Runtime, agent_id: int) -> presence.AgentPresence:
    """Back from a pause (any reason, wrap_up_overrun included), or a pause asked for during
    a call called off."""
    if presence.unpause(rt.redis, agent_id, rt.now_ts()) is None:
        state = presence.get(rt.redis, agent_id).state
        raise AgentError(
            Message(N_("agent {agent} is {state}, not paused"), agent=agent_id, state=state)
        )
    return presence.get(rt.redis, agent_id)
