"""RQ jobs of the campaign engine: small, idempotent, safe to retry."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import phonenumbers
from sqlalchemy import select
from sqlalchemy.orm import Session

from dialer.agents import presence
from dialer.campaigns import attempts, followups, queue
from dialer.campaigns.compliance import Verdict
from dialer.campaigns.models import CallAttempt, Campaign, CampaignEntry
from dialer.campaigns.service import effective_profile, pause, requeue
from dialer.clock import Clock
from dialer.outcomes import callbacks
from dialer.portfolio.models import Account, Phone
from dialer.privacy import mask_phone, mask_text
from dialer.redis import Keys
from dialer.runtime import Runtime, get_runtime, local_today
from dialer.telephony import cps
from dialer.telephony.carrier import CallRequest, CarrierError, CarrierTimeout

log = logging.getLogger(__name__)

# Real seconds RQ lets place_call run before killing it: an attempt row older than this
# whose call has no SID will never get one from its job.
PLACE_CALL_TIMEOUT = 60
BUSY_ACCOUNT_RETRY = timedelta(minutes=2)


def job_lifetime(clock: Clock) -> timedelta:
    """How long after claiming an entry its dial job may still be at work: RQ kills it after
    PLACE_CALL_TIMEOUT real seconds, which are many simulated ones on a fast clock."""
    return timedelta(seconds=max(queue.IN_FLIGHT_SECONDS, 2 * PLACE_CALL_TIMEOUT * clock.speed))


# Simulated seconds a job waits for a calls-per-second token before giving its entry back.
CPS_MAX_WAIT = 20.0


# Carrier errors that say the number itself is bad (retire it); any other error is ours or
# the carrier's (auth, rate limit, outage) and must not cost the borrower's number.
NUMBER_ERRORS = frozenset({21211, 21214, 21217, 13224})
# Our account may not call that geography (voice geo permissions): the number is fine, but
# not dialable until an administrator allows the country (the phone says why).
GEO_ERRORS = frozenset({21215, 13227})
TOO_MANY_REQUESTS = 20429  # back off and dial again later: not the number's fault, nor an error
PAUSE_AFTER_CARRIER_ERRORS = 10  # in a row: something is wrong with the account, not numbers
# A create that timed out and that the carrier has no call for is dialed again this much later.
LOST_CREATE_RETRY = timedelta(minutes=1)
# Real seconds a dial job waits for the carrier's backoff to end before giving the entry back.
BACKOFF_MAX_WAIT = 5.0


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
    caller_ids: tuple[str, ...]
    # A due callback's own agent, reserved for the call before it exists (callbacks.route).
    reserve_for: int | None = None
    # DetectMessageEnd when a machine gets a voicemail (the message starts after the beep).
    machine_detection: str = "Enable"
    record: bool = False


class _AgentTaken(Exception):
    """The callback's agent stopped being ready before the call was placed."""


def place_call(campaign_id: int, entry_id: int, agent_id: int | None = None) -> str:
    """Dial one campaign entry: lock the account, last compliance check, create the call.
    With agent_id (preview), that agent is reserved for the call before it is placed."""
    return dial_entry(get_runtime(), campaign_id, entry_id, agent_id)


def pick_caller_id(caller_ids: Sequence[str], to: str, turn: int, default: str) -> str:
    """A caller ID from the phone's own country when the campaign has one (a local number
    is answered more often and is callable back), rotating between them by turn."""
    if not caller_ids:
        return default
    try:
        country = phonenumbers.parse(to).country_code
    except phonenumbers.NumberParseException:  # the carrier will say what is wrong with it
        country = None
    local = [c for c in caller_ids if phonenumbers.parse(c).country_code == country]
    choices = local or list(caller_ids)
    return choices[turn % len(choices)]


