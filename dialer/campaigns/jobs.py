"""RQ jobs of the campaign engine: small, idempotent, safe to retry."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from dialer.campaigns import attempts, followups, queue
from dialer.campaigns.compliance import get_profile
from dialer.campaigns.models import CallAttempt, Campaign, CampaignEntry
from dialer.campaigns.service import requeue
from dialer.portfolio.models import Account, Phone
from dialer.privacy import mask_phone
from dialer.redis import Keys
from dialer.runtime import Runtime, get_runtime
from dialer.telephony.carrier import CallRequest, CarrierError

log = logging.getLogger(__name__)

LOCK_SECONDS = 3600  # outlives any call; released as soon as the call ends
BUSY_ACCOUNT_RETRY = timedelta(minutes=2)


@dataclass(frozen=True)
class Skip:
    reason: str
    requeue: bool = False
    retry_at: datetime | None = None
    score: float = 0.0


@dataclass(frozen=True)
class Dial:
    account_id: int
    phone_id: int
    caller_id: str | None


def place_call(campaign_id: int, entry_id: int) -> str:
    """Dial one campaign entry: last compliance check, lock the account, create the call."""
    return dial_entry(get_runtime(), campaign_id, entry_id)


def _prepare(
    s: Session, rt: Runtime, campaign_id: int, entry_id: int, now: datetime
) -> Skip | Dial:
    entry = attempts.claim_entry(s, entry_id, now)
    if entry is None:
        return Skip("entry is not queued (already dialed or closed)")
    campaign = s.get_one(Campaign, campaign_id)
    if campaign.state != "running":
        paused = campaign.state == "paused"
        entry.state = "queued" if paused else "done"
        return Skip(f"campaign is {campaign.state}", requeue=paused, score=entry.score)
    account = s.get_one(Account, entry.account_id)
    phone = attempts.choose_phone(s, entry, account, get_profile(campaign.compliance_profile))
    if phone is None or account.status != "active":
        entry.state, entry.last_result = "done", "no_dialable_phone"
        return Skip("no dialable phone")
    verdict = attempts.compliance_verdict(s, campaign, account, phone, now, rt.settings.timezone)
    if not verdict.allowed:
        attempts.record_block(s, entry, phone, verdict, now)
        return Skip(
            f"blocked by {verdict.rule}",
            requeue=entry.state == "queued",
            retry_at=verdict.retry_at,
            score=entry.score,
        )
    return Dial(account.id, phone.id, campaign.caller_id)


def dial_entry(rt: Runtime, campaign_id: int, entry_id: int) -> str:
    r, now = rt.redis, rt.clock.now()
    with rt.db.begin() as s:
        decision = _prepare(s, rt, campaign_id, entry_id, now)
    if isinstance(decision, Skip):
        queue.done_dialing(r, campaign_id, entry_id)
        if decision.requeue:
            requeue(r, campaign_id, entry_id, decision.score, decision.retry_at, now)
        return f"skipped: {decision.reason}"

    # One call per account at a time, across every campaign and worker.
    if not r.set(Keys.account_lock(decision.account_id), entry_id, nx=True, ex=LOCK_SECONDS):
        with rt.db.begin() as s:
            entry = s.get_one(CampaignEntry, entry_id)
            entry.state = "queued"
        queue.done_dialing(r, campaign_id, entry_id)
        requeue(r, campaign_id, entry_id, entry.score, now + BUSY_ACCOUNT_RETRY, now)
        return "deferred: the account has a call in flight"

    with rt.db.begin() as s:
        entry = s.get_one(CampaignEntry, entry_id)
        phone = s.get_one(Phone, decision.phone_id)
        attempt = attempts.start_attempt(s, entry, phone, now)
        attempt_id, to = attempt.id, phone.number

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
    except CarrierError as exc:
        log.warning("attempt %s to %s refused by carrier: %s", attempt_id, mask_phone(to), exc)
        _carrier_refused(rt, attempt_id, exc)
        return f"failed: carrier error {exc.code}"
    with rt.db.begin() as s:
        attempt = s.get_one(CallAttempt, attempt_id)
        # The status webhook may have got here first and set the SID already.
        attempt.call_sid = attempt.call_sid or sid
    log.info("attempt %s placed as %s to %s", attempt_id, sid, mask_phone(to))
    return f"placed: {sid}"


def _carrier_refused(rt: Runtime, attempt_id: int, exc: CarrierError) -> None:
    now = rt.clock.now()
    with rt.db.begin() as s:
        attempt = s.get_one(CallAttempt, attempt_id)
        attempt.error = f"{exc.code}: {exc}"[:500]
        ended = attempts.end_attempt(s, attempt, "failed", 0, now, followups.local_today(rt))
    if ended is not None:
        followups.after_end(rt, ended)
