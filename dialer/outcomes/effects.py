"""What an action code means for an account: validation and effects as pure functions.

No I/O here: the service layer gathers the facts, calls `validate` and `plan`, and applies
the resulting Effects to SQL and Redis.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from dialer.messages import N_, Message
from dialer.outcomes.catalogue import FIELDS, REFERRAL_KINDS, CodeSpec
from dialer.portfolio.phones import normalize_phone

# A promise further out than this is almost always a typing mistake (and a longer plan is
# a restructuring, DIF): refused, the agent retypes it.
MAX_PROMISE_DAYS = 30
MAX_CALLBACK_DAYS = 30
# How a missing field is named in "PTP requires promise amount".
FIELD_WORDS = {
    "promise_amount": N_("promise amount"),
    "promise_date": N_("promise date"),
    "callback_at": N_("callback at"),
    "note": N_("note"),
    "new_phone": N_("new phone"),
}
# Why a new phone number cannot be dialed (portfolio.phones), in words a reader can take.
PHONE_REASONS = {"empty": N_("empty"), "invalid": N_("invalid"), "premium_rate": N_("premium rate")}


@dataclass(frozen=True)
class DispositionInput:
    """What the setter (agent, IVR, telephony layer) says about one call attempt."""

    code: str
    setter: str  # system | agent | ivr
    promise_amount: int | None = None
    promise_date: date | None = None
    callback_at: datetime | None = None
    note: str | None = None
    new_phone: str | None = None

    def given(self) -> set[str]:
        return {name for name in FIELDS if getattr(self, name) not in (None, "")}


@dataclass(frozen=True)
class AccountFacts:
    """What the rules need to know about the account at the moment of the disposition."""

    overdue_amount: int
    principal_outstanding: int
    now: datetime  # aware
    today: date  # the local date at the collections centre
    refusals_before: int = 0  # earlier refusals (RTP) on this account
    region: str = "VN"  # for a new phone number written without its country code

    @property
    def outstanding(self) -> int:
        """The most a promise may be for: the larger of the overdue amount (what is due now,
        interest and fees included) and the principal outstanding (settling the whole loan).
        Card accounts often carry no principal figure, so the overdue amount alone counts."""
        return max(self.overdue_amount, self.principal_outstanding)


@dataclass(frozen=True)
class Effects:
    close_entry: bool = False
    retry_at: datetime | None = None
    next_phone: bool = False
    callback_at: datetime | None = None
    callback_same_agent: bool = False
    create_promise: bool = False
    suppress_until: date | None = None
    retire_phone: bool = False
    dnc: bool = False
    refer: str | None = None
    alert_team_lead: bool = False
    stop_account: bool = False
    add_phone: str | None = None  # E.164 of a new number the setter gave
    # "Already paid" (PAID, WFP): a claim for the overdue amount, checked against the
    # payments by the promise evaluation like a promise due today (kept = verified).
    paid_claim: bool = False


def Problem(about: str | None, template: str, **params: Any) -> Message:
    """One reason a disposition is refused, about one field (the desk shows it there)."""
    return Message(template, about=about, **params)


class DispositionError(ValueError):
    """The disposition was refused; `problems` says why, one sentence each."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def validate(spec: CodeSpec | None, given: DispositionInput, facts: AccountFacts) -> list[str]:
    """Every reason the disposition must be refused (empty: it may be recorded)."""
    if spec is None:
        return [f"unknown action code {given.code!r}"]
    problems: list[str] = []
    if not spec.active:
        problems.append(f"action code {spec.code} is no longer in use")
    if given.setter not in spec.setters:
        problems.append(
            f"action code {spec.code} cannot be set by {given.setter} "
            f"(only by {', '.join(spec.setters)})"
        )
    for name in spec.requires:
        if name not in given.given():
            problems.append(
                Problem(name, N_("{code} requires {what}"), code=spec.code, what=FIELD_WORDS[name])
            )
    if not spec.is_promise and given.given() & {"promise_amount", "promise_date"}:
        problems.append(
            Problem(
                "promise_amount",
                N_("{code} is not a promise: remove the promise amount and date"),
                code=spec.code,
            )
        )
    if given.promise_amount is not None:
        if given.promise_amount <= 0:
            problems.append(Problem("promise_amount", N_("promise amount must be above 0")))
        elif given.promise_amount > facts.outstanding:
            problems.append(
                Problem(
                    "promise_amount",
                    N_("promise amount {amount} is over the outstanding balance {outstanding}"),
                    amount=given.promise_amount,
                    outstanding=facts.outstanding,
                )
            )
    if given.promise_date is not None:
        if given.promise_date < facts.today:
            problems.append(
                Problem(
                    "promise_date",
                    N_("promise date {date} is in the past"),
                    date=given.promise_date.isoformat(),
                )
            )
        elif given.promise_date > facts.today + timedelta(days=MAX_PROMISE_DAYS):
            problems.append(
                Problem(
                    "promise_date",
                    N_("promise date is more than {days} days ahead"),
                    days=MAX_PROMISE_DAYS,
                )
            )
    if given.callback_at is not None:
        if given.callback_at <= facts.now:
            problems.append(Problem("callback_at", N_("callback time is in the past")))
        elif given.callback_at > facts.now + timedelta(days=MAX_CALLBACK_DAYS):
            problems.append(
                Problem(
                    "callback_at",
                    N_("callback time is more than {days} days ahead"),
                    days=MAX_CALLBACK_DAYS,
                )
            )
    if given.callback_at is not None and not spec.effects.get("callback"):
        problems.append(
            Problem(
                "callback_at",
                N_("{code} schedules no callback: remove the callback time"),
                code=spec.code,
            )
        )
    if given.note is not None and len(given.note) > 2000:
        problems.append(Problem("note", N_("note is longer than 2000 characters")))
    if given.new_phone is not None:
        check = normalize_phone(given.new_phone, facts.region)
        if not check.dialable:
            problems.append(
                Problem(
                    "new_phone",
                    N_("new phone number is not a number we can dial ({reason})"),
                    reason=PHONE_REASONS.get(check.reason or "", check.reason),
                )
            )
    refer = spec.effects.get("refer")
    if refer is not None and refer not in REFERRAL_KINDS:
        problems.append(f"action code {spec.code} refers to unknown team {refer!r}")
    return problems


