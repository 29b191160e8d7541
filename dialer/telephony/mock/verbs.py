"""The TwiML interpreter: documents are fetched and run verb by verb through `VERBS`.

`VERBS` maps a verb's name to its handler, `handler(sim, call, verb, doc_url)`. A handler
runs on the call's own thread, sleeps in simulated time through `sim.sleep` / `sim.wait`
(which raise CallEnded, Redirected or Stopped when the call is interrupted), and returns
the Source of the next document (an action, a redirect) or None to go on with the next verb.
Verbs that parse but are not simulated are logged as `skipped`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from dialer.telephony.mock import errors
from dialer.telephony.mock.callbacks import send_async
from dialer.telephony.mock.callparams import is_http_url
from dialer.telephony.mock.conferences import dial_conference, join_locked, sit
from dialer.telephony.mock.policy import geo_permission_error
from dialer.telephony.mock.population import is_e164
from dialer.telephony.mock.resources import API_PREFIX, rfc2822
from dialer.telephony.mock.state import (
    MAX_DOCUMENT_CHARS,
    MAX_EVENTS_PER_CALL,
    Call,
    CallEnded,
    Conference,
    Participant,
    Redirected,
    Source,
    Stopped,
    new_sid,
)
from dialer.telephony.mock.twiml import (
    PLAY_SECONDS,
    Node,
    TwimlError,
    heard,
    parse,
    speaking_seconds,
)

if TYPE_CHECKING:
    from dialer.telephony.mock.simulator import Simulator

log = logging.getLogger("dialer.mock")

MAX_DOCUMENTS_PER_CALL = 5000  # guards against endless <Redirect> loops

Handler = Callable[["Simulator", Call, Node, "str | None"], "Source | None"]


# ------------------------------------------------------------- the interpreter --
def run_twiml(sim: Simulator, call: Call, source: Source | None) -> None:
    """Run documents until one ends without a next one; always ends the call (CallEnded)."""
    while source is not None:
        try:
            loaded = load_document(sim, call, source)
            if loaded is None:
                with sim.lock:
                    sim.end_locked(call, "completed", "application-error")
                raise CallEnded
            verbs, doc_url = loaded
            source = execute(sim, call, verbs, doc_url)
            if source is None:
                with sim.lock:  # a REST redirect that came while nothing waited
                    source, call.redirect_to = call.redirect_to, None
        except Redirected as redirect:
            with sim.lock:
                sim.event(call, "redirect", url=redirect.source.url, via="rest")
            source = redirect.source
    with sim.lock:
        sim.end_locked(call, "completed", "twiml-end")
    raise CallEnded


def load_document(
    sim: Simulator, call: Call, source: Source
) -> tuple[list[Node], str | None] | None:
    """The verbs to run and the document's URL; None when neither URL gave a document."""
    with sim.lock:
        call.documents += 1
        if call.documents > MAX_DOCUMENTS_PER_CALL:
            sim.event(call, "error", code=errors.SCHEMA_VALIDATION, message="too many documents")
            return None
    if source.twiml is not None:
        loaded = parse_document(sim, call, source.twiml, None, "inline")
        return None if isinstance(loaded, int) else loaded
    assert source.url is not None
    attempts = [(source.url, source.method, source.kind, "primary")]
    if source.fallback_url:
        attempts.append((source.fallback_url, source.fallback_method, source.kind, "fallback"))
    last_error: int | None = None
    for url, method, kind, attempt in attempts:
        with sim.lock:
            params = sim.call_params(call)
            # An incoming call's first document is asked for while it rings.
            params["CallStatus"] = "ringing" if call.status == "ringing" else "in-progress"
        params.update(source.params)
        if attempt == "fallback" and last_error is not None:
            params["ErrorCode"] = str(last_error)
            params["ErrorUrl"] = source.url
        result = sim.deliver(call, kind, url, params, method, attempt=attempt)
        if result.error_code:
            last_error = result.error_code
            with sim.lock:
                sim.event(
                    call, "error", code=result.error_code,
                    message=errors.MESSAGES.get(result.error_code, ""), url=result.url,
                )  # fmt: skip
            continue
        loaded = parse_document(sim, call, result.body, url, attempt)
        if not isinstance(loaded, int):
            return loaded
        last_error = loaded
    return None


