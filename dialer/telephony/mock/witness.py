"""The witness log as JSON: what the mock saw of each call and conference.

Plain functions over the in-memory state; the caller holds the simulator's lock. These are
the mock's own records (`/_mock/...`), not Twilio resources (those are in resources.py).
`stats` measures the app from them, in real time (each event's `w`), for its benchmarks.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from dialer.telephony.mock.population import endpoint_identity
from dialer.telephony.mock.resources import iso
from dialer.telephony.mock.state import Call, Conference


def call_summary(call: Call) -> dict[str, Any]:
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
        "error_code": call.error_code,  # a scripted carrier failure (fail_error_code)
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
        "heard": list(call.heard),  # every Say / Play / Pause played to the far end, in order
        "pressed": list(call.pressed),  # the keys pressed at each Gather ("" for none)
    }


def call_events(call: Call) -> list[dict[str, Any]]:
    return [dict(e, at=iso(e["t"])) for e in call.events]


def conference_log(conference: Conference) -> dict[str, Any]:
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


# ------------------------------------------------------------------ stats --
def _spread(values: list[float]) -> dict[str, float | None]:
    """Nearest-rank p50 / p99 and the maximum, in milliseconds (None without values)."""
    if not values:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None}
    ordered = sorted(values)

    def rank(p: float) -> float:
        return round(ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)], 1)

    return {"p50_ms": rank(50), "p99_ms": rank(99), "max_ms": round(ordered[-1], 1)}


def live_answer(call: Call, events: list[dict[str, Any]]) -> float | None:
    """The real time (`w`) the mock knew a person was on the line, or None (no one, or a
    machine). With synchronous AMD, its human/unknown verdict; otherwise the answer: with
    asynchronous AMD the app already hears the person while AMD runs."""
    amd = next((e for e in events if e["type"] == "amd"), None)
    if amd is not None and amd["answered_by"] not in ("human", "unknown"):
        return None
    if call.machine_detection and not call.async_amd:
        return amd["w"] if amd is not None else None
    answered = next(
        (e for e in events if e["type"] == "status" and e.get("status") == "in-progress"), None
    )
    return answered["w"] if answered is not None else None


def is_customer_call(call: Call) -> bool:
    """A call whose far end is a phone number (not a softphone, not a <Dial> leg)."""
    if call.parent_call_sid is not None:
        return False
    far = call.from_ if call.direction == "inbound" else call.to
    return endpoint_identity(far) is None


def stats(
    calls: Iterable[tuple[Call, list[dict[str, Any]]]],
    conference_webhooks: Iterable[dict[str, Any]],
    since: float,
) -> dict[str, Any]:
    """The app's answer latencies per webhook kind and the answer-to-bridge times, in real
    milliseconds, over calls created since `since` (wall time) and their callbacks."""
    latencies: dict[str, list[float]] = {}
    failures: dict[str, int] = {}
    bridges: list[float] = []
    counted = answered = 0

    def webhook(event: dict[str, Any]) -> None:
        kind = event["kind"]
        latencies.setdefault(kind, []).append(event["latency_ms"])
        failures[kind] = failures.get(kind, 0) + (1 if event.get("error_code") else 0)

    for call, events in calls:
        counted += 1
        for event in events:
            if event["type"] == "webhook":
                webhook(event)
        if not is_customer_call(call):
            continue
        live = live_answer(call, events)
        if live is None:
            continue
        answered += 1
        bridged = next((e for e in events if e["type"] == "bridged"), None)
        if bridged is not None:
            bridges.append(max(0.0, (bridged["w"] - live) * 1000))
    for event in conference_webhooks:
        webhook(event)
    return {
        "since": since,
        "calls": counted,
        "webhooks": {
            kind: {"count": len(values), "errors": failures[kind], **_spread(values)}
            for kind, values in sorted(latencies.items())
        },
        "bridge": {
            "count": len(bridges),
            "answered": answered,  # people on the line, bridged or not
            **_spread(bridges),
        },
    }
