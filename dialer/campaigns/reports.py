"""Supervisor reports: why a campaign's entries rank where they do, and which dials the
compliance rules stopped.

Plain read-only functions over a session given explicitly, one query each (accounts and
phones joined, never fetched per row). The CLI (commands.py) and the API (views.py) only
parse their arguments and print or send what these return, so both show the same data.
Phone numbers leave here masked (dialer.privacy).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import asdict
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Row, Select, func, select, tuple_
from sqlalchemy.orm import Session

from dialer.campaigns.attempts import HOLD_RULES
from dialer.campaigns.builder import EXCLUSION_RULES
from dialer.campaigns.compliance import RULES as DIAL_RULES
from dialer.campaigns.models import DIAL_ORDER, NO_RANK, BlockedDial, Campaign, CampaignEntry
from dialer.campaigns.ranking import (
    AMOUNT_UNIT,
    COMPONENTS,
    RankingWeights,
    bucket_of,
    weights_from,
)
from dialer.messages import N_, Message
from dialer.portfolio.models import Account, Phone
from dialer.privacy import mask_phone, mask_text
from dialer.spreadsheet import excel_csv

ENTRY_STATES = ("queued", "dialing", "done")
DEFAULT_LIMIT = 20
MAX_LIMIT = 1000
# Every rule a report may be filtered on: dial-time, holds, and the build's exclusions.
KNOWN_RULES = tuple(dict.fromkeys(HOLD_RULES + DIAL_RULES + EXCLUSION_RULES))
CSV_COLUMNS = ("at", "account_no", "customer_name", "phone", "rule", "detail")
_WHOLE_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# The weight behind each component (a weight of 0 switches the component off).
_WEIGHT_OF = {
    "callback": "callback",
    "broken": "broken_promise",
    "bucket": "per_bucket",
    "amount": "amount",
    "rpc": "rpc_history",
    "attempts": "per_attempt_today",
}


class ReportError(ValueError):
    """A bad report argument (the API answers 400, the CLI a usage error)."""


class NotFound(ReportError):
    """The account (or other subject) of the report does not exist (the API answers 404)."""


# --- arguments ----------------------------------------------------------------------------


def check_limit(name: str, value: int, low: int = 1, high: int = MAX_LIMIT) -> int:
    """A row count or offset within bounds, or a ReportError naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ReportError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
    return value


def check_state(state: str | None) -> str | None:
    if state is not None and state not in ENTRY_STATES:
        raise ReportError(f"state must be one of {', '.join(ENTRY_STATES)}, got {state!r}")
    return state


def check_rule(rule: str | None) -> str | None:
    if rule is not None and rule not in KNOWN_RULES:
        raise ReportError(f"unknown rule {rule!r}; known: {', '.join(KNOWN_RULES)}")
    return rule


def parse_day(name: str, text: str) -> date:
    """A date given as YYYY-MM-DD, or a ReportError naming the argument."""
    try:
        if not _WHOLE_DAY.match(text):
            raise ValueError
        return date.fromisoformat(text)
    except (TypeError, ValueError):
        raise ReportError(f"{name} must be a date as YYYY-MM-DD, got {text!r}") from None


def parse_since(text: str | None, tz: str) -> datetime | None:
    """A `since` day (YYYY-MM-DD) as the moment it begins: local midnight in tz."""
    if text is None:
        return None
    return datetime.combine(parse_day("since", text), time(0), ZoneInfo(tz))


def _iso(moment: datetime | None, tz: str) -> str | None:
    return moment.astimezone(ZoneInfo(tz)).isoformat() if moment else None


# --- entries in dial order ----------------------------------------------------------------


def _entries(campaign_id: int) -> Select[Any]:
    """The campaign's entries with their accounts, in dial order (models.DIAL_ORDER, which
    one index serves: a page reads its rows and no more, however large the campaign)."""
    return (
        select(
            CampaignEntry.id.label("entry_id"),
            CampaignEntry.rank,
            CampaignEntry.score,
            *(getattr(CampaignEntry, f"score_{name}") for name in COMPONENTS),
            CampaignEntry.state,
            CampaignEntry.attempts,
            CampaignEntry.last_result,
            CampaignEntry.not_before,
            Account.account_no,
            Account.customer_name,
            Account.dpd,
            Account.overdue_amount,
        )
        .join(Account, Account.id == CampaignEntry.account_id)
        .where(CampaignEntry.campaign_id == campaign_id)
        .order_by(*DIAL_ORDER)
    )


DialKey = tuple[float, int, int]


def _key(row: Row[Any]) -> DialKey:
    """A row's place in dial order, as models.DIAL_ORDER computes it in SQL."""
    return (0 - row.score, NO_RANK if row.rank is None else row.rank, row.entry_id)


