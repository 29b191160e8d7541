"""Redis follow-ups once an attempt's SQL change is committed: locks, queues, agent state.

`end_call` is the one way a final status ends an attempt, whoever reports it (the status
webhook, reconciliation): SQL first, then these follow-ups.
"""

from __future__ import annotations

from dialer.agents import presence
from dialer.campaigns import attempts, queue
from dialer.campaigns.attempts import Ended
from dialer.campaigns.models import CallAttempt
from dialer.campaigns.service import requeue
from dialer.outcomes.service import Recorded
from dialer.redis import Keys
from dialer.runtime import Runtime, local_today


def after_answer(rt: Runtime, campaign_id: int, entry_id: int) -> None:
    """Answered: the call no longer counts as ringing for the pacer."""
    queue.done_dialing(rt.redis, campaign_id, entry_id)


def after_end(rt: Runtime, ended: Ended) -> None:
    """The call is over: free the account, stop counting it, and move the agent on."""
    r = rt.redis
    if ended.campaign_id is not None and ended.entry_id is not None:
        if ended.account_id is not None:
            queue.unlock_account(r, ended.account_id, ended.campaign_id, ended.entry_id)
        queue.done_dialing(r, ended.campaign_id, ended.entry_id)
    if ended.agent_id is not None:
        presence.call_ended(r, ended.agent_id, ended.attempt_id, rt.now_ts())
        if ended.wrap_up_seconds is not None:
            r.zadd(Keys.wrap_up_due(), {ended.attempt_id: rt.now_ts() + ended.wrap_up_seconds})
    else:
        release_reserved_agent(rt, ended.attempt_id)
    if ended.recorded is not None:
        after_disposition(rt, ended.recorded)


def release_reserved_agent(rt: Runtime, attempt_id: int) -> None:
    """A preview call nobody answered (or a machine did): its agent is ready again."""
    reserved = rt.redis.get(Keys.reserved_agent(attempt_id))
    if reserved is not None:
        presence.release(rt.redis, int(reserved), attempt_id, rt.now_ts())
        rt.redis.delete(Keys.reserved_agent(attempt_id))


def end_call(
    rt: Runtime,
    attempt_id: int,
    status: str,
    duration: int | None,
    *,
    call_sid: str | None = None,
    result: str | None = None,
    error: str | None = None,
) -> Ended | None:
    """Apply a final status to an attempt (once) and free what its call held.

    Returns None when the attempt had already ended: a repeated callback, or a late
    callback and reconciliation racing each other, change nothing the second time.
    """
    with rt.db.begin() as s:
        attempt = s.get_one(CallAttempt, attempt_id)
        attempt.call_sid = attempt.call_sid or call_sid
        ended = attempts.end_attempt(
            s,
            attempt,
            status,
            duration,
            rt.clock.now(),
            local_today(rt),
            result=result,
            error=error,
            inbound_wrap_up_seconds=rt.settings.inbound_wrap_up_seconds,
        )
    if ended is not None:
        after_end(rt, ended)
    return ended


def after_disposition(rt: Runtime, recorded: Recorded) -> None:
    """Dial the entry again (now or later) when its code says so."""
    if recorded.entry_state == "queued" and recorded.campaign_id and recorded.entry_id:
        requeue(
            rt.redis,
            recorded.campaign_id,
            recorded.entry_id,
            recorded.score,
            recorded.retry_at,
            rt.clock.now(),
        )
