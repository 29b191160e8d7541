"""A call attempt's life in SQL: chosen phone, compliance check, answer, end, system result.

Each function takes its session and does one thing; Redis follow-ups (lock release, queue)
are returned to the caller to run after commit, because SQL is the truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import ColumnElement, Select, func, or_, select, update
from sqlalchemy.orm import Session

from dialer.campaigns.compliance import (
    DialFacts,
    Profile,
    Verdict,
    check,
)
from dialer.campaigns.models import BlockedDial, CallAttempt, Campaign, CampaignEntry, DncNumber
from dialer.campaigns.service import attempts_per_phone, callable_phones, effective_profile
from dialer.clock import local_day_start
from dialer.outcomes import callbacks, referrals
from dialer.outcomes.models import ActionCode, Disposition, Referral
from dialer.outcomes.service import Recorded, record_system_result
from dialer.portfolio.models import Account, Phone
from dialer.portfolio.phones import phone_timezone
from dialer.telephony.carrier import FINAL_STATUSES as FINAL_STATUSES  # for the webhooks

STATUS_ORDER = ("queued", "initiated", "ringing", "in-progress")
# Carrier final status -> system result, for calls that never reached a person.
STATUS_RESULTS = {
    "busy": "busy",
    "no-answer": "no_answer",
    "failed": "failed",
    "canceled": "canceled",
}
MACHINE_ANSWERS = (
    "machine_start",
    "machine_end_beep",
    "machine_end_silence",
    "machine_end_other",
    "fax",
)


def claim_entry(session: Session, entry_id: int, now: datetime) -> CampaignEntry | None:
    """queued -> dialing, exactly once even if the job runs twice, and never before the
    entry's retry time (a stale copy of the entry in the queue does not jump its retry)."""
    result = session.execute(
        update(CampaignEntry)
        .where(
            CampaignEntry.id == entry_id,
            CampaignEntry.state == "queued",
            or_(CampaignEntry.not_before.is_(None), CampaignEntry.not_before <= now),
        )
        .values(state="dialing", not_before=None, claimed_at=now, updated_at=now)
    )
    if result.rowcount != 1:
        return None
    return session.get_one(CampaignEntry, entry_id, populate_existing=True)


def _attempt_since_claim() -> ColumnElement[bool]:
    """The entry has a call open, or one started since its job claimed it (any call, for an
    entry claimed before claim times were kept)."""
    return (
        select(CallAttempt.id)
        .where(
            CallAttempt.entry_id == CampaignEntry.id,
            or_(
                CallAttempt.ended_at.is_(None),
                CampaignEntry.claimed_at.is_(None),
                CallAttempt.created_at >= CampaignEntry.claimed_at,
            ),
        )
        .exists()
    )


def lost_claims(campaign_id: int, claimed_before: datetime) -> Select[tuple[int]]:
    """Entries a dial job claimed before `claimed_before` and never started a call for:
    the job died in between (an entry waiting for its agent's disposition has a call)."""
    return select(CampaignEntry.id).where(
        CampaignEntry.campaign_id == campaign_id,
        CampaignEntry.state == "dialing",
        or_(CampaignEntry.claimed_at.is_(None), CampaignEntry.claimed_at < claimed_before),
        ~_attempt_since_claim(),
    )


def requeue_lost(session: Session, entry_ids: set[int] | list[int], now: datetime) -> None:
    """Entries of lost_claims back to queued, unless a call has started for them since."""
    ids = list(entry_ids)
    for start in range(0, len(ids), 1000):
        session.execute(
            update(CampaignEntry)
            .where(
                CampaignEntry.id.in_(ids[start : start + 1000]),
                CampaignEntry.state == "dialing",
                ~_attempt_since_claim(),
            )
            .values(state="queued", not_before=None, updated_at=now)
            .execution_options(synchronize_session=False)
        )


