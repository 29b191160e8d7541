"""In-memory state of the simulated network: calls, conferences and their participants.

Every mutable field is guarded by the simulator's single lock (`Simulator.lock`); each
call has a Condition on that lock so its thread can sleep in simulated time and still be
woken at once by a REST update, a conference ending or a shutdown.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from dialer.telephony.mock.population import CalleePlan

TERMINAL = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
MAX_EVENTS_PER_CALL = 1000
MAX_EVENTS_PER_CONFERENCE = 5000
MAX_PARTICIPANT_RECORDS = 1000
MAX_DOCUMENT_CHARS = 64 * 1024


def new_sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


def wall_time() -> float:
    """Real unix seconds for an event's `w`: the app's benchmarks measure real latency,
    which simulated time (`t`, at the clock's speed) would multiply."""
    return round(time.time(), 6)


# How a call's thread leaves what it is doing. They are raised by the simulator's waits
# and caught by the verb that was running, so that each verb can still report its outcome.
class CallEnded(Exception):
    """The call is over (its status is already terminal)."""


class Stopped(Exception):
    """The simulator is shutting down: leave without further webhooks."""


class Redirected(Exception):
    """A REST update gave the live call new TwiML: leave the current verb for it."""

    def __init__(self, source: Source):
        super().__init__(source.url)
        self.source = source


@dataclass
class Source:
    """Where the next TwiML document comes from: a URL to request, or inline TwiML."""

    url: str | None = None
    method: str = "POST"
    twiml: str | None = None
    fallback_url: str | None = None
    fallback_method: str = "POST"
    params: dict[str, str] = field(default_factory=dict)  # extra params (Digits, ...)
    kind: str = "voice"  # voice | redirect | gather-action | dial-action | record-action ...


class Call:
    def __init__(
        self,
        lock: threading.Lock,
        *,
        sid: str,
        account_sid: str,
        to: str,
        from_: str,
        direction: str,
        now: float,
        plan: CalleePlan,
        params: dict[str, Any],
        parent_call_sid: str | None = None,
    ):
        self.cond = threading.Condition(lock)
        self.sid = sid
        self.account_sid = account_sid
        self.to = to
        self.from_ = from_
        self.direction = direction
        self.parent_call_sid = parent_call_sid
        self.plan = plan
        self.params = params  # what the REST request (or the <Dial>) asked for
        self.status = "queued"
        self.progress = "queued"  # includes "initiated", which the resource never shows
        self.created_at = now
        self.created_wall = time.time()  # real time, for measurement windows (/_mock/stats)
        self.updated_at = now
        self.start_time: float | None = None
        self.answered_at: float | None = None
        self.end_time: float | None = None
        self.answered_by: str | None = None
        self.amd_duration_ms: int | None = None
        self.sip_code: int | None = None
        self.ended_by: str | None = None
        self.error_code: int | None = None  # why the carrier failed the call (fail_error_code)
        self.error_message: str | None = None
        # TwiML and callbacks
        self.source: Source | None = None
        self.status_callback: str | None = None
        self.status_callback_method = "POST"
        self.status_callback_events: set[str] = set()
        self.sequence = 0
        self.timeout = 60
        self.time_limit = 14400
        self.machine_detection: str | None = None
        self.machine_detection_timeout = 30
        self.async_amd = False
        self.async_amd_callback: str | None = None
        self.async_amd_callback_method = "POST"
        self.queue_seconds = 0.0  # waiting for its calls-per-second slot before dialing
        self.send_digits: str | None = None  # DTMF played once the far end answers
        self.record = False  # record the whole call (Record=true)
        self.recording_callback: str | None = None
        self.recording_callback_method = "POST"
        # live control
        self.hangup_at: float | None = None  # when the far end hangs up by itself
        self.give_up_at: float | None = None  # an inbound caller's hangup_after_seconds
        self.time_limit_at: float | None = None
        self.redirect_to: Source | None = None
        self.endpoint_signal: str | None = None  # answer | reject (softphones)
        self.participant: Participant | None = None
        self.gathers = 0
        self.documents = 0
        self.thread: threading.Thread | None = None
        self.events: list[dict[str, Any]] = []
        self.dropped_events = 0
        # What the far end heard (Say / Play / Pause) and pressed (one string per Gather).
        self.heard: list[dict[str, Any]] = []
        self.pressed: list[str] = []

    @property
    def ended(self) -> bool:
        return self.status in TERMINAL

    @property
    def duration(self) -> int | None:
        """Seconds in progress (answer to hang-up), for completed calls."""
        if self.status != "completed" or self.end_time is None:
            return None
        if self.answered_at is None:
            return 0
        return max(0, round(self.end_time - self.answered_at))

    def price(self, per_minute: float) -> str | None:
        """Twilio-style negative price string, per started minute; None if not answered."""
        duration = self.duration
        if duration is None or self.answered_at is None:
            return None
        return f"{-math.ceil(duration / 60) * per_minute:.5f}"

    def add_event(self, now: float, kind: str, /, **data: Any) -> None:
        if len(self.events) >= MAX_EVENTS_PER_CALL:
            self.dropped_events += 1
            return
        event = {"t": round(now, 3), "w": wall_time(), "type": kind}
        event.update(data)
        self.events.append(event)


@dataclass
class Participant:
    call: Call
    conference: Conference
    joined_at: float
    start_conference_on_enter: bool = True
    end_conference_on_exit: bool = False
    muted: bool = False
    beep: str = "true"
    left_at: float | None = None
    leave_reason: str | None = None
    bridged: bool | None = None  # None until first evaluated

    @property
    def present(self) -> bool:
        return self.left_at is None


class Conference:
    def __init__(self, sid: str, account_sid: str, friendly_name: str, now: float, private=False):
        self.sid = sid
        self.account_sid = account_sid
        self.friendly_name = friendly_name
        self.private = private  # a <Dial><Number> bridge: not listed as a conference
        self.status = "init"
        self.created_at = now
        self.updated_at = now
        self.participants: dict[str, Participant] = {}
        self.reason_ended: str | None = None
        self.call_sid_ending: str | None = None
        self.status_callback: str | None = None
        self.status_callback_method = "POST"
        self.status_callback_events: set[str] = set()
        self.sequence = 0
        self.events: list[dict[str, Any]] = []

    def present(self) -> list[Participant]:
        return [p for p in self.participants.values() if p.present]

    def add_event(self, now: float, kind: str, /, **data: Any) -> None:
        if len(self.events) >= MAX_EVENTS_PER_CONFERENCE:
            del self.events[: MAX_EVENTS_PER_CONFERENCE // 10]  # keep the most recent
        event = {"t": round(now, 3), "w": wall_time(), "type": kind}
        event.update(data)
        self.events.append(event)
        # A nailed-up room sees a join and a leave per customer all day: forget the
        # participants who left long ago, keep the ones present.
        if len(self.participants) > MAX_PARTICIPANT_RECORDS:
            for sid in [s for s, p in self.participants.items() if not p.present][:100]:
                del self.participants[sid]


class BoundedStore:
    """Insertion-ordered map that forgets the oldest finished items beyond `limit`."""

    def __init__(self, limit: int):
        self.limit = limit
        self._items: OrderedDict[str, Any] = OrderedDict()

    def add(self, key: str, item: Any) -> None:
        self._items[key] = item
        if len(self._items) > self.limit:
            self._evict()

    def _evict(self) -> None:
        excess = len(self._items) - self.limit
        for key in list(self._items):
            if excess <= 0:
                break
            item = self._items[key]
            finished = item.ended if isinstance(item, Call) else item.status == "completed"
            if finished:
                del self._items[key]
                excess -= 1

    def get(self, key: str) -> Any:
        return self._items.get(key)

    def __len__(self) -> int:
        return len(self._items)

    def newest_first(self) -> Iterator[Any]:
        return reversed(list(self._items.values()))

    def values(self) -> list[Any]:
        return list(self._items.values())
