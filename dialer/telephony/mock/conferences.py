"""Conferences: joining, sitting in, leaving and ending a room, and its status callbacks.

A conference (`CF…`) exists from its first participant on; `<Dial><Conference>` joins it,
and a `<Dial><Number>` bridge is a private one (not listed, no callbacks) holding the two
legs. Functions whose name ends in `_locked` run with the simulator's lock held; they never
do HTTP (callbacks are queued through `callbacks.send_async`). Which far ends are bridged
decides their talk and hold clocks (`room_changed`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dialer.telephony.mock.callbacks import release_held, send_async
from dialer.telephony.mock.resources import rfc2822
from dialer.telephony.mock.state import (
    Call,
    CallEnded,
    Conference,
    Participant,
    Redirected,
    Stopped,
    new_sid,
)
from dialer.telephony.mock.twiml import Node

if TYPE_CHECKING:
    from dialer.telephony.mock.simulator import Simulator

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


# ------------------------------------------------------------------ the verb --
def dial_conference(
    sim: Simulator, call: Call, noun: Node, time_limit: int, outcome: dict[str, str]
) -> None:
    """`<Dial><Conference>`: join the room (created by its first participant) and stay."""
    name = noun.text
    with sim.lock:
        conference = sim.active_conferences.get(name)
        if conference is None:
            conference = Conference(new_sid("CF"), call.account_sid, name, sim.now())
            callback = noun.get("statusCallback")
            if callback:  # as on Twilio: the creator's callback is the conference's
                conference.status_callback = callback
                conference.status_callback_method = (
                    noun.get("statusCallbackMethod") or "POST"
                ).upper()
                conference.status_callback_events = set(
                    (noun.get("statusCallbackEvent") or "").replace(",", " ").split()
                )
            sim.active_conferences[name] = conference
            sim.conferences.add(conference.sid, conference)
        participant = Participant(
            call=call,
            conference=conference,
            joined_at=sim.now(),
            start_conference_on_enter=noun.bool_attr("startConferenceOnEnter", True),
            end_conference_on_exit=noun.bool_attr("endConferenceOnExit", False),
            muted=noun.bool_attr("muted", False),
            beep=noun.get("beep", "true") or "true",
        )
        join_locked(sim, conference, participant, wait_url=noun.get("waitUrl"))
    try:
        sit(sim, call, participant, participant.joined_at + time_limit)
    finally:
        outcome["DialCallDuration"] = str(
            round((participant.left_at or sim.now()) - participant.joined_at)
        )


def sit(sim: Simulator, call: Call, participant: Participant, deadline: float) -> None:
    """Stay in a conference until removed, the time limit, or the call ends."""
    reason = "time_limit"
    try:
        sim.wait(call, until=deadline, predicate=lambda: not participant.present)
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
        with sim.lock:
            if participant.present:
                leave_locked(sim, participant.conference, participant, reason)
            if call.participant is participant:
                call.participant = None


# ------------------------------------------------------- joining and leaving --
def join_locked(
    sim: Simulator, conference: Conference, participant: Participant, wait_url: str | None = None
) -> None:
    call = participant.call
    others = [p.call.sid for p in conference.present()]
    conference.participants[call.sid] = participant
    conference.updated_at = sim.now()
    call.participant = participant
    sim.event(
        call, "conference-join", conference_sid=conference.sid,
        friendly_name=conference.friendly_name, others=others,
        start_conference_on_enter=participant.start_conference_on_enter,
        end_conference_on_exit=participant.end_conference_on_exit,
        wait_url=wait_url, private=conference.private,
    )  # fmt: skip
    conference.add_event(sim.now(), "join", call_sid=call.sid, others=others)
    conference_callback(sim, conference, "join", participant)
    if participant.start_conference_on_enter and conference.status == "init":
        conference.status = "in-progress"
        conference.add_event(sim.now(), "start")
        conference_callback(sim, conference, "start", participant)
    room_changed(sim, conference)


def leave_locked(
    sim: Simulator,
    conference: Conference,
    participant: Participant,
    reason: str,
    kicked: bool = False,
) -> None:
    if not participant.present:
        return
    now = sim.now()
    participant.left_at = now
    participant.leave_reason = reason
    conference.updated_at = now
    call = participant.call
    sim.event(
        call, "conference-leave", conference_sid=conference.sid,
        friendly_name=conference.friendly_name, reason=reason,
        seconds=round(now - participant.joined_at, 3),
    )  # fmt: skip
    conference.add_event(now, "leave", call_sid=call.sid, reason=reason)
    conference_callback(sim, conference, "leave", participant, reason=reason)
    sim.notify(call)
    if participant.end_conference_on_exit:
        why = "participant-with-end-conference-on-exit-" + ("kicked" if kicked else "left")
        end_conference_locked(sim, conference, why, call.sid)
    elif not conference.present():
        why = "last-participant-kicked" if kicked else "last-participant-left"
        end_conference_locked(sim, conference, why, call.sid)
    else:
        room_changed(sim, conference)


def end_conference_locked(
    sim: Simulator, conference: Conference, reason: str, call_sid: str | None
) -> None:
    """End the room: everyone still in it leaves (their <Dial> goes on), then `end`."""
    if conference.status == "completed":
        return
    now = sim.now()
    for other in conference.present():
        other.left_at = now
        other.leave_reason = "conference_ended"
        sim.event(
            other.call, "conference-leave", conference_sid=conference.sid,
            friendly_name=conference.friendly_name, reason="conference_ended",
            seconds=round(now - other.joined_at, 3),
        )  # fmt: skip
        conference_callback(sim, conference, "leave", other, reason="conference_ended")
        sim.notify(other.call)
    conference.status = "completed"
    conference.reason_ended = reason
    conference.call_sid_ending = call_sid
    conference.updated_at = now
    conference.add_event(now, "end", reason=reason)
    conference_callback(sim, conference, "end", None, reason=reason, call_sid=call_sid)
    release_held(sim, conference.sid)
    if sim.active_conferences.get(conference.friendly_name) is conference:
        del sim.active_conferences[conference.friendly_name]


def room_changed(sim: Simulator, conference: Conference) -> None:
    """Who hears whom changed: restart the talk or hold clocks of the far ends. Lock held."""
    present = conference.present()
    bridged = conference.status == "in-progress" and len(present) > 1
    now = sim.now()
    for participant in present:
        if participant.bridged is bridged:
            continue
        participant.bridged = bridged
        call = participant.call
        if bridged:
            sim.event(
                call, "bridged", conference_sid=conference.sid,
                with_calls=[p.call.sid for p in present if p is not participant],
            )  # fmt: skip
        else:
            sim.event(call, "waiting", conference_sid=conference.sid)
        talk = call.plan.talk_seconds
        if talk is not None:
            call.hangup_at = now + (talk if bridged else sim.hold_patience(call))
        sim.notify(call)


def conference_callback(
    sim: Simulator,
    conference: Conference,
    event: str,
    participant: Participant | None,
    **extra: Any,
) -> None:
    """Queue a conference status callback if subscribed. Lock held."""
    url = conference.status_callback
    if not url or conference.private or event not in conference.status_callback_events:
        return
    now = sim.now()
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
        params["ParticipantCallStatus"] = participant.call.status if participant is not None else ""
    if event == "end":
        params["ReasonConferenceEnded"] = extra.get("reason", "")
        params["Reason"] = extra.get("reason", "")
        if extra.get("call_sid"):
            params["CallSidEndingConference"] = extra["call_sid"]
    send_async(
        sim, conference.sid, "conference-callback", url, params,
        conference.status_callback_method, conference=conference,
    )  # fmt: skip


# --------------------------------------------------------------- REST reads --
def get_conference(sim: Simulator, sid: str) -> Conference:
    with sim.lock:
        conference = sim.conferences.get(sid)
        if conference is None:
            raise sim.not_found("Conference", sid)
        return conference


def list_conferences(sim: Simulator, filters: Mapping[str, str]) -> list[Conference]:
    name, status = filters.get("FriendlyName"), filters.get("Status")
    with sim.lock:
        return [
            c
            for c in sim.conferences.newest_first()
            if (not name or c.friendly_name == name) and (not status or c.status == status)
        ]


def participants(sim: Simulator, conference_sid: str) -> list[Participant]:
    """The participants present now (Twilio lists no one who left)."""
    with sim.lock:
        conference = sim.conferences.get(conference_sid)
        if conference is None:
            raise sim.not_found("Conference", conference_sid)
        return sorted(conference.present(), key=lambda p: p.joined_at)


def get_participant(sim: Simulator, conference_sid: str, call_sid: str) -> Participant:
    with sim.lock:
        conference = sim.conferences.get(conference_sid)
        participant = conference.participants.get(call_sid) if conference else None
        if participant is None or not participant.present:
            raise sim.not_found("Participant", call_sid)
        return participant


def end_conference(sim: Simulator, conference_sid: str) -> Conference:
    """POST Status=completed on a conference."""
    with sim.lock:
        conference = sim.conferences.get(conference_sid)
        if conference is None:
            raise sim.not_found("Conference", conference_sid)
        end_conference_locked(sim, conference, "conference-ended-via-api", None)
        return conference


def kick_participant(sim: Simulator, conference_sid: str, call_sid: str) -> None:
    """DELETE a participant: it leaves, and its <Dial> goes on to its action."""
    with sim.lock:
        conference = sim.conferences.get(conference_sid)
        participant = conference.participants.get(call_sid) if conference else None
        if conference is None or participant is None or not participant.present:
            raise sim.not_found("Participant", call_sid)
        leave_locked(sim, conference, participant, "participant_kicked", kicked=True)
