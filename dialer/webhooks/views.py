"""Twilio callbacks: voice answer (with AMD result), call status, agent legs, dial action.

Every view is idempotent: the carrier may deliver a callback twice or out of order.
SQL changes commit first; Redis follow-ups run after.
"""

from __future__ import annotations

import logging
import time

from flask import Blueprint, Response, request

from dialer.agents import presence
from dialer.campaigns import attempts, followups
from dialer.campaigns.models import CallAttempt, Campaign
from dialer.http import current_runtime
from dialer.runtime import Runtime
from dialer.telephony import twiml
from dialer.webhooks.security import twilio_signed

log = logging.getLogger(__name__)
bp = Blueprint("webhooks", __name__, url_prefix="/twilio")


def _xml(document: str) -> Response:
    return Response(document, mimetype="application/xml")


def _id_arg(name: str) -> int | None:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() else None


@bp.post("/voice")
@twilio_signed
def voice() -> Response:
    """A customer leg was answered: machines are released, people bridged to an agent."""
    rt = current_runtime()
    attempt_id = _id_arg("attempt")
    call_sid = request.form.get("CallSid", "")
    with rt.db.begin() as s:
        if attempt_id is None or s.get(CallAttempt, attempt_id) is None:
            log.warning("voice callback for unknown attempt %r (%s)", attempt_id, call_sid)
            return _xml(twiml.hangup())
        kind = attempts.mark_answered(
            s, attempt_id, request.form.get("AnsweredBy"), call_sid, rt.clock.now()
        )
        attempt = s.get_one(CallAttempt, attempt_id)
        campaign_id, entry_id = attempt.campaign_id, attempt.entry_id
        campaign = s.get_one(Campaign, campaign_id)
        agentless, script = campaign.dial_mode == "ivr", campaign.script
        if agentless and kind == "human":
            attempts.record_reminder(s, attempt_id)
    if kind is None:  # a repeated delivery: answer as the first one did
        return _xml(_repeat_answer(rt, attempt_id))
    if agentless:  # no agent to wait for: the borrower hears the campaign's reminder
        followups.after_answer(rt, campaign_id, entry_id)
        return _xml(twiml.hangup() if kind == "machine" else twiml.reminder(script))
    reserved = _id_arg("agent")  # preview: the agent who chose to dial is waiting
    if kind == "machine":
        followups.after_answer(rt, campaign_id, entry_id)
        followups.release_reserved_agent(rt, attempt_id)
        return _xml(twiml.hangup())

    # Claim outside any SQL transaction: waiting must not hold a database lock. The call
    # stops counting as in flight only once it holds its agent, or the pacer would see
    # that agent as free for a moment and dial for them again.
    ready_since = rt.now_ts()
    if reserved is not None:
        agent_id: int | None = reserved
    else:
        wait = rt.clock.real_seconds(rt.settings.agent_claim_timeout)
        agent_id = presence.claim(
            rt.redis, campaign_id, attempt_id, ready_since, wait, entry_id=entry_id
        )
    followups.after_answer(rt, campaign_id, entry_id)
    with rt.db.begin() as s:
        recorded = attempts.record_bridge(s, attempt_id, agent_id, rt.clock.now())
    if not recorded:  # the customer hung up while we looked for an agent
        if agent_id is not None:
            presence.release(rt.redis, agent_id, attempt_id, ready_since)
        return _xml(twiml.hangup())
    if agent_id is None:
        log.info("attempt %s abandoned: no agent free in time", attempt_id)
        return _xml(twiml.abandon())
    return _xml(twiml.customer_joins_agent(agent_id, _dial_action_url(rt, attempt_id)))


def _dial_action_url(rt: Runtime, attempt_id: int) -> str:
    return f"{rt.settings.webhook_base}/twilio/dial-action?attempt={attempt_id}"


def _repeat_answer(rt: Runtime, attempt_id: int) -> str:
    """The TwiML the first delivery gave, once it has decided (it may still be claiming)."""
    deadline = time.monotonic() + rt.clock.real_seconds(rt.settings.agent_claim_timeout) + 2
    while True:
        with rt.db.session() as s:
            attempt = s.get_one(CallAttempt, attempt_id)
        if attempt.result is not None or attempt.ended_at is not None:
            break
        if time.monotonic() > deadline:
            return twiml.hangup()
        time.sleep(0.02)
    if attempt.result == "human" and attempt.agent_id is not None and attempt.ended_at is None:
        return twiml.customer_joins_agent(attempt.agent_id, _dial_action_url(rt, attempt.id))
    if attempt.result == "abandoned":
        return twiml.abandon()
    return twiml.hangup()


@bp.post("/status")
@twilio_signed
def status() -> tuple[str, int]:
    """Call progress: ringing/answered move the attempt on; final statuses end it."""
    rt = current_runtime()
    attempt_id = _id_arg("attempt")
    call_status = request.form.get("CallStatus", "")
    duration = request.form.get("CallDuration", "")
    call_sid = request.form.get("CallSid")
    with rt.db.begin() as s:
        attempt = s.get(CallAttempt, attempt_id) if attempt_id else None
        if attempt is None:
            log.warning("status callback for unknown attempt %r", attempt_id)
            return "", 204
        if call_status not in attempts.FINAL_STATUSES:
            attempt.call_sid = attempt.call_sid or call_sid
            attempts.advance_status(attempt, call_status)
    if attempt_id is not None and call_status in attempts.FINAL_STATUSES:
        followups.end_call(
            rt,
            attempt_id,
            call_status,
            int(duration) if duration.isdigit() else None,
            call_sid=call_sid,
        )
    return "", 204


@bp.post("/dial-action")
@twilio_signed
def dial_action() -> Response:
    """The customer's <Dial> into the agent's room ended: nothing more to say."""
    return _xml(twiml.hangup())


@bp.post("/agent")
@twilio_signed
def agent_leg() -> Response:
    """The agent's softphone answered: seat them in their room and make them ready."""
    rt = current_runtime()
    agent_id = _id_arg("agent")
    if agent_id is None:
        return _xml(twiml.hangup())
    if presence.get(rt.redis, agent_id).state == "offline":
        log.warning("agent %s answered but is not logged in; hanging up", agent_id)
        return _xml(twiml.hangup())
    # A repeated delivery (agent already ready or talking) must not change their state.
    presence.connected(rt.redis, agent_id, rt.now_ts())
    return _xml(twiml.agent_joins_room(agent_id))


@bp.post("/agent-status")
@twilio_signed
def agent_status() -> tuple[str, int]:
    """The agent's leg ended (logout, network loss): they are offline."""
    rt = current_runtime()
    agent_id = _id_arg("agent")
    call_status = request.form.get("CallStatus", "")
    if agent_id is not None and call_status in attempts.FINAL_STATUSES:
        current = presence.get(rt.redis, agent_id)
        # Only the leg we know of may log the agent out (not an old, replaced one).
        if current.agent_call_sid in (None, request.form.get("CallSid")):
            presence.set_offline(rt.redis, agent_id, rt.now_ts())
    return "", 204
