"""The pacer process: for each running campaign, decide how many calls to start and hand
them to RQ. Stateless between ticks (all state is in Redis), so several pacers may run:
each campaign is paced by one of them at a time, the holder of its lease (pacer_lease.py).
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import func, select

from dialer.agents import events, presence
from dialer.agents.presence import ENGAGED, AgentState
from dialer.campaigns import attempts, observations, pacer_lease, queue, reconcile, wrapup
from dialer.campaigns.jobs import PLACE_CALL_TIMEOUT, job_lifetime, place_call
from dialer.campaigns.models import Campaign, CampaignEntry
from dialer.campaigns.pacing import PacingSnapshot, calls_to_start
from dialer.clock import local_day_start
from dialer.outcomes import alerts
from dialer.redis import Keys
from dialer.runtime import Runtime
from dialer.telephony import cps

log = logging.getLogger(__name__)

# The campaign's dial mode -> the pacing policy that starts its calls. Preview has none:
# its agents take entries one at a time and choose when to dial.
POLICY_OF_MODE = {"progressive": "progressive", "predictive": "predictive", "ivr": "agentless"}
# Simulated seconds the estimates and the day's abandon counts are reused between SQL reads.
ESTIMATES_TTL_SECONDS = 10.0
# Simulated seconds after which a caller still listed as waiting is a leftover (the wait
# itself is a couple of seconds).
WAITING_STALE_SECONDS = 30.0


def snapshot(rt: Runtime, campaign_id: int, sizes: dict[str, int], now: float) -> PacingSnapshot:
    """What the pacer can know now: agents and their time in state, calls ringing and their
    ages, estimates from the campaign's recent calls, the day's abandons, the CPS budget."""
    talk, wrap, ready = [], [], 0
    for state, since in presence.states(rt.redis, campaign_id):
        elapsed = max(0.0, now - since) if since is not None else 0.0
        if state == AgentState.READY:
            ready += 1
        elif state in ENGAGED:  # talking, or held for a call being placed for them
            talk.append(elapsed)
        elif state == AgentState.WRAP_UP:
            wrap.append(elapsed)
    # A person who answered and waits for an agent is no longer a call that may answer:
    # counted apart, so the pacer sees both the demand that is certain and the one that is not.
    waiting = presence.waiting_callers(
        rt.redis, campaign_id, now - WAITING_STALE_SECONDS, prune=True
    )
    in_flight = rt.redis.zrange(Keys.dialing(campaign_id), 0, -1, withscores=True)
    ringing = [(entry, score) for entry, score in in_flight if int(entry) not in waiting]
    wall_now = rt.clock.now()
    inputs = observations.cached(
        rt.redis,
        rt.db.session,
        campaign_id,
        local_day_start(wall_now, rt.settings.timezone),
        wall_now,
        ttl_ms=int(1000 * rt.clock.real_seconds(ESTIMATES_TTL_SECONDS)),
    )
    return PacingSnapshot(
        agents_ready=ready,
        agents_busy=len(talk) + len(wrap),
        calls_dialing=len(ringing),
        callers_waiting=len(in_flight) - len(ringing),
        queued_entries=sizes["queued"],
        talk_elapsed=tuple(talk),
        wrap_elapsed=tuple(wrap),
        ringing_ages=tuple(max(0.0, now - score) for _, score in ringing),
        estimates=inputs.estimates,
        live_answers_today=inputs.live_today,
        abandoned_today=inputs.abandoned_today,
        live_answers_period=inputs.live_period,
        abandoned_period=inputs.abandoned_period,
        abandon_target=inputs.abandon_target,
        abandon_after=rt.settings.agent_claim_timeout,
        max_lines_per_agent=inputs.max_lines_per_agent,
        cps_tokens=cps.available(rt.redis, rt.settings.cps, now),
        max_lines=rt.settings.ivr_lines,
    )


def _return_stale(rt: Runtime, campaign_id: int, now: float) -> None:
    """Entries in flight too long without a call: back to the queue if their job is gone."""
    stale = queue.stale_in_flight(rt.redis, campaign_id, now - queue.IN_FLIGHT_SECONDS)
    if not stale:
        return
    with rt.db.begin() as s:
        lapsed = attempts.release_unplaced(
            s, campaign_id, stale, rt.clock.now(), job_lifetime(rt.clock)
        )
    queue.settle_stale(
        rt.redis, campaign_id, lapsed.back, lapsed.keep, lapsed.drop, now, lapsed.retry
    )
    if lapsed.back:
        log.warning(
            "campaign %s: %d entries came back from dead workers", campaign_id, len(lapsed.back)
        )


def _complete_if_done(rt: Runtime, campaign_id: int, sizes: dict[str, int]) -> bool:
    """A campaign with nothing left to dial or to disposition is completed."""
    if any(sizes.values()):
        return False
    with rt.db.begin() as s:
        open_entries = s.scalar(
            select(func.count()).where(
                CampaignEntry.campaign_id == campaign_id, CampaignEntry.state != "done"
            )
        )
        if open_entries:
            return False
        campaign = s.get_one(Campaign, campaign_id)
        if campaign.state == "running":
            campaign.state, campaign.ended_at = "completed", rt.clock.now()
    rt.redis.hdel(Keys.running_campaigns(), campaign_id)
    log.info("campaign %s completed", campaign_id)
    return True


def tick(rt: Runtime, *, owner: str = pacer_lease.THIS_PACER) -> dict[int, int]:
    """One pacing round over every running campaign this pacer holds the lease of (taken
    or renewed here); returns calls started per campaign paced."""
    started: dict[int, int] = {}
    now = rt.now_ts()
    # The carrier asked us to slow down (20429): no calls are handed out until it lifts.
    held_back = cps.backoff_left(rt.redis, rt.clock) > 0
    for raw_id, raw_mode in rt.redis.hgetall(Keys.running_campaigns()).items():
        campaign_id, mode = int(raw_id), raw_mode.decode()
        if not pacer_lease.take(rt.redis, campaign_id, owner=owner):
            continue  # another pacer paces it (and takes over should this one die)
        queue.promote_due(rt.redis, campaign_id, now)
        _return_stale(rt, campaign_id, now)
        sizes = queue.sizes(rt.redis, campaign_id)
        policy = POLICY_OF_MODE.get(mode)
        n = 0
        if policy is not None and sizes["queued"] and not held_back:
            n = calls_to_start(policy, snapshot(rt, campaign_id, sizes, now))
        entry_ids = queue.pop_for_dialing(rt.redis, campaign_id, n, now)
        for entry_id in entry_ids:
            rt.queue.enqueue(
                place_call,
                campaign_id,
                entry_id,
                job_timeout=PLACE_CALL_TIMEOUT,
                result_ttl=300,
                description=f"place_call campaign={campaign_id} entry={entry_id}",
            )
        started[campaign_id] = len(entry_ids)
        if not entry_ids:
            _complete_if_done(rt, campaign_id, sizes)
    # Calls whose final callback never came: throttled, and never raises.
    reconcile.sweep_if_due(rt)
    # Team-lead alerts committed since: their webhook jobs (throttled, never raises).
    alerts.sweep_if_due(rt)
    # Calls whose agent let the wrap-up time run out; agents' state changes into SQL.
    wrapup.sweep_if_due(rt)
    events.copy_if_due(rt)
    return started


def run(rt: Runtime, interval: float = 0.1, stop: threading.Event | None = None) -> None:
    """Tick every `interval` real seconds until stopped."""
    stop = stop or threading.Event()
    log.info("pacer running (tick every %.2fs)", interval)
    while not stop.is_set():
        try:
            tick(rt)
        except Exception:  # a bad tick must not stop dialing for every campaign
            log.exception("pacer tick failed")
        stop.wait(interval)
