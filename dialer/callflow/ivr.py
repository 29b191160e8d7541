"""The IVR: an agentless reminder call the borrower answers with key presses.

    greeting (name, amount, due date)
    menu: 1 promise to pay -> 1 today / 2 within 3 days      PTP (the overdue amount)
          2 already paid                                    PAID (verified against payments)
          3 speak to an agent -> bridged to a ready agent   (the agent's code)
                                 none free in time          IAR (a callback for anyone)
          9 not the customer                                NCI (the number retired here)
    no key or a wrong key: said again once, then            NRS (no response)

Every branch lands its action code through outcomes.service.record_disposition (setter
"ivr"); the step and the try travel in the Gather's action URL, which the carrier signs.
The tree, the codes and how to write the prompts: docs/ivr.md.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dialer.agents import presence
from dialer.callflow import common
from dialer.campaigns import attempts
from dialer.campaigns.models import CallAttempt, Campaign
from dialer.outcomes.models import Disposition
from dialer.portfolio.models import Account
from dialer.runtime import Runtime, local_today
from dialer.telephony.twiml import HANGUP, Gather, Hangup, JoinRoom, Reply, agent_room

log = logging.getLogger(__name__)


class Step(StrEnum):
    MENU = "menu"  # 1 promise, 2 paid, 3 agent, 9 not the customer
    PROMISE = "promise"  # 1 today, 2 within 3 days


class Key(StrEnum):
    PROMISE = "1"
    PAID = "2"
    AGENT = "3"
    WRONG_PARTY = "9"


PROMISE_DAYS = {"1": 0, "2": 3}  # key of the promise menu -> days from today
TRIES = 2  # a menu is said once more after no key or a wrong key, then the call ends
NO_KEY = "_"  # how the IVR path writes "nothing pressed"
MAX_PATH = 32


def _gather(rt: Runtime, attempt_id: int, step: Step, try_no: int, *prompts: Any) -> Gather:
    action = common.webhook_url(
        rt.settings, "ivr", attempt=attempt_id, step=step, **{"try": try_no}
    )
    return Gather(action=action, prompts=tuple(prompts))


def _context(s: Session, rt: Runtime, attempt: CallAttempt, campaign: Campaign, **extra: Any):
    account = s.get_one(Account, attempt.account_id)
    caller = common.caller_of(campaign, rt.settings)
    context = common.account_context(s, account, caller, rt.settings, **extra)
    return common.script_of(s, campaign), context


def start(s: Session, rt: Runtime, attempt: CallAttempt, campaign: Campaign) -> Reply:
    """A person answered an IVR call: the greeting, then the menu."""
    script, context = _context(s, rt, attempt, campaign)
    menu = _gather(rt, attempt.id, Step.MENU, 1, common.say(script, "menu", context))
    return (common.say(script, "greeting", context), menu, Hangup())


def handle_key(rt: Runtime, *, attempt_id: int, step: str, try_no: int, digits: str) -> Reply:
    """The keys pressed (or none) at a menu of the IVR."""
    if step not in tuple(Step):
        log.warning("IVR step %r of attempt %s is not a step; hanging up", step, attempt_id)
        return HANGUP
    key = digits.strip()
    with rt.db.begin() as s:
        attempt = s.get(CallAttempt, attempt_id)
        if attempt is None or attempt.campaign_id is None or attempt.ended_at is not None:
            return HANGUP
        campaign = s.get_one(Campaign, attempt.campaign_id)
        script, context = _context(s, rt, attempt, campaign)
        goodbye = (common.say(script, "goodbye", context), Hangup())
        if _landed(s, attempt.id):  # a repeated key press: its branch was taken already
            return goodbye
        attempt.ivr_path = _path(attempt.ivr_path, key)
        choice = _choice(Step(step), key)
        if choice == Key.AGENT:
            wants_agent = True
        else:
            wants_agent = False
            reply = _branch(s, rt, attempt, campaign, script, context, Step(step), choice, try_no)
    if wants_agent:
        return _to_agent(rt, attempt_id)
    return reply


def _choice(step: Step, key: str) -> str | None:
    """The branch a key takes at a step, or None (no key, or a key the menu has not)."""
    if step == Step.MENU:
        return key if key in tuple(Key) else None
    return key if key in PROMISE_DAYS else None


def _branch(
    s: Session,
    rt: Runtime,
    attempt: CallAttempt,
    campaign: Campaign,
    script,
    context: dict[str, Any],
    step: Step,
    choice: str | None,
    try_no: int,
) -> Reply:
    now, today = rt.clock.now(), local_today(rt)
    goodbye = (common.say(script, "goodbye", context), Hangup())
    if choice is None:
        if try_no < TRIES:
            why = "no_input" if attempt.ivr_path.endswith(NO_KEY) else "invalid_choice"
            again = "menu" if step == Step.MENU else "promise_menu"
            gather = _gather(rt, attempt.id, step, try_no + 1, common.say(script, again, context))
            return (common.say(script, why, context), gather, Hangup())
        common.land(s, rt, attempt, "NRS", now, today)
        return goodbye
    if step == Step.MENU and choice == Key.PROMISE:
        gather = _gather(
            rt, attempt.id, Step.PROMISE, 1, common.say(script, "promise_menu", context)
        )
        return (gather, Hangup())
    if step == Step.PROMISE:
        account = s.get_one(Account, attempt.account_id)
        due = today + timedelta(days=PROMISE_DAYS[choice])
        promised = common.land(
            s,
            rt,
            attempt,
            "PTP",
            now,
            today,
            promise_amount=account.overdue_amount,
            promise_date=due,
        )
        if not promised:
            return goodbye
        _, confirmed = _context(s, rt, attempt, campaign, promise_amount=account.overdue_amount,
                                promise_date=due)  # fmt: skip
        return (common.say(script, "promise_confirmed", confirmed), *goodbye)
    if choice == Key.PAID:
        common.land(s, rt, attempt, "PAID", now, today)
        return (common.say(script, "paid_noted", context), *goodbye)
    # Key.WRONG_PARTY: whoever answered is not the borrower; no more about the debt.
    common.land(s, rt, attempt, "NCI", now, today)
    return (common.say(script, "wrong_party", context), Hangup())


def _to_agent(rt: Runtime, attempt_id: int) -> Reply:
    """Key 3: a ready agent of the campaign (its team may log in to it) within the claim
    timeout, bridged; none: a callback for anyone, inside the calling window."""
    with rt.db.session() as s:
        campaign_id = s.scalar(select(CallAttempt.campaign_id).where(CallAttempt.id == attempt_id))
    wait = rt.clock.real_seconds(rt.settings.agent_claim_timeout)
    now_ts = rt.now_ts()
    agent_id = presence.claim(rt.redis, campaign_id, attempt_id, now_ts, wait, reason="ivr")
    now = rt.clock.now()
    with rt.db.begin() as s:
        attempt = s.get_one(CallAttempt, attempt_id)
        campaign = s.get_one(Campaign, campaign_id)
        if agent_id is not None:
            if attempts.record_bridge(s, attempt_id, agent_id, now):
                action = common.dial_action_url(rt.settings, attempt_id)
                script, context = _context(s, rt, attempt, campaign)
                # The agent has the screen pop while the borrower hears this.
                connecting = common.say(script, "connecting", context)
                return (connecting, JoinRoom(agent_room(agent_id), action=action))
            presence.release(rt.redis, agent_id, attempt_id, now_ts)  # the caller hung up
            return HANGUP
        if attempt.ended_at is not None:
            return HANGUP
        when = common.callback_time(s, attempt, campaign, rt.settings, now)
        script, context = _context(s, rt, attempt, campaign, callback_time=when)
        common.land(s, rt, attempt, "IAR", now, local_today(rt), callback_at=when)
        return (
            common.say(script, "callback_scheduled", context),
            common.say(script, "goodbye", context),
            Hangup(),
        )


def _landed(s: Session, attempt_id: int) -> bool:
    return s.scalar(select(Disposition.id).where(Disposition.attempt_id == attempt_id)) is not None


def _path(path: str | None, key: str) -> str:
    """The keys pressed so far, "1-2" (NO_KEY for a menu left without a key)."""
    step = key[:4] or NO_KEY
    return (f"{path}-{step}" if path else step)[:MAX_PATH]
