"""Inbound calls: a borrower calls the bank's number (its Voice URL is /twilio/inbound).

    welcome
    identified by the caller's number (one account has it)   -> the account
    unknown, withheld or shared by several accounts          -> key in the account number
        (#), then, when the account has a national ID, its last 4 digits; twice at most
    the account: amount due, due date, how to pay; menu 1 an agent, 2 hear it again
        1: a ready agent of the account's campaign team, else any ready agent, bridged with
           the same screen pop as an outbound call; none: a callback request (IAR)
        no key / a wrong key: said again once, then goodbye

Every inbound call is a call attempt with direction "inbound" and its outcome: bridged
(the agent's code), a callback request (IAR), informed (INF: the details were read out; a caller
is identified only as they are read, so an identified caller who hangs up is INF too), or
unidentified (no account, no code; a keyed account whose ID digits never matched included).
The step travels in the Gather's action URL; the keyed account waits in the ivr_path.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dialer.agents import presence
from dialer.callflow import common
from dialer.campaigns import attempts, followups
from dialer.campaigns.models import CallAttempt, Campaign, CampaignEntry
from dialer.portfolio.models import OBLIGOR_RELATIONS, Account, Phone
from dialer.redis import Keys
from dialer.runtime import Runtime, local_today
from dialer.telephony.twiml import HANGUP, Gather, Hangup, JoinRoom, Reply, agent_room

log = logging.getLogger(__name__)


class Step(StrEnum):
    ACCOUNT = "account"  # key in the account number, then #
    VERIFY = "verify"  # the last 4 digits of the national ID
    MENU = "menu"  # 1 an agent, 2 hear it again


TRIES = 2
MAX_REPEATS = 3  # "2: hear it again" this many times, then goodbye
INFO_READ = "i"  # in the attempt's ivr_path: the account's details were read out
# In the ivr_path, "k<account id>": the account keyed in, waiting for the ID digits. It is
# not the attempt's account until they match: a stranger who keys someone's contract
# number and hangs up must leave nothing (no HUP, no contact) on that borrower's account.
KEYED = "k"
ACCOUNT_DIGITS = 20


def _gather(rt: Runtime, attempt_id: int, step: Step, try_no: int, *prompts: Any) -> Gather:
    where = {"attempt": attempt_id, "step": step, "try": try_no}
    digits = {Step.ACCOUNT: None, Step.VERIFY: 4, Step.MENU: 1}[step]
    return Gather(
        action=common.webhook_url(rt.settings, "inbound", **where),
        prompts=tuple(prompts),
        num_digits=digits,
        timeout=8 if step != Step.MENU else 6,
    )


# A number known to be someone else's (an agent's NCP, the IVR's NCI): not proof of who
# calls, so its caller keys the account number like a stranger.
NOT_THE_BORROWERS = ("retired:NCP", "retired:NCI")


def _caller_accounts(s: Session, number: str) -> list[tuple[Account, Phone]]:
    """Accounts (not closed) whose borrower's own numbers include this one, with the phone
    that matched. A reference's number (a relative, a colleague) identifies nobody: debt
    details go only to whoever owes (Circular 18/2019)."""
    if not number.startswith("+"):
        return []  # withheld ("anonymous") or not a number
    rows = s.execute(
        select(Account, Phone)
        .join(Phone, Phone.account_id == Account.id)
        .where(
            Phone.number == number,
            Phone.relation.in_(OBLIGOR_RELATIONS),
            or_(Phone.reason.is_(None), Phone.reason.not_in(NOT_THE_BORROWERS)),
            Account.status != "closed",
        )
    ).all()
    by_account = {account.id: (account, phone) for account, phone in rows}
    return list(by_account.values())


def answer(rt: Runtime, *, call_sid: str, caller: str, called: str) -> Reply:
    """The bank's number rang: identify the caller, then read the account or ask for it."""
    try:
        return _answer(rt, call_sid=call_sid, caller=caller)
    except IntegrityError:
        # Another delivery of this first webhook inserted the attempt a moment ago (call_sid
        # is unique): answer from its row, as a repeated delivery would be answered.
        return _answer(rt, call_sid=call_sid, caller=caller)


