"""Campaign lifecycle: create, build (select + rank + queue), launch, stop, status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
import redis
from sqlalchemy import case, exists, func, insert, not_, or_, select
from sqlalchemy.orm import Session

from dialer.campaigns import queue
from dialer.campaigns.compliance import Profile, get_profile, may_call_relation
from dialer.campaigns.models import (
    DIAL_MODES,
    BlockedDial,
    CallAttempt,
    Campaign,
    CampaignEntry,
    DncNumber,
)
from dialer.campaigns.ranking import RankInput, rank
from dialer.outcomes.models import ActionCode, Callback, Disposition, Promise, Referral
from dialer.portfolio.models import Account, Phone
from dialer.redis import Keys

FILTER_KEYS = ("dpd_min", "dpd_max", "products", "branches", "min_overdue_amount")
INSERT_CHUNK = 5_000


class CampaignError(ValueError):
    """A campaign request that cannot be carried out; the message says why."""


def local_day_start(now: datetime, tz: str) -> datetime:
    """Midnight of `now`'s local day in tz, as an aware UTC datetime."""
    local = now.astimezone(ZoneInfo(tz))
    return datetime.combine(local.date(), time(0), ZoneInfo(tz)).astimezone(UTC)


def attempts_per_phone(session: Session, entry_id: int) -> dict[int, int]:
    """How many calls each of the entry's phones has had in this campaign."""
    rows = session.execute(
        select(CallAttempt.phone_id, func.count(CallAttempt.id))
        .where(CallAttempt.entry_id == entry_id)
        .group_by(CallAttempt.phone_id)
    )
    return {phone_id: n for phone_id, n in rows}


def callable_phones(account: Account, profile: Profile) -> list[Phone]:
    """The account's numbers that are dialable and that the profile lets us call."""
    return [p for p in account.phones if p.dialable and may_call_relation(profile, p.relation)]


