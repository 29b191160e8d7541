"""Applying an action code to a call attempt: the one path for system, IVR and agent results.

`record_disposition` (the first code of an attempt) and `correct_disposition` (an agent's
or a supervisor's correction within the window) both validate with outcomes.effects and
apply through `_apply`; both write the audit log. Nothing here touches Redis except
`after_correction`, run after the commit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

import redis
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from dialer.campaigns.compliance import get_profile
from dialer.campaigns.models import CallAttempt, Campaign, CampaignEntry, DncNumber
from dialer.campaigns.ranking import round3, weights_from
from dialer.campaigns.service import attempts_per_phone, callable_phones, requeue
from dialer.outcomes import alerts
from dialer.outcomes.catalogue import (
    SYSTEM_RESULT_CODES,
    WRAP_UP_OVERRUN_CODE,
    CodeSpec,
    get_code,
)
from dialer.outcomes.effects import (
    AccountFacts,
    DispositionError,
    DispositionInput,
    Effects,
    plan,
    validate,
)
from dialer.outcomes.models import (
    ActionCode,
    Callback,
    Disposition,
    DispositionAudit,
    Promise,
    Referral,
)
from dialer.portfolio.models import Account, Phone
from dialer.redis import Keys

ACTORS = ("agent", "ivr", "system", "supervisor")


@dataclass(frozen=True)
class Recorded:
    disposition_id: int
    code: str
    effects: Effects
    entry_id: int | None  # None: an inbound call, in no campaign
    campaign_id: int | None
    # queued (dial again) | done | unchanged (a correction after a redial) | none (inbound)
    entry_state: str
    retry_at: datetime | None  # when it may be dialed again (None: now)
    score: float
    # It replaced an earlier code (a correction, or a late code over NDP): the queue side
    # must take the entry out before putting it back (after_correction).
    replaced: bool = False


def _refusals_before(session: Session, account_id: int, but: int | None = None) -> int:
    query = (
        select(func.count(Disposition.id))
        .join(ActionCode, ActionCode.code == Disposition.code)
        .where(Disposition.account_id == account_id, ActionCode.is_refusal.is_(True))
    )
    if but is not None:
        query = query.where(Disposition.id != but)
    return session.scalar(query) or 0


def _facts(session: Session, account: Account, now: datetime, today: date, but: int | None):
    return AccountFacts(
        overdue_amount=account.overdue_amount,
        principal_outstanding=account.principal_outstanding,
        now=now,
        today=today,
        refusals_before=_refusals_before(session, account.id, but),
    )


def _fields_of(given: DispositionInput) -> dict[str, Any]:
    """The fields other than the note, as JSON values."""
    values: dict[str, Any] = {
        "promise_amount": given.promise_amount,
        "promise_date": given.promise_date.isoformat() if given.promise_date else None,
        "callback_at": given.callback_at.isoformat() if given.callback_at else None,
        "new_phone": given.new_phone,
    }
    return {k: v for k, v in values.items() if v is not None}


def snapshot(disposition: Disposition) -> dict[str, Any]:
    """A disposition's code and fields, as the audit log keeps them."""
    out: dict[str, Any] = {"code": disposition.code, **(disposition.fields or {})}
    if disposition.note:
        out["note"] = disposition.note
    return out


def _audit(
    session: Session,
    disposition: Disposition,
    *,
    actor: str,
    agent_id: int | None,
    now: datetime,
    before: dict[str, Any] | None,
    actor_name: str | None = None,
) -> None:
    session.add(
        DispositionAudit(
            attempt_id=disposition.attempt_id,
            disposition_id=disposition.id,
            actor=actor,
            actor_name=actor_name,
            agent_id=agent_id,
            changed_at=now,
            before=before,
            after=snapshot(disposition),
        )
    )