def _entries_before(
    session: Session, campaign_id: int, key: DialKey, *, after: DialKey | None = None
) -> int:
    """How many of the campaign's entries come before `key` in dial order (and after
    `after`). The score term bounds an index range (row-value comparisons over expressions
    bound none in SQLite); the full key then only sorts out the ties at its two ends."""
    k1 = DIAL_ORDER[0]
    order = tuple_(*DIAL_ORDER)
    query = (
        select(func.count())
        .select_from(CampaignEntry)
        .where(CampaignEntry.campaign_id == campaign_id, k1 <= key[0], order < tuple_(*key))
    )
    if after is not None:
        query = query.where(k1 >= after[0], order > tuple_(*after))
    return session.scalar(query) or 0


def _page_after(query: Select[Any], key: DialKey, limit: int, session: Session) -> list[Row[Any]]:
    """Up to `limit` rows of `query` after `key` in dial order, as three index ranges read
    in turn (same score and rank, later id; same score, later rank; lower score): each
    starts where the last ended, so a page reads its own rows, at any depth."""
    k1, k2, k3 = DIAL_ORDER
    steps = (
        ((k1 == key[0], k2 == key[1], k3 > key[2]), (k3,)),
        ((k1 == key[0], k2 > key[1]), (k2, k3)),
        ((k1 > key[0],), (k1, k2, k3)),
    )
    rows: list[Row[Any]] = []
    for where, order in steps:
        if len(rows) == limit:
            break
        step = query.where(*where).order_by(None).order_by(*order).limit(limit - len(rows))
        rows += session.execute(step).all()
    return rows


def entry_dict(row: Row[Any], tz: str, position: int) -> dict[str, Any]:
    """One entry as the CLI and the API show it; every component, zero ones included.
    `cursor` starts the next page after this entry (?after=)."""
    return {
        "position": position,
        "rank": row.rank,
        "entry_id": row.entry_id,
        "account_no": row.account_no,
        "customer_name": row.customer_name,
        "dpd": row.dpd,
        "overdue_amount": row.overdue_amount,
        "state": row.state,
        "attempts": row.attempts,
        "last_result": row.last_result,
        "not_before": _iso(row.not_before, tz),
        "score": row.score,
        "components": {name: getattr(row, f"score_{name}") for name in COMPONENTS},
        "cursor": f"{row.entry_id}:{position}",
    }


def _cursor(session: Session, campaign_id: int, cursor: str) -> tuple[DialKey, int]:
    """The entry a page starts after, and its position, from "ENTRY_ID:POSITION"."""
    match = re.fullmatch(r"(\d{1,12}):(\d{1,12})", cursor)
    if match is None:
        raise ReportError(f"after must be a cursor from a page (ENTRY:POSITION), got {cursor!r}")
    entry_id, position = int(match[1]), int(match[2])
    row = session.execute(
        select(CampaignEntry.id.label("entry_id"), CampaignEntry.score, CampaignEntry.rank).where(
            CampaignEntry.id == entry_id, CampaignEntry.campaign_id == campaign_id
        )
    ).first()
    if row is None:
        raise ReportError(f"after: entry {entry_id} is not in campaign {campaign_id}")
    return _key(row), position


def list_entries(
    session: Session,
    campaign_id: int,
    *,
    tz: str,
    state: str | None = None,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
    after: str | None = None,
) -> list[dict[str, Any]]:
    """A page of the campaign's entries in dial order, optionally of one state only;
    `position` is the place in the whole campaign's order. The page starts `offset` rows
    in, or right after the entry of a previous page's `cursor` (`after`: key-set paging,
    as fast at the millionth entry as at the first)."""
    check_state(state)
    check_limit("limit", limit)
    check_limit("offset", offset, 0, 10**9)
    query = _entries(campaign_id)
    if state is not None:
        query = query.where(CampaignEntry.state == state)
    previous: DialKey | None = None
    position = offset if state is None else 0
    if after is not None:
        previous, position = _cursor(session, campaign_id, after)
        rows = _page_after(query, previous, limit, session)
    else:
        rows = session.execute(query.limit(limit).offset(offset)).all()
    out = []
    for row in rows:
        key = _key(row)
        if state is None:
            position += 1  # every entry is on the page: consecutive places
        else:
            # Entries of other states lie between: count them from the previous row, so a
            # page reads only the span it covers.
            position += _entries_before(session, campaign_id, key, after=previous) + 1
        out.append(entry_dict(row, tz, position))
        previous = key
    return out


