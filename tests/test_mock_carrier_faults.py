"""Fault injection: callbacks dropped, duplicated, reordered or late; slow REST answers.

Every injected fault is written to the call's witness log (`fault` events), so a test of
the dialer can tell what the carrier did to it.
"""

from __future__ import annotations

import json
import time

import pytest
import requests

from dialer.clock import Clock
from dialer.config import load_settings
from dialer.telephony.carrier import make_twilio_client
from dialer.telephony.mock import MockCarrier, Population, load_scenario_file
from dialer.telephony.mock.errors import ScenarioError
from dialer.telephony.mock.policy import Faults
from tests.mock_support import HANGUP, callbacks, event, numbers, place, wait_ended, wait_until

ANSWERED = {"answer": "human", "ring_seconds": 2, "talk_seconds": 5}


def faults_of(mock: MockCarrier, sid: str) -> list[dict]:
    return [e for e in mock.events(sid) if e["type"] == "fault"]


def test_dropped_callbacks_are_logged_not_sent(mock, hooks, carrier):
    mock.set_faults({"drop": 1.0, "kinds": ["status-callback"]})
    hooks.on("/voice", '<Response><Pause length="30"/></Response>')
    sid = place(carrier, hooks, numbers(mock, **ANSWERED))
    wait_ended(mock, sid)
    assert mock.wait_until_idle(10)
    assert callbacks(hooks, sid) == []
    assert hooks.requests("/voice"), "TwiML requests are never dropped"
    dropped = faults_of(mock, sid)
    assert [f["call_status"] for f in dropped] == ["initiated", "ringing", "in-progress",
                                                   "completed"]  # fmt: skip
    assert all(f["faults"] == ["drop"] and f["kind"] == "status-callback" for f in dropped)


def test_duplicates_repeat_the_idempotency_token(mock, hooks, carrier):
    mock.set_faults({"duplicate": 1.0})
    sid = place(carrier, hooks, numbers(mock, answer="busy", ring_seconds=1))
    wait_ended(mock, sid)
    assert mock.wait_until_idle(10)
    received = [r for r in hooks.requests("/status") if r.params["CallSid"] == sid]
    statuses = [r.params["CallStatus"] for r in received]
    assert statuses == ["initiated", "initiated", "busy", "busy"]
    tokens = [r.headers["I-Twilio-Idempotency-Token"] for r in received]
    assert tokens[0] == tokens[1] != tokens[2] == tokens[3]
    assert all(r.valid for r in received)


def test_reordered_callbacks_are_overtaken_by_the_next_one(mock, hooks, carrier):
    mock.set_faults({"reorder": 1.0})
    hooks.on("/voice", '<Response><Pause length="30"/></Response>')
    sid = place(carrier, hooks, numbers(mock, **ANSWERED))
    wait_ended(mock, sid)
    assert mock.wait_until_idle(10)
    received = callbacks(hooks, sid)
    # initiated(0) is held until ringing(1) has gone; in-progress(2) until completed(3).
    assert [p["SequenceNumber"] for p in received] == ["1", "0", "3", "2"]
    assert [p["CallStatus"] for p in received] == ["ringing", "initiated", "completed",
                                                    "in-progress"]  # fmt: skip


def test_delayed_callbacks_arrive_after_the_call_ended(mock, hooks, carrier):
    mock.set_faults({"delay": 1.0, "delay_seconds": 60})
    sid = place(carrier, hooks, numbers(mock, answer="busy", ring_seconds=1))
    # Both callbacks (initiated, busy) come a simulated minute late, after the call ended.
    wait_until(lambda: len(callbacks(hooks, sid)) == 2, timeout=10, what="late callbacks")
    ended_at = mock.call_log(sid)["end_ts"]
    sent = [e for e in mock.events(sid) if e["type"] == "webhook"]
    assert sent and all(e["sent_at"] >= ended_at for e in sent), (sent, ended_at)
    assert all(f["delay_seconds"] == 60 for f in faults_of(mock, sid))


def test_faults_only_hit_the_chosen_kinds(mock, hooks, carrier):
    mock.set_faults({"drop": 1.0, "kinds": ["amd-callback"]})
    hooks.on("/voice", '<Response><Pause length="30"/></Response>')
    sid = place(
        carrier, hooks, numbers(mock, **ANSWERED), machine_detection="Enable", async_amd=True,
        async_amd_status_callback=hooks.url("/amd"),
    )  # fmt: skip
    wait_ended(mock, sid)
    assert mock.wait_until_idle(10)
    assert hooks.requests("/amd") == []
    assert event(mock, sid, "fault", kind="amd-callback")["faults"] == ["drop"]
    assert [p["CallStatus"] for p in callbacks(hooks, sid)][-1] == "completed"


def test_fault_draws_repeat_with_the_seed(hooks):
    def run() -> list[str]:
        mock = MockCarrier(
            clock=Clock.started_now(100), population=Population(seed=11),
            faults=Faults(drop=0.3, duplicate=0.3, reorder=0.3),
        )  # fmt: skip
        with mock:
            settings = {"DIALER_HOME": "/nonexistent", "TWILIO_API_BASE": mock.base_url}
            client = make_twilio_client(load_settings(settings))
            sids = [
                client.calls.create(
                    to=f"+8490123{n:04d}", from_="+842873000000", twiml=HANGUP,
                    status_callback=hooks.url("/status"),
                    status_callback_event=["initiated", "ringing", "answered", "completed"],
                ).sid
                for n in range(8)
            ]  # fmt: skip
            assert mock.wait_until_idle(20)
            return [
                f"{n}:{f['call_status']}:{'+'.join(f['faults'])}"
                for n, sid in enumerate(sids)
                for f in faults_of(mock, sid)
            ]

    first, second = run(), run()
    assert first == second and len(first) > 5


def test_slow_rest_answers(mock, client):
    mock.set_faults({"rest_delay_ms": 250})
    started = time.monotonic()
    client.calls.list(limit=1)
    assert time.monotonic() - started >= 0.25
    mock.set_faults({"rest_delay_ms": 0})


def test_faults_control_api_and_scenario_file(mock, tmp_path):
    base = f"{mock.base_url}/_mock/faults"
    assert requests.get(base, timeout=5).json()["drop"] == 0
    for bad, word in (
        ({"drop": 1.5}, "faults.drop"),
        ({"kinds": ["voice"]}, "faults.kinds"),
        ({"lose": 0.1}, "faults: unknown setting(s) lose"),
        ([], "JSON object"),
    ):
        answer = requests.post(base, json=bad, timeout=5)
        assert answer.status_code == 400 and word in answer.json()["error"], (bad, answer.text)
    assert mock.faults == Faults()
    assert requests.post(base, json={"duplicate": 0.5}, timeout=5).json()["duplicate"] == 0.5
    assert requests.delete(base, timeout=5).json()["duplicate"] == 0
    scenario = {"seed": 5, "faults": {"drop": 0.1}, "limits": {"cps": 2}}
    path = tmp_path / "faulty.json"
    path.write_text(json.dumps(scenario))
    described = requests.post(
        f"{mock.base_url}/_mock/scenario", json=load_scenario_file(path), timeout=5
    ).json()
    assert described["faults"]["drop"] == 0.1 and described["limits"]["cps"] == 2
    assert mock.faults.drop == 0.1 and mock.limits.cps == 2 and mock.population.seed == 5
    path.write_text(json.dumps({"faults": {"drop": 2}}))
    with pytest.raises(ScenarioError, match=r"faulty\.json.*faults\.drop"):
        load_scenario_file(path)
