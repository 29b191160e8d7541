"""Referral worklists by kind and state: how many accounts the team sent to field
collection, restructuring, legal and dispute handling over a range of days, where each
referral stands now (outcomes/referrals.py: open -> accepted -> returned / closed), and
how long the oldest still held has waited."""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from dialer.console.reports.common import Column, range_bounds, team_agents
from dialer.messages import N_
from dialer.outcomes.catalogue import REFERRAL_KINDS
from dialer.outcomes.models import Referral
from dialer.outcomes.referrals import HOLD_STATES, STATES

KIND_NAMES = {
    "field": N_("Field collection"),
    "restructuring": N_("Restructuring"),
    "legal": N_("Legal"),
    "dispute": N_("Dispute handling"),
}
STATE_NAMES = {
    "open": N_("Open"),
    "accepted": N_("Accepted"),
    "returned": N_("Returned"),
    "closed": N_("Closed"),
    "withdrawn": N_("Withdrawn"),
}
REFERRAL_COLUMNS = (
    Column("kind", N_("Referred to"), "text"),
    *(Column(state, STATE_NAMES[state]) for state in STATES),
    Column("total", N_("Total")),
    Column("oldest_held", N_("Oldest still open or accepted"), "date"),
    Column("oldest_held_days", N_("Days waiting")),
)


def referrals_by_kind(
    session: Session, *, first: date, last: date, tz: str, team: str | None, today: date
) -> list[dict[str, Any]]:
    """One row per referral kind (every kind, in the catalogue's order): the referrals
    made on a local day from `first` to `last` (by the team's agents; all for None),
    counted by the state they are in now; the local day the oldest of those still held
    (open or accepted) was made, and its days waiting as of `today`."""
    zone = ZoneInfo(tz)
    start, end = range_bounds(first, last, tz)
    query = select(Referral.kind, Referral.state, Referral.created_at).where(
        Referral.created_at >= start, Referral.created_at < end
    )
    if team is not None:
        query = query.where(Referral.referred_by.in_(team_agents(team)))
    rows = {
        kind: {"kind": kind, **dict.fromkeys(STATES, 0), "total": 0, "oldest_held": None}
        for kind in REFERRAL_KINDS
    }
    for kind, state, created_at in session.execute(query.execution_options(yield_per=2000)):
        row = rows.setdefault(
            kind, {"kind": kind, **dict.fromkeys(STATES, 0), "total": 0, "oldest_held": None}
        )
        row[state] = row.get(state, 0) + 1
        row["total"] += 1
        if state in HOLD_STATES:
            made = created_at.astimezone(zone).date()
            if row["oldest_held"] is None or made < row["oldest_held"]:
                row["oldest_held"] = made
    for row in rows.values():
        held = row["oldest_held"]
        row["oldest_held_days"] = (today - held).days if held else None
    return list(rows.values())