@dataclass(frozen=True)
class Lapsed:
    """What to do with entries whose in-flight marker lapsed (release_unplaced)."""

    back: dict[int, float]  # entry id -> score: into the dial queue again
    keep: list[int]  # still in flight (a job at work, a call open): keep them marked
    drop: list[int]  # no longer in flight here (wrapping up, done)
    # entry id -> (score, not-before): waiting for a retry time, into the retry set (again:
    # a job that died between its commit and its Redis follow-up never put it there).
    retry: dict[int, tuple[float, float]] = field(default_factory=dict)


def release_unplaced(
    session: Session, campaign_id: int, entry_ids: list[int], now: datetime, job_lifetime: timedelta
) -> Lapsed:
    """Sort entries whose in-flight marker lapsed, and queue again those whose job is gone.

    Still queued and due: the job never ran (or ran after the marker lapsed and found
    nothing to do), back to the queue. Queued with a retry time: already in the retry set.
    Dialing with a call open: in flight. Dialing and claimed less than `job_lifetime` ago
    with no call yet: its job may still be at work. Claimed longer ago with no call since:
    the job died before creating the call, so the entry is set back to queued here
    (conditionally: a job that wakes up late finds it taken). Anything else (an attempt
    ended, waiting for the agent's disposition; done) is no longer in flight.
    """
    if not entry_ids:
        return Lapsed({}, [], [])
    open_call = (
        select(CallAttempt.id)
        .where(CallAttempt.entry_id == CampaignEntry.id, CallAttempt.ended_at.is_(None))
        .exists()
    )
    rows = session.execute(
        select(
            CampaignEntry.id,
            CampaignEntry.state,
            CampaignEntry.score,
            CampaignEntry.not_before,
            open_call,
            _attempt_since_claim(),
        ).where(CampaignEntry.id.in_(entry_ids))
    ).all()
    lost = set(
        session.scalars(
            lost_claims(campaign_id, now - job_lifetime).where(CampaignEntry.id.in_(entry_ids))
        )
    )
    requeue_lost(session, lost, now)
    out = Lapsed({}, [], [])
    for entry_id, state, score, not_before, calling, called in rows:
        due = not_before is None or _aware(not_before) <= now
        if (state == "queued" and due) or entry_id in lost:
            out.back[entry_id] = score
        elif state == "queued":
            out.retry[entry_id] = (score, _aware(not_before).timestamp())
        elif state == "dialing" and (calling or not called):
            out.keep.append(entry_id)
        else:
            out.drop.append(entry_id)
    return out


NO_DIALABLE_PHONE = Verdict(False, None, "no dialable number left on the account")


def choose_phone(
    session: Session, entry: CampaignEntry, account: Account, profile: Profile
) -> Phone | Verdict:
    """The account's best number the profile allows: fewest attempts in this entry, then
    relation priority. With none, why: the rule that stops every number that is left
    (`dnc`, `obligors_only`), or NO_DIALABLE_PHONE (retired or invalid: no rule)."""
    tried = attempts_per_phone(session, entry.id)
    dnc = set(
        session.scalars(
            select(DncNumber.number).where(DncNumber.number.in_([p.number for p in account.phones]))
        )
    )
    allowed = callable_phones(account, profile)
    candidates = [p for p in allowed if p.number not in dnc]
    if candidates:
        return min(candidates, key=lambda p: (tried.get(p.id, 0), p.priority, p.id))
    if allowed:
        return Verdict(False, "dnc", f"all {len(allowed)} callable numbers are on the DNC list")
    if any(p.dialable for p in account.phones):
        return Verdict(False, "obligors_only", "only reference numbers left on the account")
    return NO_DIALABLE_PHONE