def _back_to_queue(s: Session, entry_id: int, not_before: datetime | None) -> float:
    """The claimed entry goes back to queued (in SQL); returns its score for Redis."""
    entry = s.get_one(CampaignEntry, entry_id)
    entry.state, entry.not_before = "queued", not_before
    return entry.score


def _prepare(
    s: Session, rt: Runtime, campaign_id: int, entry_id: int, now: datetime, agent_id: int | None
) -> Skip | Dial:
    entry = attempts.claim_entry(s, entry_id, now)
    if entry is None:  # a repeated job, or a stale copy: another run has this entry
        return Skip("entry is not queued or not due (dialed, retrying, closed)", in_flight=False)
    campaign = s.get_one(Campaign, campaign_id)
    if campaign.state != "running":
        paused = campaign.state == "paused"
        entry.state = "queued" if paused else "done"
        return Skip(f"campaign is {campaign.state}", requeue=paused, score=entry.score)
    account = s.get_one(Account, entry.account_id)
    hold = attempts.account_hold(s, account, local_today(rt))
    if hold is not None:
        attempts.record_block(s, entry, None, hold, now)
        return Skip(f"blocked by {hold.rule}")
    phone = attempts.choose_phone(s, entry, account, effective_profile(campaign))
    if phone is attempts.NO_DIALABLE_PHONE:
        entry.state, entry.last_result = "done", "no_dialable_phone"
        return Skip("no dialable phone")
    if isinstance(phone, Verdict):  # every number left is stopped by a rule
        attempts.record_block(s, entry, None, phone, now)
        return Skip(f"blocked by {phone.rule}")
    # A due callback goes to its campaign and its agent first (outcomes/callbacks.py). A
    # preview agent chose this account themselves: their dial is theirs.
    if agent_id is None and campaign.dial_mode != "ivr":
        route = callbacks.dial_route(
            s, rt.redis, campaign, account.id, now, rt.settings.callback_owner_minutes
        )
    else:  # no agent to route to, but the borrower's time is theirs in every mode
        upcoming = callbacks.next_callback_at(s, account.id, now)
        route = callbacks.not_before_callback(upcoming, now)
    if route.action == "hold":
        entry.state, entry.not_before = "queued", route.until
        return Skip(f"held: {route.reason}", True, route.until, entry.score)
    reserve_for = route.agent_id if route.action == "reserve" else None
    leaves_voicemail = campaign.on_machine == "voicemail" or campaign.dial_mode == "ivr"
    return Dial(
        account.id,
        phone.id,
        tuple(campaign.caller_ids),
        reserve_for,
        machine_detection="DetectMessageEnd" if leaves_voicemail else "Enable",
        record=campaign.record_calls,
    )


def _give_back(rt: Runtime, campaign_id: int, entry_id: int, skip: Skip, now: datetime) -> str:
    if skip.in_flight:
        queue.done_dialing(rt.redis, campaign_id, entry_id)
    if skip.requeue:
        requeue(rt.redis, campaign_id, entry_id, skip.score, skip.retry_at, now)
    return f"skipped: {skip.reason}"