def parse_document(
    sim: Simulator, call: Call, text: str, url: str | None, origin: str
) -> tuple[list[Node], str | None] | int:
    """The parsed verbs and the document's URL, or the TwiML error code."""
    with sim.lock:
        sim.event(call, "twiml", url=url, origin=origin, xml=text[:MAX_DOCUMENT_CHARS])
    try:
        return parse(text), url
    except TwimlError as exc:
        with sim.lock:
            sim.event(call, "error", code=exc.code, message=exc.message, url=url)
        log.warning("call %s: TwiML error %s: %s", call.sid, exc.code, exc.message)
        return exc.code


def execute(sim: Simulator, call: Call, verbs: list[Node], doc_url: str | None) -> Source | None:
    for verb in verbs:
        handler = VERBS.get(verb.name)
        with sim.lock:
            sim.event(call, "verb", **verb.to_dict())
            # An incoming call rings until its TwiML does something: any verb but <Reject>
            # answers it (Twilio bills it from then on).
            unanswered = call.status == "ringing"
        if unanswered and verb.name != "Reject":
            sim.answer(call)
        if handler is None:
            with sim.lock:
                sim.event(call, "skipped", verb=verb.name, note="not simulated by the mock")
            continue
        following = handler(sim, call, verb, doc_url)
        if following is not None:
            return following
    return None


def resolve(sim: Simulator, call: Call, doc_url: str | None, target: str | None) -> str | None:
    """An action or redirect URL, relative to the current document; None (logged) if bad."""
    if not target:
        return doc_url
    resolved = urljoin(doc_url, target) if doc_url else target
    if not is_http_url(resolved):
        with sim.lock:
            sim.event(
                call, "error", code=errors.HTTP_RETRIEVAL_FAILURE,
                message=f"cannot resolve URL {target!r}",
            )  # fmt: skip
        return None
    return resolved


def _method(verb: Node) -> str:
    return (verb.get("method") or "POST").upper()


# ------------------------------------------------------------ simple verbs --
def say(sim: Simulator, call: Call, verb: Node, doc_url: str | None) -> None:
    """Say, Play and Pause: the far end listens for as long as it lasts."""
    _listen(sim, call, verb)


def _listen(sim: Simulator, call: Call, node: Node) -> None:
    with sim.lock:  # noted as it starts: a prompt cut short was still (partly) heard
        if len(call.heard) < MAX_EVENTS_PER_CALL:
            call.heard.append(heard(node))
    sim.sleep(call, speaking_seconds(node, PLAY_SECONDS))


def _pressed(sim: Simulator, call: Call, keys: str) -> None:
    with sim.lock:
        if len(call.pressed) < MAX_EVENTS_PER_CALL:
            call.pressed.append(keys)


def hangup(sim: Simulator, call: Call, verb: Node, doc_url: str | None) -> None:
    with sim.lock:
        sim.end_locked(call, "completed", "twiml-hangup")
    raise CallEnded


def reject(sim: Simulator, call: Call, verb: Node, doc_url: str | None) -> None:
    """As the first verb of an incoming call: never answered, it ends busy or no-answer."""
    with sim.lock:
        if call.answered_at is not None:
            sim.end_locked(call, "completed", "twiml-hangup")
        else:
            reason = verb.get("reason") or "rejected"
            sim.event(call, "reject", reason=reason)
            busy = reason == "busy"
            sim.end_locked(
                call, "busy" if busy else "no-answer", "twiml-reject", 486 if busy else 480
            )
    raise CallEnded


def leave(sim: Simulator, call: Call, verb: Node, doc_url: str | None) -> None:
    return None


def redirect(sim: Simulator, call: Call, verb: Node, doc_url: str | None) -> Source | None:
    url = resolve(sim, call, doc_url, verb.text)
    if url is None:
        with sim.lock:
            sim.end_locked(call, "completed", "application-error")
        raise CallEnded
    return Source(url=url, method=_method(verb), kind="redirect")


