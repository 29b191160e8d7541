"""Agent events: the desk's server-sent events, and the presence log copied into SQL.

The presence scripts (agents/presence.py) append every state change, atomically with the
change, to the agent's own stream and to the global presence log. Here:

- `agent_stream` / `all_agents_stream` turn a stream into server-sent events (text/event-
  stream), in order, each with the stream entry's id, so a desk that reconnects with
  Last-Event-ID misses nothing; a claim (the agent taken for a call) is expanded into a
  screen pop by the caller's `pop` function, read from SQL in the stream's own thread, so
  the voice webhook that made the claim never waits for it.
- `copy_presence_log` moves the log into SQL (agent_presence) for reports; the stream
  entry's id makes the copy idempotent, and the log is trimmed only up to what SQL holds.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import redis
from sqlalchemy import select

from dialer.agents import presence
from dialer.agents.models import PresenceChange
from dialer.redis import Keys
from dialer.runtime import Runtime

log = logging.getLogger(__name__)

STREAM_LIFETIME_SECONDS = 3600.0  # then the stream ends; EventSource reconnects by itself
RETRY_MS = 3000  # what the browser waits before reconnecting
COPY_BATCH = 500
COPY_EVERY_SECONDS = 1.0  # real seconds between copies of the presence log, across pacers
# A claim: the agent was taken for a call. The desk gets the screen pop.
POP_STATES = {presence.AgentState.ON_CALL, presence.AgentState.RESERVED}

Pop = Callable[[int], dict[str, Any] | None]  # attempt id -> the screen pop, or None


def sse(data: dict[str, Any], *, event: str, event_id: str | None = None) -> str:
    """One server-sent event."""
    head = f"id: {event_id}\n" if event_id else ""
    body = json.dumps(data, ensure_ascii=False, default=str)
    return f"{head}event: {event}\ndata: {body}\n\n"


def _fields(raw: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in raw.items()}


def change_of(entry_id: str, fields: dict[str, str]) -> dict[str, Any]:
    """A presence log entry as the API shows it."""
    at = float(fields.get("at") or 0)
    return {
        "agent_id": int(fields["agent"]),
        "from": fields.get("from"),
        "state": fields.get("to"),
        "reason": fields.get("reason") or None,
        "attempt_id": int(fields["attempt"]) if fields.get("attempt") else None,
        "campaign_id": int(fields["campaign"]) if fields.get("campaign") else None,
        "at": datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds"),
        "event_id": entry_id,
    }


def _is_claim(change: dict[str, Any]) -> bool:
    """The agent was just taken for a call (not a reserved agent's call being bridged)."""
    return (
        change["state"] in POP_STATES
        and change["attempt_id"] is not None
        and change["from"] != presence.AgentState.RESERVED
    )


def _last_id(r: redis.Redis, key: str) -> str:
    newest = r.xrevrange(key, count=1)
    return newest[0][0].decode() if newest else "0-0"


def _follow(
    r: redis.Redis,
    key: str,
    after: str,
    stop: threading.Event,
    deadline: float,
    keepalive: float,
) -> Iterator[tuple[str, dict[str, str]] | None]:
    """Entries of the stream after `after`, as they come; None when a keepalive is due.
    `r` must be a client whose socket waits longer than `keepalive` (get_blocking_redis)."""
    last = after
    while not stop.is_set() and time.monotonic() < deadline:
        got = r.xread({key: last}, count=100, block=int(keepalive * 1000))
        if not got:
            yield None
            continue
        for raw_id, raw in got[0][1]:
            last = raw_id.decode()
            yield last, _fields(raw)


def agent_stream(
    rt: Runtime,
    agent_id: int,
    last_event_id: str | None,
    pop: Pop,
    stop: threading.Event | None = None,
    lifetime: float = STREAM_LIFETIME_SECONDS,
) -> Iterator[str]:
    """The agent's events: first their state now (and the call on screen, if any), unless
    resuming after Last-Event-ID; then every change and screen pop, in order."""
    stop = stop or threading.Event()
    r, key = rt.redis, Keys.agent_events(agent_id)
    yield f"retry: {RETRY_MS}\n\n"
    if last_event_id is None:
        after = _last_id(r, key)  # read before the state: nothing slips between the two
        now = presence.get(r, agent_id)
        yield sse({**now.as_dict(), "event_id": after}, event="state")
        if now.attempt_id is not None and now.state in POP_STATES:
            screen = pop(now.attempt_id)
            if screen is not None:
                yield sse(screen, event="screen-pop")
    else:
        after = last_event_id
    deadline, every = time.monotonic() + lifetime, rt.settings.event_keepalive_seconds
    for item in _follow(rt.blocking_redis, key, after, stop, deadline, every):
        if item is None:
            yield ": keepalive\n\n"
            continue
        entry_id, fields = item
        change = change_of(entry_id, fields)
        if _is_claim(change):
            screen = pop(change["attempt_id"]) or {}
            yield sse({**change, **screen}, event="screen-pop", event_id=entry_id)
        else:
            yield sse(change, event="state", event_id=entry_id)


def all_agents_stream(
    rt: Runtime,
    last_event_id: str | None,
    stop: threading.Event | None = None,
    lifetime: float = STREAM_LIFETIME_SECONDS,
    keepalive: float | None = None,
    agents: set[int] | None = None,
) -> Iterator[str]:
    """Every agent's state changes (with `agents`, only theirs: a team lead's team), for a
    supervisor's console."""
    stop = stop or threading.Event()
    r, key = rt.redis, Keys.presence_log()
    yield f"retry: {RETRY_MS}\n\n"
    after = last_event_id or _last_id(r, key)
    deadline = time.monotonic() + lifetime
    every = keepalive or rt.settings.event_keepalive_seconds
    for item in _follow(rt.blocking_redis, key, after, stop, deadline, every):
        if item is None:
            yield ": keepalive\n\n"
            continue
        change = change_of(*item)
        if agents is None or change["agent_id"] in agents:
            yield sse(change, event="state", event_id=item[0])


class StreamSlots:
    """How many event streams this process serves at once: each holds a server thread,
    and the webhooks must always find one free (see `dialer web`)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._slots = threading.BoundedSemaphore(limit)
        self._lock = threading.Lock()
        self.open = 0

    def take(self) -> bool:
        if not self._slots.acquire(blocking=False):
            return False
        with self._lock:
            self.open += 1
        return True

    def give_back(self) -> None:
        with self._lock:
            self.open -= 1
        self._slots.release()


def copy_presence_log(rt: Runtime, batch: int = COPY_BATCH) -> int:
    """Copy the presence log's new entries into SQL (a backlog in batches); how many rows
    were added."""
    added = 0
    while True:
        read, new = _copy_batch(rt, batch)
        added += new
        if read < batch:
            return added


def _copy_batch(rt: Runtime, batch: int) -> tuple[int, int]:
    r, key = rt.redis, Keys.presence_log()
    last = (r.get(Keys.presence_log_copied()) or b"0-0").decode()
    entries = r.xrange(key, min=f"({last}", count=batch)
    if not entries:
        return 0, 0
    changes = [change_of(raw_id.decode(), _fields(raw)) for raw_id, raw in entries]
    ids = [c["event_id"] for c in changes]
    with rt.db.begin() as s:
        known = set(
            s.scalars(select(PresenceChange.event_id).where(PresenceChange.event_id.in_(ids)))
        )
        for c in changes:
            if c["event_id"] in known:
                continue
            s.add(
                PresenceChange(
                    event_id=c["event_id"],
                    agent_id=c["agent_id"],
                    campaign_id=c["campaign_id"],
                    from_state=c["from"] or "offline",
                    to_state=c["state"] or "offline",
                    reason=(c["reason"] or None) and c["reason"][:64],
                    attempt_id=c["attempt_id"],
                    at=datetime.fromisoformat(c["at"]),
                )
            )
    # Only after SQL holds them: mark them copied, and let the log forget them.
    r.set(Keys.presence_log_copied(), ids[-1])
    r.xtrim(key, minid=ids[-1])
    return len(ids), len(ids) - len(known)


def copy_if_due(rt: Runtime) -> int:
    """copy_presence_log at most every COPY_EVERY_SECONDS across pacers; never raises."""
    try:
        if not rt.redis.set(
            Keys.presence_log_copying(), "1", nx=True, px=int(COPY_EVERY_SECONDS * 1000)
        ):
            return 0
        return copy_presence_log(rt)
    except Exception:
        log.exception("copying the presence log failed; trying again next time")
        return 0
