"""Preview dialing: an agent sees the next account first and decides to dial it or skip it.

The entry is leased to the agent in Redis (it counts as in flight, so no pacer or other
agent takes it); an unused lease lapses and the pacer gives the entry back like any entry
whose worker died. Dialing reserves the agent for the call before it is placed.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from dialer.agents import presence
from dialer.campaigns import queue
from dialer.campaigns.errors import CampaignError
from dialer.campaigns.jobs import PLACE_CALL_TIMEOUT, place_call
from dialer.campaigns.models import Campaign, CampaignEntry
from dialer.campaigns.service import requeue
from dialer.messages import N_, Message
from dialer.portfolio.models import Account
from dialer.privacy import mask_phone
from dialer.redis import Keys
from dialer.runtime import Runtime

log = logging.getLogger(__name__)
LEASE_SECONDS = 600  # simulated seconds an agent may look at an account before it returns


def _preview_campaign(rt: Runtime, agent_id: int) -> int:
    state = presence.get(rt.redis, agent_id)
    if state.campaign_id is None or state.state == "offline":
        raise CampaignError(
            Message(N_("agent {agent} is not logged in to a campaign"), agent=agent_id)
        )
    mode = rt.redis.hget(Keys.running_campaigns(), state.campaign_id)
    if mode != b"preview":
        raise CampaignError(
            Message(
                N_("campaign {campaign} is not a running preview campaign"),
                campaign=state.campaign_id,
            )
        )
    return state.campaign_id


def _leased(rt: Runtime, agent_id: int) -> tuple[int, int] | None:
    raw = rt.redis.get(Keys.preview(agent_id))
    if raw is None:
        return None
    campaign_id, entry_id = raw.decode().split(":")
    return int(campaign_id), int(entry_id)


def describe(session: Session, campaign_id: int, entry_id: int) -> dict[str, Any]:
    """What the agent reads before dialing: the account, why it ranks here, its phones."""
    entry = session.get_one(CampaignEntry, entry_id)
    account = session.get_one(Account, entry.account_id)
    campaign = session.get_one(Campaign, campaign_id)
    return {
        "campaign_id": campaign_id,
        "entry_id": entry_id,
        "score": entry.score,
        "score_components": entry.score_components,
        "attempts": entry.attempts,
        "last_result": entry.last_result,
        "account_no": account.account_no,
        "customer_name": account.customer_name,
        "dpd": account.dpd,
        "overdue_amount": account.overdue_amount,
        "principal_outstanding": account.principal_outstanding,
        "product": account.product,
        "phones": [
            {"phone": mask_phone(p.number), "relation": p.relation, "dialable": p.dialable}
            for p in account.phones
        ],
        "script": campaign.script,
    }


def take(rt: Runtime, agent_id: int) -> dict[str, Any] | None:
    """The account on the agent's screen: the one leased already, or the queue's best."""
    campaign_id = _preview_campaign(rt, agent_id)
    leased = _leased(rt, agent_id)
    if leased is None:
        now = rt.now_ts()
        popped = queue.pop_for_dialing(rt.redis, campaign_id, 1, now, hold_seconds=LEASE_SECONDS)
        if not popped:
            return None
        leased = (campaign_id, popped[0])
        rt.redis.set(
            Keys.preview(agent_id),
            f"{campaign_id}:{popped[0]}",
            px=max(1, int(1000 * rt.clock.real_seconds(LEASE_SECONDS))),
        )
    with rt.db.session() as s:
        return describe(s, *leased)


def dial(rt: Runtime, agent_id: int) -> dict[str, Any]:
    """Dial the leased account for this agent (the job reserves the agent first)."""
    leased = _leased(rt, agent_id)
    if leased is None:
        raise CampaignError(
            Message(N_("no account on screen: take one first (or its lease ran out)"))
        )
    if presence.get(rt.redis, agent_id).state != "ready":
        raise CampaignError(Message(N_("agent {agent} is not ready"), agent=agent_id))
    campaign_id, entry_id = leased
    rt.redis.delete(Keys.preview(agent_id))
    # In flight from now on like any handed-out entry: the lease's later mark is over.
    queue.mark_in_flight(rt.redis, campaign_id, entry_id, rt.now_ts())
    job = rt.queue.enqueue(
        place_call,
        campaign_id,
        entry_id,
        agent_id,
        job_timeout=PLACE_CALL_TIMEOUT,
        result_ttl=300,
        description=f"place_call campaign={campaign_id} entry={entry_id} agent={agent_id}",
    )
    return {"campaign_id": campaign_id, "entry_id": entry_id, "job_id": job.id}


def skip(rt: Runtime, agent_id: int, *, reason: str | None = None) -> dict[str, Any]:
    """Put the leased account back in the queue, where it was (the agent's reason logged)."""
    leased = _leased(rt, agent_id)
    if leased is None:
        raise CampaignError(Message(N_("no account on screen to skip")))
    campaign_id, entry_id = leased
    with rt.db.session() as s:
        score = s.get_one(CampaignEntry, entry_id).score
    rt.redis.delete(Keys.preview(agent_id))
    queue.done_dialing(rt.redis, campaign_id, entry_id)
    requeue(rt.redis, campaign_id, entry_id, score, None, rt.clock.now())
    log.info(
        "agent %s skipped entry %s of campaign %s: %s", agent_id, entry_id, campaign_id, reason
    )
    return {"campaign_id": campaign_id, "entry_id": entry_id, "skipped": True, "reason": reason}
