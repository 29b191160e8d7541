"""Promises to pay: kept or broken against the payments received, and the payment schedule.

The rule (pure, `evaluate`): a promise made on day M (its created_at, local date) for
amount A due on day D is kept once the account's payments dated M .. D + grace reach
kept_share x A (it can be kept early); broken when the evaluation day is after D + grace
and they did not; pending otherwise. Only pending promises are evaluated, and each is
settled with a conditional UPDATE, so running an evaluation twice (or the daily job and the
CLI together) changes nothing more.

Effects in SQL (`evaluate_promises`):
- broken: the promise's call suppression is lifted (the account is callable again), and
  the campaign builder ranks the account up (its `broken` component reads promises with
  state broken and a recent due date);
- kept with the payments covering the account's overdue amount: the account's collection
  cycle closes: overdue_amount 0, status "cured" (the builder and the dial job leave out
  any account that is not active).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session

from dialer.agents.models import Agent
from dialer.outcomes.models import ActionCode, Disposition, Promise
from dialer.portfolio.models import Account, Payment, Phone
from dialer.privacy import mask_phone
from dialer.spreadsheet import excel_csv

# --- the rule (pure) ---------------------------------------------------------------------


@dataclass(frozen=True)
class KeptRule:
    """When a promise counts as kept: a share of the amount, by the due date plus grace."""

    kept_share: float = 1.0
    grace_days: int = 2


@dataclass(frozen=True)
class PromiseTerms:
    amount: int
    made_on: date  # local date the promise was made: payments from then on count
    due_date: date


@dataclass(frozen=True)
class Verdict:
    state: str  # kept | broken | pending
    paid: int  # the payments counted (dated in the promise's window, up to the day)
    required: int


def required_amount(amount: int, kept_share: float) -> int:
    """Whole đồng to be paid: kept_share x amount, rounded up (0.9 x 1,000,001 = 900,001)."""
    return math.ceil(Decimal(str(kept_share)) * amount)


def window_end(terms: PromiseTerms, rule: KeptRule) -> date:
    """The last day a payment counts for the promise."""
    return terms.due_date + timedelta(days=rule.grace_days)


def evaluate(
    terms: PromiseTerms, payments: Iterable[tuple[date, int]], on: date, rule: KeptRule
) -> Verdict:
    """The promise's state as of day `on`, from the account's payments (date paid, amount)."""
    last = min(on, window_end(terms, rule))
    paid = sum(amount for paid_on, amount in payments if terms.made_on <= paid_on <= last)
    required = required_amount(terms.amount, rule.kept_share)
    if paid >= required:
        return Verdict("kept", paid, required)
    if on > window_end(terms, rule):
        return Verdict("broken", paid, required)
    return Verdict("pending", paid, required)


# --- the evaluation over SQL -------------------------------------------------------------


@dataclass
class Evaluation:
    """Counts over the promises one evaluation looked at: those pending when it started and
    made on or before its day, by the state they have after it."""

    kept: int = 0
    broken: int = 0
    pending: int = 0
    cured_accounts: int = 0  # accounts whose collection cycle a kept promise closed
    unsuppressed_accounts: int = 0  # accounts a broken promise made callable again

    def to_dict(self) -> dict[str, int]:
        return {"kept": self.kept, "broken": self.broken, "pending": self.pending}


# A borrower who says they have paid may have paid a few days before the call (the bank's
# file is behind): payments this many days before the claim count for it.
PAID_CLAIM_LOOKBACK_DAYS = 10


@dataclass(frozen=True)
class Checked:
    """What one promise (or paid claim) is checked against: its terms, the rule of its
    payment window, and the days after its due date that its call suppression lasted."""

    terms: PromiseTerms
    rule: KeptRule
    hold_days: int


def terms_of(promise: Promise, effects: dict[str, Any], rule: KeptRule, zone: ZoneInfo) -> Checked:
    """A promise counts payments from the day it was made to its due date plus the
    evaluation's grace; its suppression lasted the code's grace days, or the evaluation's if
    longer. A paid claim ("already paid", PAID / WFP) is the overdue amount due on the day of
    the claim; payments from a few days before count, and it stays pending while the code
    holds the calls (its suppress days): after that it is not verified (broken), and the
    account is called again and ranked up.
    """
    made_on = promise.created_at.astimezone(zone).date()
    if promise.kind == "paid_claim":
        hold = int(effects.get("suppress_days", rule.grace_days))
        since = made_on - timedelta(days=PAID_CLAIM_LOOKBACK_DAYS)
        terms = PromiseTerms(promise.amount, since, promise.due_date)
        return Checked(terms, KeptRule(rule.kept_share, hold), hold)
    hold = max(int(effects.get("grace_days", 0)), rule.grace_days)
    return Checked(PromiseTerms(promise.amount, made_on, promise.due_date), rule, hold)


def _local_day_start(day: date, tz: str) -> datetime:
    return datetime.combine(day, time(0), ZoneInfo(tz)).astimezone(UTC)


def evaluate_promises(
    session: Session, on: date, *, rule: KeptRule, tz: str, now: datetime
) -> Evaluation:
    """Settle the pending promises made on or before `on` as of that day, and apply the
    effects to their accounts. The caller commits."""
    zone = ZoneInfo(tz)
    rows = session.execute(
        select(Promise, ActionCode.effects)
        .join(Disposition, Disposition.id == Promise.disposition_id)
        .join(ActionCode, ActionCode.code == Disposition.code)
        .where(
            Promise.state == "pending", Promise.created_at < _local_day_start(on + timedelta(1), tz)
        )
        .order_by(Promise.id)
    ).all()
    result = Evaluation()
    if not rows:
        return result
    account_ids = {promise.account_id for promise, _ in rows}
    payments: dict[int, list[tuple[date, int]]] = defaultdict(list)
    for account_id, paid_on, amount in session.execute(
        select(Payment.account_id, Payment.paid_on, Payment.amount).where(
            Payment.account_id.in_(account_ids), Payment.paid_on <= on
        )
    ):
        payments[account_id].append((paid_on, amount))

    broken_holds: dict[int, date] = {}  # account -> the latest suppression a broken one set
    kept_paid: dict[int, int] = defaultdict(int)  # account -> payments its kept promises counted
    for promise, effects in rows:
        checked = terms_of(promise, effects or {}, rule, zone)
        verdict = evaluate(checked.terms, payments[promise.account_id], on, checked.rule)
        if verdict.state == "pending":
            result.pending += 1
            continue
        # Conditional: a promise settles once, whoever evaluates at the same moment.
        settled = session.execute(
            update(Promise)
            .where(Promise.id == promise.id, Promise.state == "pending")
            .values(state=verdict.state, settled_on=on, paid_amount=verdict.paid)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not settled:
            continue
        session.expire(promise)
        if verdict.state == "kept":
            result.kept += 1
            kept_paid[promise.account_id] = max(kept_paid[promise.account_id], verdict.paid)
        else:
            result.broken += 1
            # The suppression this promise set (outcomes.effects.plan: due + the code's
            # grace days, or a paid claim's hold), or the evaluation's grace if longer.
            hold = promise.due_date + timedelta(days=checked.hold_days)
            broken_holds[promise.account_id] = max(hold, broken_holds.get(promise.account_id, hold))
    for account_id, hold in broken_holds.items():
        if _lift_suppression(session, account_id, hold, rule):
            result.unsuppressed_accounts += 1
    for account_id, paid in kept_paid.items():
        account = session.get_one(Account, account_id)
        if account.status == "active" and paid >= account.overdue_amount:
            # Nothing overdue remains; the bank's next file brings the new figures.
            account.overdue_amount = 0
            account.status = "cured"
            account.updated_at = now
            result.cured_accounts += 1
    session.flush()
    return result


def _lift_suppression(session: Session, account_id: int, hold: date, rule: KeptRule) -> bool:
    """After a broken promise: the account's suppression ends, unless something else set it
    for longer (a dispute, "says paid" after the promise) or another promise still pends."""
    account = session.get_one(Account, account_id)
    if account.suppressed_until is None or account.suppressed_until > hold:
        return False
    still_pending = session.scalars(
        select(Promise.due_date).where(Promise.account_id == account_id, Promise.state == "pending")
    ).all()
    until = max((d + timedelta(days=rule.grace_days) for d in still_pending), default=None)
    if until == account.suppressed_until:
        return False
    account.suppressed_until = until
    return True


# --- the payment schedule ----------------------------------------------------------------

SCHEDULE_COLUMNS = (
    "due_date",
    "kind",
    "team",
    "agent",
    "account_no",
    "customer_name",
    "phone",
    "amount",
    "promised_on",
    "promise_id",
)


@dataclass(frozen=True)
class ScheduleRow:
    """One payment due: a pending promise (amount promised) or an installment (the
    account's due date; amount overdue). Phone masked, never the national ID."""

    due_date: date
    kind: str  # promise | installment
    team: str | None
    agent: str | None  # username of the promise's agent; None for installments
    account_no: str
    customer_name: str
    phone: str  # the first dialable obligor number, masked
    amount: int
    promised_on: date | None
    promise_id: int | None

    def to_dict(self) -> dict[str, Any]:
        out = {c: getattr(self, c) for c in SCHEDULE_COLUMNS}
        out["due_date"] = self.due_date.isoformat()
        out["promised_on"] = self.promised_on.isoformat() if self.promised_on else None
        return out


def _order(row: ScheduleRow) -> tuple[Any, ...]:
    return (row.team or "\uffff", row.agent or "\uffff", row.due_date, row.kind, row.account_no)


def payment_schedule(session: Session, on: date, *, tz: str) -> list[ScheduleRow]:
    """Pending promises and active accounts' installments due on `on` or the day after,
    ordered by team, agent, due date."""
    days = (on, on + timedelta(days=1))
    zone = ZoneInfo(tz)
    rows: list[ScheduleRow] = []
    promises = session.execute(
        select(Promise, Account.account_no, Account.customer_name, Agent.username, Agent.team)
        .join(Account, Account.id == Promise.account_id)
        .outerjoin(Agent, Agent.id == Promise.agent_id)
        .where(Promise.state == "pending", Promise.kind == "promise", Promise.due_date.in_(days))
    ).all()
    installments = session.execute(
        select(
            Account.id,
            Account.account_no,
            Account.customer_name,
            Account.overdue_amount,
            Account.due_date,
        ).where(Account.status == "active", Account.due_date.in_(days))
    ).all()
    phones = _first_phones(
        session, {p.account_id for p, *_ in promises} | {a.id for a in installments}
    )
    for promise, account_no, name, username, team in promises:
        rows.append(
            ScheduleRow(
                due_date=promise.due_date,
                kind="promise",
                team=team,
                agent=username,
                account_no=account_no,
                customer_name=name,
                phone=phones.get(promise.account_id, ""),
                amount=promise.amount,
                promised_on=promise.created_at.astimezone(zone).date(),
                promise_id=promise.id,
            )
        )
    for account_id, account_no, name, overdue, due in installments:
        rows.append(
            ScheduleRow(
                due_date=due,
                kind="installment",
                team=None,
                agent=None,
                account_no=account_no,
                customer_name=name,
                phone=phones.get(account_id, ""),
                amount=overdue,
                promised_on=None,
                promise_id=None,
            )
        )
    return sorted(rows, key=_order)


def _first_phones(session: Session, account_ids: set[int]) -> dict[int, str]:
    """Each account's first dialable borrower number, masked."""
    out: dict[int, str] = {}
    if not account_ids:
        return out
    for account_id, number in session.execute(
        select(Phone.account_id, Phone.number)
        .where(
            Phone.account_id.in_(account_ids),
            and_(Phone.dialable.is_(True), Phone.relation != "reference"),
        )
        .order_by(Phone.account_id, Phone.priority, Phone.id)
    ):
        out.setdefault(account_id, mask_phone(number))
    return out


def schedule_summary(rows: list[ScheduleRow], on: date) -> dict[str, Any]:
    """The schedule as the desk and the API show it: rows, and totals per team and agent."""
    groups: dict[tuple[str | None, str | None], dict[str, Any]] = {}
    for row in rows:
        group = groups.setdefault(
            (row.team, row.agent),
            {
                "team": row.team,
                "agent": row.agent,
                "promises": 0,
                "promised_amount": 0,
                "installments": 0,
                "installment_amount": 0,
            },
        )
        if row.kind == "promise":
            group["promises"] += 1
            group["promised_amount"] += row.amount
        else:
            group["installments"] += 1
            group["installment_amount"] += row.amount
    return {
        "date": on.isoformat(),
        "through": (on + timedelta(days=1)).isoformat(),
        "by_agent": list(groups.values()),
        "rows": [row.to_dict() for row in rows],
    }


def schedule_csv(rows: list[ScheduleRow]) -> Iterator[str]:
    """The schedule as CSV text: a UTF-8 byte order mark first (Excel reads Vietnamese
    names right), a header, one line per payment due."""
    yield from excel_csv(SCHEDULE_COLUMNS, (row.to_dict() for row in rows), guard=SCHEDULE_COLUMNS)