def iter_entries(
    session: Session, campaign_id: int, *, tz: str, state: str | None = None, chunk: int = 1000
) -> Iterator[dict[str, Any]]:
    """Every entry of the campaign (of one state) in dial order, a key-set page at a time:
    a file of a million entries without a million-row result or a deep offset. For one
    state the whole order is walked and the others skipped here, so each place comes from
    the walk, not from a count per row."""
    check_state(state)
    after = None
    while page := list_entries(session, campaign_id, tz=tz, limit=chunk, after=after):
        yield from (e for e in page if state in (None, e["state"]))
        after = page[-1]["cursor"]


def entry_row(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry flattened for a file: one column per score component."""
    row = {k: v for k, v in entry.items() if k not in ("components", "cursor")}
    row.update({f"score_{name}": value for name, value in entry["components"].items()})
    return row


def find_entry(session: Session, campaign_id: int, account_no: str, *, tz: str) -> dict[str, Any]:
    """The entry of one account (by account number) in the campaign, or NotFound."""
    row = session.execute(_entries(campaign_id).where(Account.account_no == account_no)).first()
    if row is not None:
        position = _entries_before(session, campaign_id, _key(row)) + 1
        return entry_dict(row, tz, position)
    if session.scalar(select(Account.id).where(Account.account_no == account_no)) is None:
        raise NotFound(f"no account {account_no}")
    raise NotFound(f"account {account_no} is not in campaign {campaign_id}")


def signed(value: float) -> str:
    """A score value as shown: +30, -5, +14.151, 0."""
    if value == 0:
        return "0"
    return f"{value:+,.3f}".rstrip("0").rstrip(".")


def explain_component(name: str, value: float, entry: dict[str, Any], w: RankingWeights) -> Message:
    """One human line on why the component has its value, from the stored value and the
    campaign's weights (what the build used): "bucket B3: +30 (10 per bucket)". A catalogue
    message: the console shows it in the reader's language."""
    shown = signed(value)
    weight_name = _WEIGHT_OF.get(name)
    if weight_name is not None and getattr(w, weight_name) == 0:
        return Message(N_("{name}: 0 (weight 0 in this campaign: switched off)"), name=name)
    if name == "callback":
        return (
            Message(N_("callback due: {shown}"), shown=shown)
            if value
            else Message(N_("no callback due: 0"))
        )
    if name == "broken":
        days = w.broken_promise_days
        if value:
            return Message(
                N_("promise to pay broken in the last {days} days: {shown}"), days=days, shown=shown
            )
        return Message(N_("no promise broken in the last {days} days: 0"), days=days)
    if name == "bucket":
        bucket = f"B{round(value / w.per_bucket)}"
        now = bucket_of(entry["dpd"])
        per = f"{w.per_bucket:g}"
        if now != bucket:
            return Message(
                N_("bucket {bucket}: {shown} ({per} per bucket); DPD is {dpd} ({now}) now"),
                bucket=bucket, shown=shown, per=per, dpd=entry["dpd"], now=now,
            )  # fmt: skip
        return Message(
            N_("bucket {bucket}: {shown} ({per} per bucket)"), bucket=bucket, shown=shown, per=per
        )
    if name == "amount":
        return Message(
            N_("overdue {amount} VND: {shown} ({weight} × log10(1 + overdue / {unit}))"),
            amount=entry["overdue_amount"], shown=shown, weight=f"{w.amount:g}",
            unit=f"{AMOUNT_UNIT:,}",
        )  # fmt: skip
    if name == "recency":
        cap = w.recency_cap_days
        if cap == 0:
            return Message(N_("recency: 0 (capped at 0 days in this campaign: switched off)"))
        days = round(value * w.recency_divisor)
        if days >= cap:
            return Message(
                N_("no contact for {cap} days or more (or never): {shown}"), cap=cap, shown=shown
            )
        if days == 0:
            return Message(N_("last contact less than a day ago: 0"))
        return Message(
            N_("last contact {days} days ago: {shown} ({days} ÷ {divisor})"),
            days=days, shown=shown, divisor=f"{w.recency_divisor:g}",
        )  # fmt: skip
    if name == "rpc":
        if value:
            return Message(
                N_("borrower reached before (right-party contact): {shown}"), shown=shown
            )
        return Message(N_("borrower never reached (no right-party contact): 0"))
    if name == "attempts":
        calls = round(value / w.per_attempt_today)
        if calls == 0:
            return Message(N_("no calls placed today: 0"))
        return Message(
            N_("{calls} call(s) placed today: {shown} ({per} per call)"),
            calls=calls, shown=shown, per=f"{w.per_attempt_today:+g}",
        )  # fmt: skip
    raise ValueError(f"unknown score component {name!r}")


def explain_entry(
    session: Session, campaign: Campaign, account_no: str, *, tz: str
) -> dict[str, Any]:
    """One account's entry with a line per component, and the weights that produced it
    (the defaults with the campaign's `ranking` overrides)."""
    entry = find_entry(session, campaign.id, account_no, tz=tz)
    weights = weights_from(campaign.ranking)
    entry["explanation"] = [
        {"component": name, "value": value, "text": explain_component(name, value, entry, weights)}
        for name, value in entry["components"].items()
    ]
    entry["weights"] = asdict(weights)
    entry["weight_overrides"] = dict(campaign.ranking or {})
    return entry


# --- blocked dials ------------------------------------------------------------------------


def _blocked_where(
    campaign_id: int, rule: str | None, since: datetime | None
) -> list[ColumnElement[bool]]:
    check_rule(rule)
    where = [BlockedDial.campaign_id == campaign_id]
    if rule is not None:
        where.append(BlockedDial.rule == rule)
    if since is not None:
        where.append(BlockedDial.created_at >= since)
    return where


def blocked_counts(
    session: Session, campaign_id: int, *, rule: str | None = None, since: datetime | None = None
) -> dict[str, int]:
    """Dials the rules stopped, counted by rule (most first)."""
    rows = session.execute(
        select(BlockedDial.rule, func.count())
        .where(*_blocked_where(campaign_id, rule, since))
        .group_by(BlockedDial.rule)
    ).all()
    return dict(sorted(((r, n) for r, n in rows), key=lambda item: (-item[1], item[0])))


def excluded_at_build(campaign: Campaign, *, rule: str | None = None) -> dict[str, int]:
    """Accounts the launch left out, by rule (Campaign.build_summary). They are the
    launch's counts: a `since` filter does not apply to them."""
    check_rule(rule)
    excluded = dict((campaign.build_summary or {}).get("excluded", {}))
    return {r: n for r, n in excluded.items() if rule is None or r == rule}


def _blocked_rows(campaign_id: int, rule: str | None, since: datetime | None) -> Select[Any]:
    return (
        select(
            BlockedDial.created_at,
            BlockedDial.rule,
            BlockedDial.detail,
            Account.account_no,
            Account.customer_name,
            Phone.number,
        )
        .join(CampaignEntry, CampaignEntry.id == BlockedDial.entry_id)
        .join(Account, Account.id == CampaignEntry.account_id)
        .outerjoin(Phone, Phone.id == BlockedDial.phone_id)
        .where(*_blocked_where(campaign_id, rule, since))
        .order_by(BlockedDial.created_at.desc(), BlockedDial.id.desc())
    )


def blocked_dict(row: Row[Any], tz: str) -> dict[str, Any]:
    """One blocked dial as the CLI, the API and the CSV show it (phone masked)."""
    return {
        "at": _iso(row.created_at, tz),
        "account_no": row.account_no,
        "customer_name": row.customer_name,
        "phone": mask_phone(row.number) if row.number else None,
        "rule": row.rule,
        "detail": mask_text(row.detail) if row.detail else None,
    }


def blocked_report(
    session: Session,
    campaign: Campaign,
    *,
    tz: str,
    rule: str | None = None,
    since: datetime | None = None,
    limit: int = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """Counts by rule (dial time and build time apart) and the latest blocked dials."""
    check_limit("limit", limit)
    rows = session.execute(_blocked_rows(campaign.id, rule, since).limit(limit))
    return {
        "by_rule": blocked_counts(session, campaign.id, rule=rule, since=since),
        "excluded_at_build": excluded_at_build(campaign, rule=rule),
        "rows": [blocked_dict(row, tz) for row in rows],
    }


def blocked_rows(
    session: Session,
    campaign_id: int,
    *,
    tz: str,
    rule: str | None = None,
    since: datetime | None = None,
    chunk_rows: int = 500,
) -> Iterator[dict[str, Any]]:
    """Every matching blocked dial, newest first, read `chunk_rows` at a time."""
    query = _blocked_rows(campaign_id, rule, since).execution_options(yield_per=chunk_rows)
    return (blocked_dict(row, tz) for row in session.execute(query))


def blocked_csv(
    session: Session,
    campaign_id: int,
    *,
    tz: str,
    rule: str | None = None,
    since: datetime | None = None,
    chunk_rows: int = 500,
) -> Iterator[str]:
    """Every matching blocked dial as CSV text, streamed in chunks: a UTF-8 byte order mark
    first (Excel then reads Vietnamese names right), a header, newest rows first."""
    rows = blocked_rows(session, campaign_id, tz=tz, rule=rule, since=since, chunk_rows=chunk_rows)
    yield from excel_csv(
        CSV_COLUMNS, rows, guard=("account_no", "customer_name", "detail"), chunk_rows=chunk_rows
    )