def dial_entry(rt: Runtime, campaign_id: int, entry_id: int, agent_id: int | None = None) -> str:
    r, now = rt.redis, rt.clock.now()
    with rt.db.begin() as s:
        decision = _prepare(s, rt, campaign_id, entry_id, now, agent_id)
    if isinstance(decision, Skip):
        return _give_back(rt, campaign_id, entry_id, decision, now)
    queue.mark_in_flight(r, campaign_id, entry_id, rt.now_ts())  # the job has it from now

    # One call per account at a time, across every campaign and worker. Taken before the
    # compliance check, so two campaigns cannot both pass a daily limit and then both dial.
    if not queue.lock_account(r, decision.account_id, campaign_id, entry_id):
        retry_at = now + BUSY_ACCOUNT_RETRY
        with rt.db.begin() as s:
            score = _back_to_queue(s, entry_id, retry_at)
        skip = Skip("the account has a call in flight", True, retry_at, score)
        return _give_back(rt, campaign_id, entry_id, skip, now)

    # The carrier account's calls per second, shared by every worker, and its "slow down"
    # (20429). Waited for before the compliance check, so the check is the last thing
    # before the call.
    if not _carrier_ready(rt):
        queue.unlock_account(r, decision.account_id, campaign_id, entry_id)
        with rt.db.begin() as s:
            score = _back_to_queue(s, entry_id, None)
        return _give_back(rt, campaign_id, entry_id, Skip("no CPS token", True, None, score), now)

    now = rt.clock.now()
    reserve_for, reserved_on = decision.reserve_for, None
    try:
        with rt.db.begin() as s:
            entry = s.get_one(CampaignEntry, entry_id)
            campaign = s.get_one(Campaign, campaign_id)
            account = s.get_one(Account, decision.account_id)
            phone = s.get_one(Phone, decision.phone_id)
            verdict = attempts.compliance_verdict(
                s,
                campaign,
                account,
                phone,
                now,
                rt.settings.timezone,
                ring_timeout=rt.settings.ring_timeout,
                reserved_agent=agent_id is not None or reserve_for is not None,
            )
            if verdict.allowed:
                attempt = attempts.start_attempt(s, entry, phone, now)
                attempt_id, to, turn = attempt.id, phone.number, entry.attempts
                # The callback's agent is reserved before the attempt commits: if they were
                # taken meanwhile, the attempt is rolled back and the entry waits for them.
                if reserve_for is not None:
                    if not presence.reserve(r, campaign_id, reserve_for, attempt_id, rt.now_ts()):
                        raise _AgentTaken
                    reserved_on = attempt_id
            else:
                attempts.record_block(s, entry, phone, verdict, now)
                skip = Skip(
                    f"blocked by {verdict.rule}",
                    entry.state == "queued",
                    verdict.retry_at,
                    entry.score,
                )
    except _AgentTaken:
        queue.unlock_account(r, decision.account_id, campaign_id, entry_id)
        retry_at = now + callbacks.OWNER_RETRY
        with rt.db.begin() as s:
            score = _back_to_queue(s, entry_id, retry_at)
        skip = Skip(f"agent {reserve_for} is no longer ready", True, retry_at, score)
        return _give_back(rt, campaign_id, entry_id, skip, now)
    except BaseException:
        if reserved_on is not None:  # the attempt did not commit: give the agent back
            presence.release(r, reserve_for, reserved_on, rt.now_ts())
        raise
    if not verdict.allowed:
        queue.unlock_account(r, decision.account_id, campaign_id, entry_id)
        return _give_back(rt, campaign_id, entry_id, skip, now)

    base = rt.settings.webhook_base
    voice_url = f"{base}/twilio/voice?attempt={attempt_id}"
    if reserve_for is not None:
        # Like a preview call: the voice webhook bridges to this agent, and a call nobody
        # answers gives them back (followups.release_reserved_agent).
        r.set(Keys.reserved_agent(attempt_id), reserve_for, ex=queue.LOCK_SECONDS)
        voice_url += f"&agent={reserve_for}"
    elif agent_id is not None:
        if not _reserve_agent(rt, campaign_id, agent_id, attempt_id):
            return f"skipped: agent {agent_id} is not ready"
        voice_url += f"&agent={agent_id}"
    request = CallRequest(
        to=to,
        from_=pick_caller_id(decision.caller_ids, to, turn, rt.settings.caller_id),
        url=voice_url,
        status_callback=f"{base}/twilio/status?attempt={attempt_id}",
        timeout=rt.settings.ring_timeout,
        machine_detection=decision.machine_detection,
        record=decision.record,
        recording_status_callback=(
            f"{base}/twilio/recording?attempt={attempt_id}" if decision.record else None
        ),
    )
    placed = _Placed(campaign_id, entry_id, attempt_id, decision.account_id, now)
    try:
        sid = rt.carrier.place_call(request)
    except CarrierTimeout as exc:
        found = _look_up_lost_create(rt, placed, request, exc)
        if isinstance(found, _NoCall):
            return found.outcome
        sid = found
    except Exception as exc:  # CarrierError, or the network: either way the attempt must end
        return _carrier_failed(rt, placed, to, exc)
    r.delete(Keys.carrier_errors(campaign_id))
    cps.clear_backoff(r)
    with rt.db.begin() as s:
        attempt = s.get_one(CallAttempt, attempt_id)
        # The status webhook may have got here first and set the SID already.
        attempt.call_sid = attempt.call_sid or sid
    log.info("attempt %s placed as %s to %s", attempt_id, sid, mask_phone(to))
    return f"placed: {sid}"


