"""Inbound calls: a borrower calls one of the bank's numbers (the mock's IncomingPhoneNumbers).

The number's Voice URL is a WebhookRecorder path; the caller's keys, talk time and patience
come from the /_mock/inbound request, the caller's number override, or the model. Every
request is checked for a valid X-Twilio-Signature, and the REST API shows the call too.
"""

from __future__ import annotations

import pytest
import requests

from dialer.config import MOCK_ACCOUNT_SID
from dialer.telephony.carrier import CallRequest
from dialer.telephony.mock.errors import ScenarioError
from dialer.telephony.mock.inbound import UnknownNumber
from tests.mock_support import (
    FROM,
    HANGUP,
    about,
    callbacks,
    event,
    numbers,
    place,
    wait_ended,
    wait_until,
)

BANK = "+842873001000"  # one of "our" numbers
CALLER = "+84901888001"


def register(mock, hooks, number: str = BANK, path: str = "/incoming", **more) -> dict:
    response = requests.post(
        f"{mock.base_url}/_mock/incoming-numbers/{number}",
        json={"voice_url": hooks.url(path), "status_callback": hooks.url("/status"), **more},
        timeout=5,
    )
    assert response.status_code == 200, response.text
    return response.json()


def call_in(mock, **body) -> requests.Response:
    return requests.post(f"{mock.base_url}/_mock/inbound", json=body, timeout=5)


def test_an_ivr_call_in_runs_the_numbers_twiml(mock, hooks, client):
    register(mock, hooks)
    hooks.on(
        "/incoming",
        '<Response><Gather numDigits="1" action="/menu"><Say language="vi-VN">Xin chào. '
        "Bấm 1 để biết số dư</Say></Gather><Say>Tạm biệt</Say></Response>",
    )
    hooks.on(
        "/menu",
        '<Response><Say language="vi-VN">Số dư của quý khách</Say>'
        '<Gather numDigits="1" action="/confirm"><Say>Bấm 2 để xác nhận</Say></Gather></Response>',
    )
    hooks.on("/confirm", "<Response><Say>Cảm ơn</Say><Hangup/></Response>")
    response = call_in(mock, **{"from": CALLER, "to": BANK, "digits": ["1", "2"]})
    assert response.status_code == 201, response.text
    summary = response.json()
    sid = summary["sid"]
    assert sid.startswith("CA") and summary["direction"] == "inbound"
    assert summary["from"] == CALLER and summary["to"] == BANK
    log = wait_ended(mock, sid)
    assert log["status"] == "completed" and log["ended_by"] == "twiml-hangup"

    voice = hooks.requests("/incoming")[0]
    assert voice.valid
    params = voice.params
    assert params["CallSid"] == sid and params["AccountSid"] == MOCK_ACCOUNT_SID
    assert params["CallStatus"] == "ringing" and params["Direction"] == "inbound"
    assert (params["From"], params["Caller"], params["To"], params["Called"]) == (
        CALLER, CALLER, BANK, BANK,
    )  # fmt: skip
    assert params["ApiVersion"] == "2010-04-01"
    assert params["FromCountry"] == params["ToCountry"] == "VN"
    menu, confirm = hooks.wait_for_request("/menu"), hooks.wait_for_request("/confirm")
    assert menu.params["Digits"] == "1" and menu.params["CallStatus"] == "in-progress"
    assert confirm.params["Digits"] == "2" and menu.valid and confirm.valid

    # A number's status callback gets the final status only.
    [final] = callbacks(hooks, sid)
    assert final["CallStatus"] == "completed" and final["Direction"] == "inbound"
    assert int(final["CallDuration"]) >= 1

    answered = event(mock, sid, "status", status="in-progress")
    ringing = event(mock, sid, "status", status="ringing")
    assert ringing["t"] <= answered["t"]
    listed = requests.get(f"{mock.base_url}/_mock/calls", timeout=5).json()["calls"]
    assert [c["direction"] for c in listed if c["sid"] == sid] == ["inbound"]
    fetched = client.calls(sid).fetch()
    assert fetched.direction == "inbound" and fetched.status == "completed"
    assert fetched._from == CALLER and fetched.to == BANK
    assert [c.sid for c in client.calls.list(to=BANK)] == [sid]
    assert all(r.valid for r in hooks.received)