def plan(spec: CodeSpec, given: DispositionInput, facts: AccountFacts) -> Effects:
    """The effects of a valid disposition (call validate first)."""
    fx = spec.effects
    retry_at = None
    if fx.get("retry_after_minutes") is not None and not fx.get("close_entry"):
        retry_at = facts.now + timedelta(minutes=int(fx["retry_after_minutes"]))
    refer = fx.get("refer")
    # Repeated refusals escalate (e.g. to legal) once the configured count is reached.
    threshold = fx.get("escalate_after_refusals")
    if spec.is_refusal and threshold and facts.refusals_before + 1 >= int(threshold):
        refer = fx.get("escalate_to", "legal")
    suppress_until = None
    if spec.is_promise and given.promise_date and fx.get("suppress_until_promise"):
        suppress_until = given.promise_date + timedelta(days=int(fx.get("grace_days", 0)))
    elif fx.get("suppress_days"):
        suppress_until = facts.today + timedelta(days=int(fx["suppress_days"]))
    callback_at = given.callback_at if fx.get("callback") else None
    add_phone = normalize_phone(given.new_phone, facts.region).number if given.new_phone else None
    return Effects(
        add_phone=add_phone,
        close_entry=bool(fx.get("close_entry")),
        # A callback is the entry's next dial, at the time the borrower asked for.
        retry_at=callback_at or retry_at,
        next_phone=bool(fx.get("next_phone")),
        callback_at=callback_at,
        callback_same_agent=fx.get("callback") == "same_agent",
        create_promise=spec.is_promise,
        suppress_until=suppress_until,
        retire_phone=bool(fx.get("retire_phone")),
        dnc=bool(fx.get("dnc")),
        refer=refer,
        alert_team_lead=bool(fx.get("alert_team_lead")),
        stop_account=bool(fx.get("stop_account")),
        paid_claim=bool(fx.get("paid_claim")) and not spec.is_promise,
    )
