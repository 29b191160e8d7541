"""Hourly contacts and promises: per hour of the centre's local day (settings.timezone),
over a range of days, the calls of the team's campaigns and what came of them."""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from dialer.campaigns.models import CallAttempt, Campaign
from dialer.console.reports.common import (
    Column,
    local_hour_of_quarter,
    quarter_hour,
    range_bounds,
    rate,
)
from dialer.messages import N_
from dialer.outcomes.models import ActionCode, Disposition, Promise

HOURLY_COLUMNS = (
    Column("hour", N_("Hour"), "hour"),
    Column("calls", N_("Calls")),
    Column("contacts", N_("Contacts")),
    Column("right_party", N_("Right-party contacts")),
    Column("promises", N_("Promises")),
    Column("promised_amount", N_("Promised amount (VND)"), "amount"),
    Column("contact_rate", N_("Contacts per call"), "rate"),
)
_COUNTS = ("calls", "contacts", "right_party", "promises", "promised_amount")
# Hours always shown (a working day: 07:00-21:00), widened to any hour with a call.
FIRST_HOUR, LAST_HOUR = 7, 20


def hourly(
    session: Session, *, first: date, last: date, tz: str, team: str | None
) -> list[dict[str, Any]]:
    """One row per local hour (07 to 20, and any other hour with a call, in order), over
    the days `first`..`last`, for the calls of the team's campaigns (all calls for None;
    inbound calls belong to no campaign, so only an administrator's report has them):
    calls: placed in that hour; contacts / right_party: calls whose recorded code is a
    contact / right-party code, by the hour the code was recorded; promises: promises to
    pay made on those calls, by the hour made, and their amount."""
    zone = ZoneInfo(tz)
    start, end = range_bounds(first, last, tz)
    scoped = ()
    if team is not None:
        scoped = (CallAttempt.campaign_id.in_(select(Campaign.id).where(Campaign.team == team)),)
    counts: dict[int, dict[str, int]] = {}

    def add(rows, *keys: str) -> None:
        """Rows of (quarter hour, figure per key...) counted in SQL, into local hours."""
        for quarter, *figures in rows:
            hour = local_hour_of_quarter(quarter, zone)
            row = counts.setdefault(hour, dict.fromkeys(_COUNTS, 0))
            for key, figure in zip(keys, figures, strict=True):
                row[key] += int(figure or 0)

    # Grouped in the database (at most 96 rows a day come back), not a row per call.
    placed = quarter_hour(CallAttempt.created_at)
    add(
        session.execute(
            select(placed, func.count())
            .where(CallAttempt.created_at >= start, CallAttempt.created_at < end, *scoped)
            .group_by(placed)
        ),
        "calls",
    )
    coded = quarter_hour(Disposition.created_at)
    add(
        session.execute(
            select(
                coded,
                func.sum(case((ActionCode.is_contact.is_(True), 1), else_=0)),
                func.sum(case((ActionCode.is_right_party.is_(True), 1), else_=0)),
            )
            .join(ActionCode, ActionCode.code == Disposition.code)
            .join(CallAttempt, CallAttempt.id == Disposition.attempt_id)
            .where(
                Disposition.created_at >= start,
                Disposition.created_at < end,
                ActionCode.is_contact.is_(True) | ActionCode.is_right_party.is_(True),
                *scoped,
            )
            .group_by(coded)
        ),
        "contacts",
        "right_party",
    )
    made = quarter_hour(Promise.created_at)
    add(
        session.execute(
            select(made, func.count(), func.sum(Promise.amount))
            .join(Disposition, Disposition.id == Promise.disposition_id)
            .join(CallAttempt, CallAttempt.id == Disposition.attempt_id)
            .where(
                Promise.standing(),
                Promise.created_at >= start,
                Promise.created_at < end,
                *scoped,
            )
            .group_by(made)
        ),
        "promises",
        "promised_amount",
    )
    hours = range(min([FIRST_HOUR, *counts]), max([LAST_HOUR, *counts]) + 1)
    rows = []
    for hour in hours:
        row = counts.get(hour) or dict.fromkeys(_COUNTS, 0)
        rows.append({"hour": hour, **row, "contact_rate": rate(row["contacts"], row["calls"])})
    return rows
