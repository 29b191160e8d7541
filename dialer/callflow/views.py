"""The desk's event streams (server-sent events): an agent's own, and every agent's for
the supervisors. Each open stream holds one server thread, so a process serves at most
DIALER_EVENT_STREAMS of them (`dialer web` runs that many threads more than it needs for
the webhooks, which therefore never wait for a stream)."""

from __future__ import annotations

import time
from collections.abc import Callable

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    request,
    session,
    stream_with_context,
)

from dialer.agents import events
from dialer.auth import access, reach, sessions
from dialer.callflow.screen_pop import screen_pop
from dialer.http import current_runtime

bp = Blueprint("desk_events", __name__, url_prefix="/api/agents")
bp.before_request(access.require_api(access.EVERYONE))

STREAM_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # a proxy in front must not hold the events back
}


def _slots() -> events.StreamSlots:
    slots = current_app.extensions.get("dialer_streams")
    if slots is None:
        limit = current_runtime().settings.event_streams
        slots = current_app.extensions["dialer_streams"] = events.StreamSlots(limit)
    return slots


def event_stream(body) -> Response:
    """A server-sent event response over `body` (an iterator of event texts): one of the
    process's stream slots, ended with the viewer's session."""
    slots = _slots()
    if not slots.take():
        response = jsonify(
            {"error": f"{slots.limit} event streams are open already; try again shortly"}
        )
        response.status_code = 503
        response.headers["Retry-After"] = "5"
        return response

    check = _signed_in_check()

    def guarded():
        try:
            for chunk in body:
                if not check():
                    return  # signed out, disabled or idle: the stream ends with the session
                yield chunk
        finally:
            slots.give_back()

    return Response(
        stream_with_context(guarded()), mimetype="text/event-stream", headers=STREAM_HEADERS
    )


SESSION_CHECK_SECONDS = 5.0


def _signed_in_check() -> Callable[[], bool]:
    """For a signed-in user's stream: a check, at most every few seconds, that their
    session still stands (an API client's token was checked when the stream opened)."""
    principal = access.principal_or_raise()
    session_id = session.get("sid")
    if principal.user_id is None or not session_id:
        return lambda: True
    r, user_id, last = current_runtime().redis, principal.user_id, [time.monotonic()]

    def check() -> bool:
        if time.monotonic() - last[0] < SESSION_CHECK_SECONDS:
            return True
        last[0] = time.monotonic()
        return sessions.alive(r, session_id=session_id, user_id=user_id)

    return check


@bp.get("/<int:agent_id>/events")
def agent_events(agent_id: int):
    """The agent's state changes and screen pops, in order (resume with Last-Event-ID)."""
    rt = current_runtime()
    with rt.db.session() as s:
        access.agent_or_raise(s, agent_id)

    def pop(attempt_id: int):
        with rt.db.session() as s:
            return screen_pop(s, rt.settings, attempt_id)

    last = request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
    return event_stream(events.agent_stream(rt, agent_id, last or None, pop))


@bp.get("/events")
def all_agents_events():
    """Every agent's state changes, for a supervisor's console."""
    access.require_role(*access.STAFF)
    rt = current_runtime()
    last = request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
    team = reach.team_of_principal()
    with rt.db.session() as s:
        agents = None if team is None else reach.team_agent_ids(s, team)
    return event_stream(events.all_agents_stream(rt, last or None, agents=agents))