def record_disposition(
    session: Session,
    attempt: CallAttempt,
    given: DispositionInput,
    *,
    agent_id: int | None,
    now: datetime,
    today: date,
    correction_minutes: int = 30,
) -> Recorded:
    """Validate and record an action code for an attempt, and apply its effects in SQL.

    Raises DispositionError (nothing changed) when the input is refused. The caller commits,
    then applies the queue side (Redis) from the returned Recorded. An agent's code for a
    call whose wrap-up ran out replaces the system's NDP, within the correction window.
    """
    existing = session.scalar(select(Disposition).where(Disposition.attempt_id == attempt.id))
    if existing is not None and _overrun_of(existing, attempt, agent_id):
        return correct_disposition(
            session,
            attempt,
            given,
            actor="agent",
            agent_id=agent_id,
            now=now,
            today=today,
            window_minutes=correction_minutes,
        )
    spec = get_code(session, given.code)
    if attempt.account_id is None:
        raise DispositionError([f"attempt {attempt.id} has no account (an unidentified caller)"])
    account = session.get_one(Account, attempt.account_id)
    facts = _facts(session, account, now, today, None)
    problems = validate(spec, given, facts)
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
    disposition = Disposition(
        attempt_id=attempt.id,
        account_id=account.id,
        agent_id=agent_id,
        code=spec.code,
        set_by=given.setter,
        note=given.note,
        fields=_fields_of(given),
        applied={},
        created_at=now,
    )
    session.add(disposition)
    session.flush()
    recorded = _apply(session, attempt, disposition, spec, given, facts, now, settle_entry=True)
    _audit(session, disposition, actor=given.setter, agent_id=agent_id, now=now, before=None)
    session.flush()
    return recorded


def _apply(
    session: Session,
    attempt: CallAttempt,
    disposition: Disposition,
    spec: CodeSpec,
    given: DispositionInput,
    facts: AccountFacts,
    now: datetime,
    *,
    settle_entry: bool,
) -> Recorded:
    """Apply a validated code's effects; what it changed goes into disposition.applied."""
    fx = plan(spec, given, facts)
    account = session.get_one(Account, attempt.account_id)
    agent_id = disposition.agent_id
    applied: dict[str, Any] = {}
    attempt.action_code = spec.code

    if fx.create_promise or fx.paid_claim:
        # One promise row per disposition: a correction rewrites the one it cancelled. A
        # paid claim is the overdue amount "paid by today", checked the same way.
        promise = session.scalar(select(Promise).where(Promise.disposition_id == disposition.id))
        if promise is None:
            promise = Promise(account_id=account.id, disposition_id=disposition.id)
            session.add(promise)
        if fx.create_promise:
            assert given.promise_amount is not None and given.promise_date is not None
            promise.kind, promise.amount = "promise", given.promise_amount
            promise.due_date = given.promise_date
        else:
            promise.kind, promise.amount = "paid_claim", account.overdue_amount
            promise.due_date = facts.today
        promise.agent_id, promise.state, promise.created_at = agent_id, "pending", now
        session.flush()
        applied["promise_id"] = promise.id
    if fx.callback_at is not None:
        callback = session.scalar(select(Callback).where(Callback.disposition_id == disposition.id))
        if callback is None:
            callback = Callback(account_id=account.id, disposition_id=disposition.id)
            session.add(callback)
        callback.campaign_id = attempt.campaign_id
        callback.agent_id = agent_id if fx.callback_same_agent else None
        callback.due_at, callback.state, callback.created_at = fx.callback_at, "scheduled", now
        session.flush()
        applied["callback_id"] = callback.id
    # An inbound caller whose number the account does not have: no phone to act on.
    phone = session.get(Phone, attempt.phone_id) if attempt.phone_id is not None else None
    if phone is not None and fx.retire_phone and phone.dialable:
        applied["retired_phone_id"], applied["phone_reason_before"] = phone.id, phone.reason
        phone.dialable = False
        phone.reason = f"retired:{spec.code}"
    if phone is not None and fx.dnc:
        applied["dnc"] = True  # this disposition relies on the number's DNC row
        if session.get(DncNumber, phone.number) is None:
            session.add(DncNumber(number=phone.number, reason=spec.label_en, source="call"))
            applied["dnc_added"] = True
    if fx.add_phone is not None:
        applied.update(_add_phone(session, account, fx.add_phone))
    if fx.refer:
        referral = Referral(
            account_id=account.id,
            disposition_id=disposition.id,
            kind=fx.refer,
            reason=given.note or spec.label_en,
            referred_by=agent_id,
            created_at=now,
        )
        session.add(referral)
        session.flush()
        applied["referral_id"] = referral.id
    if fx.alert_team_lead:  # once per disposition, even when a correction re-applies it
        alerts.raise_alert(session, disposition, label=spec.label_en, now=now)
    if fx.suppress_until is not None:
        before = account.suppressed_until
        account.suppressed_until = max(fx.suppress_until, before or facts.today)
        applied["suppressed_before"] = before.isoformat() if before else None
        applied["suppressed_until"] = account.suppressed_until.isoformat()
    if fx.stop_account and account.status == "active":
        account.status = "closed"
        applied["account_closed"] = True
    disposition.applied = applied

    if attempt.entry_id is None:  # an inbound call: no campaign entry to dial again
        return Recorded(disposition.id, spec.code, fx, None, None, "none", None, 0.0)
    entry = session.get_one(CampaignEntry, attempt.entry_id)
    if not settle_entry:
        return Recorded(
            disposition.id, spec.code, fx, entry.id, entry.campaign_id, "unchanged", None, 0.0
        )
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
    if entry.state == "queued" and minutes and fx.callback_at is None:
        retry_at = now + timedelta(minutes=minutes)
    if retry_at is not None and fx.next_phone and fx.callback_at is None and phone is not None:
        # Another of the account's numbers has been tried less: dial it now, not later.
        tried = attempts_per_phone(session, entry.id)
        fewest = min(tried.get(p.id, 0) for p in callable_phones(account, profile))
        if fewest < tried.get(phone.id, 0):
            retry_at = None
    entry.not_before = retry_at
    if entry.state == "queued":
        _rank_for_callback(entry, campaign, fx.callback_at is not None)
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


