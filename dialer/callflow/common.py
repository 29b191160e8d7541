"""What every call-flow use case needs: the call's script and who is calling, its
context for the prompts, the webhook URLs of the next steps, and the spoken verbs."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from dialer.campaigns import followups
from dialer.campaigns.compliance import get_profile, next_window_open
from dialer.campaigns.models import CallAttempt, Campaign
from dialer.campaigns.service import effective_profile
from dialer.config import Settings
from dialer.db import on_commit
from dialer.outcomes.effects import DispositionError, DispositionInput
from dialer.outcomes.service import record_disposition
from dialer.portfolio.models import Account, Phone
from dialer.portfolio.phones import phone_timezone
from dialer.runtime import Runtime
from dialer.scripts import service as scripts
from dialer.telephony.twiml import Play, Say

log = logging.getLogger(__name__)

LANGUAGE = "vi"  # Vietnamese first; the scripts carry English too (the desk can switch)


@dataclass(frozen=True)
class Caller:
    """Who the call is from, as the abandon, voicemail and IVR messages say it."""

    company: str
    callback_number: str


def caller_of(campaign: Campaign | None, settings: Settings) -> Caller:
    """The campaign's company and callback number, else the centre's defaults."""
    company = (campaign.company_name if campaign else None) or settings.company_name
    number = (campaign.callback_number if campaign else None) or settings.abandon_callback_number
    return Caller(company, number)


def script_of(session: Session, campaign: Campaign | None) -> scripts.Script:
    """The campaign's script; a campaign naming none (or an inbound call) gets the shipped
    default for its kind of call."""
    if campaign is not None and campaign.script:
        script = scripts.load(session, name=campaign.script)
        if script is not None:
            return script
    agent_call = campaign is not None and campaign.dial_mode != "ivr"
    default = scripts.DEFAULT_AGENT_SCRIPT if agent_call else scripts.DEFAULT_IVR_SCRIPT
    return scripts.load_or_raise(session, name=default)


def talk_script_of(session: Session, campaign: Campaign | None) -> scripts.Script:
    """The script whose talk track the agent reads: the campaign's, else the default
    agent script (an inbound call, a campaign naming none)."""
    if campaign is not None and campaign.script:
        script = scripts.load(session, name=campaign.script)
        if script is not None:
            return script
    return scripts.load_or_raise(session, name=scripts.DEFAULT_AGENT_SCRIPT)


def spoken(prompt: scripts.Prompt) -> Say | Play:
    """A rendered prompt as the verb that speaks it (<Say language> or <Play>)."""
    if prompt.kind == "play" and prompt.url:
        return Play(prompt.url)
    return Say(prompt.text or "", prompt.language)


def say(script: scripts.Script, name: str, context: dict[str, Any]) -> Say | Play:
    return spoken(scripts.render_prompt(script, name=name, context=context, language=LANGUAGE))


def caller_context(caller: Caller) -> dict[str, Any]:
    """The context of the messages anyone may hear (abandon, voicemail, an inbound caller
    not yet identified): who is calling and where to call back, no debt details."""
    return scripts.general_context(
        company=caller.company, callback_number=caller.callback_number, language=LANGUAGE
    )


def account_context(
    session: Session,
    account: Account,
    caller: Caller,
    settings: Settings,
    **step_values: Any,
) -> dict[str, Any]:
    """The borrower's own context: name, amounts, due date, last promise, how to pay, and
    the IVR step's values (promise_amount, promise_date, callback_time, agent_name)."""
    return scripts.account_context(
        session,
        account=account,
        company=caller.company,
        callback_number=caller.callback_number,
        language=LANGUAGE,
        timezone=settings.timezone,
        **step_values,
    )


def webhook_url(settings: Settings, path: str, **params: object) -> str:
    """One of our webhooks, with the step's state in its query (the carrier signs it)."""
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{settings.webhook_base}/twilio/{path}" + (f"?{query}" if query else "")


def dial_action_url(settings: Settings, attempt_id: int) -> str:
    """Where the carrier says a customer's <Dial> into an agent's room ended."""
    return webhook_url(settings, "dial-action", attempt=attempt_id)


def callback_time(
    session: Session, attempt: CallAttempt, campaign: Campaign | None, settings: Settings,
    now: datetime,
) -> datetime:  # fmt: skip
    """When to call back a caller who asked for an agent and found none: in the
    configured minutes, moved into the next calling window of the number's local time."""
    profile = effective_profile(campaign) if campaign is not None else get_profile("vn-finance")
    tz = settings.timezone
    if attempt.phone_id is not None:
        phone = session.get_one(Phone, attempt.phone_id)
        account = session.get(Account, attempt.account_id) if attempt.account_id else None
        tz = (account.timezone if account else None) or phone_timezone(phone.number) or tz
    wanted = now + timedelta(minutes=settings.ivr_callback_minutes)
    return next_window_open(profile, wanted, tz)


def land(
    s: Session, rt: Runtime, attempt: CallAttempt, code: str, now: datetime, today: date,
    **fields: Any,
) -> bool:  # fmt: skip
    """A menu branch's action code (setter ivr), through the one outcomes function; the
    queue follows the commit. A refusal (it should not happen) is logged, the caller hears
    goodbye, and False says the branch did not land."""
    attempt.result = attempt.result or "human"  # a person chose (or did not) at the menu
    try:
        recorded = record_disposition(
            s, attempt, DispositionInput(code, "ivr", **fields), agent_id=None, now=now, today=today
        )
    except DispositionError as exc:
        log.warning("attempt %s: %s from the IVR refused: %s", attempt.id, code, exc)
        return False
    on_commit(s, lambda: followups.after_disposition(rt, recorded))
    return True
