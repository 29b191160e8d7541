"""The simulated network: call state machine, TwiML interpreter, conferences, AMD, webhooks.

One thread per live call walks it through its life in simulated time (Clock): queued ->
initiated -> ringing -> in-progress -> completed, or busy / no-answer / failed / canceled.
The far end's behaviour (who answers, when, for how long, which keys) was drawn when the
call was created (population.py), so outcomes never depend on thread timing.

Locking: one lock (`self.lock`) guards all state; each call sleeps on its own Condition
over that lock, so a REST update, a conference ending or stop() wakes it at once. HTTP is
never done while holding the lock: TwiML requests are made by the call's thread, status
and conference callbacks are handed to the Dispatcher (in order per call / conference).
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urljoin, urlparse

from dialer.clock import Clock
from dialer.privacy import mask_phone
from dialer.telephony.mock import errors
from dialer.telephony.mock.delivery import DeliveryResult, Dispatcher, WebhookSender
from dialer.telephony.mock.errors import TwilioApiError
from dialer.telephony.mock.policy import (
    NO_FAULT,
    CallRateGate,
    FaultPlan,
    Faults,
    Limits,
    check_geo_permission,
    geo_permission_error,
    plan_fault,
)
from dialer.telephony.mock.population import (
    Population,
    ScenarioError,
    endpoint_identity,
    is_e164,
)
from dialer.telephony.mock.resources import API_PREFIX, API_VERSION, iso, rfc2822
from dialer.telephony.mock.scheduling import Scheduler
from dialer.telephony.mock.state import (
    MAX_DOCUMENT_CHARS,
    TERMINAL,
    BoundedStore,
    Call,
    Conference,
    Participant,
    Source,
    new_sid,
)
from dialer.telephony.mock.twiml import (
    PLAY_SECONDS,
    Node,
    TwimlError,
    is_infinite,
    parse,
    speaking_seconds,
)

log = logging.getLogger("dialer.mock")

CALL_EVENTS = ("initiated", "ringing", "answered", "completed")
CONFERENCE_EVENTS = {
    "start": "conference-start",
    "end": "conference-end",
    "join": "participant-join",
    "leave": "participant-leave",
    "mute": "participant-mute",
    "hold": "participant-hold",
    "modify": "participant-modify",
    "speaker": "participant-speech-start",
    "announcement": "announcement-end",
}
MAX_REAL_WAIT = 0.5  # a sleeping call re-checks its state at least this often (real s)
MAX_DOCUMENTS_PER_CALL = 5000  # guards against endless <Redirect> loops
SEND_DIGITS_RE = re.compile(r"^[0-9#*wW]{1,32}$")


class CallEnded(Exception):
    """The call is over (its status is already terminal)."""


class Stopped(Exception):
    """The simulator is shutting down: leave without further webhooks."""


class Redirected(Exception):
    def __init__(self, source: Source):
        super().__init__(source.url)
        self.source = source


class Form:
    """Request parameters as the twilio client sends them (repeated keys allowed)."""

    def __init__(self, data: Mapping[str, Any] | None = None):
        self._data: dict[str, list[str]] = {}
        for key, value in (data or {}).items():
            values = value if isinstance(value, list | tuple) else [value]
            self._data[key] = [str(v) for v in values if v is not None]

    def one(self, name: str) -> str | None:
        values = self._data.get(name)
        return values[-1] if values else None

    def many(self, name: str) -> list[str]:
        return list(self._data.get(name, []))

    def __contains__(self, name: str) -> bool:
        return name in self._data

    def as_dict(self) -> dict[str, Any]:
        return {k: v[0] if len(v) == 1 else list(v) for k, v in self._data.items()}


def _is_http_url(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


def _method(value: str | None, name: str) -> str:
    if value is None or value == "":
        return "POST"
    upper = value.upper()
    if upper not in ("GET", "POST"):
        raise TwilioApiError(errors.INVALID_PARAMETER, f"{name} must be GET or POST, got {value!r}")
    return upper


def _int_param(form: Form, name: str, default: int, low: int, high: int, clamp=False) -> int:
    raw = form.one(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise TwilioApiError(
            errors.INVALID_PARAMETER, f"{name} must be a whole number, got {raw!r}"
        ) from None
    if clamp:
        return max(low, min(high, value))
    if not low <= value <= high:
        raise TwilioApiError(
            errors.INVALID_PARAMETER, f"{name} must be between {low} and {high}, got {value}"
        )
    return value


def _bool_param(form: Form, name: str) -> bool:
    raw = form.one(name)
    if raw is None or raw == "":
        return False
    if raw.lower() not in ("true", "false"):
        raise TwilioApiError(errors.INVALID_PARAMETER, f"{name} must be true or false")
    return raw.lower() == "true"


def _mask(endpoint: str) -> str:
    return endpoint if endpoint_identity(endpoint) is not None else mask_phone(endpoint)


class Simulator:
    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        clock: Clock,
        population: Population,
        *,
        webhook_timeout: float = 15.0,
        max_calls: int = 50_000,
        max_conferences: int = 10_000,
        webhook_workers: int = 16,
        limits: Limits | None = None,
        faults: Faults | None = None,
    ):
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.clock = clock
        self.population = population
        self.limits = limits or Limits()
        self.faults = faults or Faults()
        self.rate_gate = CallRateGate()
        self.held_callbacks: dict[str, list[Callable[[], None]]] = {}  # reorder faults
        self.public_base = "http://127.0.0.1"  # set by MockCarrier once it listens
        self.lock = threading.Lock()
        self.calls = BoundedStore(max_calls)
        self.conferences = BoundedStore(max_conferences)
        self.active_calls: dict[str, Call] = {}
        self.active_conferences: dict[str, Conference] = {}
        self.sender = WebhookSender(auth_token, webhook_timeout)
        self.dispatcher = Dispatcher(webhook_workers)
        self.scheduler = Scheduler(clock)
        self.stopping = False

    # ------------------------------------------------------------------ helpers --
    def now(self) -> float:
        return self.clock.time()

    def _notify(self, call: Call) -> None:
        """Wake the call's thread (and its parent's, which may wait on it). Lock held."""
        call.cond.notify_all()
        if call.parent_call_sid:
            parent = self.active_calls.get(call.parent_call_sid)
            if parent is not None:
                parent.cond.notify_all()

    def _event(self, call: Call, kind: str, /, **data: Any) -> None:
        """Append to the call's witness log. Lock held."""
        call.add_event(self.now(), kind, **data)

    def _call_params(self, call: Call) -> dict[str, str]:
        params = {
            "AccountSid": call.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": call.sid,
            "CallStatus": call.status,
            "Called": call.to,
            "Caller": call.from_,
            "Direction": call.direction,
            "From": call.from_,
            "To": call.to,
        }
        if call.parent_call_sid:
            params["ParentCallSid"] = call.parent_call_sid
        return params

    def _end_locked(self, call: Call, status: str, reason: str, sip: int | None = None) -> bool:
        if call.ended:
            return False
        now = self.now()
        call.status = status
        call.progress = status
        call.end_time = now
        call.updated_at = now
        call.ended_by = reason
        if sip is not None:
            call.sip_code = sip
        elif status in ("no-answer", "canceled"):
            call.sip_code = 487
        call.hangup_at = None
        self._event(call, "status", status=status, reason=reason)
        self._notify(call)
        return True

    def _set_progress(self, call: Call, progress: str) -> None:
        with self.lock:
            if call.ended:
                raise CallEnded
            now = self.now()
            call.progress = progress
            call.updated_at = now
            if progress == "initiated":
                call.start_time = now
            else:
                call.status = progress
            if progress == "in-progress":
                call.answered_at = now
                plan = call.plan
                if plan.talk_seconds is not None:
                    call.hangup_at = now + plan.talk_seconds
                call.time_limit_at = now + call.time_limit
            self._event(call, "status", status=progress)
        self._status_callback(call, "answered" if progress == "in-progress" else progress)

    # --------------------------------------------------------------- waiting --
    def _wait(
        self,
        call: Call,
        seconds: float | None = None,
        *,
        until: float | None = None,
        predicate: Callable[[], bool] | None = None,
    ) -> bool:
        """Sleep in simulated time. True if predicate came true, False at the deadline.

        Raises CallEnded when the call ends meanwhile (REST, far end hangs up, time
        limit), Redirected when a REST update gives it new TwiML, Stopped on shutdown.
        """
        with self.lock:
            now = self.now()
            deadline = until if until is not None else None
            if seconds is not None:
                deadline = now + (seconds if not is_infinite(seconds) else 10**9)
            while True:
                if self.stopping:
                    raise Stopped
                if call.ended:
                    raise CallEnded
                if call.redirect_to is not None:
                    source, call.redirect_to = call.redirect_to, None
                    raise Redirected(source)
                if predicate is not None and predicate():
                    return True
                now = self.now()
                if call.hangup_at is not None and now >= call.hangup_at:
                    self._event(call, "hangup", by="callee")
                    self._end_locked(call, "completed", "callee-hangup")
                    raise CallEnded
                if call.time_limit_at is not None and now >= call.time_limit_at:
                    self._end_locked(call, "completed", "time-limit")
                    raise CallEnded
                if deadline is not None and now >= deadline:
                    return False
                wake = [t for t in (deadline, call.hangup_at, call.time_limit_at) if t is not None]
                real = self.clock.real_seconds(min(wake) - now) if wake else MAX_REAL_WAIT
                call.cond.wait(min(real, MAX_REAL_WAIT) + 0.0005)

    def _sleep(self, call: Call, seconds: float) -> None:
        if seconds > 0:
            self._wait(call, seconds)

    # ------------------------------------------------------------ REST: create --
    def create_call(self, data: Mapping[str, Any]) -> Call:
        form = Form(data)
        to, from_ = (form.one("To") or "").strip(), (form.one("From") or "").strip()
        if not to:
            raise TwilioApiError(errors.TO_MISSING, "A 'To' phone number is required.")
        if not from_:
            raise TwilioApiError(errors.FROM_MISSING, "A 'From' phone number is required.")
        identity = endpoint_identity(to)
        if identity is None and not is_e164(to):
            raise TwilioApiError(
                errors.TO_INVALID, f"The 'To' number {to} is not a valid phone number."
            )
        if identity == "":
            raise TwilioApiError(errors.TO_INVALID, f"The 'To' endpoint {to} has no identity.")
        if identity is None:
            check_geo_permission(to, self.limits)
        if endpoint_identity(from_) is None and not is_e164(from_):
            raise TwilioApiError(
                errors.FROM_INVALID,
                f"The 'From' number {from_} is not a valid phone number, shortcode, "
                "or alphanumeric sender ID.",
            )
        url, twiml = form.one("Url"), form.one("Twiml")
        if not url and not twiml:
            raise TwilioApiError(errors.URL_INVALID, "A 'Url' or 'Twiml' parameter is required.")
        if url and twiml:
            raise TwilioApiError(
                errors.INVALID_PARAMETER, "Url and Twiml are mutually exclusive: give one."
            )
        for name in (
            "Url", "FallbackUrl", "StatusCallback", "AsyncAmdStatusCallback",
            "RecordingStatusCallback",
        ):  # fmt: skip
            value = form.one(name)
            if value and not _is_http_url(value):
                raise TwilioApiError(errors.URL_INVALID, f"{name} is not a valid URL: {value}")
        events: set[str] = set()
        for raw in form.many("StatusCallbackEvent"):
            for event in raw.replace(",", " ").split():
                if event not in CALL_EVENTS:
                    raise TwilioApiError(
                        errors.INVALID_PARAMETER,
                        f"StatusCallbackEvent {event!r} is not one of {', '.join(CALL_EVENTS)}",
                    )
                events.add(event)
        amd = form.one("MachineDetection")
        if amd and amd.lower() not in ("enable", "detectmessageend"):
            raise TwilioApiError(
                errors.INVALID_PARAMETER,
                f"MachineDetection must be Enable or DetectMessageEnd, got {amd!r}",
            )
        timeout = _int_param(form, "Timeout", 60, 1, 600, clamp=True)
        time_limit = _int_param(form, "TimeLimit", 14400, 1, 86400)
        amd_timeout = _int_param(form, "MachineDetectionTimeout", 30, 3, 59, clamp=True)
        async_amd = _bool_param(form, "AsyncAmd")
        record = _bool_param(form, "Record")
        send_digits = form.one("SendDigits") or None
        if send_digits is not None and not SEND_DIGITS_RE.match(send_digits):
            raise TwilioApiError(
                errors.INVALID_PARAMETER,
                f"SendDigits may hold only 0-9, #, * and w (a half-second pause), got "
                f"{send_digits!r}",
            )
        caller_id = form.one("CallerId")
        if caller_id is not None and not 0 < len(caller_id) <= 255:
            raise TwilioApiError(errors.INVALID_PARAMETER, "CallerId must be 1-255 characters")
        source = Source(
            url=url or None,
            method=_method(form.one("Method"), "Method"),
            twiml=twiml or None,
            fallback_url=form.one("FallbackUrl") or None,
            fallback_method=_method(form.one("FallbackMethod"), "FallbackMethod"),
        )
        status_method = _method(form.one("StatusCallbackMethod"), "StatusCallbackMethod")
        amd_method = _method(
            form.one("AsyncAmdStatusCallbackMethod"), "AsyncAmdStatusCallbackMethod"
        )
        recording_method = _method(
            form.one("RecordingStatusCallbackMethod"), "RecordingStatusCallbackMethod"
        )

        limits = self.limits
        with self.lock:
            if self.stopping:
                raise TwilioApiError(errors.TOO_MANY_REQUESTS, "The mock carrier is stopping.", 503)
            active_limit = limits.max_active_calls
            if active_limit is not None and len(self.active_calls) >= active_limit:
                raise TwilioApiError(
                    errors.TOO_MANY_REQUESTS,
                    f"Too Many Requests: {active_limit} calls already active",
                    429,
                )
        created_at = self.now()
        queue_seconds = self.rate_gate.admit(created_at, limits)
        plan = self.population.plan(to)
        call = Call(
            self.lock,
            sid=new_sid("CA"),
            account_sid=self.account_sid,
            to=to,
            from_=from_,
            direction="outbound-api",
            now=created_at,
            plan=plan,
            params=form.as_dict(),
        )
        call.source = source
        call.status_callback = form.one("StatusCallback") or None
        call.status_callback_method = status_method
        call.status_callback_events = events
        call.timeout = timeout
        call.time_limit = time_limit
        call.machine_detection = amd or None
        call.machine_detection_timeout = amd_timeout
        call.async_amd = async_amd
        call.async_amd_callback = form.one("AsyncAmdStatusCallback") or None
        call.async_amd_callback_method = amd_method
        call.queue_seconds = queue_seconds
        call.send_digits = send_digits
        call.record = record
        call.recording_callback = form.one("RecordingStatusCallback") or None
        call.recording_callback_method = recording_method
        self._register_and_start(call, self._run_call)
        log.info("call %s created to %s (%s)", call.sid, _mask(to), plan.kind)
        return call

    def _register_and_start(self, call: Call, target: Callable[[Call], None]) -> None:
        with self.lock:
            self.calls.add(call.sid, call)
            self.active_calls[call.sid] = call
            self._event(call, "created", to=call.to, **{"from": call.from_}, params=call.params)
            call.thread = threading.Thread(
                target=target, args=(call,), name=f"call-{call.sid[-8:]}", daemon=True
            )
        call.thread.start()

    # ------------------------------------------------------------ REST: update --
    def update_call(self, sid: str, data: Mapping[str, Any]) -> Call:
        form = Form(data)
        status = form.one("Status")
        url, twiml = form.one("Url"), form.one("Twiml")
        if status and status not in ("canceled", "completed"):
            raise TwilioApiError(
                errors.INVALID_PARAMETER, f"Status must be canceled or completed, got {status!r}"
            )
        for name in ("Url", "FallbackUrl", "StatusCallback"):
            value = form.one(name)
            if value and not _is_http_url(value):
                raise TwilioApiError(errors.URL_INVALID, f"{name} is not a valid URL: {value}")
        method = _method(form.one("Method"), "Method")
        fallback_method = _method(form.one("FallbackMethod"), "FallbackMethod")
        status_method = (
            _method(form.one("StatusCallbackMethod"), "StatusCallbackMethod")
            if "StatusCallbackMethod" in form
            else None
        )
        time_limit = _int_param(form, "TimeLimit", 14400, 1, 86400) if "TimeLimit" in form else None
        with self.lock:
            call = self.calls.get(sid)
            if call is None or call.account_sid != self.account_sid:
                raise self._not_found("Call", sid)
            self._event(call, "rest-update", params=form.as_dict())
            if status:
                if call.ended:
                    pass
                elif status == "canceled":
                    if call.status in ("queued", "ringing"):
                        self._end_locked(call, "canceled", "api-canceled")
                elif call.status == "in-progress":
                    self._end_locked(call, "completed", "api-completed")
                else:
                    self._end_locked(call, "canceled", "api-completed")
            elif url or twiml:
                if call.ended:
                    raise TwilioApiError(
                        errors.CALL_NOT_IN_PROGRESS, "Call is not in-progress. Cannot redirect."
                    )
                source = Source(
                    url=url or None,
                    method=method,
                    twiml=twiml or None,
                    fallback_url=form.one("FallbackUrl") or None,
                    fallback_method=fallback_method,
                    kind="voice",
                )
                if call.status == "in-progress":
                    call.redirect_to = source
                    self._notify(call)
                else:
                    call.source = source
            if form.one("StatusCallback"):
                call.status_callback = form.one("StatusCallback")
            if status_method:
                call.status_callback_method = status_method
            if time_limit is not None:
                call.time_limit = time_limit
                if call.answered_at is not None and not call.ended:
                    call.time_limit_at = call.answered_at + time_limit
                    self._notify(call)
            call.updated_at = self.now()
            return call

    # -------------------------------------------------------------- REST: read --
    def _not_found(self, kind: str, sid: str) -> TwilioApiError:
        return TwilioApiError(
            errors.NOT_FOUND, f"The requested resource {kind} {sid} was not found", 404
        )

    def get_call(self, sid: str) -> Call:
        with self.lock:
            call = self.calls.get(sid)
            if call is None:
                raise self._not_found("Call", sid)
            return call

    def list_calls(self, filters: Mapping[str, str]) -> list[Call]:
        to, from_ = filters.get("To"), filters.get("From")
        status, parent = filters.get("Status"), filters.get("ParentCallSid")
        with self.lock:
            return [
                c
                for c in self.calls.newest_first()
                if (not to or c.to == to)
                and (not from_ or c.from_ == from_)
                and (not status or c.status == status)
                and (not parent or c.parent_call_sid == parent)
            ]

    def get_conference(self, sid: str) -> Conference:
        with self.lock:
            conference = self.conferences.get(sid)
            if conference is None:
                raise self._not_found("Conference", sid)
            return conference

    def list_conferences(self, filters: Mapping[str, str]) -> list[Conference]:
        name, status = filters.get("FriendlyName"), filters.get("Status")
        with self.lock:
            return [
                c
                for c in self.conferences.newest_first()
                if (not name or c.friendly_name == name) and (not status or c.status == status)
            ]

    def participants(self, conference_sid: str) -> list[Participant]:
        with self.lock:
            conference = self.conferences.get(conference_sid)
            if conference is None:
                raise self._not_found("Conference", conference_sid)
            return sorted(conference.present(), key=lambda p: p.joined_at)

    def get_participant(self, conference_sid: str, call_sid: str) -> Participant:
        with self.lock:
            conference = self.conferences.get(conference_sid)
            participant = conference.participants.get(call_sid) if conference else None
            if participant is None or not participant.present:
                raise self._not_found("Participant", call_sid)
            return participant

    def end_conference(self, conference_sid: str) -> Conference:
        with self.lock:
            conference = self.conferences.get(conference_sid)
            if conference is None:
                raise self._not_found("Conference", conference_sid)
            self._end_conference_locked(conference, "conference-ended-via-api", None)
            return conference

    def kick_participant(self, conference_sid: str, call_sid: str) -> None:
        with self.lock:
            conference = self.conferences.get(conference_sid)
            participant = conference.participants.get(call_sid) if conference else None
            if conference is None or participant is None or not participant.present:
                raise self._not_found("Participant", call_sid)
            self._leave_locked(conference, participant, "participant_kicked", kicked=True)

    # -------------------------------------------------------------- the call --
    def _run_call(self, call: Call) -> None:
        try:
            if self._ring(call):
                self._in_progress(call)
        except CallEnded:
            pass
        except Stopped:
            self._drop(call)
            return
        except Exception as exc:  # never let one call take the server down
            log.exception("call %s: simulator error", call.sid)
            with self.lock:
                self._event(call, "internal-error", error=repr(exc))
                self._end_locked(
                    call, "failed" if call.answered_at is None else "completed", "internal-error"
                )
        self._finish(call)

    def _drop(self, call: Call) -> None:
        with self.lock:
            self._event(call, "simulator-stopped")
            self.active_calls.pop(call.sid, None)

    def _finish(self, call: Call) -> None:
        with self.lock:
            if not call.ended:
                self._end_locked(call, "completed", "twiml-end")
            participant = call.participant
            if participant is not None and participant.present:
                self._leave_locked(participant.conference, participant, "participant_hung_up")
            self.active_calls.pop(call.sid, None)
            self._notify(call)
        self._status_callback(call, "completed")
        if call.record:
            self._record_whole_call(call)
        with self.lock:  # nothing follows the call's last callbacks: send what was held back
            self._release_held(call.sid)
        log.info(
            "call %s to %s ended %s (%s)", call.sid, _mask(call.to), call.status, call.ended_by
        )

    def _ring(self, call: Call) -> bool:
        """Dial the far end; True once it answers (status in-progress)."""
        plan, params = call.plan, self.population.params
        if call.queue_seconds > 0:  # waiting for its calls-per-second slot, still "queued"
            self._wait(call, until=call.created_at + call.queue_seconds)
            with self.lock:
                self._event(call, "dequeued", queue_seconds=round(call.queue_seconds, 3))
        self._sleep(call, params.initiate_delay)
        self._set_progress(call, "initiated")
        if plan.kind in ("busy", "failed"):
            self._sleep(call, plan.ring_seconds)
            with self.lock:
                self._end_locked(call, plan.kind, f"far-end-{plan.kind}", plan.sip_code)
            raise CallEnded
        self._sleep(call, params.ring_delay)
        self._set_progress(call, "ringing")
        if plan.kind == "endpoint":
            config = self.population.endpoint(endpoint_identity(call.to) or "")
            auto = config.auto_answer and plan.ring_seconds < call.timeout
            signalled = self._wait(
                call,
                plan.ring_seconds if auto else call.timeout,
                predicate=lambda: call.endpoint_signal is not None,
            )
            with self.lock:
                signal, call.endpoint_signal = call.endpoint_signal, None
                if signalled and signal == "reject":
                    self._event(call, "endpoint", action="reject")
                    self._end_locked(call, "busy", "endpoint-rejected", 603)
                    raise CallEnded
                if not signalled and not auto:
                    self._end_locked(call, "no-answer", "ring-timeout")
                    raise CallEnded
                self._event(call, "endpoint", action="answer", auto=not signalled)
        elif plan.kind == "no-answer" or plan.ring_seconds >= call.timeout:
            self._sleep(call, call.timeout)
            with self.lock:
                self._end_locked(call, "no-answer", "ring-timeout")
            raise CallEnded
        else:
            self._sleep(call, plan.ring_seconds)
        self._set_progress(call, "in-progress")
        return True

    def _in_progress(self, call: Call) -> None:
        extra: dict[str, str] = {}
        if call.machine_detection:
            answered_by, seconds = call.plan.amd(
                call.machine_detection, call.machine_detection_timeout
            )
            if call.async_amd:
                self.scheduler.call_later(
                    seconds, lambda: self._async_amd_result(call, answered_by, seconds)
                )
            else:
                self._sleep(call, seconds)
                self._record_amd(call, answered_by, seconds)
                extra["AnsweredBy"] = answered_by
        if call.send_digits:
            with self.lock:
                self._event(call, "send-digits", digits=call.send_digits)
            self._sleep(call, 0.5 * len(call.send_digits))
        with self.lock:
            source = call.source
        assert source is not None
        source = Source(
            url=source.url,
            method=source.method,
            twiml=source.twiml,
            fallback_url=source.fallback_url,
            fallback_method=source.fallback_method,
            params=extra,
        )
        self._run_twiml(call, source)

    # ----------------------------------------------------------------- AMD --
    def _record_amd(self, call: Call, answered_by: str, seconds: float) -> None:
        with self.lock:
            call.answered_by = answered_by
            call.amd_duration_ms = round(seconds * 1000)
            call.updated_at = self.now()
            self._event(
                call,
                "amd",
                answered_by=answered_by,
                duration_ms=call.amd_duration_ms,
                mode=call.machine_detection,
                asynchronous=call.async_amd,
            )

    def _async_amd_result(self, call: Call, answered_by: str, seconds: float) -> None:
        with self.lock:
            if call.ended or self.stopping:
                return
        self._record_amd(call, answered_by, seconds)
        if not call.async_amd_callback:
            return
        with self.lock:
            params = self._call_params(call)
            params["AnsweredBy"] = answered_by
            params["MachineDetectionDuration"] = str(round(seconds * 1000))
            self._send_async(
                call.sid, "amd-callback", call.async_amd_callback, params,
                call.async_amd_callback_method, call=call,
            )  # fmt: skip

    # ----------------------------------------------------------- webhooks --
    def _deliver(
        self, call: Call | None, kind: str, url: str, params: dict[str, str], method: str,
        conference: Conference | None = None, attempt: str = "primary",
        token: str | None = None,
    ) -> DeliveryResult:  # fmt: skip
        started = self.now()
        result = self.sender.send(url, params, method, idempotency_token=token)
        with self.lock:
            data = result.to_event()
            data.update(kind=kind, params=params, attempt=attempt, sent_at=round(started, 3))
            if call is not None:
                self._event(call, "webhook", **data)
            if conference is not None:
                conference.add_event(self.now(), "webhook", **data)
        if result.error_code:
            log.warning(
                "webhook %s to %s failed: %s (%s)", kind, url, result.error_code, result.error
            )
        return result

    def _status_callback(self, call: Call, event: str) -> None:
        with self.lock:
            url = call.status_callback
            if not url or (event != "completed" and event not in call.status_callback_events):
                return
            params = self._call_params(call)
            params["CallStatus"] = {
                "initiated": "initiated",
                "ringing": "ringing",
                "answered": "in-progress",
            }.get(event, call.status)
            params["CallbackSource"] = "call-progress-events"
            params["SequenceNumber"] = str(call.sequence)
            params["Timestamp"] = rfc2822(self.now()) or ""
            call.sequence += 1
            if event == "completed":
                seconds = call.duration or 0
                params["CallDuration"] = str(seconds)
                params["Duration"] = str(-(-seconds // 60))  # billed minutes
                if call.status in ("busy", "failed", "no-answer", "canceled") and call.sip_code:
                    params["SipResponseCode"] = str(call.sip_code)
            if call.answered_by:
                params["AnsweredBy"] = call.answered_by
            self._send_async(
                call.sid, "status-callback", url, params, call.status_callback_method, call=call
            )

    def _send_async(
        self, key: str, kind: str, url: str, params: dict[str, str], method: str, *,
        call: Call | None = None, conference: Conference | None = None,
    ) -> None:  # fmt: skip
        """Queue a callback that does not wait for an answer, with any injected fault. Lock held.

        Callbacks under one key (a call or a conference) are delivered in order, unless the
        fault plan drops one, delays it (sent later, outside the order) or holds it back
        until the key's next callback has been sent (reorder). A duplicate repeats the
        idempotency token, as Twilio's retries do.
        """
        sequence = int(params.get("SequenceNumber", "0") or 0)
        # Drawn from what repeats across runs (number and its call count, or the room's
        # name), never from the random sids, so a seed gives the same faults every time.
        where = (
            f"{call.to}:{call.plan.n}" if call is not None else f"room:{params.get('FriendlyName')}"
        )
        plan = plan_fault(self.faults, kind, self.population.seed, f"{where}:{kind}", sequence)
        token = uuid.uuid4().hex

        def job() -> None:
            self._deliver(call, kind, url, params, method, conference, token=token)

        jobs = [job, job] if plan.duplicate else [job]
        if plan is not NO_FAULT and plan.names:
            self._log_fault(call, conference, kind, params, plan)
        if plan.drop:
            return
        if plan.delay:
            late_key = f"{key}:late:{token}"
            for each in jobs:
                self.scheduler.call_later(
                    plan.delay, lambda each=each: self.dispatcher.submit(late_key, each)
                )
            return
        if plan.reorder and key not in self.held_callbacks:
            self.held_callbacks[key] = jobs  # the next callback of this key overtakes it
            return
        for each in jobs:
            self.dispatcher.submit(key, each)
        self._release_held(key)

    def _release_held(self, key: str) -> None:
        """Send the callbacks held back by a reorder fault, after the one just queued. Lock held."""
        for job in self.held_callbacks.pop(key, ()):
            self.dispatcher.submit(key, job)

    def _log_fault(
        self, call: Call | None, conference: Conference | None, kind: str,
        params: Mapping[str, str], plan: FaultPlan,
    ) -> None:  # fmt: skip
        data = {
            "kind": kind,
            "faults": plan.names,
            "sequence": params.get("SequenceNumber"),
            "call_status": params.get("CallStatus"),
            "event": params.get("StatusCallbackEvent"),
        }
        if plan.delay:
            data["delay_seconds"] = plan.delay
        if call is not None:
            self._event(call, "fault", **data)
        if conference is not None:
            conference.add_event(self.now(), "fault", **data)

    def _request(
        self, call: Call, kind: str, url: str, method: str, extra: Mapping[str, str]
    ) -> DeliveryResult:
        """A synchronous request from the call's thread (TwiML fetch or action)."""
        with self.lock:
            params = self._call_params(call)
            if call.status not in TERMINAL:
                params["CallStatus"] = "in-progress"
        params.update(extra)
        return self._deliver(call, kind, url, params, method)

    # --------------------------------------------------------------- TwiML --
    def _run_twiml(self, call: Call, source: Source | None) -> None:
        while source is not None:
            try:
                loaded = self._load_document(call, source)
                if loaded is None:
                    with self.lock:
                        self._end_locked(call, "completed", "application-error")
                    raise CallEnded
                verbs, doc_url = loaded
                source = self._execute(call, verbs, doc_url)
                if source is None:
                    with self.lock:  # a REST redirect that came while nothing waited
                        source, call.redirect_to = call.redirect_to, None
            except Redirected as redirect:
                with self.lock:
                    self._event(call, "redirect", url=redirect.source.url, via="rest")
                source = redirect.source
        with self.lock:
            self._end_locked(call, "completed", "twiml-end")
        raise CallEnded

    def _load_document(self, call: Call, source: Source) -> tuple[list[Node], str | None] | None:
        with self.lock:
            call.documents += 1
            if call.documents > MAX_DOCUMENTS_PER_CALL:
                self._event(
                    call, "error", code=errors.SCHEMA_VALIDATION, message="too many documents"
                )
                return None
        if source.twiml is not None:
            loaded = self._parse_document(call, source.twiml, None, "inline")
            return None if isinstance(loaded, int) else loaded
        assert source.url is not None
        attempts = [(source.url, source.method, source.kind, "primary")]
        if source.fallback_url:
            attempts.append((source.fallback_url, source.fallback_method, source.kind, "fallback"))
        last_error: int | None = None
        for url, method, kind, attempt in attempts:
            with self.lock:
                params = self._call_params(call)
                params["CallStatus"] = "in-progress"
            params.update(source.params)
            if attempt == "fallback" and last_error is not None:
                params["ErrorCode"] = str(last_error)
                params["ErrorUrl"] = source.url
            result = self._deliver(call, kind, url, params, method, attempt=attempt)
            if result.error_code:
                last_error = result.error_code
                with self.lock:
                    self._event(
                        call, "error", code=result.error_code,
                        message=errors.MESSAGES.get(result.error_code, ""), url=result.url,
                    )  # fmt: skip
                continue
            loaded = self._parse_document(call, result.body, url, attempt)
            if not isinstance(loaded, int):
                return loaded
            last_error = loaded
        return None

    def _parse_document(
        self, call: Call, text: str, url: str | None, origin: str
    ) -> tuple[list[Node], str | None] | int:
        """The parsed verbs and the document's URL, or the TwiML error code."""
        with self.lock:
            self._event(call, "twiml", url=url, origin=origin, xml=text[:MAX_DOCUMENT_CHARS])
        try:
            return parse(text), url
        except TwimlError as exc:
            with self.lock:
                self._event(call, "error", code=exc.code, message=exc.message, url=url)
            log.warning("call %s: TwiML error %s: %s", call.sid, exc.code, exc.message)
            return exc.code

    def _execute(self, call: Call, verbs: list[Node], doc_url: str | None) -> Source | None:
        for verb in verbs:
            handler = getattr(self, f"_verb_{verb.name.lower()}", None)
            with self.lock:
                self._event(call, "verb", **verb.to_dict())
            if handler is None:
                with self.lock:
                    self._event(call, "skipped", verb=verb.name, note="not simulated by the mock")
                continue
            following = handler(call, verb, doc_url)
            if following is not None:
                return following
        return None

    def _resolve(self, call: Call, doc_url: str | None, target: str | None) -> str | None:
        if not target:
            return doc_url
        resolved = urljoin(doc_url, target) if doc_url else target
        if not _is_http_url(resolved):
            with self.lock:
                self._event(
                    call, "error", code=errors.HTTP_RETRIEVAL_FAILURE,
                    message=f"cannot resolve URL {target!r}",
                )  # fmt: skip
            return None
        return resolved

    # -- speaking verbs --
    def _verb_say(self, call: Call, verb: Node, doc_url: str | None) -> None:
        self._sleep(call, speaking_seconds(verb, self._play_seconds()))

    _verb_play = _verb_say
    _verb_pause = _verb_say

    def _play_seconds(self) -> float:
        return PLAY_SECONDS

    def _verb_hangup(self, call: Call, verb: Node, doc_url: str | None) -> None:
        with self.lock:
            self._end_locked(call, "completed", "twiml-hangup")
        raise CallEnded

    _verb_reject = _verb_hangup

    def _verb_leave(self, call: Call, verb: Node, doc_url: str | None) -> None:
        return None

    def _verb_redirect(self, call: Call, verb: Node, doc_url: str | None) -> Source | None:
        url = self._resolve(call, doc_url, verb.text)
        if url is None:
            with self.lock:
                self._end_locked(call, "completed", "application-error")
            raise CallEnded
        return Source(url=url, method=(verb.get("method") or "POST").upper(), kind="redirect")

    # -- Gather --
    def _verb_gather(self, call: Call, verb: Node, doc_url: str | None) -> Source | None:
        timeout_raw = verb.get("timeout", "5")
        timeout = 5 if timeout_raw in (None, "", "auto") else int(timeout_raw)
        num_digits = verb.int_attr("numDigits", 0) or None
        finish = verb.get("finishOnKey", "#") or ""
        inputs = (verb.get("input") or "dtmf").lower().split()
        with self.lock:
            index = call.gathers
            call.gathers += 1
        wanted = call.plan.digits_for(index) if "dtmf" in inputs else ""
        for child in verb.children:
            with self.lock:
                self._event(call, "verb", **child.to_dict())
            self._sleep(call, speaking_seconds(child, self._play_seconds()))
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
            self._sleep(call, self.population.params.key_delay + 0.3 * len(pressed))
            if cut is None and not (num_digits and len(pressed) >= num_digits):
                self._sleep(call, timeout)  # waits for more digits, then gives up
            with self.lock:
                self._event(call, "digits", digits=digits, pressed=pressed, finished_on=finished_on)
        else:
            self._sleep(call, timeout)
        if not digits and not verb.bool_attr("actionOnEmptyResult", False):
            with self.lock:
                self._event(call, "gather-timeout")
            return None
        url = self._resolve(call, doc_url, verb.get("action"))
        if url is None:
            return None
        params = {"Digits": digits, "msg": "Gather End"}
        if finished_on:
            params["FinishedOnKey"] = finished_on
        return Source(
            url=url, method=(verb.get("method") or "POST").upper(), params=params,
            kind="gather-action",
        )  # fmt: skip

    # -- Record --
    def _verb_record(self, call: Call, verb: Node, doc_url: str | None) -> Source | None:
        silence = verb.int_attr("timeout", 5)
        max_length = verb.int_attr("maxLength", 3600)
        speak = min(call.plan.record_seconds, float(max_length))
        if verb.bool_attr("playBeep", True):
            self._sleep(call, 0.5)
        recording_sid = new_sid("RE")
        recording_url = self._recording_url(call, recording_sid)
        action = self._resolve(call, doc_url, verb.get("action"))
        method = (verb.get("method") or "POST").upper()

        def params(duration: float, digits: str | None) -> dict[str, str]:
            out = {
                "RecordingUrl": recording_url,
                "RecordingDuration": str(round(duration)),
                "RecordingSid": recording_sid,
            }
            if digits:
                out["Digits"] = digits
            return out

        started = self.now()
        try:
            self._sleep(call, speak)
            if 0 < speak < max_length and silence > 0:
                self._sleep(call, silence)
        except CallEnded:
            spoken = min(speak, self.now() - started)
            if action and spoken > 0:
                self._request(call, "record-action", action, method, params(spoken, "hangup"))
            raise
        with self.lock:
            self._event(
                call, "recording", sid=recording_sid, duration=round(speak), url=recording_url
            )
        callback = verb.get("recordingStatusCallback")
        if callback and speak > 0:
            cb_method = (verb.get("recordingStatusCallbackMethod") or "POST").upper()
            with self.lock:
                self._recording_callback(
                    call, callback, cb_method, params(speak, None), "RecordVerb"
                )
        if speak <= 0 or action is None:
            return None  # Twilio skips the action for an empty recording
        return Source(url=action, method=method, params=params(speak, None), kind="record-action")

    def _recording_url(self, call: Call, recording_sid: str) -> str:
        return f"{self.public_base}{API_PREFIX}/{call.account_sid}/Recordings/{recording_sid}"

    def _recording_callback(
        self, call: Call, url: str, method: str, recording: Mapping[str, str], source: str
    ) -> None:
        """Queue a recording status callback (the recording is ready). Lock held."""
        params = self._call_params(call)
        params.update(recording)
        params.update(RecordingStatus="completed", RecordingChannels="1", RecordingSource=source)
        self._send_async(call.sid, "recording-callback", url, params, method, call=call)

    def _record_whole_call(self, call: Call) -> None:
        """Record=true on the REST request: the answered part of the call is one recording."""
        with self.lock:
            duration = call.duration
            if not duration:
                return
            recording_sid = new_sid("RE")
            url = self._recording_url(call, recording_sid)
            self._event(call, "recording", sid=recording_sid, duration=duration, url=url)
            if call.recording_callback:
                self._recording_callback(
                    call, call.recording_callback, call.recording_callback_method,
                    {
                        "RecordingSid": recording_sid,
                        "RecordingUrl": url,
                        "RecordingDuration": str(duration),
                        "RecordingStartTime": rfc2822(call.answered_at) or "",
                    },
                    "OutboundAPI",
                )  # fmt: skip

    # -- Enqueue (no one dequeues in the mock: the caller waits, then hangs up) --
    def _verb_enqueue(self, call: Call, verb: Node, doc_url: str | None) -> Source | None:
        action = self._resolve(call, doc_url, verb.get("action")) if verb.get("action") else None
        with self.lock:
            if call.plan.talk_seconds is not None:
                call.hangup_at = self.now() + self.population.params.hold_patience
            self._event(call, "enqueue", queue=verb.text)
        try:
            self._wait(call, float("inf"))
        except CallEnded:
            if action:
                self._request(
                    call, "enqueue-action", action, (verb.get("method") or "POST").upper(),
                    {"QueueResult": "hangup", "QueueSid": "QU" + "0" * 32},
                )  # fmt: skip
            raise
        return None

    # -- Dial --
    def _verb_dial(self, call: Call, verb: Node, doc_url: str | None) -> Source | None:
        action = self._resolve(call, doc_url, verb.get("action")) if verb.get("action") else None
        method = (verb.get("method") or "POST").upper()
        timeout = max(1, min(600, verb.int_attr("timeout", 30)))
        time_limit = max(1, verb.int_attr("timeLimit", 14400))
        nouns = verb.children or [Node("Number", text=verb.text)]
        if len(nouns) > 1:
            with self.lock:
                self._event(
                    call, "warning",
                    message="simultaneous dialing is not simulated: dialing the first noun only",
                )  # fmt: skip
        noun = nouns[0]
        outcome: dict[str, str] = {"DialCallStatus": "completed", "DialCallDuration": "0"}
        try:
            if noun.name == "Conference":
                self._dial_conference(call, noun, time_limit, outcome)
            else:
                self._dial_leg(call, verb, noun, timeout, time_limit, outcome)
        except CallEnded:
            if action:  # Twilio still reports the Dial outcome; the answer is ignored
                self._request(call, "dial-action", action, method, outcome)
            raise
        with self.lock:
            self._event(call, "dial-end", **outcome)
        if action is None:
            return None
        return Source(url=action, method=method, params=outcome, kind="dial-action")

    def _dial_conference(
        self, call: Call, noun: Node, time_limit: int, outcome: dict[str, str]
    ) -> None:
        name = noun.text
        with self.lock:
            conference = self.active_conferences.get(name)
            if conference is None:
                conference = Conference(new_sid("CF"), call.account_sid, name, self.now())
                callback = noun.get("statusCallback")
                if callback:
                    conference.status_callback = callback
                    conference.status_callback_method = (
                        noun.get("statusCallbackMethod") or "POST"
                    ).upper()
                    conference.status_callback_events = set(
                        (noun.get("statusCallbackEvent") or "").replace(",", " ").split()
                    )
                self.active_conferences[name] = conference
                self.conferences.add(conference.sid, conference)
            participant = Participant(
                call=call,
                conference=conference,
                joined_at=self.now(),
                start_conference_on_enter=noun.bool_attr("startConferenceOnEnter", True),
                end_conference_on_exit=noun.bool_attr("endConferenceOnExit", False),
                muted=noun.bool_attr("muted", False),
                beep=noun.get("beep", "true") or "true",
            )
            self._join_locked(conference, participant, wait_url=noun.get("waitUrl"))
        try:
            self._sit(call, participant, participant.joined_at + time_limit)
        finally:
            outcome["DialCallDuration"] = str(
                round((participant.left_at or self.now()) - participant.joined_at)
            )

    def _sit(self, call: Call, participant: Participant, deadline: float) -> None:
        """Stay in a conference until removed, the time limit, or the call ends."""
        reason = "time_limit"
        try:
            self._wait(call, until=deadline, predicate=lambda: not participant.present)
        except CallEnded:
            reason = "participant_hung_up"
            raise
        except Redirected:
            reason = "participant_updated_via_api"
            raise
        except Stopped:
            reason = "stopped"
            raise
        finally:
            with self.lock:
                if participant.present:
                    self._leave_locked(participant.conference, participant, reason)
                if call.participant is participant:
                    call.participant = None

    def _join_locked(
        self, conference: Conference, participant: Participant, wait_url: str | None = None
    ) -> None:
        call = participant.call
        others = [p.call.sid for p in conference.present()]
        conference.participants[call.sid] = participant
        conference.updated_at = self.now()
        call.participant = participant
        self._event(
            call, "conference-join", conference_sid=conference.sid,
            friendly_name=conference.friendly_name, others=others,
            start_conference_on_enter=participant.start_conference_on_enter,
            end_conference_on_exit=participant.end_conference_on_exit,
            wait_url=wait_url, private=conference.private,
        )  # fmt: skip
        conference.add_event(self.now(), "join", call_sid=call.sid, others=others)
        self._conference_callback(conference, "join", participant)
        if participant.start_conference_on_enter and conference.status == "init":
            conference.status = "in-progress"
            conference.add_event(self.now(), "start")
            self._conference_callback(conference, "start", participant)
        self._room_changed(conference)

    def _leave_locked(
        self, conference: Conference, participant: Participant, reason: str, kicked=False
    ) -> None:
        if not participant.present:
            return
        now = self.now()
        participant.left_at = now
        participant.leave_reason = reason
        conference.updated_at = now
        call = participant.call
        self._event(
            call, "conference-leave", conference_sid=conference.sid,
            friendly_name=conference.friendly_name, reason=reason,
            seconds=round(now - participant.joined_at, 3),
        )  # fmt: skip
        conference.add_event(now, "leave", call_sid=call.sid, reason=reason)
        self._conference_callback(conference, "leave", participant, reason=reason)
        self._notify(call)
        if participant.end_conference_on_exit:
            why = "participant-with-end-conference-on-exit-" + ("kicked" if kicked else "left")
            self._end_conference_locked(conference, why, call.sid)
        elif not conference.present():
            why = "last-participant-kicked" if kicked else "last-participant-left"
            self._end_conference_locked(conference, why, call.sid)
        else:
            self._room_changed(conference)

    def _end_conference_locked(
        self, conference: Conference, reason: str, call_sid: str | None
    ) -> None:
        if conference.status == "completed":
            return
        now = self.now()
        for other in conference.present():
            other.left_at = now
            other.leave_reason = "conference_ended"
            self._event(
                other.call, "conference-leave", conference_sid=conference.sid,
                friendly_name=conference.friendly_name, reason="conference_ended",
                seconds=round(now - other.joined_at, 3),
            )  # fmt: skip
            self._conference_callback(conference, "leave", other, reason="conference_ended")
            self._notify(other.call)
        conference.status = "completed"
        conference.reason_ended = reason
        conference.call_sid_ending = call_sid
        conference.updated_at = now
        conference.add_event(now, "end", reason=reason)
        self._conference_callback(conference, "end", None, reason=reason, call_sid=call_sid)
        self._release_held(conference.sid)
        if self.active_conferences.get(conference.friendly_name) is conference:
            del self.active_conferences[conference.friendly_name]

    def _room_changed(self, conference: Conference) -> None:
        """Who hears whom changed: restart the talk or hold clocks of the far ends."""
        present = conference.present()
        bridged = conference.status == "in-progress" and len(present) > 1
        now = self.now()
        for participant in present:
            if participant.bridged is bridged:
                continue
            participant.bridged = bridged
            call = participant.call
            if bridged:
                self._event(
                    call, "bridged", conference_sid=conference.sid,
                    with_calls=[p.call.sid for p in present if p is not participant],
                )  # fmt: skip
            else:
                self._event(call, "waiting", conference_sid=conference.sid)
            talk = call.plan.talk_seconds
            if talk is not None:
                call.hangup_at = now + (talk if bridged else self.population.params.hold_patience)
            self._notify(call)

    def _conference_callback(
        self, conference: Conference, event: str, participant: Participant | None, **extra: Any
    ) -> None:
        """Queue a conference status callback if subscribed. Lock held."""
        url = conference.status_callback
        if not url or conference.private or event not in conference.status_callback_events:
            return
        now = self.now()
        params = {
            "AccountSid": conference.account_sid,
            "ConferenceSid": conference.sid,
            "FriendlyName": conference.friendly_name,
            "StatusCallbackEvent": CONFERENCE_EVENTS[event],
            "SequenceNumber": str(conference.sequence),
            "Timestamp": rfc2822(now) or "",
        }
        conference.sequence += 1
        if participant is not None:
            params.update(
                CallSid=participant.call.sid,
                Muted=str(participant.muted).lower(),
                Hold="false",
                Coaching="false",
                EndConferenceOnExit=str(participant.end_conference_on_exit).lower(),
                StartConferenceOnEnter=str(participant.start_conference_on_enter).lower(),
            )
        if event == "leave":
            params["ReasonParticipantLeft"] = extra.get("reason", "")
            params["ParticipantCallStatus"] = (
                participant.call.status if participant is not None else ""
            )
        if event == "end":
            params["ReasonConferenceEnded"] = extra.get("reason", "")
            params["Reason"] = extra.get("reason", "")
            if extra.get("call_sid"):
                params["CallSidEndingConference"] = extra["call_sid"]
        self._send_async(
            conference.sid, "conference-callback", url, params,
            conference.status_callback_method, conference=conference,
        )  # fmt: skip

    def _dial_leg(
        self, call: Call, verb: Node, noun: Node, timeout: int, time_limit: int,
        outcome: dict[str, str],
    ) -> None:  # fmt: skip
        target = noun.text.strip()
        if noun.name == "Client" and not target.lower().startswith("client:"):
            target = "client:" + target
        if noun.name == "Sip" and not target.lower().startswith("sip:"):
            target = "sip:" + target
        if noun.name == "Number" and not is_e164(target):
            self._dial_refused(call, errors.DIAL_INVALID_NUMBER, f"invalid number {target!r}")
            outcome["DialCallStatus"] = "failed"
            return
        refused = geo_permission_error(target, self.limits) if noun.name == "Number" else None
        if refused is not None:  # like Twilio: no child call, the <Dial> fails
            self._dial_refused(call, errors.DIAL_NO_INTERNATIONAL, refused)
            outcome["DialCallStatus"] = "failed"
            return
        caller_id = verb.get("callerId") or call.from_
        plan = self.population.plan(target)
        child = Call(
            self.lock,
            sid=new_sid("CA"),
            account_sid=call.account_sid,
            to=target,
            from_=caller_id,
            direction="outbound-dial",
            now=self.now(),
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
        room = Conference(new_sid("CF"), call.account_sid, f"bridge:{call.sid}", self.now(), True)
        outcome["DialCallSid"] = child.sid
        with self.lock:
            self._event(call, "dial", to=target, child_sid=child.sid)
        self._register_and_start(child, lambda c: self._run_child(c, room))
        try:
            self._wait(call, predicate=lambda: child.ended or child.participant is not None)
        except (CallEnded, Redirected, Stopped):
            with self.lock:
                if child.participant is None:
                    self._end_locked(child, "canceled", "parent-ended")
                outcome["DialCallStatus"] = "completed" if child.answered_at else "canceled"
            raise
        with self.lock:
            if child.participant is None:
                outcome["DialCallStatus"] = child.status
                return
            participant = Participant(
                call=call, conference=room, joined_at=self.now(), end_conference_on_exit=True
            )
            self._join_locked(room, participant)
        try:
            self._sit(call, participant, participant.joined_at + time_limit)
        finally:
            outcome["DialCallDuration"] = str(
                round((participant.left_at or self.now()) - participant.joined_at)
            )
        outcome["DialCallStatus"] = "completed"

    def _dial_refused(self, call: Call, code: int, detail: str) -> None:
        with self.lock:
            self._event(call, "error", code=code, message=f"{errors.MESSAGES[code]}: {detail}")

    def _run_child(self, child: Call, room: Conference) -> None:
        try:
            if self._ring(child):
                with self.lock:
                    if room.status == "completed":
                        self._end_locked(child, "completed", "bridge-ended")
                        raise CallEnded
                    participant = Participant(
                        call=child, conference=room, joined_at=self.now(),
                        end_conference_on_exit=True,
                    )  # fmt: skip
                    self._join_locked(room, participant)
                    self._notify(child)
                with contextlib.suppress(Redirected):  # a child leg has no TwiML to redirect
                    self._sit(child, participant, participant.joined_at + child.time_limit)
                with self.lock:
                    self._end_locked(child, "completed", "bridge-ended")
        except CallEnded:
            pass
        except Stopped:
            self._drop(child)
            return
        except Exception as exc:
            log.exception("child call %s: simulator error", child.sid)
            with self.lock:
                self._event(child, "internal-error", error=repr(exc))
                self._end_locked(child, "failed", "internal-error")
        self._finish(child)

    # ---------------------------------------------------------- endpoints --
    ENDPOINT_ACTIONS = ("answer", "reject", "hangup")

    def endpoint_command(self, identity: str, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise ScenarioError("the body must be a JSON object")
        actions = {k: data[k] for k in self.ENDPOINT_ACTIONS if k in data}
        for key, value in actions.items():
            if value is not True:
                raise ScenarioError(f"{key} must be true")
        if len(actions) > 1:
            raise ScenarioError(f"give only one of {', '.join(self.ENDPOINT_ACTIONS)}")
        config_data = {k: v for k, v in data.items() if k not in self.ENDPOINT_ACTIONS}
        config = (
            self.population.configure_endpoint(identity, config_data)
            if config_data
            else self.population.endpoint(identity)
        )
        affected: list[str] = []
        with self.lock:
            for call in list(self.active_calls.values()):
                if endpoint_identity(call.to) != identity or call.ended:
                    continue
                if "hangup" in actions and call.status == "in-progress":
                    self._event(call, "hangup", by="endpoint")
                    self._end_locked(call, "completed", "endpoint-hangup")
                    affected.append(call.sid)
                elif actions.keys() & {"answer", "reject"} and call.status == "ringing":
                    call.endpoint_signal = next(iter(actions))
                    self._notify(call)
                    affected.append(call.sid)
            calls = self._endpoint_calls_locked(identity)
        action = next(iter(actions), None)
        return {
            "identity": identity,
            "config": {
                "auto_answer": config.auto_answer,
                "answer_seconds": config.answer_seconds,
                "digits": config.digits,
            },
            "action": action,
            "affected": affected,
            "calls": calls,
        }

    def _endpoint_calls_locked(self, identity: str) -> list[dict[str, Any]]:
        return [
            {"sid": c.sid, "status": c.status, "from": c.from_}
            for c in self.active_calls.values()
            if endpoint_identity(c.to) == identity
        ]

    def endpoints(self) -> dict[str, Any]:
        configured = self.population.endpoints()
        with self.lock:
            identities = set(configured) | {
                endpoint_identity(c.to) for c in self.active_calls.values()
            }
            identities.discard(None)
            return {
                identity: {
                    "config": configured.get(identity),
                    "calls": self._endpoint_calls_locked(identity),
                }
                for identity in sorted(identities)  # type: ignore[type-var]
            }

    # ------------------------------------------------------------ witness --
    def call_summary(self, call: Call) -> dict[str, Any]:
        with self.lock:
            return {
                "sid": call.sid,
                "parent_call_sid": call.parent_call_sid,
                "direction": call.direction,
                "to": call.to,
                "from": call.from_,
                "status": call.status,
                "progress": call.progress,
                "ended_by": call.ended_by,
                "sip_response_code": call.sip_code,
                "answered_by": call.answered_by,
                "params": call.params,
                "plan": call.plan.to_dict(),
                "created_at": iso(call.created_at),
                "start_time": iso(call.start_time),
                "answered_at": iso(call.answered_at),
                "end_time": iso(call.end_time),
                "created_ts": call.created_at,
                "answered_ts": call.answered_at,
                "end_ts": call.end_time,
                "duration": call.duration,
                "events": len(call.events),
            }

    def call_events(self, sid: str) -> list[dict[str, Any]]:
        with self.lock:
            call = self.calls.get(sid)
            if call is None:
                raise self._not_found("Call", sid)
            return [dict(e, at=iso(e["t"])) for e in call.events]

    def witness(self, filters: Mapping[str, str], limit: int) -> list[dict[str, Any]]:
        with self.lock:
            calls = self.calls.values()
        status, to = filters.get("status"), filters.get("to")
        selected = [
            c for c in calls if (not status or c.status == status) and (not to or c.to == to)
        ]
        return [self.call_summary(c) for c in selected[-limit:]]

    def conference_log(self, sid: str) -> dict[str, Any]:
        conference = self.get_conference(sid)
        with self.lock:
            return {
                "sid": conference.sid,
                "friendly_name": conference.friendly_name,
                "status": conference.status,
                "events": [dict(e, at=iso(e["t"])) for e in conference.events],
                "participants": [
                    {
                        "call_sid": p.call.sid,
                        "joined_at": iso(p.joined_at),
                        "left_at": iso(p.left_at),
                        "leave_reason": p.leave_reason,
                    }
                    for p in conference.participants.values()
                ],
            }

    # ------------------------------------------------------------ control --
    def wait_until_idle(self, timeout: float = 10.0) -> bool:
        """Wait (real seconds) until no call is live and every webhook was delivered."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                busy = bool(self.active_calls)
            if not busy:
                return self.dispatcher.wait_idle(max(0.0, deadline - time.monotonic()))
            time.sleep(0.01)
        return False

    def stop(self, timeout: float = 5.0) -> None:
        with self.lock:
            self.stopping = True
            calls = list(self.active_calls.values())
            for call in calls:
                call.cond.notify_all()
        self.scheduler.stop()
        deadline = time.monotonic() + timeout
        for call in calls:
            if call.thread is not None and call.thread is not threading.current_thread():
                call.thread.join(max(0.0, deadline - time.monotonic()))
        self.dispatcher.shutdown(max(0.5, deadline - time.monotonic()))
        self.sender.close()

    def active_count(self) -> int:
        with self.lock:
            return len(self.active_calls)

    def iter_calls(self) -> Iterable[Call]:
        with self.lock:
            return self.calls.values()