def _rank_for_callback(entry: CampaignEntry, campaign: Campaign, callback: bool) -> None:
    """A callback the borrower asked for is dialed first when its time comes, inside a
    running campaign too: the entry carries the ranking's callback component until then
    (and loses it once a later code schedules none)."""
    boost = weights_from(campaign.ranking).callback if callback else 0.0
    if boost != entry.score_callback:
        entry.score = round3(entry.score - entry.score_callback + boost)
        entry.score_callback = boost


def _add_phone(session: Session, account: Account, number: str) -> dict[str, Any]:
    """The number the setter gave, as a new mobile of the account (first to be tried)."""
    phone = session.scalar(
        select(Phone).where(Phone.account_id == account.id, Phone.number == number)
    )
    if phone is not None:
        if phone.dialable or phone.reason != "withdrawn":
            return {}  # known already (or retired for a reason of its own): leave it
        phone.dialable, phone.reason = True, None
        return {"added_phone_id": phone.id}
    phone = Phone(account_id=account.id, number=number, raw=number, relation="mobile", priority=-1)
    session.add(phone)
    session.flush()
    session.expire(account, ["phones"])  # callable_phones below must see it
    return {"added_phone_id": phone.id}


def _overrun_of(disposition: Disposition, attempt: CallAttempt, agent_id: int | None) -> bool:
    """The system gave this agent's call NDP when the wrap-up ran out."""
    return (
        disposition.code == WRAP_UP_OVERRUN_CODE
        and disposition.set_by == "system"
        and agent_id is not None
        and attempt.agent_id == agent_id
    )


def _others_relying_on_dnc(session: Session, number: str, but: int) -> bool:
    """Another disposition whose code puts the number on the DNC list stands on a call to
    that number (any account's)."""
    dnc_codes = [
        c.code for c in session.scalars(select(ActionCode)) if (c.effects or {}).get("dnc")
    ]
    if not dnc_codes:
        return False
    return (
        session.scalar(
            select(func.count())
            .select_from(Disposition)
            .join(CallAttempt, CallAttempt.id == Disposition.attempt_id)
            .join(Phone, Phone.id == CallAttempt.phone_id)
            .where(Phone.number == number, Disposition.id != but, Disposition.code.in_(dnc_codes))
        )
        or 0
    ) > 0