def dial_facts(
    session: Session,
    profile: Profile,
    account: Account,
    phone: Phone,
    now: datetime,
    default_tz: str,
    *,
    ring_timeout: int,
    reserved_agent: bool = False,
) -> DialFacts:
    """The facts the profile's rules read, from SQL now, with queries bounded by the
    longest look-back any rule of the profile needs."""
    tz = account.timezone or phone_timezone(phone.number) or default_tz
    day_start = local_day_start(now, tz)
    lookback = timedelta(minutes=profile.min_gap_minutes)
    if profile.max_attempts_per_account_in_days is not None:
        lookback = max(lookback, timedelta(days=profile.max_attempts_per_account_in_days[1]))
    if profile.abandon_quiet_hours is not None:
        lookback = max(lookback, timedelta(hours=profile.abandon_quiet_hours))
    since = min(day_start, now - lookback)
    rows = session.execute(
        select(CallAttempt.created_at, CallAttempt.phone_id, CallAttempt.result).where(
            CallAttempt.account_id == account.id,
            CallAttempt.created_at >= since,
            CallAttempt.call_sid.is_not(None),  # dials that reached the carrier
            CallAttempt.direction == "outbound",  # the borrower calling us is not a dial
        )
    ).all()
    dials = [(_aware(created), phone_id, result) for created, phone_id, result in rows]
    today = [(t, phone_id, result) for t, phone_id, result in dials if t >= day_start]
    # The per-number rules (gap, daily limit, quiet after an abandon, machine today) are
    # about the person at the number, who may be on several accounts: a reference who is
    # another borrower's mobile. So they count every account's dials to that number.
    on_number = [
        (_aware(created), result)
        for created, result in session.execute(
            select(CallAttempt.created_at, CallAttempt.result)
            .join(Phone, Phone.id == CallAttempt.phone_id)
            .where(
                Phone.number == phone.number,
                CallAttempt.created_at >= since,
                CallAttempt.call_sid.is_not(None),
                CallAttempt.direction == "outbound",
            )
        )
    ]
    number_today = [(t, result) for t, result in on_number if t >= day_start]
    last_conversation = None
    if profile.quiet_days_after_conversation is not None:
        last_conversation = session.scalar(
            select(func.max(Disposition.created_at))
            .join(ActionCode, ActionCode.code == Disposition.code)
            .where(
                Disposition.account_id == account.id,
                ActionCode.is_contact.is_(True),
                Disposition.created_at
                >= now - timedelta(days=profile.quiet_days_after_conversation),
            )
        )
    return DialFacts(
        now=now,
        timezone=tz,
        phone_relation=phone.relation,
        attempts_today=len(today),
        last_attempt_on_phone_at=max((t for t, _ in on_number), default=None),
        on_dnc=session.get(DncNumber, phone.number) is not None,
        attempts_on_phone_today=len(number_today),
        recent_attempt_times=tuple(t for t, _, _ in dials),
        last_conversation_at=_aware(last_conversation) if last_conversation else None,
        last_abandoned_at=max((t for t, r in on_number if r == "abandoned"), default=None),
        machine_today=any(result == "machine" for _, result in number_today),
        ring_timeout=ring_timeout,
        reserved_agent=reserved_agent,
    )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def compliance_verdict(
    session: Session,
    campaign: Campaign,
    account: Account,
    phone: Phone,
    now: datetime,
    default_tz: str,
    *,
    ring_timeout: int,
    reserved_agent: bool = False,
) -> Verdict:
    """The last check right before a dial: the campaign's (narrowed) profile against the
    facts read from SQL now."""
    profile = effective_profile(campaign)
    facts = dial_facts(
        session,
        profile,
        account,
        phone,
        now,
        default_tz,
        ring_timeout=ring_timeout,
        reserved_agent=reserved_agent,
    )
    return check(profile, facts)


# Why an account is not called at all (account_hold), as blocked_dials.rule records it.
HOLD_RULES = ("account_closed", "suppressed", "referred")


