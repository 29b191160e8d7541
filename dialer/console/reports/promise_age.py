"""Promise kept rate by age: the promises to pay made over a range of local days, by how
many days have passed (as of today) since they were made or since their due date, and
what became of them: kept, broken, still pending (outcomes/promises.py settles them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from dialer.console.reports.common import Column, range_bounds, rate, team_agents
from dialer.messages import N_
from dialer.outcomes.models import Promise

BASES = {
    "due": N_("Days past the due date"),
    "made": N_("Days since the promise was made"),
}


@dataclass(frozen=True)
class Band:
    low: int | None  # None: below zero (not yet due)
    high: int | None  # None: and more

    def holds(self, age: int) -> bool:
        if self.low is None:
            return age < 0
        return age >= self.low and (self.high is None or age <= self.high)

    @property
    def label(self) -> str:
        """A band as a page and a file write it: "0-2", "61+", "<0"."""
        if self.low is None:
            return "<0"
        return f"{self.low}+" if self.high is None else f"{self.low}-{self.high}"


# Age in days; "<0" only with the due-date basis (a promise not yet due). 0-2: in the grace
# days an evaluation gives by default.
BANDS = (
    Band(None, -1),
    Band(0, 2),
    Band(3, 7),
    Band(8, 14),
    Band(15, 30),
    Band(31, 60),
    Band(61, None),
)
AGE_COLUMNS = (
    Column("band", N_("Age (days)"), "text"),
    Column("promises", N_("Promises")),
    Column("kept", N_("Kept")),
    Column("broken", N_("Broken")),
    Column("pending", N_("Pending")),
    Column("kept_rate", N_("Kept rate"), "rate"),
    Column("promised_amount", N_("Promised amount (VND)"), "amount"),
    Column("kept_amount", N_("Kept amount (VND)"), "amount"),
    Column("amount_kept_rate", N_("Amount kept rate"), "rate"),
)
STATES = ("kept", "broken", "pending")


def kept_by_age(
    session: Session,
    *,
    first: date,
    last: date,
    tz: str,
    team: str | None,
    today: date,
    basis: str = "due",
) -> list[dict[str, Any]]:
    """One row per age band (every band, in order; "<0" only for basis "due"): the
    promises to pay (not "says paid" claims; cancelled ones left out) made on a local day
    from `first` to `last` by the team's agents (all promises for None), whose age as of
    `today` falls in the band. Age: days from the due date ("due") or from the local day
    the promise was made ("made") to today. kept_rate: kept over kept plus broken (those
    fallen due); amount_kept_rate: the kept promises' amount over the amount of those."""
    if basis not in BASES:
        raise ValueError(f"unknown basis {basis!r}; known: {', '.join(BASES)}")
    zone = ZoneInfo(tz)
    start, end = range_bounds(first, last, tz)
    query = select(Promise.created_at, Promise.due_date, Promise.state, Promise.amount).where(
        Promise.kind == "promise",
        Promise.state.in_(STATES),
        Promise.created_at >= start,
        Promise.created_at < end,
    )
    if team is not None:
        query = query.where(Promise.agent_id.in_(team_agents(team)))
    bands = [b for b in BANDS if basis == "due" or b.low is not None]
    rows = [
        {"band": b.label, "promises": 0, "kept": 0, "broken": 0, "pending": 0,
         "promised_amount": 0, "kept_amount": 0, "broken_amount": 0}
        for b in bands
    ]  # fmt: skip
    for created_at, due_date, state, amount in session.execute(
        query.execution_options(yield_per=1000)
    ):
        since = due_date if basis == "due" else created_at.astimezone(zone).date()
        age = (today - since).days
        row = next((r for b, r in zip(bands, rows, strict=True) if b.holds(age)), None)
        if row is None:  # made after `today` (a range in the future): no age yet
            continue
        row["promises"] += 1
        row[state] += 1
        row["promised_amount"] += amount
        if state in ("kept", "broken"):
            row[f"{state}_amount"] += amount
    for row in rows:
        row["kept_rate"] = rate(row["kept"], row["kept"] + row["broken"])
        fallen_due = row["kept_amount"] + row.pop("broken_amount")
        row["amount_kept_rate"] = rate(row["kept_amount"], fallen_due)
    return rows
