"""The simulated network: the life of a call, waiting in simulated time, webhooks.

One thread per live call walks it through its life in simulated time (Clock): queued ->
initiated -> ringing -> in-progress -> completed, or busy / no-answer / failed / canceled.
The far end's behaviour (who answers, when, for how long, which keys) was drawn when the
call was created (population.py), so outcomes never depend on thread timing. What the call
does once answered is its TwiML (verbs.py); rooms are in conferences.py; the REST form is
checked in callparams.py; callbacks sent on the side (and their injected faults) are in
callbacks.py; the witness log's JSON is built in witness.py.

Locking: one lock (`self.lock`) guards all state; each call sleeps on its own Condition
over that lock, so a REST update, a conference ending or stop() wakes it at once. HTTP is
never done while holding the lock: TwiML requests are made by the call's thread, status
and conference callbacks are handed to the Dispatcher (in order per call / conference).
Methods without a leading underscore are the interface the other modules use.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from dialer.clock import Clock
from dialer.privacy import mask_phone
from dialer.telephony.mock import conferences, endpoints, errors, witness
from dialer.telephony.mock.callbacks import release_held, send_async, status_callback
from dialer.telephony.mock.callparams import CreateParams, parse_create, parse_update
from dialer.telephony.mock.conferences import leave_locked
from dialer.telephony.mock.delivery import DeliveryResult, Dispatcher, WebhookSender
from dialer.telephony.mock.errors import TwilioApiError
from dialer.telephony.mock.inbound import (
    InboundRequest,
    IncomingNumbers,
    inbound_params,
    start_inbound,
)
from dialer.telephony.mock.policy import CallRateGate, Faults, Limits
from dialer.telephony.mock.population import Population, endpoint_identity
from dialer.telephony.mock.resources import API_VERSION
from dialer.telephony.mock.scheduling import Scheduler
from dialer.telephony.mock.state import (
    TERMINAL,
    BoundedStore,
    Call,
    CallEnded,
    Conference,
    Participant,
    Redirected,
    Source,
    Stopped,
    new_sid,
)
from dialer.telephony.mock.twiml import is_infinite
from dialer.telephony.mock.verbs import record_whole_call, run_twiml

log = logging.getLogger("dialer.mock")

MAX_REAL_WAIT = 0.5  # a sleeping call re-checks its state at least this often (real s)

__all__ = ["CallEnded", "Redirected", "Simulator", "Stopped"]


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
        self.incoming = IncomingNumbers()  # our numbers that take calls (inbound.py)
        self.stats_since = 0.0  # wall time the measurement window starts (/_mock/stats)
        self.stopping = False
        self.stopped = threading.Event()  # wakes REST requests held by a scripted stall

    # ------------------------------------------------------------------ helpers --
    def now(self) -> float:
        return self.clock.time()

    def notify(self, call: Call) -> None:
        """Wake the call's thread (and its parent's, which may wait on it). Lock held."""
        call.cond.notify_all()
        if call.parent_call_sid:
            parent = self.active_calls.get(call.parent_call_sid)
            if parent is not None:
                parent.cond.notify_all()

    def event(self, call: Call, kind: str, /, **data: Any) -> None:
        """Append to the call's witness log. Lock held."""
        call.add_event(self.now(), kind, **data)

    def hold_patience(self, call: Call) -> float:
        """How long this far end waits alone in a conference or a queue before hanging up."""
        patience = call.plan.hold_patience
        return self.population.params.hold_patience if patience is None else patience

    def call_params(self, call: Call) -> dict[str, str]:
        """The parameters every webhook about this call carries. Lock held."""
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
        if call.direction == "inbound":
            params.update(inbound_params(call))
        return params

    def end_locked(self, call: Call, status: str, reason: str, sip: int | None = None) -> bool:
        """Give the call its final status (once). Lock held."""
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
        self.event(call, "status", status=status, reason=reason)
        self.notify(call)
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
            self.event(call, "status", status=progress)
        status_callback(self, call, "answered" if progress == "in-progress" else progress)

    def answer(self, call: Call) -> None:
        """The call is answered now (an incoming call, by its first verb)."""
        self._set_progress(call, "in-progress")

    def not_found(self, kind: str, sid: str) -> TwilioApiError:
        return TwilioApiError(
            errors.NOT_FOUND, f"The requested resource {kind} {sid} was not found", 404
        )

    # --------------------------------------------------------------- waiting --
    def wait(
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
                hangup_at = min(
                    (t for t in (call.hangup_at, call.give_up_at) if t is not None), default=None
                )
                if hangup_at is not None and now >= hangup_at:
                    far = "caller" if call.direction == "inbound" else "callee"
                    self.event(call, "hangup", by=far)
                    status = "completed" if call.answered_at is not None else "canceled"
                    self.end_locked(call, status, f"{far}-hangup")
                    raise CallEnded
                if call.time_limit_at is not None and now >= call.time_limit_at:
                    self.end_locked(call, "completed", "time-limit")
                    raise CallEnded
                if deadline is not None and now >= deadline:
                    return False
                wake = [t for t in (deadline, hangup_at, call.time_limit_at) if t is not None]
                real = self.clock.real_seconds(min(wake) - now) if wake else MAX_REAL_WAIT
                call.cond.wait(min(real, MAX_REAL_WAIT) + 0.0005)

    def sleep(self, call: Call, seconds: float) -> None:
        if seconds > 0:
            self.wait(call, seconds)

    # ------------------------------------------------------------ REST: create --
    def create_call(self, data: Mapping[str, Any]) -> Call:
        """POST Calls.json, on the request's thread; raises TwilioApiError when refused."""
        p = parse_create(data, self.limits)
        scripted = self.population.scripted_create(p.to)
        if scripted is not None and scripted.error is not None:
            log.info("create to %s refused as scripted: %s", _mask(p.to), scripted.error)
            raise scripted.refusal(p.to)
        if scripted is not None and scripted.stall_mode == "lost_request":
            # As if it never reached the carrier: held, then 503, and no call at all.
            self.stopped.wait(scripted.stall_seconds)
            raise scripted.refusal(p.to)
        call = self._create(p)
        if scripted is not None:  # lost_response: the call runs, its answer comes late
            with self.lock:
                self.event(call, "stall", mode=scripted.stall_mode, seconds=scripted.stall_seconds)
            self.stopped.wait(scripted.stall_seconds)
        return call

    def _create(self, p: CreateParams) -> Call:
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
        plan = self.population.plan(p.to)
        call = Call(
            self.lock,
            sid=new_sid("CA"),
            account_sid=self.account_sid,
            to=p.to,
            from_=p.from_,
            direction="outbound-api",
            now=created_at,
            plan=plan,
            params=p.params,
        )
        call.source = p.source
        call.status_callback = p.status_callback
        call.status_callback_method = p.status_callback_method
        call.status_callback_events = set(p.status_callback_events)
        call.timeout = p.timeout
        call.time_limit = p.time_limit
        call.machine_detection = p.machine_detection
        call.machine_detection_timeout = p.machine_detection_timeout
        call.async_amd = p.async_amd
        call.async_amd_callback = p.async_amd_callback
        call.async_amd_callback_method = p.async_amd_callback_method
        call.queue_seconds = queue_seconds
        call.send_digits = p.send_digits
        call.record = p.record
        call.recording_callback = p.recording_callback
        call.recording_callback_method = p.recording_callback_method
        self.register_and_start(call, self._run_call)
        log.info("call %s created to %s (%s)", call.sid, _mask(p.to), plan.kind)
        return call

    def register_and_start(self, call: Call, target: Callable[[Call], None]) -> None:
        """Store the call, log its creation and start its thread."""
        with self.lock:
            self.calls.add(call.sid, call)
            self.active_calls[call.sid] = call
            self.event(call, "created", to=call.to, **{"from": call.from_}, params=call.params)
            call.thread = threading.Thread(
                target=target, args=(call,), name=f"call-{call.sid[-8:]}", daemon=True
            )
        call.thread.start()

    # ------------------------------------------------------------ REST: update --
    def update_call(self, sid: str, data: Mapping[str, Any]) -> Call:
        p = parse_update(data)
        with self.lock:
            call = self.calls.get(sid)
            if call is None or call.account_sid != self.account_sid:
                raise self.not_found("Call", sid)
            self.event(call, "rest-update", params=p.params)
            if p.status:
                if call.ended:
                    pass
                elif p.status == "canceled":
                    if call.status in ("queued", "ringing"):
                        self.end_locked(call, "canceled", "api-canceled")
                elif call.status == "in-progress":
                    self.end_locked(call, "completed", "api-completed")
                else:
                    self.end_locked(call, "canceled", "api-completed")
            elif p.source is not None:
                if call.ended:
                    raise TwilioApiError(
                        errors.CALL_NOT_IN_PROGRESS, "Call is not in-progress. Cannot redirect."
                    )
                if call.status == "in-progress":
                    call.redirect_to = p.source
                    self.notify(call)
                else:
                    call.source = p.source
            if p.status_callback:
                call.status_callback = p.status_callback
            if p.status_callback_method:
                call.status_callback_method = p.status_callback_method
            if p.time_limit is not None:
                call.time_limit = p.time_limit
                if call.answered_at is not None and not call.ended:
                    call.time_limit_at = call.answered_at + p.time_limit
                    self.notify(call)
            call.updated_at = self.now()
            return call

    # -------------------------------------------------------------- REST: read --
    def get_call(self, sid: str) -> Call:
        with self.lock:
            call = self.calls.get(sid)
            if call is None:
                raise self.not_found("Call", sid)
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

    # Conferences live in conferences.py; these keep the REST face in one place.
    def get_conference(self, sid: str) -> Conference:
        return conferences.get_conference(self, sid)

    def list_conferences(self, filters: Mapping[str, str]) -> list[Conference]:
        return conferences.list_conferences(self, filters)

    def participants(self, conference_sid: str) -> list[Participant]:
        return conferences.participants(self, conference_sid)

    def get_participant(self, conference_sid: str, call_sid: str) -> Participant:
        return conferences.get_participant(self, conference_sid, call_sid)

    def end_conference(self, conference_sid: str) -> Conference:
        return conferences.end_conference(self, conference_sid)

    def kick_participant(self, conference_sid: str, call_sid: str) -> None:
        conferences.kick_participant(self, conference_sid, call_sid)

    # -------------------------------------------------------------- the call --
    def _run_call(self, call: Call) -> None:
        self.run_thread(call, lambda: self.ring(call) and self._in_progress(call))

    def run_thread(self, call: Call, body: Callable[[], object]) -> None:
        """A call's thread: run its life, then finish it, whatever happened."""
        try:
            body()
        except CallEnded:
            pass
        except Stopped:
            self.drop(call)
            return
        except Exception as exc:  # never let one call take the server down
            log.exception("call %s: simulator error", call.sid)
            with self.lock:
                self.event(call, "internal-error", error=repr(exc))
                self.end_locked(
                    call, "failed" if call.answered_at is None else "completed", "internal-error"
                )
        self.finish(call)

    def drop(self, call: Call) -> None:
        """The simulator stopped under the call: forget it, send nothing more."""
        with self.lock:
            self.event(call, "simulator-stopped")
            self.active_calls.pop(call.sid, None)

    def finish(self, call: Call) -> None:
        """After the call's thread is done: leave any room, send the last callbacks."""
        with self.lock:
            if not call.ended:
                self.end_locked(call, "completed", "twiml-end")
            participant = call.participant
            if participant is not None and participant.present:
                leave_locked(self, participant.conference, participant, "participant_hung_up")
            self.active_calls.pop(call.sid, None)
            self.notify(call)
        status_callback(self, call, "completed")
        if call.record:
            record_whole_call(self, call)
        with self.lock:  # nothing follows the call's last callbacks: send what was held back
            release_held(self, call.sid)
        log.info(
            "call %s to %s ended %s (%s)", call.sid, _mask(call.to), call.status, call.ended_by
        )

    def ring(self, call: Call) -> bool:
        """Dial the far end; True once it answers (status in-progress)."""
        plan, params = call.plan, self.population.params
        if call.queue_seconds > 0:  # waiting for its calls-per-second slot, still "queued"
            self.wait(call, until=call.created_at + call.queue_seconds)
            with self.lock:
                self.event(call, "dequeued", queue_seconds=round(call.queue_seconds, 3))
        self.sleep(call, params.initiate_delay)
        self._set_progress(call, "initiated")
        if plan.kind in ("busy", "failed"):
            self.sleep(call, plan.ring_seconds)
            with self.lock:
                if plan.error_code is not None:  # scripted: the carrier says why
                    call.error_code = plan.error_code
                    call.error_message = errors.CALL_FAILURES[plan.error_code][0]
                    self.event(call, "error", code=call.error_code, message=call.error_message)
                    self.end_locked(call, "failed", "carrier-error", plan.sip_code)
                else:
                    self.end_locked(call, plan.kind, f"far-end-{plan.kind}", plan.sip_code)
            raise CallEnded
        self.sleep(call, params.ring_delay)
        self._set_progress(call, "ringing")
        if plan.kind == "endpoint":
            config = self.population.endpoint(endpoint_identity(call.to) or "")
            auto = config.auto_answer and plan.ring_seconds < call.timeout
            signalled = self.wait(
                call,
                plan.ring_seconds if auto else call.timeout,
                predicate=lambda: call.endpoint_signal is not None,
            )
            with self.lock:
                signal, call.endpoint_signal = call.endpoint_signal, None
                if signalled and signal == "reject":
                    self.event(call, "endpoint", action="reject")
                    self.end_locked(call, "busy", "endpoint-rejected", 603)
                    raise CallEnded
                if not signalled and not auto:
                    self.end_locked(call, "no-answer", "ring-timeout")
                    raise CallEnded
                self.event(call, "endpoint", action="answer", auto=not signalled)
        elif plan.kind == "no-answer" or plan.ring_seconds >= call.timeout:
            self.sleep(call, call.timeout)
            with self.lock:
                self.end_locked(call, "no-answer", "ring-timeout")
            raise CallEnded
        else:
            self.sleep(call, plan.ring_seconds)
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
                self.sleep(call, seconds)
                self._record_amd(call, answered_by, seconds)
                extra["AnsweredBy"] = answered_by
        if call.send_digits:
            with self.lock:
                self.event(call, "send-digits", digits=call.send_digits)
            self.sleep(call, 0.5 * len(call.send_digits))
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
        run_twiml(self, call, source)

    # ----------------------------------------------------------------- AMD --
    def _record_amd(self, call: Call, answered_by: str, seconds: float) -> None:
        with self.lock:
            call.answered_by = answered_by
            call.amd_duration_ms = round(seconds * 1000)
            call.updated_at = self.now()
            self.event(
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
            params = self.call_params(call)
            params["AnsweredBy"] = answered_by
            params["MachineDetectionDuration"] = str(round(seconds * 1000))
            send_async(
                self, call.sid, "amd-callback", call.async_amd_callback, params,
                call.async_amd_callback_method, call=call,
            )  # fmt: skip

    # ----------------------------------------------------------- webhooks --
    def deliver(
        self, call: Call | None, kind: str, url: str, params: dict[str, str], method: str,
        conference: Conference | None = None, attempt: str = "primary",
        token: str | None = None,
    ) -> DeliveryResult:  # fmt: skip
        """Send one webhook now (on this thread) and log it; never raises."""
        started = self.now()
        result = self.sender.send(url, params, method, idempotency_token=token)
        with self.lock:
            data = result.to_event()
            data.update(kind=kind, params=params, attempt=attempt, sent_at=round(started, 3))
            if call is not None:
                self.event(call, "webhook", **data)
            if conference is not None:
                conference.add_event(self.now(), "webhook", **data)
        if result.error_code:
            log.warning(
                "webhook %s to %s failed: %s (%s)", kind, url, result.error_code, result.error
            )
        return result

    def request(
        self, call: Call, kind: str, url: str, method: str, extra: Mapping[str, str]
    ) -> DeliveryResult:
        """A synchronous request from the call's thread (an action whose answer is ignored)."""
        with self.lock:
            params = self.call_params(call)
            if call.status not in TERMINAL:
                params["CallStatus"] = "in-progress"
        params.update(extra)
        return self.deliver(call, kind, url, params, method)

    # ------------------------------------------------------------ inbound --
    def inbound_call(self, data: Mapping[str, Any] | InboundRequest) -> Call:
        """A person calls one of our numbers (see inbound.py); ScenarioError if invalid."""
        request = data if isinstance(data, InboundRequest) else InboundRequest.from_dict(data)
        return start_inbound(self, request)

    # ---------------------------------------------------------- endpoints --
    def endpoint_command(self, identity: str, data: Any) -> dict[str, Any]:
        return endpoints.endpoint_command(self, identity, data)

    def endpoints(self) -> dict[str, Any]:
        return endpoints.endpoints(self)

    # ------------------------------------------------------------ witness --
    def call_summary(self, call: Call) -> dict[str, Any]:
        with self.lock:
            return witness.call_summary(call)

    def call_events(self, sid: str) -> list[dict[str, Any]]:
        with self.lock:
            call = self.calls.get(sid)
            if call is None:
                raise self.not_found("Call", sid)
            return witness.call_events(call)

    def witness(self, filters: Mapping[str, str], limit: int) -> list[dict[str, Any]]:
        with self.lock:
            calls = self.calls.values()
        status, to = filters.get("status"), filters.get("to")
        selected = [
            c for c in calls if (not status or c.status == status) and (not to or c.to == to)
        ]
        return [self.call_summary(c) for c in selected[-limit:]]

    def stats(self, since: float | None = None) -> dict[str, Any]:
        """Webhook latencies and answer-to-bridge times over calls created since `since`
        (wall time; default: the last reset_stats()). Events are copied under the lock
        and measured outside it, so a large log does not stall the calls."""
        since = self.stats_since if since is None else since
        with self.lock:
            calls = [(c, list(c.events)) for c in self.calls.values() if c.created_wall >= since]
            hooks = [
                e
                for conference in self.conferences.values()
                for e in conference.events
                if e["type"] == "webhook" and e["w"] >= since
            ]
        return witness.stats(calls, hooks, since)

    def reset_stats(self) -> float:
        """Start a fresh measurement window now; returns its start (wall time)."""
        self.stats_since = time.time()
        return self.stats_since

    def conference_log(self, sid: str) -> dict[str, Any]:
        conference = self.get_conference(sid)
        with self.lock:
            return witness.conference_log(conference)

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
            self.stopped.set()
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
