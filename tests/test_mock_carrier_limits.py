"""The mock carrier's account rules, through the official twilio client: calls per second
(queued like Twilio, or refused), REST concurrency, geo permissions, and the remaining
Calls.json parameters (SendDigits, Record, CallerId).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from twilio.base.exceptions import TwilioRestException

from dialer.clock import Clock
from dialer.config import load_settings
from dialer.telephony.carrier import CarrierError, make_twilio_client
from dialer.telephony.mock import MockCarrier
from dialer.telephony.mock.policy import Faults, Limits
from tests.mock_support import FROM, HANGUP, REPO, callbacks, event, numbers, place, wait_ended


def status_times(mock: MockCarrier, sid: str, status: str) -> float:
    return event(mock, sid, "status", status=status)["t"]


def client_for(mock: MockCarrier):
    settings = load_settings({"DIALER_HOME": "/nonexistent", "TWILIO_API_BASE": mock.base_url})
    return make_twilio_client(settings)


# ------------------------------------------------------------ calls per second --
def test_cps_queue_spaces_call_starts_and_reports_queue_time(mock, client):
    # One call every 50 simulated seconds (0.5 real s at 100x): creating the four calls and
    # fetching the last must take well under a slot however busy the machine is, or the
    # later calls rightly wait less than asked (at 5 s, 50 ms real, a slow REST round trip
    # used up the margin).
    mock.set_limits({"cps": 0.02})
    created = [
        client.calls.create(to=numbers(mock, answer="busy", ring_seconds=1), from_=FROM,
                            twiml=HANGUP)
        for _ in range(4)
    ]  # fmt: skip
    assert created[0].queue_time == "0"
    # Later calls wait for their slot: about 50 s, 100 s, 150 s minus the time spent creating.
    waits = [int(c.queue_time) for c in created]
    assert waits == sorted(waits) and waits[3] > 100_000, waits
    assert client.calls(created[3].sid).fetch().status == "queued"
    for call in created:
        wait_ended(mock, call.sid, timeout=20)
    # Each call's slot (creation + queue time) is 1/CPS after the previous one, and no call
    # starts dialing before its slot.
    slots = [mock.call_log(c.sid)["created_ts"] + int(c.queue_time) / 1000 for c in created]
    assert all(b - a >= 50 - 0.002 for a, b in itertools.pairwise(slots)), slots
    for call, slot in zip(created, slots, strict=True):
        assert status_times(mock, call.sid, "initiated") >= slot
    assert [client.calls(c.sid).fetch().status for c in created] == ["busy"] * 4


def test_a_queued_call_can_be_canceled_before_it_dials(mock, hooks, carrier, client):
    mock.set_limits({"cps": 0.01})  # the second call would wait 100 simulated seconds
    first = place(carrier, hooks, numbers(mock, answer="busy", ring_seconds=1))
    second = place(carrier, hooks, numbers(mock, answer="human"))
    client.calls(second).update(status="canceled")
    log = wait_ended(mock, second)
    assert log["status"] == "canceled" and log["start_time"] is None
    assert not [e for e in mock.events(second) if e["type"] == "status" and e["status"] in (
        "initiated", "ringing")]  # fmt: skip
    assert [p["CallStatus"] for p in callbacks(hooks, second)] == ["canceled"]
    wait_ended(mock, first)


def test_cps_reject_mode_answers_20429_then_recovers(hooks):
    # Real-time clock, so the token bucket refills at a rate the test can wait for.
    with MockCarrier(clock=Clock(), limits=Limits(cps=2, cps_mode="reject")) as mock:
        client = client_for(mock)
        results = []
        for _ in range(5):
            try:
                client.calls.create(to="+84901234567", from_=FROM, twiml=HANGUP)
                results.append("ok")
            except TwilioRestException as exc:
                assert exc.status == 429 and exc.code == 20429
                assert "calls per second" in exc.msg
                results.append("refused")
        assert results[:2] == ["ok", "ok"] and results.count("refused") >= 2, results
        time.sleep(0.6)  # a token comes back every half second at 2 CPS
        client.calls.create(to="+84901234567", from_=FROM, twiml=HANGUP)
        refused = [c for c in mock.simulator.calls.newest_first()]
        assert len(refused) == results.count("ok") + 1, "a refused call must not exist"


def test_a_queue_longer_than_allowed_is_22005(mock, client):
    mock.set_limits({"cps": 0.001, "max_queue_seconds": 100})
    client.calls.create(to=numbers(mock, answer="busy"), from_=FROM, twiml=HANGUP)
    with pytest.raises(TwilioRestException) as info:
        client.calls.create(to=numbers(mock, answer="busy"), from_=FROM, twiml=HANGUP)
    assert info.value.code == 22005 and info.value.status == 429


def test_rest_concurrency_limit_answers_20429(hooks):
    limits, faults = Limits(max_concurrent_requests=2), Faults(rest_delay_ms=300)
    with MockCarrier(clock=Clock.started_now(100), limits=limits, faults=faults) as mock:
        client = client_for(mock)
        sid = client.calls.create(to="+84901234567", from_=FROM, twiml=HANGUP).sid

        def fetch(_: int) -> str:
            try:
                client.calls(sid).fetch()
                return "ok"
            except TwilioRestException as exc:
                return f"{exc.status}/{exc.code}"

        with ThreadPoolExecutor(6) as pool:
            outcomes = list(pool.map(fetch, range(6)))
        assert outcomes.count("ok") >= 2 and "429/20429" in outcomes, outcomes
        gauge = mock.requests.to_dict()
        assert gauge["peak"] <= 2 and gauge["in_flight"] == 0
        assert gauge["refused"] == outcomes.count("429/20429")  # the create was not refused
        # The control API is not the REST API: never counted, never slowed down.
        started = time.monotonic()
        assert requests.get(f"{mock.base_url}/_mock/health", timeout=5).json()["ok"]
        assert time.monotonic() - started < 0.3


# ------------------------------------------------------------ geo permissions --
def test_geo_permissions_refuse_other_countries_with_21215(mock, hooks, carrier):
    mock.set_limits({"allowed_countries": ["VN"], "blocked_prefixes": ["+84190"]})
    with pytest.raises(CarrierError) as info:
        place(carrier, hooks, "+14155550100")
    assert info.value.code == 21215 and info.value.status == 400
    assert "+14155550100" in str(info.value)
    with pytest.raises(CarrierError) as info:
        place(carrier, hooks, "+841901234567")
    assert info.value.code == 21215
    sid = place(carrier, hooks, numbers(mock, answer="busy", ring_seconds=1))
    assert wait_ended(mock, sid)["status"] == "busy"
    assert len(list(mock.simulator.calls.newest_first())) == 1  # refused calls do not exist
    # Softphones are not phone numbers: geo permissions do not apply.
    sid = place(carrier, hooks, "client:agent-geo", url=None, twiml=HANGUP)
    assert wait_ended(mock, sid)["status"] == "completed"


def test_dial_number_outside_geo_permissions_fails_with_13227(mock, hooks, carrier):
    mock.set_limits({"allowed_countries": ["VN"]})
    hooks.on(
        "/voice",
        f'<Response><Dial action="{hooks.url("/dial-action")}">'
        "<Number>+447700900123</Number></Dial></Response>",
    )
    hooks.on("/dial-action", HANGUP)
    sid = place(carrier, hooks, numbers(mock, answer="human", ring_seconds=2))
    wait_ended(mock, sid)
    action = hooks.wait_for_request("/dial-action", CallSid=sid)
    assert action.params["DialCallStatus"] == "failed" and "DialCallSid" not in action.params
    assert event(mock, sid, "error", code=13227)["message"].startswith(
        "Dial: No International Authorization"
    )
    assert not [c for c in mock.simulator.calls.newest_first() if c.parent_call_sid == sid]


def test_limits_control_api_validates_and_changes_nothing_on_error(mock):
    base = f"{mock.base_url}/_mock/limits"
    assert requests.get(base, timeout=5).json()["cps"] is None
    for bad, word in (
        ({"cps": -1}, "limits.cps"),
        ({"cps_mode": "drop"}, "limits.cps_mode"),
        ({"allowed_countries": ["XX"]}, "XX"),
        ({"blocked_prefixes": ["84"]}, "limits.blocked_prefixes"),
        ({"max_concurrent_requests": 1.5}, "whole number"),
        ({"cps": 1, "speed": 2}, "speed"),
    ):
        answer = requests.post(base, json=bad, timeout=5)
        assert answer.status_code == 400 and word in answer.json()["error"], (bad, answer.text)
    assert mock.limits == Limits()
    changed = requests.post(base, json={"cps": 1, "allowed_countries": ["vn"]}, timeout=5).json()
    assert changed["cps"] == 1 and changed["allowed_countries"] == ["VN"]
    assert changed["cps_mode"] == "queue"
    assert requests.options(base, timeout=5).headers["Access-Control-Allow-Origin"] == "*"


def test_cli_limit_options_win_over_the_scenario(tmp_path):
    scenario = tmp_path / "limits.json"
    scenario.write_text('{"limits": {"cps": 5, "max_active_calls": 9}}')
    env = dict(os.environ, DIALER_HOME=str(tmp_path), PYTHONPATH=str(REPO))
    code = "from dialer.telephony.mock.commands import mock_carrier; mock_carrier()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "--port", "0", "--scenario", str(scenario), "--cps", "1",
         "--cps-mode", "reject", "--allow-country", "VN", "--allow-country", "la"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = proc.stdout.readline()
        assert "1 CPS (reject)" in line and "countries LA,VN" in line, line + proc.stderr.read()
        base = line.split(" on ", 1)[1].split(" ", 1)[0]
        limits = requests.get(f"{base}/_mock/limits", timeout=5).json()
        assert limits["cps"] == 1 and limits["cps_mode"] == "reject"
        assert limits["max_active_calls"] == 9 and limits["allowed_countries"] == ["LA", "VN"]
    finally:
        proc.terminate()
        proc.wait(10)
    bad = subprocess.run(
        [sys.executable, "-c", code, "--port", "0", "--allow-country", "XX"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 2 and "unknown country code(s) XX" in bad.stderr


# ------------------------------------------------- SendDigits, Record, CallerId --
def test_send_digits_record_and_caller_id(mock, hooks, client):
    to = numbers(mock, answer="human", ring_seconds=2, talk_seconds=20)
    hooks.on("/voice", '<Response><Pause length="60"/></Response>')
    call = client.calls.create(
        to=to, from_=FROM, url=hooks.url("/voice"), status_callback=hooks.url("/status"),
        send_digits="12w#", record=True, caller_id="+842873000001",
        recording_status_callback=hooks.url("/recording"),
    )  # fmt: skip
    log = wait_ended(mock, call.sid)
    assert log["params"]["SendDigits"] == "12w#" and log["params"]["CallerId"] == "+842873000001"
    sent = event(mock, call.sid, "send-digits")
    answered = status_times(mock, call.sid, "in-progress")
    assert sent["digits"] == "12w#" and sent["t"] >= answered
    recording = hooks.wait_for_request("/recording", CallSid=call.sid).params
    assert recording["RecordingSource"] == "OutboundAPI"
    assert recording["RecordingStatus"] == "completed"
    assert recording["RecordingSid"].startswith("RE")
    assert int(recording["RecordingDuration"]) == int(log["duration"])
    with pytest.raises(TwilioRestException) as info:
        client.calls.create(to=to, from_=FROM, twiml=HANGUP, send_digits="12x")
    assert info.value.code == 20001 and "SendDigits" in info.value.msg


# ------------------------------------------------------ the same code for Twilio --
def test_without_a_base_the_same_client_targets_twilio():
    real = load_settings(
        {"DIALER_HOME": "/nonexistent", "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
         "TWILIO_AUTH_TOKEN": "a-real-token"}
    )  # fmt: skip
    client = make_twilio_client(real)
    assert client.api.base_url == "https://api.twilio.com"
    assert client.calls._uri == f"/Accounts/{'AC' + '1' * 32}/Calls.json"
    with pytest.raises(CarrierError, match="TWILIO_API_BASE is not set"):
        make_twilio_client(load_settings({"DIALER_HOME": "/nonexistent"}))
