"""Asynchronous callbacks: status callbacks and the fault-injected queue every callback takes.

Twilio sends status, AMD, conference and recording callbacks on the side: the call goes on
without waiting for the app's answer. Here they are queued on the Dispatcher (in order per
call or per conference) by `send_async`, which is also where injected faults (policy.py)
drop, duplicate, reorder or delay them. Functions run with the simulator's lock held.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING

from dialer.telephony.mock.policy import NO_FAULT, FaultPlan, plan_fault
from dialer.telephony.mock.resources import rfc2822
from dialer.telephony.mock.state import Call, Conference

if TYPE_CHECKING:
    from dialer.telephony.mock.simulator import Simulator


def status_callback(sim: Simulator, call: Call, event: str) -> None:
    """Send the call's status callback for `event` if it asked for it (always for completed)."""
    with sim.lock:
        url = call.status_callback
        if not url or (event != "completed" and event not in call.status_callback_events):
            return
        params = sim.call_params(call)
        params["CallStatus"] = {
            "initiated": "initiated",
            "ringing": "ringing",
            "answered": "in-progress",
        }.get(event, call.status)
        params["CallbackSource"] = "call-progress-events"
        params["SequenceNumber"] = str(call.sequence)
        params["Timestamp"] = rfc2822(sim.now()) or ""
        call.sequence += 1
        if event == "completed":
            seconds = call.duration or 0
            params["CallDuration"] = str(seconds)
            params["Duration"] = str(-(-seconds // 60))  # billed minutes
            if call.status in ("busy", "failed", "no-answer", "canceled") and call.sip_code:
                params["SipResponseCode"] = str(call.sip_code)
            if call.error_code is not None:  # the call resource has no such field
                params["ErrorCode"] = str(call.error_code)
                params["ErrorMessage"] = call.error_message or ""
        if call.answered_by:
            params["AnsweredBy"] = call.answered_by
        send_async(
            sim, call.sid, "status-callback", url, params, call.status_callback_method, call=call
        )


def send_async(
    sim: Simulator, key: str, kind: str, url: str, params: dict[str, str], method: str, *,
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
    if call is None:
        where = f"room:{params.get('FriendlyName')}"
    else:  # the far end's number: for an incoming call, the caller's
        where = f"{call.from_ if call.direction == 'inbound' else call.to}:{call.plan.n}"
    plan = plan_fault(sim.faults, kind, sim.population.seed, f"{where}:{kind}", sequence)
    token = uuid.uuid4().hex

    def job() -> None:
        sim.deliver(call, kind, url, params, method, conference, token=token)

    jobs = [job, job] if plan.duplicate else [job]
    if plan is not NO_FAULT and plan.names:
        _log_fault(sim, call, conference, kind, params, plan)
    if plan.drop:
        return
    if plan.delay:
        late_key = f"{key}:late:{token}"
        for each in jobs:
            sim.scheduler.call_later(
                plan.delay, lambda each=each: sim.dispatcher.submit(late_key, each)
            )
        return
    if plan.reorder and key not in sim.held_callbacks:
        sim.held_callbacks[key] = jobs  # the next callback of this key overtakes it
        return
    for each in jobs:
        sim.dispatcher.submit(key, each)
    release_held(sim, key)


def release_held(sim: Simulator, key: str) -> None:
    """Send the callbacks held back by a reorder fault, after the one just queued. Lock held."""
    for job in sim.held_callbacks.pop(key, ()):
        sim.dispatcher.submit(key, job)


def _log_fault(
    sim: Simulator, call: Call | None, conference: Conference | None, kind: str,
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
        sim.event(call, "fault", **data)
    if conference is not None:
        conference.add_event(sim.now(), "fault", **data)
