"""Scripted REST failures per number: refused creates, lost requests and answers, carrier errors.

Set on a number override (`/_mock/numbers/<n>` or a scenario file), they let the app's tests
meet each way Twilio can fail a call, on a number of their choosing, repeatably.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from twilio.base.exceptions import TwilioRestException

from dialer.config import MOCK_ACCOUNT_SID, MOCK_AUTH_TOKEN
from dialer.telephony.carrier import make_twilio_client
from dialer.telephony.mock import load_scenario_file
from dialer.telephony.mock.errors import ScenarioError
from tests.mock_support import FROM, HANGUP, callbacks, event, numbers, place, wait_ended

CALLS = f"/2010-04-01/Accounts/{MOCK_ACCOUNT_SID}/Calls.json"
AUTH = (MOCK_ACCOUNT_SID, MOCK_AUTH_TOKEN)


def set_override(mock, number: str, body: dict) -> requests.Response:
    return requests.post(f"{mock.base_url}/_mock/numbers/{number}", json=body, timeout=5)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (20429, 429), (21211, 400), (21214, 400), (21215, 400), (21216, 400),
        (21217, 400), (13224, 400), (20003, 401), (20500, 500), (20503, 503),
    ],
)  # fmt: skip
def test_a_scripted_create_error_answers_twilios_status_and_creates_nothing(
    mock, client, code, status
):
    to = numbers(mock)
    assert set_override(mock, to, {"create_error": code}).status_code == 200
    with pytest.raises(TwilioRestException) as info:
        client.calls.create(to=to, from_=FROM, twiml=HANGUP)
    assert info.value.status == status and info.value.code == code
    assert info.value.msg and "{to}" not in info.value.msg
    assert len(mock.simulator.calls) == 0 and mock.simulator.active_count() == 0
    with pytest.raises(TwilioRestException):  # without a count, every create fails
        client.calls.create(to=to, from_=FROM, twiml=HANGUP)
    assert client.calls.list() == []


def test_create_error_count_fails_that_many_creates_then_calls_go_through(mock, hooks, client):
    to = numbers(mock, answer="busy", create_error=20429, create_error_count=2)
    for _ in range(2):
        with pytest.raises(TwilioRestException) as info:
            client.calls.create(to=to, from_=FROM, twiml=HANGUP)
        assert info.value.code == 20429 and info.value.status == 429
    sid = client.calls.create(to=to, from_=FROM, twiml=HANGUP).sid
    log = wait_ended(mock, sid)
    assert log["status"] == "busy"
    assert log["plan"]["n"] == 1  # refused requests were never calls
    # Setting the override again starts a new count.
    mock.population.set_number(to, {"create_error": 21214, "create_error_count": 1})
    with pytest.raises(TwilioRestException):
        client.calls.create(to=to, from_=FROM, twiml=HANGUP)
    assert client.calls.create(to=to, from_=FROM, twiml=HANGUP).sid


def test_a_lost_response_leaves_a_call_the_client_never_heard_of(mock, hooks, mock_settings):
    to = numbers(
        mock, answer="human", ring_seconds=1, talk_seconds=5,
        create_stall_seconds=3, create_stall_mode="lost_response",
    )  # fmt: skip
    hooks.on("/voice", "<Response><Pause length='2'/></Response>")
    impatient = make_twilio_client(mock_settings, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        impatient.calls.create(
            to=to, from_=FROM, url=hooks.url("/voice"), status_callback=hooks.url("/status")
        )
    assert time.monotonic() - started < 2.5
    # The call exists and runs although its answer is still held; other requests go on.
    lookup = make_twilio_client(mock_settings, timeout=2)
    [call] = lookup.calls.list(to=to)
    assert time.monotonic() - started < 2.5
    log = wait_ended(mock, call.sid)
    assert log["status"] == "completed"
    stall = event(mock, call.sid, "stall")
    assert stall["mode"] == "lost_response" and stall["seconds"] == 3
    assert callbacks(hooks, call.sid)[-1]["CallStatus"] == "completed"


def test_a_lost_request_is_503_after_the_stall_and_creates_nothing(mock, mock_settings):
    to = numbers(mock, create_stall_seconds=1.5, create_stall_mode="lost_request")
    client = make_twilio_client(mock_settings, timeout=5)

    def create():
        started = time.monotonic()
        try:
            client.calls.create(to=to, from_=FROM, twiml=HANGUP)
        except TwilioRestException as exc:
            return exc, time.monotonic() - started
        raise AssertionError("the lost request was answered 201")

    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(create)
        # While the request is held the mock answers everything else at once.
        deadline = time.monotonic() + 1
        while not future.done() and time.monotonic() < deadline:
            asked = time.monotonic()
            assert requests.get(f"{mock.base_url}/_mock/health", timeout=1).ok
            assert requests.get(mock.base_url + CALLS, auth=AUTH, timeout=1).json()["calls"] == []
            assert time.monotonic() - asked < 0.5
        error, seconds = future.result(10)
    assert error.status == 503 and error.code == 20503
    assert seconds >= 1.5
    assert len(mock.simulator.calls) == 0


def test_stop_releases_held_requests():
    from dialer.clock import Clock
    from dialer.telephony.mock import MockCarrier

    mock = MockCarrier(clock=Clock.started_now(100))
    base = mock.start_in_thread()
    mock.population.set_number(
        "+84901234567", {"create_stall_seconds": 300, "create_stall_mode": "lost_request"}
    )
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(
            requests.post, base + CALLS, auth=AUTH, timeout=10,
            data={"To": "+84901234567", "From": FROM, "Twiml": HANGUP},
        )  # fmt: skip
        deadline = time.monotonic() + 5
        while mock.requests.to_dict()["in_flight"] < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert mock.requests.to_dict()["in_flight"] == 1, "the request is held"
        started = time.monotonic()
        mock.stop()
        assert time.monotonic() - started < 3
        try:
            answered: int | None = held.result(10).status_code
        except requests.RequestException:  # the shutdown may cut it before the answer
            answered = None
    assert answered in (503, None)


def test_fail_error_code_reaches_the_final_status_callback(mock, hooks, carrier, client):
    to = numbers(mock, fail_error_code=13227)
    sid = place(carrier, hooks, to)
    log = wait_ended(mock, sid)
    assert log["status"] == "failed" and log["ended_by"] == "carrier-error"
    assert log["error_code"] == 13227 and log["sip_response_code"] == 403
    got = callbacks(hooks, sid)
    assert [p["CallStatus"] for p in got] == ["initiated", "failed"]
    assert "ErrorCode" not in got[0]
    assert got[-1]["ErrorCode"] == "13227" and "International" in got[-1]["ErrorMessage"]
    assert got[-1]["SipResponseCode"] == "403"
    assert event(mock, sid, "error")["code"] == 13227
    assert client.calls(sid).fetch().status == "failed"
    assert all(r.valid for r in hooks.received)


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"create_error": 12345}, "create_error"),
        ({"create_error": "20429"}, "create_error"),
        ({"create_error_count": 2}, "create_error_count needs a create_error"),
        ({"create_error": 20429, "create_error_count": 0}, "create_error_count"),
        ({"create_error": 20429, "create_stall_seconds": 2}, "either create_error"),
        ({"create_stall_mode": "lost_request"}, "needs create_stall_seconds"),
        ({"create_stall_seconds": 2, "create_stall_mode": "slow"}, "create_stall_mode"),
        ({"create_stall_seconds": 0}, "create_stall_seconds"),
        ({"create_stall_seconds": 301}, "create_stall_seconds"),
        ({"fail_error_code": 11200}, "fail_error_code"),
        ({"fail_error_code": 13227, "answer": "human"}, "contradicts"),
        ({"hold_patience": -1}, "hold_patience"),
    ],
)
def test_bad_scripted_failures_are_400_and_change_nothing(mock, body, named):
    number = "+84901234567"
    response = set_override(mock, number, body)
    assert response.status_code == 400, response.text
    assert named in response.json()["error"]
    assert mock.population.numbers() == {}


def test_scripted_failures_in_a_scenario_file(mock, tmp_path):
    good = {
        "numbers": {
            "+84901234501": {"create_error": 21211},
            "+84901234502": {"create_stall_seconds": 2.5},
            "+84901234503": {"fail_error_code": 21215, "ring_seconds": 2},
        }
    }
    path = tmp_path / "faults.json"
    path.write_text(json.dumps(good))
    mock.load_scenario(load_scenario_file(path))
    numbers_now = mock.describe()["numbers"]
    assert numbers_now["+84901234501"] == {"create_error": 21211}
    assert numbers_now["+84901234502"] == {
        "create_stall_seconds": 2.5, "create_stall_mode": "lost_response",
    }  # fmt: skip
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"numbers": {"+84901234501": {"create_error": 99}}}))
    with pytest.raises(ScenarioError) as info:
        load_scenario_file(bad)
    assert "bad.json" in str(info.value) and "create_error" in str(info.value)


def test_fail_error_code_plans_a_quick_carrier_failure(mock, client):
    to = numbers(mock, fail_error_code=21211)
    sid = client.calls.create(to=to, from_=FROM, twiml=HANGUP).sid
    log = wait_ended(mock, sid)
    assert log["plan"]["kind"] == "failed" and log["plan"]["error_code"] == 21211
    initiated = event(mock, sid, "status", status="initiated")["t"]
    assert event(mock, sid, "status", status="failed")["t"] - initiated < 1 + 3  # ~1 s + lag
