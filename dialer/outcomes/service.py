"""Applying an action code to a call attempt: the one path for system, IVR and agent results."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dialer.campaigns.compliance import get_profile
from dialer.campaigns.models import CallAttempt, Campaign, CampaignEntry, DncNumber
from dialer.campaigns.service import attempts_per_phone, callable_phones
from dialer.outcomes.catalogue import SYSTEM_RESULT_CODES, get_code
from dialer.outcomes.effects import (
    AccountFacts,
    DispositionError,
    DispositionInput,
    Effects,
    plan,
    validate,
)
from dialer.outcomes.models import ActionCode, Callback, Disposition, Promise, Referral
from dialer.portfolio.models import Account, Phone


@dataclass(frozen=True)
class Recorded:
    disposition_id: int
    code: str
    effects: Effects
    entry_id: int
    campaign_id: int
    entry_state: str  # queued (dial again) | done
    retry_at: datetime | None  # when it may be dialed again (None: now)
    score: float


def _refusals_before(session: Session, account_id: int) -> int:
    return (
        session.scalar(
            select(func.count(Disposition.id))
            .join(ActionCode, ActionCode.code == Disposition.code)
            .where(Disposition.account_id == account_id, ActionCode.is_refusal.is_(True))
        )
        or 0
    )


def record_disposition(
    session: Session,
    attempt: CallAttempt,
    given: DispositionInput,
    *,
    agent_id: int | None,
    now: datetime,
    today: date,
) -> Recorded:
    """Validate and record an action code for an attempt, and apply its effects in SQL.

    Raises DispositionError (nothing changed) when the input is refused. The caller commits,
    then applies the queue side (Redis) from the returned Recorded.
    """
    spec = get_code(session, given.code)
    account = session.get_one(Account, attempt.account_id)
    facts = AccountFacts(
        overdue_amount=account.overdue_amount,
        principal_outstanding=account.principal_outstanding,
        now=now,
        today=today,
        refusals_before=_refusals_before(session, account.id),
    )
    problems = validate(spec, given, facts)
    existing = session.scalar(select(Disposition).where(Disposition.attempt_id == attempt.id))
    if existing is not None:
        problems.append(f"attempt {attempt.id} already has action code {existing.code}")
    if given.setter == "agent":
        if attempt.agent_id is None:
            problems.append(f"attempt {attempt.id} was not connected to an agent")
        elif agent_id != attempt.agent_id:
            problems.append(f"attempt {attempt.id} belongs to another agent")
    if problems:
        raise DispositionError(problems)
    assert spec is not None
    fx = plan(spec, given, facts)

    disposition = Disposition(
        attempt_id=attempt.id,
        account_id=account.id,
        agent_id=agent_id,
        code=spec.code,
        set_by=given.setter,
        note=given.note,
        created_at=now,
    )
    session.add(disposition)
    session.flush()
    attempt.action_code = spec.code

    if fx.create_promise:
        assert given.promise_amount is not None and given.promise_date is not None
        session.add(
            Promise(
                account_id=account.id,
                disposition_id=disposition.id,
                agent_id=agent_id,
                amount=given.promise_amount,
                due_date=given.promise_date,
                created_at=now,
            )
        )
    if fx.callback_at is not None:
        session.add(
            Callback(
                account_id=account.id,
                campaign_id=attempt.campaign_id,
                disposition_id=disposition.id,
                agent_id=agent_id if fx.callback_same_agent else None,
                due_at=fx.callback_at,
                created_at=now,
            )
        )
    phone = session.get_one(Phone, attempt.phone_id)
    if fx.retire_phone:
        phone.dialable = False
        phone.reason = f"retired:{spec.code}"
    if fx.dnc and session.get(DncNumber, phone.number) is None:
        session.add(DncNumber(number=phone.number, reason=spec.label_en, source="call"))
    if fx.refer:
        session.add(
            Referral(
                account_id=account.id,
                disposition_id=disposition.id,
                kind=fx.refer,
                reason=given.note or spec.label_en,
                referred_by=agent_id,
                created_at=now,
            )
        )
    if fx.suppress_until is not None:
        account.suppressed_until = max(fx.suppress_until, account.suppressed_until or today)
    if fx.stop_account:
        account.status = "closed"

    entry = session.get_one(CampaignEntry, attempt.entry_id)
    campaign = session.get_one(Campaign, entry.campaign_id)
    entry.last_result = spec.code
    exhausted = entry.attempts >= campaign.max_attempts_per_entry and fx.callback_at is None
    profile = get_profile(campaign.compliance_profile)
    no_phone_left = not callable_phones(account, profile)
    if fx.close_entry or fx.refer or exhausted or no_phone_left or account.status != "active":
        entry.state = "done"
    else:
        entry.state = "queued"
    retry_at = fx.retry_at if entry.state == "queued" else None
    # The campaign's own interval for this code (or the call's system result) wins over the
    # code's default.
    minutes = campaign.retry_minutes.get(spec.code) or campaign.retry_minutes.get(
        attempt.result or ""
    )
    if entry.state == "queued" and minutes:
        retry_at = now + timedelta(minutes=minutes)
    if retry_at is not None and fx.next_phone and fx.callback_at is None:
        # Another of the account's numbers has been tried less: dial it now, not later.
        tried = attempts_per_phone(session, entry.id)
        fewest = min(tried.get(p.id, 0) for p in callable_phones(account, profile))
        if fewest < tried.get(phone.id, 0):
            retry_at = None
    entry.not_before = retry_at
    session.flush()
    return Recorded(
        disposition_id=disposition.id,
        code=spec.code,
        effects=fx,
        entry_id=entry.id,
        campaign_id=entry.campaign_id,
        entry_state=entry.state,
        retry_at=retry_at,
        score=entry.score,
    )


def record_system_result(
    session: Session, attempt: CallAttempt, result: str, *, now: datetime, today: date
) -> Recorded:
    """The telephony layer's own result (no answer, busy, machine...) as its action code."""
    code = SYSTEM_RESULT_CODES.get(result)
    if code is None:
        raise DispositionError([f"no action code for system result {result!r}"])
    return record_disposition(
        session,
        attempt,
        DispositionInput(code=code, setter="system"),
        agent_id=None,
        now=now,
        today=today,
    )