def _carrier_ready(rt: Runtime) -> bool:
    """Wait out the carrier's backoff (a little) and take a calls-per-second token."""
    left = cps.backoff_left(rt.redis, rt.clock)
    if left > 0:
        if rt.clock.real_seconds(left) > BACKOFF_MAX_WAIT:
            return False
        rt.clock.sleep(left)
    return cps.acquire(rt.redis, rt.settings.cps, rt.clock, CPS_MAX_WAIT)


@dataclass(frozen=True)
class _Placed:
    """The attempt a create was for, to end or take back when the carrier refused it."""

    campaign_id: int
    entry_id: int
    attempt_id: int
    account_id: int
    started: datetime


def _unplace(rt: Runtime, placed: _Placed, retry_at: datetime, why: str) -> str | None:
    """The carrier never made the call: the attempt is taken back (it never happened, so
    no rule counts it) and the entry queued again at retry_at. Returns the call SID instead
    when a status callback has shown meanwhile that the call does exist."""
    with rt.db.begin() as s:
        attempt = s.get(CallAttempt, placed.attempt_id)
        if attempt is not None and attempt.call_sid is not None:
            return attempt.call_sid
        entry = s.get_one(CampaignEntry, placed.entry_id)
        if attempt is not None:
            s.delete(attempt)
            entry.attempts = max(0, entry.attempts - 1)
        entry.state, entry.not_before = "queued", retry_at
        score = entry.score
    followups.release_reserved_agent(rt, placed.attempt_id)
    queue.unlock_account(rt.redis, placed.account_id, placed.campaign_id, placed.entry_id)
    requeue(rt.redis, placed.campaign_id, placed.entry_id, score, retry_at, rt.clock.now())
    _give_back(rt, placed.campaign_id, placed.entry_id, Skip(why), rt.clock.now())
    log.info("attempt %s not placed (%s); entry %s again at %s", placed.attempt_id, why,
             placed.entry_id, retry_at.isoformat(timespec="seconds"))  # fmt: skip
    return None


@dataclass(frozen=True)
class _NoCall:
    """A create that timed out did not give us a call: the job's result says why."""

    outcome: str


def _look_up_lost_create(
    rt: Runtime, placed: _Placed, request: CallRequest, exc: CarrierTimeout
) -> str | _NoCall:
    """A create that got no answer: the call may exist. Found at the carrier (or already
    announced by its status callback), it is ours; not there, it was never placed, and the
    entry is dialed again later. If the carrier cannot even be asked, the attempt stays
    open without a SID: reconciliation ends it later, and nothing is dialed twice."""
    with rt.db.session() as s:
        known = s.scalar(select(CallAttempt.call_sid).where(CallAttempt.id == placed.attempt_id))
    if known:
        return known
    try:
        candidates = rt.carrier.find_call(request.to, request.from_, placed.started)
    except CarrierError as lookup_failed:
        log.warning("attempt %s: create timed out and the lookup failed (%s); left for "
                    "reconciliation", placed.attempt_id, lookup_failed)  # fmt: skip
        # Not "not placed": the call may well be ringing, which is why nothing is undone.
        return _NoCall(f"unknown: {exc}; the lookup failed ({lookup_failed})")
    with rt.db.session() as s:
        taken = set(
            s.scalars(select(CallAttempt.call_sid).where(CallAttempt.call_sid.in_(candidates)))
        )
    mine = [sid for sid in candidates if sid not in taken]
    if mine:
        log.info("attempt %s: create timed out, but the carrier has the call %s",
                 placed.attempt_id, mine[0])  # fmt: skip
        return mine[0]
    sid = _unplace(rt, placed, rt.clock.now() + LOST_CREATE_RETRY, f"create lost: {exc}")
    return sid if sid is not None else _NoCall(f"not placed: {exc}")