def test_a_caller_reaches_an_agent_in_a_conference(mock, hooks, carrier):
    agent = carrier.place_call(
        CallRequest(
            to="client:agent-9",
            from_=FROM,
            twiml='<Response><Dial><Conference endConferenceOnExit="true">agent-9'
            "</Conference></Dial></Response>",
        )
    )
    wait_until(lambda: "agent-9" in mock.simulator.active_conferences, what="the agent's room")
    mock.add_incoming_number(BANK, hooks.url("/incoming"), status_callback=hooks.url("/status"))
    hooks.on(
        "/incoming",
        '<Response><Say>Vui lòng chờ</Say><Dial action="/after"><Conference>agent-9'
        "</Conference></Dial></Response>",
    )
    hooks.on("/after", HANGUP)
    sid = mock.inbound_call(CALLER, BANK, talk_seconds=20)
    log = wait_ended(mock, sid)
    assert log["ended_by"] == "caller-hangup"
    bridged = event(mock, sid, "bridged")
    assert bridged["with_calls"] == [agent]
    assert about(event(mock, sid, "hangup", by="caller")["t"] - bridged["t"], 20)
    after = hooks.wait_for_request("/after")
    assert after.params["DialCallStatus"] == "completed" and after.valid
    assert mock.simulator.get_call(agent).status == "in-progress"  # the agent stays seated
    carrier.hangup(agent)
    wait_ended(mock, agent)


@pytest.mark.parametrize(("reason", "status"), [("busy", "busy"), (None, "no-answer")])
def test_reject_first_leaves_the_call_unanswered(mock, hooks, reason, status):
    register(mock, hooks)
    attribute = f' reason="{reason}"' if reason else ""
    hooks.on("/incoming", f"<Response><Reject{attribute}/></Response>")
    sid = mock.inbound_call(CALLER, BANK)
    log = wait_ended(mock, sid)
    assert log["status"] == status and log["answered_at"] is None
    assert log["ended_by"] == "twiml-reject"
    [final] = callbacks(hooks, sid)
    assert final["CallStatus"] == status and final["CallDuration"] == "0"


def test_the_caller_hangs_up_after_its_patience(mock, hooks):
    register(mock, hooks)
    hooks.on("/incoming", '<Response><Say>Xin chờ</Say><Pause length="600"/></Response>')
    sid = mock.inbound_call(CALLER, BANK, hangup_after_seconds=12)
    log = wait_ended(mock, sid)
    assert log["ended_by"] == "caller-hangup" and log["status"] == "completed"
    ringing = event(mock, sid, "status", status="ringing")["t"]
    assert about(event(mock, sid, "hangup", by="caller")["t"] - ringing, 12)


def test_alone_in_a_room_the_caller_waits_for_its_hold_patience(mock, hooks):
    register(mock, hooks)
    hooks.on("/incoming", "<Response><Dial><Conference>nobody-here</Conference></Dial></Response>")
    sid = mock.inbound_call(CALLER, BANK, hold_patience=15, talk_seconds=600)
    wait_ended(mock, sid)
    joined = event(mock, sid, "conference-join")["t"]
    assert about(event(mock, sid, "conference-leave")["t"] - joined, 15)


def test_an_override_sets_a_callees_patience_too(mock, hooks, carrier):
    to = numbers(mock, answer="human", ring_seconds=1, talk_seconds=600, hold_patience=8)
    hooks.on("/voice", "<Response><Dial><Conference>empty-too</Conference></Dial></Response>")
    sid = place(carrier, hooks, to)
    wait_ended(mock, sid)
    joined = event(mock, sid, "conference-join")["t"]
    assert about(event(mock, sid, "conference-leave")["t"] - joined, 8)


def test_the_callers_number_override_sets_its_behaviour(mock, hooks):
    caller = numbers(mock, digits=["7", "8"], talk_seconds=200)
    register(mock, hooks)
    hooks.on("/incoming", '<Response><Gather numDigits="1" action="/next"/></Response>')
    hooks.on("/next", HANGUP)
    sid = mock.inbound_call(caller, BANK)
    log = wait_ended(mock, sid)
    assert log["plan"]["source"] == "override" and log["plan"]["kind"] == "human"
    assert log["plan"]["talk_seconds"] == 200
    assert hooks.wait_for_request("/next").params["Digits"] == "7"
    # The request wins over the override.
    sid = mock.inbound_call(caller, BANK, digits=["9"])
    wait_ended(mock, sid)
    assert mock.call_log(sid)["plan"]["source"] == "request"
    assert [r.params["Digits"] for r in hooks.requests("/next")] == ["7", "9"]