def account_hold(session: Session, account: Account, today: date) -> Verdict | None:
    """Why the account must not be called at all now (re-checked right before each dial,
    since another campaign may have recorded a promise, a dispute or a referral)."""
    if account.status != "active":
        return Verdict(False, "account_closed", f"account is {account.status}")
    if account.suppressed_until is not None and account.suppressed_until >= today:
        return Verdict(False, "suppressed", f"no calls until {account.suppressed_until}")
    # Open or accepted: the receiving team has the account until it returns or closes it.
    kind = session.scalar(
        select(Referral.kind)
        .where(Referral.account_id == account.id, Referral.state.in_(referrals.HOLD_STATES))
        .limit(1)
    )
    if kind is not None:
        return Verdict(False, "referred", f"referred to {kind}")
    return None


def record_block(
    session: Session, entry: CampaignEntry, phone: Phone | None, verdict: Verdict, now: datetime
) -> None:
    """A rule stopped the dial: keep the reason, give the entry back (or close it)."""
    session.add(
        BlockedDial(
            campaign_id=entry.campaign_id,
            entry_id=entry.id,
            phone_id=phone.id if phone else None,
            rule=verdict.rule or "unknown",
            detail=verdict.detail,
            created_at=now,
        )
    )
    entry.state = "queued" if verdict.retry_at else "done"
    entry.not_before = verdict.retry_at
    entry.last_result = f"blocked:{verdict.rule}"


def start_attempt(
    session: Session, entry: CampaignEntry, phone: Phone, now: datetime
) -> CallAttempt:
    entry.attempts += 1
    attempt = CallAttempt(
        campaign_id=entry.campaign_id,
        entry_id=entry.id,
        account_id=entry.account_id,
        phone_id=phone.id,
        status="queued",
        created_at=now,
    )
    session.add(attempt)
    session.flush()
    return attempt


def advance_status(attempt: CallAttempt, status: str) -> None:
    """Move forward through queued/initiated/ringing/in-progress; never backwards."""
    if attempt.ended_at is not None or status not in STATUS_ORDER:
        return
    if STATUS_ORDER.index(status) > STATUS_ORDER.index(attempt.status):
        attempt.status = status


def answer_kind(answered_by: str | None, unknown_is_machine: bool = False) -> str:
    """'machine' or 'human' from machine detection's AnsweredBy (absent: a person; unknown:
    as the campaign says)."""
    if answered_by in MACHINE_ANSWERS or (answered_by == "unknown" and unknown_is_machine):
        return "machine"
    return "human"


def mark_answered(
    session: Session,
    attempt_id: int,
    answered_by: str | None,
    call_sid: str,
    now: datetime,
    *,
    unknown_is_machine: bool = False,
) -> str | None:
    """The voice webhook fired. Returns 'human' or 'machine' for the first delivery only
    (None for a repeat), so exactly one delivery goes on to claim an agent."""
    kind = answer_kind(answered_by, unknown_is_machine)
    values: dict[str, object] = {"answered_at": now, "answered_by": answered_by}
    if kind == "machine":
        values["result"] = "machine"
    first = session.execute(
        update(CallAttempt)
        .where(CallAttempt.id == attempt_id, CallAttempt.answered_at.is_(None))
        .values(**values)
    )
    attempt = session.get_one(CallAttempt, attempt_id)
    session.refresh(attempt)
    attempt.call_sid = attempt.call_sid or call_sid
    advance_status(attempt, "in-progress")
    return kind if first.rowcount == 1 else None