def _reserve_agent(rt: Runtime, campaign_id: int, agent_id: int, attempt_id: int) -> bool:
    """Put the previewing agent on the call before it exists; if they are no longer ready,
    the attempt ends unplaced (canceled) and its entry is dialed again later."""
    r = rt.redis
    if presence.reserve(r, campaign_id, agent_id, attempt_id, rt.now_ts()):
        # after_end frees the agent if the call ends without anyone answering.
        r.set(Keys.reserved_agent(attempt_id), agent_id, ex=queue.LOCK_SECONDS)
        return True
    followups.end_call(
        rt, attempt_id, "canceled", 0, result="canceled", error="reserved agent not ready"
    )
    return False


def _carrier_failed(rt: Runtime, placed: _Placed, to: str, exc: Exception) -> str:
    """The carrier refused the create. 20429: back off, dial again later (no attempt, no
    error). A bad number is retired (NAB); a geography we may not call makes the phone not
    dialable for that reason; anything else ends the attempt as an error, retried later,
    and ten in a row pause the campaign."""
    code = exc.code if isinstance(exc, CarrierError) else None
    # The carrier's messages quote the number ("The 'To' number +84... is not valid").
    said = mask_text(str(exc))
    if code == TOO_MANY_REQUESTS:
        seconds = cps.back_off(rt.redis, rt.clock)
        retry_at = rt.clock.now() + timedelta(seconds=seconds)
        sid = _unplace(rt, placed, retry_at, "the carrier asked us to slow down (20429)")
        return f"throttled: back off {seconds:g} s" if sid is None else f"placed: {sid}"
    log.warning("attempt %s to %s: carrier error %s: %s", placed.attempt_id, mask_phone(to),
                code, said)  # fmt: skip
    now = rt.clock.now()
    with rt.db.begin() as s:
        attempt = s.get_one(CallAttempt, placed.attempt_id)
        attempt.error = f"{code}: {exc}"[:500]
        if code in GEO_ERRORS:
            phone = s.get_one(Phone, attempt.phone_id)
            phone.dialable, phone.reason = False, f"geo_permission:{code}"
            attempt.result = "geo_blocked"
        elif code not in NUMBER_ERRORS:
            attempt.result = "error"
        ended = attempts.end_attempt(s, attempt, "failed", 0, now, local_today(rt))
    if ended is not None:
        followups.after_end(rt, ended)
    if code in NUMBER_ERRORS or code in GEO_ERRORS:
        return f"failed: {said}"  # the job's result is kept in Redis: no number in it
    errors = rt.redis.incr(Keys.carrier_errors(placed.campaign_id))
    if errors >= PAUSE_AFTER_CARRIER_ERRORS:
        with rt.db.begin() as s:
            campaign = s.get_one(Campaign, placed.campaign_id)
            if campaign.state == "running":
                pause(
                    s, rt.redis, campaign, reason=f"{errors} carrier errors in a row (last: {code})"
                )
                log.error(
                    "campaign %s paused after %s carrier errors in a row (last: %s)",
                    placed.campaign_id,
                    errors,
                    said,
                )
    return f"failed: {said}"
