"""Wrap-up limits: after a connected call an agent has the campaign's wrap_up_seconds
(inbound calls: DIALER_INBOUND_WRAP_UP_SECONDS) to record its action code. Past that, the
attempt gets the system code NDP ("no disposition", retried later) and the agent, if still
wrapping up that call, is paused with the reason wrap_up_overrun; both show in the
campaign's status and the presence reports. A code the agent records afterwards replaces
NDP (outcomes.service.record_disposition), within the correction window.

The deadlines wait in a Redis sorted set (followups.after_end adds them); the pacer's
sweep takes the due ones and checks SQL, the truth, before acting.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from dialer.agents import presence
from dialer.campaigns import followups
from dialer.campaigns.models import CallAttempt
from dialer.db import on_commit
from dialer.outcomes.catalogue import WRAP_UP_OVERRUN_CODE
from dialer.outcomes.effects import DispositionError, DispositionInput
from dialer.outcomes.models import Disposition
from dialer.outcomes.service import record_disposition
from dialer.redis import Keys
from dialer.runtime import Runtime, local_today

log = logging.getLogger(__name__)

SWEEP_EVERY_SECONDS = 1.0  # simulated seconds between sweeps, across every pacer
BATCH = 50  # overruns handled per sweep


def sweep_if_due(rt: Runtime) -> int:
    """overrun_due at most every SWEEP_EVERY_SECONDS across pacers; never raises."""
    try:
        px = max(1, int(1000 * rt.clock.real_seconds(SWEEP_EVERY_SECONDS)))
        if not rt.redis.set(Keys.wrap_up_sweep(), "1", nx=True, px=px):
            return 0
        return len(overrun_due(rt))
    except Exception:
        log.exception("wrap-up sweep failed; trying again next time")
        return 0


def overrun_due(rt: Runtime, limit: int = BATCH) -> list[int]:
    """Give NDP to the attempts whose wrap-up ran out without a code; their ids."""
    r, key = rt.redis, Keys.wrap_up_due()
    due = [int(i) for i in r.zrangebyscore(key, "-inf", rt.now_ts(), start=0, num=limit)]
    overrun = []
    for attempt_id in due:
        try:
            if _overrun(rt, attempt_id):
                overrun.append(attempt_id)
        except IntegrityError:  # the agent's code landed at this very moment: theirs wins
            pass
        r.zrem(key, attempt_id)
    return overrun


def _overrun(rt: Runtime, attempt_id: int) -> bool:
    now = rt.clock.now()
    with rt.db.begin() as s:
        attempt = s.get(CallAttempt, attempt_id)
        if attempt is None or attempt.agent_id is None or attempt.account_id is None:
            return False
        coded = s.scalar(select(Disposition.id).where(Disposition.attempt_id == attempt_id))
        if coded is not None:
            return False
        agent_id = attempt.agent_id
        try:
            recorded = record_disposition(
                s,
                attempt,
                DispositionInput(WRAP_UP_OVERRUN_CODE, "system"),
                agent_id=None,
                now=now,
                today=local_today(rt),
            )
        except DispositionError as exc:
            log.error("attempt %s: wrap-up overrun code refused: %s", attempt_id, exc)
            return False

        def after() -> None:
            followups.after_disposition(rt, recorded)
            presence.wrap_up_overrun(rt.redis, agent_id, attempt_id, rt.now_ts())

        on_commit(s, after)
    log.info("attempt %s: agent %s ran out of wrap-up time", attempt_id, agent_id)
    return True