def test_an_unreachable_voice_url_falls_back(mock, hooks):
    register(mock, hooks, voice_fallback_url=hooks.url("/fallback"))
    hooks.on("/incoming", 500)
    hooks.on("/fallback", "<Response><Say>Hệ thống đang bận</Say></Response>")
    sid = mock.inbound_call(CALLER, BANK)
    log = wait_ended(mock, sid)
    assert log["ended_by"] == "twiml-end"
    fallback = hooks.wait_for_request("/fallback")
    assert fallback.params["ErrorCode"] == "11200" and fallback.params["CallStatus"] == "ringing"


def test_incoming_numbers_are_listed_read_and_removed(mock, hooks):
    registered = register(mock, hooks, voice_method="GET")
    assert registered == {
        "number": BANK,
        "voice_url": hooks.url("/incoming"),
        "voice_method": "GET",
        "voice_fallback_url": None,
        "voice_fallback_method": "POST",
        "status_callback": hooks.url("/status"),
        "status_callback_method": "POST",
    }
    base = f"{mock.base_url}/_mock/incoming-numbers"
    assert requests.get(base, timeout=5).json()["incoming_numbers"][BANK]["voice_method"] == "GET"
    assert requests.get(f"{base}/{BANK}", timeout=5).json()["number"] == BANK
    assert requests.delete(f"{base}/{BANK}", timeout=5).status_code == 204
    assert requests.delete(f"{base}/{BANK}", timeout=5).status_code == 404
    assert requests.get(f"{base}/{BANK}", timeout=5).status_code == 404
    assert requests.get(base, timeout=5).json() == {"incoming_numbers": {}}


def test_a_call_to_an_unregistered_number_is_404(mock, hooks):
    response = call_in(mock, **{"from": CALLER, "to": "+842873009999"})
    assert response.status_code == 404
    assert "+842873009999" in response.json()["error"]
    assert "incoming-numbers" in response.json()["error"]
    with pytest.raises(UnknownNumber):
        mock.inbound_call(CALLER, "+842873009999")
    assert mock.simulator.active_count() == 0 and len(mock.simulator.calls) == 0


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"voice_url": "ftp://x/y"}, "voice_url"),
        ({}, "voice_url"),
        ({"voice_url": "http://127.0.0.1/v", "voice_method": "PUT"}, "voice_method"),
        ({"voice_url": "http://127.0.0.1/v", "status_callback": "nowhere"}, "status_callback"),
        ({"voice_url": "http://127.0.0.1/v", "sms_url": "http://127.0.0.1/s"}, "sms_url"),
    ],
)
def test_bad_incoming_numbers_are_400(mock, body, named):
    response = requests.post(f"{mock.base_url}/_mock/incoming-numbers/{BANK}", json=body, timeout=5)
    assert response.status_code == 400 and named in response.json()["error"]
    assert mock.simulator.incoming.get(BANK) is None


def test_an_incoming_number_must_be_e164(mock):
    response = requests.post(
        f"{mock.base_url}/_mock/incoming-numbers/02873001000",
        json={"voice_url": "http://127.0.0.1/v"},
        timeout=5,
    )
    assert response.status_code == 400 and "E.164" in response.json()["error"]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"from": "0901888001"}, "from"),
        ({"to": None}, "to"),
        ({"digits": ["1", 2]}, "digits"),
        ({"digits": "1a"}, "digits"),
        ({"talk_seconds": -1}, "talk_seconds"),
        ({"hangup_after_seconds": "soon"}, "hangup_after_seconds"),
        ({"caller_name": "An"}, "caller_name"),
    ],
)
def test_bad_inbound_requests_are_400(mock, hooks, change, named):
    register(mock, hooks)
    response = call_in(mock, **{"from": CALLER, "to": BANK, **change})
    assert response.status_code == 400 and named in response.json()["error"]
    assert len(mock.simulator.calls) == 0
    with pytest.raises(ScenarioError):
        mock.simulator.inbound_call({"from": CALLER, "to": BANK, **change})
