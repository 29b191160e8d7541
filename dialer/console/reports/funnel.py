"""The campaign funnel: per campaign, how many of its accounts got from one stage to the
next over a range of local days. Every stage counts distinct accounts, so each is a part
of the one before (a promise needs a right-party contact, which needs a person who
answered, which needs a call)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from dialer.campaigns.models import CallAttempt, Campaign, CampaignEntry
from dialer.console.reports.common import Column, range_bounds, rate
from dialer.messages import N_
from dialer.outcomes.models import ActionCode, Disposition, Promise

FUNNEL_COLUMNS = (
    Column("campaign", N_("Campaign"), "text"),
    Column("team", N_("Team"), "text"),
    Column("accounts", N_("Accounts")),
    Column("dialed", N_("Dialed")),
    Column("connected", N_("Answered by a person")),
    Column("right_party", N_("Right-party contacts")),
    Column("promised", N_("Promised")),
    Column("kept", N_("Kept")),
    Column("promised_amount", N_("Promised amount (VND)"), "amount"),
    Column("kept_amount", N_("Kept amount (VND)"), "amount"),
    Column("penetration", N_("Penetration"), "rate"),
    Column("connect_rate", N_("Connect rate"), "rate"),
    Column("promise_rate", N_("Promises per right-party contact"), "rate"),
)
# The stages a funnel chart draws, in order (keys of a row).
STAGES = (
    ("accounts", N_("Accounts")),
    ("dialed", N_("Dialed")),
    ("connected", N_("Answered by a person")),
    ("right_party", N_("Right-party contacts")),
    ("promised", N_("Promised")),
    ("kept", N_("Kept")),
)
COUNTED = ("accounts", "dialed", "connected", "right_party", "promised", "kept")
AMOUNTS = ("promised_amount", "kept_amount")


CHOICES = 200  # campaigns a page's list offers (the newest; any other by ?campaign=)


def campaigns_of(
    session: Session, *, team: str | None, limit: int = CHOICES
) -> list[tuple[int, str]]:
    """The campaigns a report may be asked for (id, name), newest first."""
    query = select(Campaign.id, Campaign.name).order_by(Campaign.id.desc()).limit(limit)
    if team is not None:
        query = query.where(Campaign.team == team)
    return [(cid, name) for cid, name in session.execute(query)]


def reaches_campaign(session: Session, campaign_id: int, *, team: str | None) -> bool:
    """Whether the campaign exists and is the team's (any team's for None)."""
    campaign = session.get(Campaign, campaign_id)
    return campaign is not None and (team is None or campaign.team == team)


def campaign_funnel(
    session: Session,
    *,
    first: date,
    last: date,
    tz: str,
    team: str | None,
    campaign_id: int | None = None,
) -> list[dict[str, Any]]:
    """One row per campaign (the team's, or one of them) with a call on a local day from
    `first` to `last`:
    accounts: distinct accounts of its entries;
    dialed: accounts with a call placed in the range;
    connected: accounts with one of those calls answered by a person (not a machine);
    right_party: accounts with a right-party code recorded on one of those calls;
    promised: accounts with a promise to pay made on one of those calls (and its amount);
    kept: accounts with such a promise now kept (and the promised amount of those kept)."""
    start, end = range_bounds(first, last, tz)
    in_range = (
        CallAttempt.created_at >= start,
        CallAttempt.created_at < end,
        CallAttempt.campaign_id.is_not(None),
    )
    campaigns_q = select(Campaign.id, Campaign.name, Campaign.team).where(
        Campaign.id.in_(select(CallAttempt.campaign_id).where(*in_range))
    )
    if team is not None:
        campaigns_q = campaigns_q.where(Campaign.team == team)
    if campaign_id is not None:
        campaigns_q = campaigns_q.where(Campaign.id == campaign_id)
    campaigns = session.execute(campaigns_q.order_by(Campaign.id)).all()
    ids = [c.id for c in campaigns]
    if not ids:
        return []
    of_ids = CallAttempt.campaign_id.in_(ids)
    accounts = _by_campaign(
        session,
        select(CampaignEntry.campaign_id, func.count(distinct(CampaignEntry.account_id)))
        .where(CampaignEntry.campaign_id.in_(ids))
        .group_by(CampaignEntry.campaign_id),
    )
    per_account = func.count(distinct(CallAttempt.account_id))
    dialed = _by_campaign(
        session,
        select(CallAttempt.campaign_id, per_account)
        .where(of_ids, *in_range)
        .group_by(CallAttempt.campaign_id),
    )
    connected = _by_campaign(
        session,
        select(CallAttempt.campaign_id, per_account)
        .where(
            of_ids,
            *in_range,
            CallAttempt.answered_at.is_not(None),
            func.coalesce(CallAttempt.result, "") != "machine",
        )
        .group_by(CallAttempt.campaign_id),
    )
    right_party = _by_campaign(
        session,
        select(CallAttempt.campaign_id, per_account)
        .join(Disposition, Disposition.attempt_id == CallAttempt.id)
        .join(ActionCode, ActionCode.code == Disposition.code)
        .where(of_ids, *in_range, ActionCode.is_right_party.is_(True))
        .group_by(CallAttempt.campaign_id),
    )
    promises = (
        select(
            CallAttempt.campaign_id,
            func.count(distinct(Promise.account_id)),
            func.coalesce(func.sum(Promise.amount), 0),
        )
        .join(Disposition, Disposition.attempt_id == CallAttempt.id)
        .join(Promise, Promise.disposition_id == Disposition.id)
        .where(of_ids, *in_range, Promise.standing())
        .group_by(CallAttempt.campaign_id)
    )
    promised = {cid: (n, amount) for cid, n, amount in session.execute(promises)}
    kept = {
        cid: (n, amount)
        for cid, n, amount in session.execute(promises.where(Promise.state == "kept"))
    }
    rows = []
    for cid, name, campaign_team in campaigns:
        row = {
            "campaign_id": cid,
            "campaign": name,
            "team": campaign_team,
            "accounts": accounts.get(cid, 0),
            "dialed": dialed.get(cid, 0),
            "connected": connected.get(cid, 0),
            "right_party": right_party.get(cid, 0),
            "promised": promised.get(cid, (0, 0))[0],
            "kept": kept.get(cid, (0, 0))[0],
            "promised_amount": int(promised.get(cid, (0, 0))[1]),
            "kept_amount": int(kept.get(cid, (0, 0))[1]),
        }
        rows.append(with_rates(row))
    return rows


def with_rates(row: dict[str, Any]) -> dict[str, Any]:
    row["penetration"] = rate(row["dialed"], row["accounts"])
    row["connect_rate"] = rate(row["connected"], row["dialed"])
    row["promise_rate"] = rate(row["promised"], row["right_party"])
    return row


def funnel_total(rows: list[dict[str, Any]], label: str) -> dict[str, Any]:
    """The campaigns' figures added up (an account in two campaigns counts in both)."""
    total: dict[str, Any] = {"campaign_id": None, "campaign": label, "team": None}
    for key in COUNTED + AMOUNTS:
        total[key] = sum(r[key] for r in rows)
    return with_rates(total)


def _by_campaign(session: Session, query) -> dict[int, int]:
    return {cid: n for cid, n in session.execute(query)}
