"""Collected amounts matched to promises: the payments received over a range of days, each
matched to the promise to pay it counts for (the window outcomes/promises.py counts
payments in: from the day the promise was made to its due date plus the grace days), or
not matched; added up per day paid or per agent."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from dialer.agents.models import Agent
from dialer.campaigns.models import CallAttempt
from dialer.console.reports.common import Column, days, rate
from dialer.messages import N_
from dialer.outcomes.models import ActionCode, Disposition, Promise
from dialer.outcomes.promises import KeptRule, terms_of, window_end
from dialer.portfolio.models import Payment

GROUPS = {"day": N_("Per day"), "agent": N_("Per agent")}
_FIGURES = (
    Column("payments", N_("Payments")),
    Column("collected_amount", N_("Collected (VND)"), "amount"),
    Column("matched_payments", N_("Matched to a promise")),
    Column("matched_amount", N_("Matched amount (VND)"), "amount"),
    Column("unmatched_payments", N_("Not matched")),
    Column("unmatched_amount", N_("Not matched amount (VND)"), "amount"),
    Column("matched_share", N_("Share matched"), "rate"),
)
COLLECTED_COLUMNS = {
    "day": (Column("day", N_("Day paid"), "date"), *_FIGURES),
    "agent": (Column("agent", N_("Agent"), "text"), Column("team", N_("Team"), "text"), *_FIGURES),
}
CHUNK_ACCOUNTS = 500  # accounts whose promises and calls are read in one query


@dataclass(frozen=True)
class Matched:
    """One payment and whom it is credited to: the promise it counts for (and that
    promise's agent), or, not matched, the agent of the last call bridged on the account
    up to the day it was paid (None when nobody talked to the customer)."""

    payment_id: int
    account_id: int
    paid_on: date
    amount: int
    promise_id: int | None
    agent_id: int | None


def matched_payments(
    session: Session, *, first: date, last: date, tz: str, rule: KeptRule
) -> Iterator[Matched]:
    """Every payment dated `first`..`last`, matched: to the promise (kind promise, not
    cancelled) of its account whose window holds the day paid, the latest made when
    several do."""
    zone = ZoneInfo(tz)
    account_ids = list(
        session.scalars(
            select(Payment.account_id)
            .where(Payment.paid_on >= first, Payment.paid_on <= last)
            .distinct()
            .order_by(Payment.account_id)
        )
    )
    for n in range(0, len(account_ids), CHUNK_ACCOUNTS):
        chunk = account_ids[n : n + CHUNK_ACCOUNTS]
        windows: dict[int, list[tuple[date, date, datetime, int, int | None]]] = defaultdict(list)
        for promise, effects in session.execute(
            select(Promise, ActionCode.effects)
            .join(Disposition, Disposition.id == Promise.disposition_id)
            .join(ActionCode, ActionCode.code == Disposition.code)
            .where(
                Promise.account_id.in_(chunk),
                Promise.kind == "promise",
                Promise.state.in_(("pending", "kept", "broken")),
            )
        ):
            checked = terms_of(promise, effects or {}, rule, zone)
            windows[promise.account_id].append(
                (
                    checked.terms.made_on,
                    window_end(checked.terms, checked.rule),
                    promise.created_at,
                    promise.id,
                    promise.agent_id,
                )
            )
        calls: dict[int, list[tuple[date, datetime, int]]] = defaultdict(list)
        for account_id, connected_at, agent_id in session.execute(
            select(CallAttempt.account_id, CallAttempt.connected_at, CallAttempt.agent_id).where(
                CallAttempt.account_id.in_(chunk),
                CallAttempt.connected_at.is_not(None),
                CallAttempt.agent_id.is_not(None),
            )
        ):
            calls[account_id].append((connected_at.astimezone(zone).date(), connected_at, agent_id))
        for payment in session.scalars(
            select(Payment)
            .where(Payment.account_id.in_(chunk), Payment.paid_on >= first, Payment.paid_on <= last)
            .order_by(Payment.paid_on, Payment.id)
        ):
            holding = [w for w in windows[payment.account_id] if w[0] <= payment.paid_on <= w[1]]
            if holding:
                *_, promise_id, agent_id = max(holding, key=lambda w: (w[2], w[3]))
            else:
                before = [c for c in calls[payment.account_id] if c[0] <= payment.paid_on]
                promise_id, agent_id = None, (max(before)[2] if before else None)
            yield Matched(
                payment.id,
                payment.account_id,
                payment.paid_on,
                payment.amount,
                promise_id,
                agent_id,
            )


def _empty() -> dict[str, Any]:
    return {c.key: 0 for c in _FIGURES}


def _add(row: dict[str, Any], m: Matched) -> None:
    row["payments"] += 1
    row["collected_amount"] += m.amount
    side = "matched" if m.promise_id is not None else "unmatched"
    row[f"{side}_payments"] += 1
    row[f"{side}_amount"] += m.amount


def _share(row: dict[str, Any]) -> dict[str, Any]:
    row["matched_share"] = rate(row["matched_amount"], row["collected_amount"])
    return row


def collected(
    session: Session,
    *,
    first: date,
    last: date,
    tz: str,
    team: str | None,
    rule: KeptRule,
    group: str = "day",
) -> list[dict[str, Any]]:
    """The payments dated `first`..`last`, matched (matched_payments), per day paid (every
    day of the range, oldest first) or per agent credited (by name; the payments nobody is
    credited with last, as agent None). With a team: only the payments credited to its
    agents. matched_share: the matched amount over the amount collected."""
    if group not in GROUPS:
        raise ValueError(f"unknown group {group!r}; known: {', '.join(GROUPS)}")
    agents = {a.id: a for a in session.scalars(select(Agent))}
    wanted = {a.id for a in agents.values() if team is None or a.team == team}
    if group == "day":
        by_day = {day: {"day": day, **_empty()} for day in days(first, last)}
        for m in matched_payments(session, first=first, last=last, tz=tz, rule=rule):
            if team is None or m.agent_id in wanted:
                _add(by_day[m.paid_on], m)
        return [_share(row) for row in by_day.values()]
    by_agent: dict[int | None, dict[str, Any]] = {}
    for m in matched_payments(session, first=first, last=last, tz=tz, rule=rule):
        if team is not None and m.agent_id not in wanted:
            continue
        agent = agents.get(m.agent_id) if m.agent_id is not None else None
        row = by_agent.setdefault(
            m.agent_id,
            {"agent": agent.name if agent else None, "team": agent.team if agent else None}
            | _empty(),
        )
        _add(row, m)
    ordered = sorted(by_agent.values(), key=lambda r: (r["agent"] is None, r["agent"] or ""))
    return [_share(row) for row in ordered]


def collected_total(rows: list[dict[str, Any]], group: str, label: str) -> dict[str, Any]:
    """The rows added up, `label` in the first column."""
    first, *rest = COLLECTED_COLUMNS[group]
    total: dict[str, Any] = {first.key: label} | {c.key: None for c in rest} | _empty()
    for row in rows:
        for c in _FIGURES:
            if c.key != "matched_share":
                total[c.key] += row[c.key]
    return _share(total)
