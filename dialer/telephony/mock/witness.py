"""The witness log as JSON: what the mock saw of each call and conference.

Plain functions over the in-memory state; the caller holds the simulator's lock. These are
the mock's own records (`/_mock/...`), not Twilio resources (those are in resources.py).
"""

from __future__ import annotations

from typing import Any

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
