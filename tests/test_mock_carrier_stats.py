"""Measurements from the mock's own log: wall-clock event times, /_mock/stats, heard / pressed.

The app's benchmarks read real latencies (the simulated clock would multiply them by its
speed), so the receiver below answers some webhooks slowly on purpose: that is the "app"
being measured, not the test waiting.
"""

from __future__ import annotations

import time

import requests

from dialer.telephony.carrier import CallRequest
from tests.mock_support import FROM, HANGUP, numbers, place, wait_ended, wait_until

BANK = "+842873002000"


def slow(seconds: float, twiml: str):
    def answer(_request):
        time.sleep(seconds)  # the app's own latency, measured by the mock
        return twiml

    return answer


def get_stats(mock, **params) -> dict:
    response = requests.get(f"{mock.base_url}/_mock/stats", params=params, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


def test_every_event_carries_its_wall_clock_time(mock, hooks, carrier, client):
    to = numbers(mock, answer="human", ring_seconds=2, talk_seconds=5)
    hooks.on("/voice", "<Response><Dial><Conference>clock-room</Conference></Dial></Response>")
    before = time.time()
    sid = place(carrier, hooks, to)
    wait_ended(mock, sid)
    after = time.time()
    events = mock.events(sid)
    walls = [e["w"] for e in events]
    assert all(before - 0.01 <= w <= after + 0.01 for w in walls)
    assert walls == sorted(walls)
    sims = [e["t"] for e in events]
    # Simulated time runs 100 times faster than the wall clock.
    assert sims[-1] - sims[0] > 10 * (walls[-1] - walls[0])
    [room] = client.conferences.list(friendly_name="clock-room")
    assert all("w" in e for e in mock.simulator.conference_log(room.sid)["events"])


def test_heard_and_pressed_list_what_the_far_end_got(mock, hooks, carrier):
    to = numbers(mock, answer="human", ring_seconds=1, talk_seconds=600, digits=["12#", ""])
    hooks.on(
        "/voice",
        '<Response><Say language="vi-VN">Xin chào</Say><Play>http://127.0.0.1/tone.mp3</Play>'
        '<Pause length="2"/><Gather action="/code" timeout="3"><Say language="vi-VN">Nhập mã'
        '</Say><Play digits="ww1"/></Gather></Response>',
    )
    hooks.on(
        "/code",
        '<Response><Gather action="/never" timeout="2"><Say loop="2">Bấm phím</Say></Gather>'
        "<Say>Tạm biệt</Say><Hangup/></Response>",
    )
    sid = place(carrier, hooks, to)
    wait_ended(mock, sid)
    log = requests.get(f"{mock.base_url}/_mock/calls/{sid}", timeout=5).json()
    assert log["heard"] == [
        {"say": "Xin chào", "language": "vi-VN"},
        {"play": "http://127.0.0.1/tone.mp3"},
        {"pause": 2},
        {"say": "Nhập mã", "language": "vi-VN"},
        {"play": "", "digits": "ww1"},
        {"say": "Bấm phím", "language": "en-US", "loop": 2},
        {"say": "Tạm biệt", "language": "en-US"},
    ]
    assert log["pressed"] == ["12#", ""]
    assert hooks.wait_for_request("/code").params["Digits"] == "12"


def test_webhook_latencies_and_errors_per_kind(mock, hooks, carrier):
    assert get_stats(mock)["calls"] == 0
    to = numbers(mock, answer="human", ring_seconds=1, talk_seconds=600, digits="1")
    hooks.on(
        "/voice",
        slow(0.15, '<Response><Gather numDigits="1" action="/menu"><Say>Bấm 1</Say></Gather>'
             "</Response>"),
    )  # fmt: skip
    hooks.on("/menu", 500)
    sid = place(carrier, hooks, to)
    wait_ended(mock, sid)
    stats = get_stats(mock)
    assert stats["calls"] == 1
    voice = stats["webhooks"]["voice"]
    assert voice["count"] == 1 and voice["errors"] == 0
    assert 150 <= voice["p50_ms"] == voice["p99_ms"] == voice["max_ms"] < 5000
    menu = stats["webhooks"]["gather-action"]
    assert menu["count"] == 1 and menu["errors"] == 1
    status = stats["webhooks"]["status-callback"]
    assert status["count"] == 4 and status["errors"] == 0  # initiated .. completed
    assert status["p50_ms"] <= status["p99_ms"] <= status["max_ms"]
    assert stats["bridge"]["count"] == 0 and stats["bridge"]["answered"] == 1


def test_answer_to_bridge_in_real_milliseconds(mock, hooks, carrier):
    agent = carrier.place_call(
        CallRequest(
            to="client:agent-5",
            from_=FROM,
            twiml='<Response><Dial><Conference statusCallback="'
            + hooks.url("/conference")
            + '" statusCallbackEvent="join leave">agent-5</Conference></Dial></Response>',
        )
    )
    wait_until(lambda: "agent-5" in mock.simulator.active_conferences, what="the agent's room")
    window = requests.delete(f"{mock.base_url}/_mock/stats", timeout=5).json()["since"]
    assert abs(window - time.time()) < 5
    room = "<Response><Dial><Conference>agent-5</Conference></Dial></Response>"
    hooks.on("/voice", slow(0.2, room))
    person = numbers(mock, answer="human", ring_seconds=1, talk_seconds=5)
    machine = numbers(mock, answer="machine", ring_seconds=1)
    with_amd = place(carrier, hooks, person, machine_detection="Enable")
    wait_ended(mock, with_amd)
    left_alone = place(carrier, hooks, machine, machine_detection="Enable", twiml=HANGUP, url=None)
    wait_ended(mock, left_alone)
    plain = place(carrier, hooks, numbers(mock, answer="human", ring_seconds=1, talk_seconds=5))
    wait_ended(mock, plain)

    stats = get_stats(mock)
    assert stats["since"] == window and stats["calls"] == 3  # the agent leg came before
    bridge = stats["bridge"]
    assert bridge["answered"] == 2 and bridge["count"] == 2  # the machine is no one
    # The voice webhook (200 ms here) lies between the live answer and the bridge.
    assert 200 <= bridge["p50_ms"] <= bridge["max_ms"] < 5000
    hooks.wait_for(lambda rs: len([r for r in rs if r.path == "/conference"]) >= 5)
    conference = get_stats(mock)["webhooks"]["conference-callback"]
    assert conference["count"] >= 4 and conference["errors"] == 0  # joins and leaves since
    everything = get_stats(mock, since=0)
    assert everything["calls"] == 4 and everything["webhooks"]["conference-callback"]["count"] >= 5
    carrier.hangup(agent)
    wait_ended(mock, agent)


def test_a_fresh_window_and_since(mock, hooks, carrier):
    hooks.on("/voice", HANGUP)
    first = place(carrier, hooks, numbers(mock, answer="human", ring_seconds=1, talk_seconds=5))
    wait_ended(mock, first)
    assert mock.stats()["calls"] == 1
    started = mock.reset_stats()
    assert mock.stats()["calls"] == 0 and mock.stats()["webhooks"] == {}
    second = place(carrier, hooks, numbers(mock, answer="busy"))
    wait_ended(mock, second)
    assert get_stats(mock)["calls"] == 1
    assert get_stats(mock, since=started - 3600)["calls"] == 2
    assert get_stats(mock, since=time.time() + 60)["calls"] == 0
    for bad in ("yesterday", "nan"):
        response = requests.get(f"{mock.base_url}/_mock/stats", params={"since": bad}, timeout=5)
        assert response.status_code == 400 and "since" in response.json()["error"]
