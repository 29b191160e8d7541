"""Who dials a due callback, and when it counts as kept.

A callback belongs to the campaign whose call scheduled it (`Callback.campaign_id`). That
campaign's entry for the account comes back at the callback's time (the disposition set
its retry time to it), and a new build ranks an account with a due callback first (the
`callback` score component). At dial time:

- another campaign that reaches the account first leaves it to the owner while the owner
  campaign is running and still has an open entry for the account (held, looked at again
  in OTHER_CAMPAIGN_RETRY); once the owner is over (a daily campaign of yesterday, stopped,
  its entry closed), any campaign takes the callback. A campaign of the owner's template
  counts as the owner.
- a same-agent callback (`Callback.agent_id` set: the code's effect says "same_agent") is
  dialed reserved for that agent while they are ready in this campaign; when they are not
  (talking, wrapping up, logged out), the entry is held back OWNER_RETRY at a time, until
  `callback_owner_minutes` (DIALER_CALLBACK_OWNER_MINUTES, 15) after the due time; from then
  on anyone takes it, like any call.

- before a scheduled callback's time, no campaign calls the account (the borrower asked for
  that time): the entry is held until it (`not_before_callback`).

`route` is the pure decision; `dial_route` gathers its facts from SQL and Redis. A
callback is done once a call at or after its time is bridged to an agent
(`fulfil`, from `attempts.record_bridge`); a dial nobody answered keeps it due.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dialer.agents import presence
from dialer.campaigns.models import Campaign, CampaignEntry
from dialer.outcomes.models import Callback

OWNER_RETRY = timedelta(minutes=1)  # how soon a held callback looks for its agent again
OTHER_CAMPAIGN_RETRY = timedelta(minutes=5)


@dataclass(frozen=True)
class Route:
    """How to dial an account with a due callback now."""

    action: str  # "reserve" (for agent_id) | "hold" (until) | "anyone"
    agent_id: int | None = None
    until: datetime | None = None
    reason: str = ""


ANYONE = Route("anyone")


def route(
    owner_agent_id: int | None,
    due_at: datetime,
    now: datetime,
    owner_only_minutes: int,
    owner_state: str,
) -> Route:
    """Who may take this callback now. `owner_state` is the owner's presence state in the
    dialing campaign ("offline" when logged in elsewhere or not at all)."""
    if owner_agent_id is None or due_at > now:
        return ANYONE
    fallback_at = due_at + timedelta(minutes=max(0, owner_only_minutes))
    if now >= fallback_at:
        return Route("anyone", reason=f"agent {owner_agent_id} had until {fallback_at}")
    if owner_state == "ready":
        return Route("reserve", agent_id=owner_agent_id, reason="callback for its agent")
    return Route(
        "hold",
        agent_id=owner_agent_id,
        until=min(now + OWNER_RETRY, fallback_at),
        reason=f"waiting for agent {owner_agent_id} ({owner_state}) until {fallback_at}",
    )


def owner_route(owner_campaign_open: bool, now: datetime) -> Route:
    """A campaign that does not own the callback holds while the owner can still dial it."""
    if owner_campaign_open:
        return Route(
            "hold", until=now + OTHER_CAMPAIGN_RETRY, reason="the callback's campaign dials it"
        )
    return ANYONE


def not_before_callback(next_at: datetime | None, now: datetime) -> Route:
    """The borrower asked to be called at a time: no campaign calls them before it."""
    if next_at is None or next_at <= now:
        return ANYONE
    return Route("hold", until=next_at, reason=f"the borrower asked to be called at {next_at}")


def next_callback_at(session: Session, account_id: int, now: datetime) -> datetime | None:
    """When the account's next scheduled callback falls due (None: none ahead)."""
    return session.scalar(
        select(Callback.due_at)
        .where(
            Callback.account_id == account_id,
            Callback.state == "scheduled",
            Callback.due_at > now,
        )
        .order_by(Callback.due_at)
        .limit(1)
    )


def due_callback(session: Session, account_id: int, now: datetime) -> Callback | None:
    """The account's earliest callback that is due and not yet kept."""
    return session.scalar(
        select(Callback)
        .where(
            Callback.account_id == account_id,
            Callback.state == "scheduled",
            Callback.due_at <= now,
        )
        .order_by(Callback.due_at, Callback.id)
        .limit(1)
    )


def _owned_here(session: Session, callback: Callback, campaign: Campaign) -> bool:
    if callback.campaign_id in (None, campaign.id):
        return True
    if campaign.template_id is None:
        return False
    owner = session.get(Campaign, callback.campaign_id)
    return owner is not None and owner.template_id == campaign.template_id


def _owner_still_dialing(session: Session, callback: Callback) -> bool:
    """The owner campaign runs and has an open entry for the account."""
    return (
        session.scalar(
            select(CampaignEntry.id)
            .join(Campaign, Campaign.id == CampaignEntry.campaign_id)
            .where(
                Campaign.id == callback.campaign_id,
                Campaign.state.in_(("running", "paused")),
                CampaignEntry.account_id == callback.account_id,
                CampaignEntry.state != "done",
            )
            .limit(1)
        )
        is not None
    )


def dial_route(
    session: Session,
    r: redis.Redis,
    campaign: Campaign,
    account_id: int,
    now: datetime,
    owner_only_minutes: int,
) -> Route:
    """The route of a dial of this account by this campaign now (ANYONE: no callback due)."""
    callback = due_callback(session, account_id, now)
    if callback is None:
        return not_before_callback(next_callback_at(session, account_id, now), now)
    if not _owned_here(session, callback, campaign):
        held = owner_route(_owner_still_dialing(session, callback), now)
        if held.action == "hold":
            return held
    # Here (or taken over from an owner campaign that is over): the code's agent rule.
    state = "offline"
    if callback.agent_id is not None:
        seen = presence.get(r, callback.agent_id)
        if seen.campaign_id == campaign.id:
            state = seen.state
    return route(callback.agent_id, callback.due_at, now, owner_only_minutes, state)


def fulfil(session: Session, account_id: int, attempt_id: int, now: datetime) -> int:
    """A call to the account reached an agent: its due callbacks are kept. Returns how many."""
    done = session.execute(
        update(Callback)
        .where(
            Callback.account_id == account_id,
            Callback.state == "scheduled",
            Callback.due_at <= now,
        )
        .values(state="done", done_at=now, done_attempt_id=attempt_id)
        .execution_options(synchronize_session=False)
    )
    return done.rowcount or 0


def due_counts(session: Session, now: datetime) -> dict[str, int]:
    """Callbacks by where they stand: scheduled (all of them), due now, later, kept (a call
    reached an agent) and cancelled (by a correction), e.g. for the demo summary."""
    rows = session.execute(select(Callback.state, Callback.due_at)).all()
    out = {"scheduled": len(rows), "due": 0, "later": 0, "done": 0, "cancelled": 0}
    for state, due_at in rows:
        if state in ("done", "cancelled"):
            out[state] += 1
        elif due_at <= now:
            out["due"] += 1
        else:
            out["later"] += 1
    return out