# ------------------------------------------------------------------- Gather --
def gather(sim: Simulator, call: Call, verb: Node, doc_url: str | None) -> Source | None:
    """Play the prompts, then the far end presses its digits for this Gather (or not)."""
    timeout_raw = verb.get("timeout", "5")
    timeout = 5 if timeout_raw in (None, "", "auto") else int(timeout_raw)
    num_digits = verb.int_attr("numDigits", 0) or None
    finish = verb.get("finishOnKey", "#") or ""
    inputs = (verb.get("input") or "dtmf").lower().split()
    with sim.lock:
        index = call.gathers
        call.gathers += 1
    wanted = call.plan.digits_for(index) if "dtmf" in inputs else ""
    for child in verb.children:
        with sim.lock:
            sim.event(call, "verb", **child.to_dict())
        _listen(sim, call, child)
    digits, finished_on = "", ""
    if wanted:
        pressed = wanted
        cut = next((i for i, ch in enumerate(pressed) if finish and ch in finish), None)
        if cut is not None:
            digits, finished_on = pressed[:cut], pressed[cut]
        elif num_digits and len(pressed) >= num_digits:
            digits = pressed[:num_digits]
        else:
            digits = pressed
        sim.sleep(call, sim.population.params.key_delay + 0.3 * len(pressed))
        _pressed(sim, call, pressed)
        if cut is None and not (num_digits and len(pressed) >= num_digits):
            sim.sleep(call, timeout)  # waits for more digits, then gives up
        with sim.lock:
            sim.event(call, "digits", digits=digits, pressed=pressed, finished_on=finished_on)
    else:
        _pressed(sim, call, "")
        sim.sleep(call, timeout)
    if not digits and not verb.bool_attr("actionOnEmptyResult", False):
        with sim.lock:
            sim.event(call, "gather-timeout")
        return None
    url = resolve(sim, call, doc_url, verb.get("action"))
    if url is None:
        return None
    params = {"Digits": digits, "msg": "Gather End"}
    if finished_on:
        params["FinishedOnKey"] = finished_on
    return Source(url=url, method=_method(verb), params=params, kind="gather-action")


# ------------------------------------------------------------------- Record --
def record(sim: Simulator, call: Call, verb: Node, doc_url: str | None) -> Source | None:
    """A human speaks, then stays silent for `timeout`; the recording goes to `action`."""
    silence = verb.int_attr("timeout", 5)
    max_length = verb.int_attr("maxLength", 3600)
    speak = min(call.plan.record_seconds, float(max_length))
    if verb.bool_attr("playBeep", True):
        sim.sleep(call, 0.5)
    recording_sid = new_sid("RE")
    recording_url = _recording_url(sim, call, recording_sid)
    action = resolve(sim, call, doc_url, verb.get("action"))
    method = _method(verb)

    def params(duration: float, digits: str | None) -> dict[str, str]:
        out = {
            "RecordingUrl": recording_url,
            "RecordingDuration": str(round(duration)),
            "RecordingSid": recording_sid,
        }
        if digits:
            out["Digits"] = digits
        return out

    started = sim.now()
    try:
        sim.sleep(call, speak)
        if 0 < speak < max_length and silence > 0:
            sim.sleep(call, silence)
    except CallEnded:
        spoken = min(speak, sim.now() - started)
        if action and spoken > 0:
            sim.request(call, "record-action", action, method, params(spoken, "hangup"))
        raise
    with sim.lock:
        sim.event(call, "recording", sid=recording_sid, duration=round(speak), url=recording_url)
    callback = verb.get("recordingStatusCallback")
    if callback and speak > 0:
        cb_method = (verb.get("recordingStatusCallbackMethod") or "POST").upper()
        with sim.lock:
            _recording_callback(sim, call, callback, cb_method, params(speak, None), "RecordVerb")
    if speak <= 0 or action is None:
        return None  # Twilio skips the action for an empty recording
    return Source(url=action, method=method, params=params(speak, None), kind="record-action")