def _undo_problems(session: Session, applied: dict[str, Any]) -> list[str]:
    """Why the effects of a disposition can no longer be undone (empty: they can)."""
    problems = []
    promise = session.get(Promise, applied["promise_id"]) if "promise_id" in applied else None
    if promise is not None and promise.state != "pending":
        problems.append(f"the promise it created is already {promise.state}")
    callback = session.get(Callback, applied["callback_id"]) if "callback_id" in applied else None
    if callback is not None and callback.state != "scheduled":
        problems.append(f"the callback it scheduled is already {callback.state}")
    referral = session.get(Referral, applied["referral_id"]) if "referral_id" in applied else None
    if referral is not None and referral.state != "open":
        problems.append(f"the referral it opened is already {referral.state}")
    return problems


def _undo(session: Session, disposition: Disposition, attempt: CallAttempt, today: date) -> None:
    """Take back what the disposition's code did, where nothing else changed it since.

    The team lead's alert cannot be taken back: it was sent.
    """
    applied = disposition.applied or {}
    account = session.get_one(Account, disposition.account_id)
    # Conditional: only what is still as the code left it (a promise the evaluation just
    # kept, a referral just accepted, is not taken back behind its new owner's back).
    for model, key, was, to in (
        (Promise, "promise_id", "pending", "cancelled"),
        (Callback, "callback_id", "scheduled", "cancelled"),
        (Referral, "referral_id", "open", "withdrawn"),
    ):
        if key in applied:
            changed = session.execute(
                update(model)
                .where(model.id == applied[key], model.state == was)
                .values(state=to)
                .execution_options(synchronize_session="fetch")
            )
            if changed.rowcount != 1:
                raise DispositionError(
                    [f"the {model.__tablename__[:-1]} it created is no longer {was}"]
                )
    phone = session.get(Phone, attempt.phone_id) if attempt.phone_id is not None else None
    retired_here = phone is not None and phone.reason == f"retired:{disposition.code}"
    if phone is not None and "retired_phone_id" in applied and retired_here:
        phone.dialable, phone.reason = True, applied.get("phone_reason_before")
    if phone is not None and (applied.get("dnc_added") or applied.get("dnc")):
        dnc = session.get(DncNumber, phone.number)
        # A row calls put there goes with the last disposition that relies on it: the same
        # number may be another account's (a reference who is someone else's borrower) and
        # that account's wrong-number or opt-out still stands.
        if (
            dnc is not None
            and dnc.source == "call"
            and not _others_relying_on_dnc(session, phone.number, disposition.id)
        ):
            session.delete(dnc)
    if "added_phone_id" in applied:
        added = session.get_one(Phone, applied["added_phone_id"])
        added.dialable, added.reason = False, "withdrawn"
    if applied.get("account_closed") and account.status == "closed":
        account.status = "active"
    ours = applied.get("suppressed_until")
    if ours is not None and account.suppressed_until == date.fromisoformat(ours):
        # Lift it to what held before, unless a later code of the account holds longer.
        holds = [applied.get("suppressed_before")]
        later = session.scalars(
            select(Disposition).where(
                Disposition.account_id == account.id,
                Disposition.id != disposition.id,
                Disposition.created_at >= disposition.created_at,
            )
        )
        holds += [(d.applied or {}).get("suppressed_until") for d in later]
        dates = [date.fromisoformat(h) for h in holds if h]
        account.suppressed_until = max(dates) if dates else None
    session.flush()


