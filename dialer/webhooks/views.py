"""Twilio callbacks: parse, call the use case (dialer/callflow), render its reply as TwiML.

Every callback is signature-checked and idempotent: the carrier may deliver one twice or
out of order. The decisions live in the call flow; nothing here writes to the database.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from dialer.callflow import inbound, ivr, legs, outbound
from dialer.http import current_runtime
from dialer.telephony import twiml
from dialer.telephony.carrier import FINAL_STATUSES
from dialer.webhooks.security import twilio_signed

bp = Blueprint("webhooks", __name__, url_prefix="/twilio")


def _xml(reply: twiml.Reply) -> Response:
    return Response(twiml.render(reply), mimetype="application/xml")


def _arg_id(name: str) -> int | None:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() else None


def _form_int(name: str) -> int | None:
    value = request.form.get(name, "")
    return int(value) if value.isdigit() else None


def _try() -> int:
    return max(1, min(_arg_id("try") or 1, 9))


@bp.post("/voice")
@twilio_signed
def voice() -> Response:
    """A customer leg was answered (after machine detection)."""
    return _xml(
        outbound.answer(
            current_runtime(),
            attempt_id=_arg_id("attempt"),
            call_sid=request.form.get("CallSid", ""),
            answered_by=request.form.get("AnsweredBy"),
            reserved_agent=_arg_id("agent"),  # preview, a callback's agent: waiting already
        )
    )


@bp.post("/ivr")
@twilio_signed
def ivr_keys() -> Response:
    """The keys pressed at an IVR menu (the step and try are in the action URL)."""
    attempt_id = _arg_id("attempt")
    if attempt_id is None:
        return _xml(twiml.HANGUP)
    return _xml(
        ivr.handle_key(
            current_runtime(),
            attempt_id=attempt_id,
            step=request.args.get("step", ""),
            try_no=_try(),
            digits=request.form.get("Digits", ""),
        )
    )


@bp.post("/status")
@twilio_signed
def status() -> tuple[str, int]:
    """Call progress: ringing/answered move the attempt on; final statuses end it."""
    outbound.call_status(
        current_runtime(),
        attempt_id=_arg_id("attempt"),
        status=request.form.get("CallStatus", ""),
        duration=_form_int("CallDuration"),
        call_sid=request.form.get("CallSid"),
        error_code=_form_int("ErrorCode"),
    )
    return "", 204


@bp.post("/recording")
@twilio_signed
def recording() -> tuple[str, int]:
    """A recording of the customer leg is ready."""
    if request.form.get("RecordingStatus", "completed") == "completed":
        outbound.recording(
            current_runtime(),
            attempt_id=_arg_id("attempt"),
            sid=request.form.get("RecordingSid", ""),
            url=request.form.get("RecordingUrl", ""),
            duration=_form_int("RecordingDuration"),
        )
    return "", 204


@bp.post("/dial-action")
@twilio_signed
def dial_action() -> Response:
    """The customer's <Dial> into the agent's room ended."""
    return _xml(
        legs.dial_ended(
            current_runtime(),
            attempt_id=_arg_id("attempt"),
            call_status=request.form.get("CallStatus", ""),
        )
    )


@bp.post("/agent")
@twilio_signed
def agent_leg() -> Response:
    """The agent's softphone answered: seat them in their room and make them ready."""
    return _xml(legs.agent_answered(current_runtime(), agent_id=_arg_id("agent")))


@bp.post("/agent-status")
@twilio_signed
def agent_status() -> tuple[str, int]:
    """The agent's leg ended (logout, network loss): they are offline."""
    if request.form.get("CallStatus", "") in FINAL_STATUSES:
        legs.agent_leg_ended(
            current_runtime(), agent_id=_arg_id("agent"), call_sid=request.form.get("CallSid")
        )
    return "", 204


@bp.post("/inbound")
@twilio_signed
def inbound_call() -> Response:
    """A borrower called the bank's number (its Voice URL), or keyed in at one of its menus."""
    rt = current_runtime()
    attempt_id = _arg_id("attempt")
    if attempt_id is None:
        return _xml(
            inbound.answer(
                rt,
                call_sid=request.form.get("CallSid", ""),
                caller=request.form.get("From", ""),
                called=request.form.get("To", ""),
            )
        )
    return _xml(
        inbound.handle_key(
            rt,
            attempt_id=attempt_id,
            step=request.args.get("step", ""),
            try_no=_try(),
            digits=request.form.get("Digits", ""),
        )
    )


@bp.post("/inbound-status")
@twilio_signed
def inbound_status() -> tuple[str, int]:
    """The bank's number's status callback: an inbound call ended."""
    status_ = request.form.get("CallStatus", "")
    if status_ in FINAL_STATUSES:
        inbound.ended(
            current_runtime(),
            call_sid=request.form.get("CallSid", ""),
            status=status_,
            duration=_form_int("CallDuration"),
        )
    return "", 204