def _recording_url(sim: Simulator, call: Call, recording_sid: str) -> str:
    return f"{sim.public_base}{API_PREFIX}/{call.account_sid}/Recordings/{recording_sid}"


def _recording_callback(
    sim: Simulator, call: Call, url: str, method: str, recording: Mapping[str, str], source: str
) -> None:
    """Queue a recording status callback (the recording is ready). Lock held."""
    params = sim.call_params(call)
    params.update(recording)
    params.update(RecordingStatus="completed", RecordingChannels="1", RecordingSource=source)
    send_async(sim, call.sid, "recording-callback", url, params, method, call=call)


def record_whole_call(sim: Simulator, call: Call) -> None:
    """Record=true on the REST request: the answered part of the call is one recording."""
    with sim.lock:
        duration = call.duration
        if not duration:
            return
        recording_sid = new_sid("RE")
        url = _recording_url(sim, call, recording_sid)
        sim.event(call, "recording", sid=recording_sid, duration=duration, url=url)
        if call.recording_callback:
            _recording_callback(
                sim, call, call.recording_callback, call.recording_callback_method,
                {
                    "RecordingSid": recording_sid,
                    "RecordingUrl": url,
                    "RecordingDuration": str(duration),
                    "RecordingStartTime": rfc2822(call.answered_at) or "",
                },
                "OutboundAPI",
            )  # fmt: skip


# ------------------------------------------------------------------ Enqueue --
def enqueue(sim: Simulator, call: Call, verb: Node, doc_url: str | None) -> Source | None:
    """No one dequeues in the mock: the caller waits, then hangs up after its patience."""
    action = resolve(sim, call, doc_url, verb.get("action")) if verb.get("action") else None
    with sim.lock:
        if call.plan.talk_seconds is not None:
            call.hangup_at = sim.now() + sim.hold_patience(call)
        sim.event(call, "enqueue", queue=verb.text)
    try:
        sim.wait(call, float("inf"))
    except CallEnded:
        if action:
            sim.request(
                call, "enqueue-action", action, _method(verb),
                {"QueueResult": "hangup", "QueueSid": "QU" + "0" * 32},
            )  # fmt: skip
        raise
    return None


# --------------------------------------------------------------------- Dial --
def dial(sim: Simulator, call: Call, verb: Node, doc_url: str | None) -> Source | None:
    """Dial the first noun (a conference, or a child leg bridged in a private room)."""
    action = resolve(sim, call, doc_url, verb.get("action")) if verb.get("action") else None
    method = _method(verb)
    timeout = max(1, min(600, verb.int_attr("timeout", 30)))
    time_limit = max(1, verb.int_attr("timeLimit", 14400))
    nouns = verb.children or [Node("Number", text=verb.text)]
    if len(nouns) > 1:
        with sim.lock:
            sim.event(
                call, "warning",
                message="simultaneous dialing is not simulated: dialing the first noun only",
            )  # fmt: skip
    noun = nouns[0]
    outcome: dict[str, str] = {"DialCallStatus": "completed", "DialCallDuration": "0"}
    try:
        if noun.name == "Conference":
            dial_conference(sim, call, noun, time_limit, outcome)
        else:
            _dial_leg(sim, call, verb, noun, timeout, time_limit, outcome)
    except CallEnded:
        if action:  # Twilio still reports the Dial outcome; the answer is ignored
            sim.request(call, "dial-action", action, method, outcome)
        raise
    with sim.lock:
        sim.event(call, "dial-end", **outcome)
    if action is None:
        return None
    return Source(url=action, method=method, params=outcome, kind="dial-action")