def _answer(rt: Runtime, *, call_sid: str, caller: str) -> Reply:
    now = rt.clock.now()
    with rt.db.begin() as s:
        attempt = s.scalar(select(CallAttempt).where(CallAttempt.call_sid == call_sid))
        if attempt is None:
            matches = _caller_accounts(s, caller)
            account, phone = matches[0] if len(matches) == 1 else (None, None)
            attempt = CallAttempt(
                direction="inbound",
                call_sid=call_sid,
                caller_number=caller[:32] or None,
                account_id=account.id if account else None,
                phone_id=phone.id if phone else None,
                status="in-progress",
                created_at=now,
                answered_at=now,
            )
            s.add(attempt)
            s.flush()
            log.info("inbound call %s: %s", attempt.id, "identified" if account else "unknown")
        script = common.script_of(s, None)
        caller_of = common.caller_of(None, rt.settings)
        welcome = common.say(script, "inbound_welcome", common.caller_context(caller_of))
        if attempt.account_id is None:
            ask = common.say(script, "inbound_ask_account", common.caller_context(caller_of))
            return (welcome, _gather(rt, attempt.id, Step.ACCOUNT, 1, ask), Hangup())
        return (welcome, *_account_menu(s, rt, attempt, 1))


def _account_menu(s: Session, rt: Runtime, attempt: CallAttempt, try_no: int) -> Reply:
    """The account's details, then the menu (the details count as read)."""
    account = s.get_one(Account, attempt.account_id)
    script = common.script_of(s, None)
    context = common.account_context(s, account, common.caller_of(None, rt.settings), rt.settings)
    # A repeated delivery of the webhook that read them is not another reading: it must not
    # use up one of the caller's MAX_REPEATS.
    if _steps(attempt)[-1:] != [INFO_READ]:
        attempt.ivr_path = _path(attempt.ivr_path, INFO_READ)
    menu = _gather(rt, attempt.id, Step.MENU, try_no, common.say(script, "inbound_menu", context))
    return (common.say(script, "inbound_account", context), menu, Hangup())


def handle_key(rt: Runtime, *, attempt_id: int, step: str, try_no: int, digits: str) -> Reply:
    """Keys pressed (or none) at one of the inbound menus."""
    if step not in tuple(Step):
        return HANGUP
    key = digits.strip()
    with rt.db.begin() as s:
        attempt = s.get(CallAttempt, attempt_id)
        if attempt is None or attempt.direction != "inbound" or attempt.ended_at is not None:
            return HANGUP
        script = common.script_of(s, None)
        anyone = common.caller_context(common.caller_of(None, rt.settings))
        goodbye = (common.say(script, "goodbye", anyone), Hangup())
        if step == Step.ACCOUNT:
            return _keyed_account(s, rt, attempt, key, try_no) or goodbye
        if step == Step.VERIFY:
            return _verified(s, rt, attempt, key, try_no) or goodbye
        if attempt.account_id is None:
            return goodbye
        attempt.ivr_path = _path(attempt.ivr_path, key or "_")
        if key == "1":
            wants_agent = True
        elif key == "2" and attempt.ivr_path.count(INFO_READ) <= MAX_REPEATS:
            return _account_menu(s, rt, attempt, 1)
        elif try_no < TRIES and key != "2":
            context = anyone
            why = "no_input" if not key else "invalid_choice"
            prompt = common.say(script, "inbound_menu", context)
            again = _gather(rt, attempt.id, Step.MENU, try_no + 1, prompt)
            return (common.say(script, why, context), again, Hangup())
        else:
            return goodbye
    if wants_agent:
        return _to_agent(rt, attempt_id)
    return HANGUP  # pragma: no cover - every branch above returns


def _keyed_account(
    s: Session, rt: Runtime, attempt: CallAttempt, key: str, try_no: int
) -> Reply | None:
    """The caller keyed an account number: found, go on (verify it first when the account
    has a national ID); not found, ask once more."""
    script = common.script_of(s, None)
    anyone = common.caller_context(common.caller_of(None, rt.settings))
    found = None
    if key.isdigit() and len(key) <= ACCOUNT_DIGITS:
        found = s.scalars(
            select(Account).where(Account.keypad_no == key, Account.status != "closed")
        ).all()
    if found and len(found) == 1:
        account = found[0]
        if account.national_id and len(account.national_id) >= 4:
            attempt.ivr_path = _path(attempt.ivr_path, f"{KEYED}{account.id}")
            ask = common.say(script, "inbound_ask_id", anyone)
            return (_gather(rt, attempt.id, Step.VERIFY, 1, ask), Hangup())
        _identify(s, attempt, account)
        return _account_menu(s, rt, attempt, 1)
    if try_no >= TRIES:
        return None
    again = common.say(script, "inbound_ask_account", anyone)
    not_found = common.say(script, "inbound_not_found", anyone)
    return (not_found, _gather(rt, attempt.id, Step.ACCOUNT, try_no + 1, again), Hangup())