def correct_disposition(
    session: Session,
    attempt: CallAttempt,
    given: DispositionInput,
    *,
    actor: str,
    agent_id: int | None,
    now: datetime,
    today: date,
    window_minutes: int,
    supervisor: str | None = None,
) -> Recorded:
    """Replace an attempt's action code (and its fields) within the correction window.

    actor is "agent" (only the agent who recorded it) or "supervisor" (any code; the
    supervisor's name goes into the audit log, and one is required). The old
    code's effects are undone and the new one applied in the caller's transaction; raises
    DispositionError (nothing changed) when refused.
    """
    # Locked for the transaction: two corrections at once (a double click, a client retry)
    # are applied one after the other, the second seeing what the first did.
    disposition = session.scalar(
        select(Disposition).where(Disposition.attempt_id == attempt.id).with_for_update()
    )
    if disposition is None:
        raise DispositionError([f"attempt {attempt.id} has no action code to correct"])
    session.refresh(disposition)  # SQLite has no row locks: re-read inside the transaction
    problems = []
    if actor == "supervisor" and not (supervisor or "").strip():
        problems.append("a supervisor's correction needs the supervisor's name, for the audit log")
    own = disposition.set_by == "agent" and disposition.agent_id == agent_id
    if actor == "agent" and not own and not _overrun_of(disposition, attempt, agent_id):
        problems.append(
            f"only the agent who recorded attempt {attempt.id}'s code (or a supervisor) "
            "may correct it"
        )
    closes = disposition.created_at + timedelta(minutes=window_minutes)
    if now > closes:
        problems.append(
            f"the correction window of {window_minutes} minutes closed at "
            f"{closes.isoformat(timespec='minutes')}; ask a supervisor to fix the account"
        )
    spec = get_code(session, given.code)
    account = session.get_one(Account, attempt.account_id)
    facts = _facts(session, account, now, today, disposition.id)
    # The new code is checked as the desk would set it, whoever corrects it.
    problems += validate(spec, given, facts)
    problems += _undo_problems(session, disposition.applied or {})
    if problems:
        raise DispositionError(problems)
    assert spec is not None
    before = snapshot(disposition)
    _undo(session, disposition, attempt, today)
    disposition.code, disposition.note = spec.code, given.note
    disposition.fields, disposition.corrected_at = _fields_of(given), now
    settle = False
    if attempt.entry_id is not None:
        entry = session.get_one(CampaignEntry, attempt.entry_id)
        later_attempt = session.scalar(
            select(func.count(CallAttempt.id)).where(
                CallAttempt.entry_id == entry.id, CallAttempt.id > attempt.id
            )
        )
        # After a redial the entry's state belongs to the newer call: leave it alone.
        settle = not later_attempt and entry.state in ("queued", "done")
    if actor == "agent" and disposition.set_by == "system":  # the agent's code over NDP
        disposition.set_by, disposition.agent_id = "agent", agent_id
    recorded = _apply(session, attempt, disposition, spec, given, facts, now, settle_entry=settle)
    _audit(
        session,
        disposition,
        actor="supervisor" if actor == "supervisor" else disposition.set_by,
        agent_id=agent_id,
        now=now,
        before=before,
        actor_name=(supervisor or "").strip()[:64] or None if actor == "supervisor" else None,
    )
    session.flush()
    return replace(recorded, replaced=True)


def after_correction(r: redis.Redis, recorded: Recorded, now: datetime) -> None:
    """The queue side of a committed correction: the entry leaves or re-enters the queue."""
    if recorded.entry_state in ("unchanged", "none") or recorded.entry_id is None:
        return
    with r.pipeline() as pipe:
        pipe.zrem(Keys.dial_queue(recorded.campaign_id), recorded.entry_id)
        pipe.zrem(Keys.retry(recorded.campaign_id), recorded.entry_id)
        pipe.hdel(Keys.retry_scores(recorded.campaign_id), recorded.entry_id)
        pipe.execute()
    if recorded.entry_state == "queued":
        requeue(r, recorded.campaign_id, recorded.entry_id, recorded.score, recorded.retry_at, now)


def _who(row: DispositionAudit) -> str:
    if row.actor == "agent":
        return f"agent:{row.agent_id}"
    return f"{row.actor}:{row.actor_name}" if row.actor_name else row.actor


def audit_trail(session: Session, attempt_id: int) -> list[dict[str, Any]]:
    """Every change of the attempt's disposition, oldest first."""
    rows = session.scalars(
        select(DispositionAudit)
        .where(DispositionAudit.attempt_id == attempt_id)
        .order_by(DispositionAudit.id)
    )
    return [
        {
            "disposition_id": row.disposition_id,
            "who": _who(row),
            "agent_id": row.agent_id,
            "when": row.changed_at.isoformat(),
            "before": row.before,
            "after": row.after,
        }
        for row in rows
    ]


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