def _dial_leg(
    sim: Simulator, call: Call, verb: Node, noun: Node, timeout: int, time_limit: int,
    outcome: dict[str, str],
) -> None:  # fmt: skip
    target = noun.text.strip()
    if noun.name == "Client" and not target.lower().startswith("client:"):
        target = "client:" + target
    if noun.name == "Sip" and not target.lower().startswith("sip:"):
        target = "sip:" + target
    if noun.name == "Number" and not is_e164(target):
        _dial_refused(sim, call, errors.DIAL_INVALID_NUMBER, f"invalid number {target!r}")
        outcome["DialCallStatus"] = "failed"
        return
    refused = geo_permission_error(target, sim.limits) if noun.name == "Number" else None
    if refused is not None:  # like Twilio: no child call, the <Dial> fails
        _dial_refused(sim, call, errors.DIAL_NO_INTERNATIONAL, refused)
        outcome["DialCallStatus"] = "failed"
        return
    caller_id = verb.get("callerId") or call.from_
    plan = sim.population.plan(target)
    child = Call(
        sim.lock,
        sid=new_sid("CA"),
        account_sid=call.account_sid,
        to=target,
        from_=caller_id,
        direction="outbound-dial",
        now=sim.now(),
        plan=plan,
        params={"Dial": verb.attrs, noun.name: dict(noun.attrs, value=noun.text)},
        parent_call_sid=call.sid,
    )
    child.timeout = timeout
    child.time_limit = time_limit
    child.status_callback = noun.get("statusCallback")
    child.status_callback_method = (noun.get("statusCallbackMethod") or "POST").upper()
    child.status_callback_events = set(
        (noun.get("statusCallbackEvent") or "").replace(",", " ").split()
    )
    room = Conference(new_sid("CF"), call.account_sid, f"bridge:{call.sid}", sim.now(), True)
    outcome["DialCallSid"] = child.sid
    with sim.lock:
        sim.event(call, "dial", to=target, child_sid=child.sid)
    sim.register_and_start(child, lambda c: _run_child(sim, c, room))
    try:
        sim.wait(call, predicate=lambda: child.ended or child.participant is not None)
    except (CallEnded, Redirected, Stopped):
        with sim.lock:
            if child.participant is None:
                sim.end_locked(child, "canceled", "parent-ended")
            outcome["DialCallStatus"] = "completed" if child.answered_at else "canceled"
        raise
    with sim.lock:
        if child.participant is None:
            outcome["DialCallStatus"] = child.status
            return
        participant = Participant(
            call=call, conference=room, joined_at=sim.now(), end_conference_on_exit=True
        )
        join_locked(sim, room, participant)
    try:
        sit(sim, call, participant, participant.joined_at + time_limit)
    finally:
        outcome["DialCallDuration"] = str(
            round((participant.left_at or sim.now()) - participant.joined_at)
        )
    outcome["DialCallStatus"] = "completed"


def _dial_refused(sim: Simulator, call: Call, code: int, detail: str) -> None:
    with sim.lock:
        sim.event(call, "error", code=code, message=f"{errors.MESSAGES[code]}: {detail}")


def _run_child(sim: Simulator, child: Call, room: Conference) -> None:
    """The child leg's thread: ring its callee, join the private bridge, stay until it ends."""
    try:
        if sim.ring(child):
            with sim.lock:
                if room.status == "completed":
                    sim.end_locked(child, "completed", "bridge-ended")
                    raise CallEnded
                participant = Participant(
                    call=child, conference=room, joined_at=sim.now(),
                    end_conference_on_exit=True,
                )  # fmt: skip
                join_locked(sim, room, participant)
                sim.notify(child)
            with contextlib.suppress(Redirected):  # a child leg has no TwiML to redirect
                sit(sim, child, participant, participant.joined_at + child.time_limit)
            with sim.lock:
                sim.end_locked(child, "completed", "bridge-ended")
    except CallEnded:
        pass
    except Stopped:
        sim.drop(child)
        return
    except Exception as exc:
        log.exception("child call %s: simulator error", child.sid)
        with sim.lock:
            sim.event(child, "internal-error", error=repr(exc))
            sim.end_locked(child, "failed", "internal-error")
    sim.finish(child)


# Verb name (case-sensitive, as in TwiML) -> handler. Names twiml.py accepts but that are
# missing here are skipped (logged).
VERBS: dict[str, Handler] = {
    "Say": say,
    "Play": say,
    "Pause": say,
    "Hangup": hangup,
    "Reject": reject,
    "Leave": leave,
    "Redirect": redirect,
    "Gather": gather,
    "Record": record,
    "Enqueue": enqueue,
    "Dial": dial,
}