def _verified(s: Session, rt: Runtime, attempt: CallAttempt, key: str, try_no: int) -> Reply | None:
    """Someone who keyed an account number hears its details only after the last 4
    digits of the borrower's national ID: the number alone is not proof of who calls."""
    keyed = [step[1:] for step in _steps(attempt) if step.startswith(KEYED)]
    account = s.get(Account, int(keyed[-1])) if keyed and keyed[-1].isdigit() else None
    if account is None:
        return None
    if account.national_id and key == account.national_id[-4:]:
        _identify(s, attempt, account)
        return _account_menu(s, rt, attempt, 1)
    if try_no >= TRIES:
        return None  # never identified: the attempt keeps no account
    script = common.script_of(s, None)
    anyone = common.caller_context(common.caller_of(None, rt.settings))
    ask = common.say(script, "inbound_ask_id", anyone)
    wrong = common.say(script, "inbound_not_found", anyone)
    return (wrong, _gather(rt, attempt.id, Step.VERIFY, try_no + 1, ask), Hangup())


def _team_campaigns(rt: Runtime, account_id: int) -> list[int]:
    """The running campaigns whose agents may take this borrower: the one dialing the
    account first (its team knows it), then every other running campaign."""
    running = [int(c) for c in rt.redis.hkeys(Keys.running_campaigns())]
    if not running:
        return []
    with rt.db.session() as s:
        own = s.scalars(
            select(CampaignEntry.campaign_id)
            .join(Campaign, Campaign.id == CampaignEntry.campaign_id)
            .where(CampaignEntry.account_id == account_id, Campaign.id.in_(running))
            .order_by(CampaignEntry.id.desc())
        ).all()
    return list(dict.fromkeys([*own, *running]))


def _to_agent(rt: Runtime, attempt_id: int) -> Reply:
    """Key 1: a ready agent (the account's campaign team first), else a callback request."""
    with rt.db.session() as s:
        account_id = s.scalar(select(CallAttempt.account_id).where(CallAttempt.id == attempt_id))
    candidates = _team_campaigns(rt, account_id) if account_id else []
    wait = rt.clock.real_seconds(rt.settings.agent_claim_timeout)
    now_ts = rt.now_ts()
    claimed = presence.claim_first(rt.redis, candidates, attempt_id, now_ts, wait, reason="inbound")
    now = rt.clock.now()
    with rt.db.begin() as s:
        attempt = s.get_one(CallAttempt, attempt_id)
        if claimed is not None:
            agent_id, _ = claimed
            if attempts.record_bridge(s, attempt_id, agent_id, now):
                action = common.dial_action_url(rt.settings, attempt_id)
                anyone = common.caller_context(common.caller_of(None, rt.settings))
                # The agent has the screen pop while the caller hears this.
                connecting = common.say(common.script_of(s, None), "connecting", anyone)
                return (connecting, JoinRoom(agent_room(agent_id), action=action))
            presence.release(rt.redis, agent_id, attempt_id, now_ts)
            return HANGUP
        if attempt.ended_at is not None:  # hung up while we looked for an agent
            return HANGUP
        script = common.script_of(s, None)
        account = s.get_one(Account, attempt.account_id)
        when = common.callback_time(s, attempt, None, rt.settings, now)
        caller = common.caller_of(None, rt.settings)
        context = common.account_context(s, account, caller, rt.settings, callback_time=when)
        common.land(s, rt, attempt, "IAR", now, local_today(rt), callback_at=when)
        return (
            common.say(script, "inbound_callback", context),
            common.say(script, "goodbye", context),
            Hangup(),
        )


def ended(rt: Runtime, *, call_sid: str, status: str, duration: int | None) -> None:
    """The inbound call is over: its outcome, recorded once (the agent's code comes later
    when an agent took it)."""
    with rt.db.session() as s:
        attempt = s.scalar(select(CallAttempt).where(CallAttempt.call_sid == call_sid))
        if attempt is None or attempt.ended_at is not None:
            return
        attempt_id, path = attempt.id, attempt.ivr_path or ""
        identified = attempt.account_id is not None
    result = "informed" if INFO_READ in path.split("-") else "hung_up"
    followups.end_call(
        rt, attempt_id, status, duration, result=result if identified else "unidentified"
    )


def _identify(s: Session, attempt: CallAttempt, account: Account) -> None:
    """The caller is this account's: the attempt's account, and its phone when the caller's
    number is one of the account's."""
    attempt.account_id = account.id
    phone = s.scalar(
        select(Phone).where(
            Phone.account_id == account.id, Phone.number == (attempt.caller_number or "")
        )
    )
    attempt.phone_id = phone.id if phone else None


def _steps(attempt: CallAttempt) -> list[str]:
    return attempt.ivr_path.split("-") if attempt.ivr_path else []


def _path(path: str | None, step: str) -> str:
    return (f"{path}-{step}" if path else step)[:32]
