"""Shared pieces of the mock carrier tests: fixtures, constants and witness-log helpers.

The fixtures start the mock in-process on a free port at high speed, plus a webhook
receiver (WebhookRecorder) that checks every X-Twilio-Signature with twilio's
RequestValidator and answers the TwiML the test chooses.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from dialer.clock import Clock
from dialer.config import MOCK_ACCOUNT_SID, MOCK_AUTH_TOKEN, load_settings
from dialer.telephony.carrier import CallRequest, TwilioCarrier, make_twilio_client
from dialer.telephony.mock import MockCarrier, Population
from dialer.telephony.mock.testing import WebhookRecorder

SPEED = 100.0
FROM = "+842873000000"
ALL_EVENTS = ("initiated", "ringing", "answered", "completed")
HANGUP = "<Response><Hangup/></Response>"
FINAL_STATUSES = ("completed", "busy", "no-answer", "failed", "canceled")
REPO = Path(__file__).resolve().parents[1]
# Thread wake-ups can be late on a loaded machine: at 100x, 10 ms late is 1 simulated second.
# Simulated delays are never shorter than planned, and at most LAG sim seconds longer.
LAG = 3.0


def about(value: float, expected: float, early: float = 0.25) -> bool:
    return expected - early <= value <= expected + LAG


# ------------------------------------------------------------------- fixtures --
@pytest.fixture
def hooks():
    with WebhookRecorder(MOCK_AUTH_TOKEN) as recorder:
        yield recorder


@pytest.fixture
def mock(hooks):
    carrier = MockCarrier(
        MOCK_ACCOUNT_SID, MOCK_AUTH_TOKEN, Clock.started_now(SPEED), Population(seed=7)
    )
    carrier.start_in_thread()
    yield carrier
    started = time.monotonic()
    carrier.stop()
    assert time.monotonic() - started < 3, "stop() must be quick"
    leaked = [
        t.name
        for t in threading.enumerate()
        if t.name.startswith(("call-", "mock-", "webhook_")) and t.is_alive()
    ]
    assert not leaked, f"threads left running: {leaked}"


@pytest.fixture
def mock_settings(tmp_path, mock):
    return load_settings({"DIALER_HOME": str(tmp_path), "TWILIO_API_BASE": mock.base_url})


@pytest.fixture
def client(mock_settings):
    return make_twilio_client(mock_settings)


@pytest.fixture
def carrier(mock_settings):
    return TwilioCarrier(mock_settings)


# -------------------------------------------------------------------- helpers --
def place(carrier: TwilioCarrier, hooks: WebhookRecorder, to: str, **kwargs) -> str:
    kwargs.setdefault("url", hooks.url("/voice"))
    kwargs.setdefault("status_callback", hooks.url("/status"))
    return carrier.place_call(CallRequest(to=to, from_=FROM, **kwargs))


def wait_ended(mock: MockCarrier, sid: str, timeout: float = 10.0) -> dict:
    """Wait until the call is over and its last status callback went out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = mock.events(sid)
        done = any(e["type"] == "status" and e.get("reason") for e in events)
        completed_sent = any(
            (e["type"] == "webhook" and e["kind"] == "status-callback"
             and e["params"]["CallStatus"] not in ("initiated", "ringing", "in-progress"))
            or (e["type"] == "fault" and e["kind"] == "status-callback"
                and "drop" in e["faults"] and e["call_status"] in FINAL_STATUSES)
            for e in events
        )  # fmt: skip
        has_callback = bool(mock.simulator.get_call(sid).status_callback)
        if done and (completed_sent or not has_callback) and sid not in mock.simulator.active_calls:
            return mock.call_log(sid)
        time.sleep(0.01)
    raise AssertionError(f"call {sid} did not end: {mock.call_log(sid)}")


def wait_until(predicate, timeout: float = 15.0, what: str = "condition"):
    """Poll until predicate() is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def event(mock: MockCarrier, sid: str, kind: str, /, **match) -> dict:
    for e in mock.events(sid):
        if e["type"] == kind and all(e.get(k) == v for k, v in match.items()):
            return e
    raise AssertionError(
        f"no {kind} {match} event for {sid}: {[e['type'] for e in mock.events(sid)]}"
    )


def callbacks(hooks: WebhookRecorder, sid: str, path: str = "/status") -> list[dict]:
    return [r.params for r in hooks.requests(path) if r.params.get("CallSid") == sid]


def numbers(mock: MockCarrier, **override) -> str:
    """A fresh valid Vietnamese mobile number with an override."""
    numbers.counter = getattr(numbers, "counter", 0) + 1  # type: ignore[attr-defined]
    number = f"+849012{numbers.counter:05d}"  # type: ignore[attr-defined]
    if override:
        mock.population.set_number(number, override)
    return number
