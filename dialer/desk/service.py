"""What the desk shows: the account on screen with its history, the agent's callbacks and
payment schedule, the campaigns they may work, the days and times a promise or a callback
may take. Reads only (who may see an account: auth/reach.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from dialer.agents.models import Agent
from dialer.agents.service import may_work
from dialer.campaigns.models import CallAttempt, Campaign
from dialer.campaigns.ranking import bucket_of
from dialer.outcomes.catalogue import load_catalogue
from dialer.outcomes.models import Callback, Disposition, Promise
from dialer.portfolio.models import Account, Payment, Phone
from dialer.privacy import mask_national_id, mask_phone, mask_text

HISTORY = 10  # rows of each history list on the screen


@dataclass(frozen=True)
class PhoneLine:
    id: int
    number: str  # masked
    relation: str
    dialable: bool
    reason: str | None
    attempts: int
    last_at: datetime | None
    last_result: str | None
    dialed: bool  # the phone of the call on screen


def account_view(
    session: Session, *, account: Account, dialed_phone_id: int | None = None
) -> dict[str, Any]:
    """The account as the desk shows it: masked identity, amounts, bucket, phones with
    their call history, promises, payments and the last contacts with their codes."""
    catalogue = load_catalogue(session)
    counts = dict(
        session.execute(
            select(CallAttempt.phone_id, func.count())
            .where(CallAttempt.account_id == account.id)
            .group_by(CallAttempt.phone_id)
        ).all()
    )
    phones = []
    for phone in sorted(account.phones, key=lambda p: (p.priority, p.id)):
        last = session.execute(
            select(CallAttempt.created_at, CallAttempt.result, CallAttempt.action_code)
            .where(CallAttempt.phone_id == phone.id)
            .order_by(CallAttempt.id.desc())
            .limit(1)
        ).first()
        phones.append(
            PhoneLine(
                id=phone.id,
                number=mask_phone(phone.number),
                relation=phone.relation,
                dialable=phone.dialable,
                reason=phone.reason,
                attempts=counts.get(phone.id, 0),
                last_at=last[0] if last else None,
                last_result=(last[2] or last[1]) if last else None,
                dialed=phone.id == dialed_phone_id,
            )
        )
    contacts = session.execute(
        select(Disposition, Agent.name, Phone.number)
        .outerjoin(Agent, Agent.id == Disposition.agent_id)
        .join(CallAttempt, CallAttempt.id == Disposition.attempt_id)
        .outerjoin(Phone, Phone.id == CallAttempt.phone_id)
        .where(Disposition.account_id == account.id)
        .order_by(Disposition.id.desc())
        .limit(HISTORY)
    ).all()
    return {
        "account": account,
        "national_id": mask_national_id(account.national_id),
        "bucket": bucket_of(account.dpd),
        "phones": phones,
        "promises": list(
            session.scalars(
                select(Promise)
                .where(Promise.account_id == account.id)
                .order_by(Promise.id.desc())
                .limit(HISTORY)
            )
        ),
        "payments": list(
            session.scalars(
                select(Payment)
                .where(Payment.account_id == account.id)
                .order_by(Payment.paid_on.desc(), Payment.id.desc())
                .limit(HISTORY)
            )
        ),
        "contacts": [
            {
                "at": d.created_at,
                "code": d.code,
                "label_vi": catalogue[d.code].label_vi if d.code in catalogue else d.code,
                "label_en": catalogue[d.code].label_en if d.code in catalogue else d.code,
                "set_by": d.set_by,
                "agent": agent_name,
                "phone": mask_phone(number) if number else "",
                # What agents typed may hold a number or an ID: masked like the logs.
                "note": mask_text(d.note) if d.note else None,
            }
            for d, agent_name, number in contacts
        ],
    }


def my_callbacks(session: Session, *, agent_id: int, now: datetime) -> dict[str, list[dict]]:
    """The callbacks this agent scheduled that are still to be made: due (time passed) and
    upcoming, soonest first."""
    rows = session.execute(
        select(Callback, Account.account_no, Account.customer_name)
        .join(Account, Account.id == Callback.account_id)
        .join(Disposition, Disposition.id == Callback.disposition_id)
        .where(
            Callback.state == "scheduled",
            or_(Callback.agent_id == agent_id, Disposition.agent_id == agent_id),
        )
        .order_by(Callback.due_at)
        .limit(100)
    ).all()
    out: dict[str, list[dict]] = {"due": [], "upcoming": []}
    for callback, account_no, name in rows:
        item = {
            "id": callback.id,
            "due_at": callback.due_at,
            "account_no": account_no,
            "customer_name": name,
            "same_agent": callback.agent_id == agent_id,
        }
        out["due" if callback.due_at <= now else "upcoming"].append(item)
    return out


def my_payment_schedule(session: Session, *, agent_id: int, today: date) -> list[dict]:
    """The agent's pending promises due today or tomorrow (what to watch for)."""
    rows = session.execute(
        select(Promise, Account.account_no, Account.customer_name)
        .join(Account, Account.id == Promise.account_id)
        .where(
            Promise.agent_id == agent_id,
            Promise.state == "pending",
            Promise.due_date.in_((today, today + timedelta(days=1))),
        )
        .order_by(Promise.due_date, Account.account_no)
    ).all()
    return [
        {
            "due_date": p.due_date,
            "kind": p.kind,
            "amount": p.amount,
            "account_no": account_no,
            "customer_name": name,
            "promised_on": p.created_at,
        }
        for p, account_no, name in rows
    ]


def workable_campaigns(session: Session, *, agent: Agent) -> list[Campaign]:
    """Running campaigns with agents that this agent may log in to."""
    campaigns = session.scalars(
        select(Campaign)
        .where(Campaign.state == "running", Campaign.dial_mode != "ivr")
        .order_by(Campaign.id.desc())
    )
    return [c for c in campaigns if may_work(c.team, c.agent_ids or [], agent.team, agent.id)]


def days_from(start: date, days: int) -> list[date]:
    """The dates a promise or a callback may fall on: start and the `days` after it."""
    return [start + timedelta(days=n) for n in range(days + 1)]


def callback_times(window_start: time, window_end: time, step_minutes: int = 15) -> list[str]:
    """HH:MM slots inside the calling window (before its end), for a callback's time:
    the agent cannot pick a time the dialer may not call."""
    slots, at = [], datetime.combine(date.min, window_start)
    end = datetime.combine(date.min, window_end)
    while at < end:
        slots.append(at.strftime("%H:%M"))
        at += timedelta(minutes=step_minutes)
    return slots