def record_bridge(
    session: Session,
    attempt_id: int,
    agent_id: int | None,
    now: datetime,
    *,
    abandon_delay_ms: int | None = None,
    account_id: int | None = None,
) -> bool:
    """Record the claim's outcome (bridged to agent_id, or abandoned when None, with how
    long the person waited for the abandon message), unless the call ended meanwhile:
    False then, and a claimed agent must be given back."""
    values: dict[str, object] = {"result": "abandoned", "abandon_delay_ms": abandon_delay_ms}
    if agent_id is not None:
        values = {"result": "human", "agent_id": agent_id, "connected_at": now}
    done = session.execute(
        update(CallAttempt)
        .where(
            CallAttempt.id == attempt_id,
            CallAttempt.ended_at.is_(None),
            CallAttempt.result.is_(None),
        )
        .values(**values)
        # The voice webhook's hot path: no ORM bookkeeping of loaded rows (none is read
        # after this in the transaction).
        .execution_options(synchronize_session=False)
    )
    if done.rowcount == 1 and agent_id is not None:
        # The borrower is talking to an agent: a callback that was due is kept (a dial
        # nobody answered keeps it due, for the next dial).
        if account_id is None:
            account_id = session.scalar(
                select(CallAttempt.account_id).where(CallAttempt.id == attempt_id)
            )
        callbacks.fulfil(session, account_id, attempt_id, now)
    return done.rowcount == 1


@dataclass(frozen=True)
class Ended:
    attempt_id: int
    campaign_id: int | None  # None: an inbound call
    entry_id: int | None
    account_id: int | None  # None: an inbound caller never identified
    agent_id: int | None
    recorded: Recorded | None  # the system result's action code, when no agent took it
    # Connected to an agent: the seconds they have to record its code (the wrap-up limit).
    wrap_up_seconds: int | None = None


def end_attempt(
    session: Session,
    attempt: CallAttempt,
    status: str,
    duration: int | None,
    now: datetime,
    today: date,
    *,
    result: str | None = None,
    error: str | None = None,
    inbound_wrap_up_seconds: int = 120,
) -> Ended | None:
    """A final status arrived; set the result and, without an agent, the system action code.

    `result` overrides the one the status implies when the call reached nobody (the caller
    knows better, e.g. no call was ever placed); `error` notes why. Both apply only if this
    call is the one that ends the attempt. Returns None when the attempt had already ended
    (a repeated or concurrent callback, or reconciliation racing a late callback).
    """
    # Conditional, so two deliveries of the final status cannot both apply it.
    first = session.execute(
        update(CallAttempt)
        .where(CallAttempt.id == attempt.id, CallAttempt.ended_at.is_(None))
        .values(ended_at=now, status=status, duration_seconds=duration)
    )
    session.refresh(attempt)  # the voice webhook may have just recorded the bridge
    if first.rowcount != 1:
        return None
    if error is not None:
        attempt.error = error[:500]
    if attempt.result is None:
        if result is not None:
            attempt.result = result
        elif attempt.answered_at is not None:
            # Answered, but the customer hung up before we bridged or abandoned.
            attempt.result = "hung_up"
        else:
            # "completed" without our voice webhook having run: our side failed.
            attempt.result = STATUS_RESULTS.get(status, "error")
    recorded = None
    if attempt.agent_id is None:
        # Nobody will disposition this call: the system records its result now, unless
        # the caller chose a branch of the IVR menu, which recorded its own code.
        disposed = session.scalar(
            select(Disposition.id).where(Disposition.attempt_id == attempt.id)
        )
        if disposed is None and attempt.account_id is not None:
            recorded = record_system_result(session, attempt, attempt.result, now=now, today=today)
    elif attempt.entry_id is not None:
        entry = session.get_one(CampaignEntry, attempt.entry_id)
        entry.last_result = "connected"
    wrap_up = None
    if attempt.agent_id is not None:
        campaign = session.get(Campaign, attempt.campaign_id) if attempt.campaign_id else None
        wrap_up = campaign.wrap_up_seconds if campaign is not None else inbound_wrap_up_seconds
    session.flush()
    return Ended(
        attempt_id=attempt.id,
        campaign_id=attempt.campaign_id,
        entry_id=attempt.entry_id,
        account_id=attempt.account_id,
        agent_id=attempt.agent_id,
        recorded=recorded,
        wrap_up_seconds=wrap_up,
    )
