"""Answer an outbound call: a person is bridged to an agent (or hears the abandon message,
or the IVR menu), a machine is hung up on or gets the voicemail message.

This is the voice webhook's decision, taken once per call (the first delivery); a repeated
delivery answers as the first one did.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from dialer.agents import presence
from dialer.callflow import common, ivr
from dialer.campaigns import attempts, followups
from dialer.campaigns.jobs import GEO_ERRORS
from dialer.campaigns.models import CallAttempt, Campaign
from dialer.portfolio.models import Phone
from dialer.runtime import Runtime
from dialer.telephony.twiml import HANGUP, Hangup, JoinRoom, Reply, agent_room

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Repeat:
    reply: Reply | None  # an IVR call starts its menu again; others wait for the first


@dataclass(frozen=True)
class _Answered:
    """What the first transaction decided, for the steps after it."""

    kind: str  # human | machine
    campaign_id: int
    entry_id: int | None
    agentless: bool
    reply: Reply | None  # decided already (machine, IVR); None: look for an agent
    account_id: int | None = None


def answer(
    rt: Runtime,
    *,
    attempt_id: int | None,
    call_sid: str,
    answered_by: str | None,
    reserved_agent: int | None,
) -> Reply:
    """The carrier says the customer leg was answered (AnsweredBy from machine detection)."""
    received = time.monotonic()
    answered = _first_answer(rt, attempt_id, call_sid, answered_by)
    if answered is None:  # unknown attempt
        return HANGUP
    if isinstance(answered, _Repeat):  # a repeated delivery: answer as the first did
        return answered.reply or _repeat_answer(rt, attempt_id or 0)
    assert attempt_id is not None
    followups.after_answer(rt, answered.campaign_id, answered.entry_id)
    if answered.reply is not None:
        if answered.kind == "machine":
            followups.release_reserved_agent(rt, attempt_id)
        return answered.reply
    return _bridge(rt, attempt_id, answered, reserved_agent, received)


def _first_answer(
    rt: Runtime, attempt_id: int | None, call_sid: str, answered_by: str | None
) -> _Answered | _Repeat | None:
    now = rt.clock.now()
    with rt.db.begin() as s:
        attempt = s.get(CallAttempt, attempt_id) if attempt_id is not None else None
        if attempt is None or attempt.campaign_id is None:
            log.warning("voice callback for unknown attempt %r (%s)", attempt_id, call_sid)
            return None
        campaign = s.get_one(Campaign, attempt.campaign_id)
        kind = attempts.mark_answered(
            s,
            attempt.id,
            answered_by,
            call_sid,
            now,
            unknown_is_machine=campaign.on_unknown == "machine",
        )
        agentless = campaign.dial_mode == "ivr"
        if kind is None:
            live = agentless and attempt.result is None and attempt.ended_at is None
            return _Repeat(ivr.start(s, rt, attempt, campaign) if live else None)
        reply: Reply | None = None
        if kind == "machine":
            reply = _machine(s, rt, attempt, campaign, now)
        elif agentless:
            reply = ivr.start(s, rt, attempt, campaign)
        return _Answered(kind, campaign.id, attempt.entry_id, agentless, reply, attempt.account_id)


def _machine(s, rt: Runtime, attempt: CallAttempt, campaign: Campaign, now) -> Reply:
    """A machine: hung up on, or (voicemail campaigns, and every IVR campaign) the
    script's voicemail message, said after the beep: who called and where to call back,
    never the debt (anyone may play the tape)."""
    if campaign.on_machine != "voicemail" and campaign.dial_mode != "ivr":
        return HANGUP
    script = common.script_of(s, campaign)
    caller = common.caller_of(campaign, rt.settings)
    attempt.voicemail_at = now
    return (common.say(script, "voicemail", common.caller_context(caller)), Hangup())


def _bridge(
    rt: Runtime,
    attempt_id: int,
    answered: _Answered,
    reserved_agent: int | None,
    received: float,
) -> Reply:
    """A person: the agent reserved for this call, or the longest-idle ready agent within
    the claim timeout; none in time is an abandoned call with the abandon message.

    The claim is made outside any SQL transaction (waiting must not hold a database lock),
    and the call stops counting as in flight only once it holds its agent, or the pacer
    would see that agent as free for a moment and dial for them again."""
    r, now_ts = rt.redis, rt.now_ts()
    waited = 0.0
    if reserved_agent is not None:
        agent_id = (
            reserved_agent if presence.bridged(r, reserved_agent, attempt_id, now_ts) else None
        )
    else:
        started = time.monotonic()
        wait = rt.clock.real_seconds(rt.settings.agent_claim_timeout)
        agent_id = presence.claim(
            r, answered.campaign_id, attempt_id, now_ts, wait, entry_id=answered.entry_id
        )
        waited = time.monotonic() - started
    # The person's wait for the abandon message, as it would be on the wall clock: the
    # claim's wait runs at the clock's speed, the rest (our own work) is real time.
    elapsed = time.monotonic() - received
    delay_ms = round(1000 * (waited * rt.clock.speed + (elapsed - waited)))
    with rt.db.begin() as s:
        recorded = attempts.record_bridge(
            s,
            attempt_id,
            agent_id,
            rt.clock.now(),
            abandon_delay_ms=delay_ms if agent_id is None else None,
            account_id=answered.account_id,
        )
        reply = HANGUP
        if recorded and agent_id is None:
            reply = _abandon_message(s, rt, answered.campaign_id)
    if not recorded:  # the customer hung up while we looked for an agent
        if agent_id is not None:
            presence.release(r, agent_id, attempt_id, now_ts)
        return HANGUP
    if agent_id is None:
        log.info("attempt %s abandoned: no agent free in time (%d ms)", attempt_id, delay_ms)
        return reply
    return (JoinRoom(agent_room(agent_id), action=common.dial_action_url(rt.settings, attempt_id)),)


def _abandon_message(s, rt: Runtime, campaign_id: int) -> Reply:
    """The safe-harbour message: who called and a number to call back, then hang up."""
    campaign = s.get_one(Campaign, campaign_id)
    caller = common.caller_of(campaign, rt.settings)
    script = common.script_of(s, campaign)
    return (common.say(script, "abandon", common.caller_context(caller)), Hangup())


def _repeat_answer(rt: Runtime, attempt_id: int) -> Reply:
    """The reply the first delivery gave, once it has decided (it may still be claiming)."""
    deadline = time.monotonic() + rt.clock.real_seconds(rt.settings.agent_claim_timeout) + 2
    while True:
        with rt.db.session() as s:
            attempt = s.get_one(CallAttempt, attempt_id)
            settled = attempt.result is not None or attempt.ended_at is not None
            if settled and attempt.result == "abandoned":
                return _abandon_message(s, rt, attempt.campaign_id)
        if settled:
            break
        if time.monotonic() > deadline:
            return HANGUP
        time.sleep(0.02)
    if attempt.result == "human" and attempt.agent_id is not None and attempt.ended_at is None:
        return (
            JoinRoom(
                agent_room(attempt.agent_id), action=common.dial_action_url(rt.settings, attempt.id)
            ),
        )
    return HANGUP


def call_status(
    rt: Runtime,
    *,
    attempt_id: int | None,
    status: str,
    duration: int | None,
    call_sid: str | None,
    error_code: int | None = None,
) -> None:
    """Call progress from the carrier: ringing/answered move the attempt on; a final status
    ends it (once). A call the carrier failed for a geography our account may not call
    sets the phone aside like the same refusal at create time."""
    if attempt_id is None:
        return
    with rt.db.begin() as s:
        attempt = s.get(CallAttempt, attempt_id)
        if attempt is None:
            log.warning("status callback for unknown attempt %r", attempt_id)
            return
        if status not in attempts.FINAL_STATUSES:
            attempt.call_sid = attempt.call_sid or call_sid
            attempts.advance_status(attempt, status)
            return
        geo = error_code in GEO_ERRORS and attempt.ended_at is None
        if geo and attempt.phone_id is not None:
            phone = s.get_one(Phone, attempt.phone_id)
            phone.dialable, phone.reason = False, f"geo_permission:{error_code}"
    followups.end_call(
        rt,
        attempt_id,
        status,
        duration,
        call_sid=call_sid,
        result="geo_blocked" if geo else None,
        error=f"{error_code}" if error_code else None,
    )


def recording(
    rt: Runtime, *, attempt_id: int | None, sid: str, url: str, duration: int | None
) -> None:
    """The customer leg's recording is ready: where it is, and how long."""
    if attempt_id is None or not sid:
        return
    with rt.db.begin() as s:
        attempt = s.get(CallAttempt, attempt_id)
        if attempt is None:
            log.warning("recording callback for unknown attempt %r", attempt_id)
            return
        attempt.recording_sid, attempt.recording_url = sid[:64], url[:500]
        attempt.recording_duration = duration
