"""RQ jobs of the campaign engine: small, idempotent, safe to retry."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from dialer.campaigns import attempts, followups, queue
from dialer.campaigns.compliance import get_profile
from dialer.campaigns.models import CallAttempt, Campaign, CampaignEntry
from dialer.campaigns.service import pause, requeue
from dialer.portfolio.models import Account, Phone
from dialer.privacy import mask_phone
from dialer.redis import Keys, release_lock
from dialer.runtime import Runtime, get_runtime
from dialer.telephony.carrier import CallRequest, CarrierError

log = logging.getLogger(__name__)

LOCK_SECONDS = 3600  # outlives any call; released as soon as the call ends
# Real seconds RQ lets place_call run before killing it: an attempt row older than this
# whose call has no SID will never get one from its job.
PLACE_CALL_TIMEOUT = 60
BUSY_ACCOUNT_RETRY = timedelta(minutes=2)


# Carrier errors that say the number itself is bad (retire it); any other error is ours or
# the carrier's (auth, rate limit, outage) and must not cost the borrower's number.
NUMBER_ERRORS = frozenset({21211, 21214, 21217, 13224})
PAUSE_AFTER_CARRIER_ERRORS = 10  # in a row: something is wrong with the account, not numbers


@dataclass(frozen=True)
class Skip:
    reason: str
    requeue: bool = False
    retry_at: datetime | None = None
    score: float = 0.0
    in_flight: bool = True  # this job owns the entry's in-flight marker


@dataclass(frozen=True)
class Dial:
    account_id: int
    phone_id: int
    caller_id: str | None


def place_call(campaign_id: int, entry_id: int) -> str:
    """Dial one campaign entry: lock the account, last compliance check, create the call."""
    return dial_entry(get_runtime(), campaign_id, entry_id)


def _prepare(
    s: Session, rt: Runtime, campaign_id: int, entry_id: int, now: datetime
) -> Skip | Dial:
    entry = attempts.claim_entry(s, entry_id, now)
    if entry is None:  # a repeated job: another run has this entry, and its marker
        return Skip("entry is not queued (already dialed or closed)", in_flight=False)
    campaign = s.get_one(Campaign, campaign_id)
    if campaign.state != "running":
        paused = campaign.state == "paused"
        entry.state = "queued" if paused else "done"
        return Skip(f"campaign is {campaign.state}", requeue=paused, score=entry.score)
    account = s.get_one(Account, entry.account_id)
    hold = attempts.account_hold(s, account, followups.local_today(rt))
    if hold is not None:
        attempts.record_block(s, entry, None, hold, now)
        return Skip(f"blocked by {hold.rule}")
    phone = attempts.choose_phone(s, entry, account, get_profile(campaign.compliance_profile))
    if phone is None:
        entry.state, entry.last_result = "done", "no_dialable_phone"
        return Skip("no dialable phone")
    return Dial(account.id, phone.id, campaign.caller_id)


def _give_back(rt: Runtime, campaign_id: int, entry_id: int, skip: Skip, now: datetime) -> str:
    if skip.in_flight:
        queue.done_dialing(rt.redis, campaign_id, entry_id)
    if skip.requeue:
        requeue(rt.redis, campaign_id, entry_id, skip.score, skip.retry_at, now)
    return f"skipped: {skip.reason}"


def dial_entry(rt: Runtime, campaign_id: int, entry_id: int) -> str:
    r, now = rt.redis, rt.clock.now()
    with rt.db.begin() as s:
        decision = _prepare(s, rt, campaign_id, entry_id, now)
    if isinstance(decision, Skip):
        return _give_back(rt, campaign_id, entry_id, decision, now)

    # One call per account at a time, across every campaign and worker. Taken before the
    # compliance check, so two campaigns cannot both pass a daily limit and then both dial.
    lock, owner = (
        Keys.account_lock(decision.account_id),
        followups.lock_owner(campaign_id, entry_id),
    )
    if not r.set(lock, owner, nx=True, ex=LOCK_SECONDS):
        with rt.db.begin() as s:
            entry = s.get_one(CampaignEntry, entry_id)
            entry.state = "queued"
        skip = Skip("the account has a call in flight", True, now + BUSY_ACCOUNT_RETRY, entry.score)
        return _give_back(rt, campaign_id, entry_id, skip, now)

    with rt.db.begin() as s:
        entry = s.get_one(CampaignEntry, entry_id)
        campaign = s.get_one(Campaign, campaign_id)
        account = s.get_one(Account, decision.account_id)
        phone = s.get_one(Phone, decision.phone_id)
        verdict = attempts.compliance_verdict(
            s, campaign, account, phone, now, rt.settings.timezone
        )
        if verdict.allowed:
            attempt = attempts.start_attempt(s, entry, phone, now)
            attempt_id, to = attempt.id, phone.number
        else:
            attempts.record_block(s, entry, phone, verdict, now)
            skip = Skip(
                f"blocked by {verdict.rule}", entry.state == "queued", verdict.retry_at, entry.score
            )
    if not verdict.allowed:
        release_lock(r, lock, owner)
        return _give_back(rt, campaign_id, entry_id, skip, now)

    base = rt.settings.webhook_base
    request = CallRequest(
        to=to,
        from_=decision.caller_id or rt.settings.caller_id,
        url=f"{base}/twilio/voice?attempt={attempt_id}",
        status_callback=f"{base}/twilio/status?attempt={attempt_id}",
        timeout=rt.settings.ring_timeout,
        machine_detection="Enable",
    )
    try:
        sid = rt.carrier.place_call(request)
    except Exception as exc:  # CarrierError, or the network: either way the attempt must end
        _carrier_failed(rt, campaign_id, attempt_id, to, exc)
        return f"failed: {exc}"
    r.delete(Keys.carrier_errors(campaign_id))
    with rt.db.begin() as s:
        attempt = s.get_one(CallAttempt, attempt_id)
        # The status webhook may have got here first and set the SID already.
        attempt.call_sid = attempt.call_sid or sid
    log.info("attempt %s placed as %s to %s", attempt_id, sid, mask_phone(to))
    return f"placed: {sid}"


def _carrier_failed(
    rt: Runtime, campaign_id: int, attempt_id: int, to: str, exc: Exception
) -> None:
    """End the attempt: a bad number is retired (NAB); any other failure is retried later."""
    code = exc.code if isinstance(exc, CarrierError) else None
    number_is_bad = code in NUMBER_ERRORS
    log.warning("attempt %s to %s: carrier error %s: %s", attempt_id, mask_phone(to), code, exc)
    now = rt.clock.now()
    with rt.db.begin() as s:
        attempt = s.get_one(CallAttempt, attempt_id)
        attempt.error = f"{code}: {exc}"[:500]
        if not number_is_bad:
            attempt.result = "error"
        ended = attempts.end_attempt(s, attempt, "failed", 0, now, followups.local_today(rt))
    if ended is not None:
        followups.after_end(rt, ended)
    if number_is_bad:
        return
    errors = rt.redis.incr(Keys.carrier_errors(campaign_id))
    if errors >= PAUSE_AFTER_CARRIER_ERRORS:
        with rt.db.begin() as s:
            campaign = s.get_one(Campaign, campaign_id)
            if campaign.state == "running":
                pause(s, rt.redis, campaign)
                log.error(
                    "campaign %s paused after %s carrier errors in a row (last: %s)",
                    campaign_id,
                    errors,
                    exc,
                )