def validate_filters(filters: dict[str, Any]) -> dict[str, Any]:
    """Check campaign filters; returns them cleaned or raises CampaignError."""
    unknown = set(filters) - set(FILTER_KEYS)
    if unknown:
        raise CampaignError(
            f"unknown filter(s) {', '.join(sorted(unknown))}; known: {', '.join(FILTER_KEYS)}"
        )
    clean: dict[str, Any] = {}
    for key in ("dpd_min", "dpd_max", "min_overdue_amount"):
        if filters.get(key) is not None:
            value = filters[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise CampaignError(f"{key} must be a whole number >= 0, got {value!r}")
            clean[key] = value
    if "dpd_min" in clean and "dpd_max" in clean and clean["dpd_min"] > clean["dpd_max"]:
        raise CampaignError("dpd_min is above dpd_max")
    for key in ("products", "branches"):
        if filters.get(key):
            values = filters[key]
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise CampaignError(f"{key} must be a list of names")
            clean[key] = values
    return clean


def _e164_caller_id(raw: str) -> str:
    """A caller ID must be a real number in E.164: regulators require a callable one."""
    try:
        number = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise CampaignError(f"caller ID {raw!r} is not a valid number in +E.164 form")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def create_campaign(
    session: Session,
    name: str,
    *,
    filters: dict[str, Any] | None = None,
    dial_mode: str = "progressive",
    compliance_profile: str = "vn-finance",
    max_attempts_per_entry: int = 3,
    caller_id: str | None = None,
) -> Campaign:
    if not name or not name.strip():
        raise CampaignError("a campaign needs a name")
    if dial_mode != "progressive":
        # Only progressive pacing exists so far; the others come with the campaign engine.
        raise CampaignError(f"dial mode {dial_mode!r} is not available yet (use progressive)")
    if dial_mode not in DIAL_MODES:
        raise CampaignError(f"unknown dial mode {dial_mode!r}")
    try:
        get_profile(compliance_profile)
    except ValueError as exc:
        raise CampaignError(str(exc)) from None
    if max_attempts_per_entry < 1:
        raise CampaignError("max attempts per entry must be at least 1")
    if caller_id is not None:
        caller_id = _e164_caller_id(caller_id)
    campaign = Campaign(
        name=name.strip(),
        filters=validate_filters(filters or {}),
        dial_mode=dial_mode,
        compliance_profile=compliance_profile,
        max_attempts_per_entry=max_attempts_per_entry,
        caller_id=caller_id,
    )
    session.add(campaign)
    session.flush()
    return campaign


def _eligible_accounts(campaign: Campaign, now: datetime, today: date, tz: str):
    """SELECT of eligible accounts with the facts ranking needs, all in one query."""
    f = campaign.filters
    day_start = local_day_start(now, tz)
    contact = (
        select(
            Disposition.account_id.label("account_id"),
            func.max(Disposition.created_at).label("last_contact"),
            func.sum(case((ActionCode.is_right_party.is_(True), 1), else_=0)).label("rpc"),
        )
        .join(ActionCode, ActionCode.code == Disposition.code)
        .where(ActionCode.is_contact.is_(True))
        .group_by(Disposition.account_id)
        .subquery()
    )
    today_attempts = (
        select(CallAttempt.account_id.label("account_id"), func.count().label("n"))
        .where(CallAttempt.created_at >= day_start)
        .group_by(CallAttempt.account_id)
        .subquery()
    )
    callback_due = exists().where(
        Callback.account_id == Account.id, Callback.state == "scheduled", Callback.due_at <= now
    )
    broken = exists().where(Promise.account_id == Account.id, Promise.state == "broken")
    dialable_phone = exists().where(
        Phone.account_id == Account.id,
        Phone.dialable.is_(True),
        not_(exists().where(DncNumber.number == Phone.number)),
    )
    open_referral = exists().where(Referral.account_id == Account.id, Referral.state == "open")
    stmt = (
        select(
            Account.id,
            Account.dpd,
            Account.overdue_amount,
            contact.c.last_contact,
            func.coalesce(contact.c.rpc, 0),
            func.coalesce(today_attempts.c.n, 0),
            callback_due,
            broken,
        )
        .outerjoin(contact, contact.c.account_id == Account.id)
        .outerjoin(today_attempts, today_attempts.c.account_id == Account.id)
        .where(
            Account.status == "active",
            Account.overdue_amount > 0,
            or_(Account.suppressed_until.is_(None), Account.suppressed_until < today),
            dialable_phone,
            not_(open_referral),
        )
    )
    if "dpd_min" in f:
        stmt = stmt.where(Account.dpd >= f["dpd_min"])
    if "dpd_max" in f:
        stmt = stmt.where(Account.dpd <= f["dpd_max"])
    if "min_overdue_amount" in f:
        stmt = stmt.where(Account.overdue_amount >= f["min_overdue_amount"])
    if f.get("products"):
        stmt = stmt.where(Account.product.in_(f["products"]))
    if f.get("branches"):
        stmt = stmt.where(Account.branch.in_(f["branches"]))
    return stmt


@dataclass(frozen=True)
class BuildResult:
    entries: int


def build_entries(session: Session, campaign: Campaign, now: datetime, tz: str) -> BuildResult:
    """Select and rank the eligible accounts and write the campaign's entries (SQL only)."""
    today = now.astimezone(ZoneInfo(tz)).date()
    inputs = []
    for account_id, dpd, amount, last_contact, rpc, attempts, cb_due, broken in session.execute(
        _eligible_accounts(campaign, now, today, tz)
    ):
        days = None if last_contact is None else max(0, (now - _aware(last_contact)).days)
        inputs.append(
            RankInput(
                account_id=account_id,
                dpd=dpd,
                overdue_amount=amount,
                days_since_contact=days,
                callback_due=bool(cb_due),
                broken_promise=bool(broken),
                right_party_contacts=int(rpc),
                attempts_today=int(attempts),
            )
        )
    rows = [
        {
            "campaign_id": campaign.id,
            "account_id": x.account_id,
            "score": s,
            "score_components": components,
            "state": "queued",
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
        }
        for x, s, components in rank(inputs)
    ]
    for i in range(0, len(rows), INSERT_CHUNK):
        session.execute(insert(CampaignEntry), rows[i : i + INSERT_CHUNK])
    session.flush()
    return BuildResult(entries=len(rows))


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def load_queue(session: Session, r: redis.Redis, campaign_id: int) -> int:
    """Push the campaign's queued entries into its Redis dial queue."""
    scores = dict(
        session.execute(
            select(CampaignEntry.id, CampaignEntry.score).where(
                CampaignEntry.campaign_id == campaign_id, CampaignEntry.state == "queued"
            )
        ).all()
    )
    return queue.push(r, campaign_id, scores)


def launch(session: Session, campaign: Campaign, now: datetime, tz: str) -> BuildResult:
    """Build a draft campaign's entries, load its queue and start it."""
    if campaign.state != "draft":
        raise CampaignError(f"campaign {campaign.id} is {campaign.state}; only a draft launches")
    result = build_entries(session, campaign, now, tz)
    campaign.state = "running"
    campaign.launched_at = now
    session.flush()
    # Redis follows SQL: the caller commits first, then calls start_dialing().
    return result


def start_dialing(session: Session, r: redis.Redis, campaign: Campaign) -> int:
    """Load the queue and tell the pacers (after the launch is committed)."""
    queue.clear(r, campaign.id)
    loaded = load_queue(session, r, campaign.id)
    r.hset(Keys.running_campaigns(), campaign.id, campaign.dial_mode)
    return loaded


def _move(
    session: Session,
    r: redis.Redis,
    campaign: Campaign,
    from_states: tuple[str, ...],
    to_state: str,
    ended_at: datetime | None = None,
) -> None:
    """Change a campaign's state and tell the pacers whether to dial it."""
    if campaign.state not in from_states:
        raise CampaignError(
            f"campaign {campaign.id} is {campaign.state}, not {' or '.join(from_states)}"
        )
    campaign.state = to_state
    if ended_at is not None:
        campaign.ended_at = ended_at
    session.flush()
    if to_state == "running":
        r.hset(Keys.running_campaigns(), campaign.id, campaign.dial_mode)
    else:
        r.hdel(Keys.running_campaigns(), campaign.id)


def stop(session: Session, r: redis.Redis, campaign: Campaign, now: datetime) -> None:
    """Stop dialing: pacers drop it; calls in flight finish on their own."""
    _move(session, r, campaign, ("running", "paused"), "stopped", ended_at=now)


def pause(session: Session, r: redis.Redis, campaign: Campaign) -> None:
    """Stop starting calls; the queue stays as it is for resume."""
    _move(session, r, campaign, ("running",), "paused")


def resume(session: Session, r: redis.Redis, campaign: Campaign) -> None:
    _move(session, r, campaign, ("paused",), "running")


def requeue(
    r: redis.Redis,
    campaign_id: int,
    entry_id: int,
    score: float,
    retry_at: datetime | None,
    now: datetime,
) -> None:
    """Put an entry back for another dial, now or at retry_at."""
    if retry_at is None or retry_at <= now:
        queue.push(r, campaign_id, {entry_id: score})
    else:
        queue.schedule_retry(r, campaign_id, entry_id, score, retry_at.timestamp())


def status(session: Session, r: redis.Redis, campaign: Campaign) -> dict[str, Any]:
    """Counts a supervisor watches: entries by state, calls by result, blocks by rule."""
    entries = dict(
        session.execute(
            select(CampaignEntry.state, func.count())
            .where(CampaignEntry.campaign_id == campaign.id)
            .group_by(CampaignEntry.state)
        ).all()
    )
    results = dict(
        session.execute(
            select(CallAttempt.result, func.count())
            .where(CallAttempt.campaign_id == campaign.id, CallAttempt.call_sid.is_not(None))
            .group_by(CallAttempt.result)
        ).all()
    )
    connected = session.scalar(
        select(func.count()).where(
            CallAttempt.campaign_id == campaign.id, CallAttempt.connected_at.is_not(None)
        )
    )
    blocked = dict(
        session.execute(
            select(BlockedDial.rule, func.count())
            .where(BlockedDial.campaign_id == campaign.id)
            .group_by(BlockedDial.rule)
        ).all()
    )
    sizes = queue.sizes(r, campaign.id)
    # Live answers: bridged, abandoned, or hung up before either could happen.
    live = results.get("human", 0) + results.get("abandoned", 0) + results.get("hung_up", 0)
    abandoned = results.get("abandoned", 0)
    return {
        "id": campaign.id,
        "name": campaign.name,
        "state": campaign.state,
        "dial_mode": campaign.dial_mode,
        "entries": sum(entries.values()),
        "queued": sizes["queued"] + sizes["retry"],
        "in_progress": entries.get("dialing", 0),
        "done": entries.get("done", 0),
        "blocked": blocked,
        "calls_placed": sum(results.values()),
        "answered_human": live,
        "connected_to_agent": connected,
        "answered_machine": results.get("machine", 0),
        "no_answer": results.get("no_answer", 0),
        "busy": results.get("busy", 0),
        "failed": results.get("failed", 0),
        # Our side failed (webhook error) or the call was canceled before it rang.
        "errors": results.get("error", 0) + results.get("canceled", 0),
        "abandoned": abandoned,
        "hung_up_before_agent": results.get("hung_up", 0),
        "abandon_rate": round(abandoned / live, 4) if live else 0.0,
    }
