"""Agents' own legs, wrap-up limits, pauses and the presence log, end to end through the mock
carrier: a softphone dropping while ready or mid-call, a wrap-up running out (NDP, paused
wrap_up_overrun, then the agent's late code replacing NDP), pause codes, and every change
kept in SQL for the reports."""

from __future__ import annotations

import requests
from sqlalchemy import select

from dialer.agents import events
from dialer.agents.models import PresenceChange
from dialer.agents.pauses import seed_default_pause_codes
from dialer.campaigns import wrapup
from dialer.campaigns.models import CallAttempt
from dialer.outcomes.models import Alert, Disposition
from tests import factories
from tests.mock_support import wait_until
from tests.stack_support import Stack, attempts_of, campaign_with_agents

NUMBER = "+84901500100"


def _campaign(stack: Stack, **settings) -> tuple[int, int]:
    with stack.rt.db.begin() as s:
        seed_default_pause_codes(s)
    cid, (agent_id,) = campaign_with_agents(stack, 1, prefix="lan", name="B3", **settings)
    return cid, agent_id


def _borrower(stack: Stack, **behaviour) -> None:
    with stack.rt.db.begin() as s:
        factories.account(s, phones=((NUMBER, "mobile"),))
    stack.override(NUMBER, **{"answer": "human", "ring_seconds": 3, **behaviour})


def _drop_softphone(stack: Stack) -> None:
    """The agent's browser tab closes: their leg hangs up at the carrier."""
    resp = requests.post(f"{stack.mock_url}/_mock/endpoints/lan0", json={"hangup": True}, timeout=5)
    assert resp.status_code == 200 and resp.json()["affected"], resp.text


def _changes(stack: Stack, agent_id: int) -> list[tuple[str, str, str | None]]:
    events.copy_presence_log(stack.rt)
    with stack.rt.db.session() as s:
        rows = s.scalars(
            select(PresenceChange)
            .where(PresenceChange.agent_id == agent_id)
            .order_by(PresenceChange.id)
        )
        return [(r.from_state, r.to_state, r.reason) for r in rows]


def test_a_leg_dropping_while_ready_logs_the_agent_out(stack: Stack):
    _, agent_id = _campaign(stack)
    _drop_softphone(stack)
    wait_until(lambda: stack.agent_state(agent_id)["state"] == "offline", what="offline")
    assert _changes(stack, agent_id) == [
        ("offline", "connecting", "login"),
        ("connecting", "ready", "softphone answered"),
        ("ready", "offline", "leg_dropped"),
    ]
    # Copied once: a second copy adds nothing.
    assert events.copy_presence_log(stack.rt) == 0


def test_a_leg_dropping_mid_call_tells_the_customer_and_the_team_lead(stack: Stack):
    _borrower(stack, talk_seconds=300)
    _, agent_id = _campaign(stack, wrap_up_seconds=10)
    stack.dial_round()
    wait_until(lambda: stack.agent_state(agent_id)["state"] == "on_call", what="on the call")
    _drop_softphone(stack)
    wait_until(lambda: (a := attempts_of(stack)) and a[0].ended_at, what="the call to end")
    (attempt,) = attempts_of(stack)
    summary = requests.get(f"{stack.mock_url}/_mock/calls/{attempt.call_sid}", timeout=5).json()
    last = summary["heard"][-1]["say"]
    assert "gián đoạn" in last or "bị ngắt" in last, last  # why the call ends
    assert summary["ended_by"] == "twiml-hangup"
    wait_until(lambda: stack.agent_state(agent_id)["state"] == "offline", what="offline")
    with stack.rt.db.session() as s:
        attempt = s.get_one(CallAttempt, attempt.id)
        alert = s.scalar(select(Alert))
        coded = s.scalar(select(Disposition).where(Disposition.attempt_id == attempt.id))
    assert attempt.agent_dropped_at is not None and attempt.agent_id == agent_id
    assert (alert.kind, alert.attempt_id, alert.agent_id) == ("LEGDROP", attempt.id, agent_id)
    assert coded is None  # the attempt waits for its code
    # Nobody records one: once the wrap-up time is over, the system's NDP.
    wait_until(lambda: wrapup.overrun_due(stack.rt), what="the wrap-up to run out")
    with stack.rt.db.session() as s:
        assert s.get_one(CallAttempt, attempt.id).action_code == "NDP"
    assert stack.agent_state(agent_id)["state"] == "offline"  # not paused: not there
    status = stack.api("GET", f"/api/campaigns/{attempt.campaign_id}")
    assert (status["agent_drops"], status["wrap_up_overruns"]) == (1, 1)


def test_a_wrap_up_that_runs_out_pauses_the_agent_and_a_late_code_replaces_ndp(stack: Stack):
    _borrower(stack, talk_seconds=5)
    cid, agent_id = _campaign(stack, wrap_up_seconds=10)
    stack.dial_round()
    wait_until(lambda: stack.agent_state(agent_id)["state"] == "wrap_up", what="wrap-up")
    (attempt,) = attempts_of(stack)
    wait_until(lambda: wrapup.overrun_due(stack.rt), what="the wrap-up to run out")
    state = stack.agent_state(agent_id)
    assert (state["state"], state["pause_reason"]) == ("paused", "wrap_up_overrun")
    with stack.rt.db.session() as s:
        ndp = s.scalar(select(Disposition).where(Disposition.attempt_id == attempt.id))
    assert (ndp.code, ndp.set_by) == ("NDP", "system")
    status = stack.api("GET", f"/api/campaigns/{cid}")
    assert status["wrap_up_overruns"] == 1
    # The agent was typing their notes: their code replaces the system's, audited.
    late = stack.api(
        "POST",
        f"/api/attempts/{attempt.id}/disposition",
        201,
        json={"agent_id": agent_id, "code": "RTP", "note": "khách từ chối"},
    )
    assert late["code"] == "RTP"
    audit = stack.api("GET", f"/api/attempts/{attempt.id}/audit")["changes"]
    assert [(c["before"], c["after"]["code"]) for c in audit] == [
        (None, "NDP"),
        ({"code": "NDP"}, "RTP"),
    ]
    assert audit[-1]["who"] == f"agent:{agent_id}"
    assert stack.agent_state(agent_id)["state"] == "paused"  # back only when they say so
    assert stack.api("POST", f"/api/agents/{agent_id}/resume")["state"] == "ready"
    assert ("wrap_up", "paused", "wrap_up_overrun") in _changes(stack, agent_id)
    day = stack.api("GET", f"/api/agents/{agent_id}/presence")
    assert day["wrap_up_overruns"] == 1 and day["seconds_paused_by_reason"]["wrap_up_overrun"] >= 0


def test_a_code_in_time_is_no_overrun(stack: Stack):
    _borrower(stack, talk_seconds=5)
    _, agent_id = _campaign(stack, wrap_up_seconds=600)
    stack.dial_round()
    wait_until(lambda: stack.agent_state(agent_id)["state"] == "wrap_up", what="wrap-up")
    (attempt,) = attempts_of(stack)
    stack.api(
        "POST",
        f"/api/attempts/{attempt.id}/disposition",
        201,
        json={"agent_id": agent_id, "code": "LEM"},
    )
    assert stack.agent_state(agent_id)["state"] == "ready"
    stack.rt.redis.zadd("dialer:wrapup:due", {attempt.id: 0})  # as if its time had come
    assert wrapup.overrun_due(stack.rt) == []  # coded already: nothing to do


def test_pauses_with_reasons(stack: Stack):
    # The borrower talks until the call is hung up: the pause is asked for during the call,
    # however slowly a busy machine polls (a short call could be over before it asks).
    _borrower(stack, talk_seconds=36000)
    cid, agent_id = _campaign(stack)
    # Unknown and dialer-only codes are refused, with the choices.
    refused = stack.api("POST", f"/api/agents/{agent_id}/pause", 409, json={"code": "nap"})
    assert "choose one of" in refused["error"] and "break" in refused["error"]
    stack.api("POST", f"/api/agents/{agent_id}/pause", 409, json={"code": "wrap_up_overrun"})
    paused = stack.api("POST", f"/api/agents/{agent_id}/pause", json={"code": "training"})
    assert (paused["state"], paused["pause_reason"]) == ("paused", "training")
    assert stack.dial_round() == {cid: 0}  # no ready agent: progressive dials nothing
    stack.api("POST", f"/api/agents/{agent_id}/resume")
    assert stack.dial_round() == {cid: 1}
    wait_until(lambda: stack.agent_state(agent_id)["state"] == "on_call", what="on the call")
    # A break asked for during the call starts when the call is done.
    pending = stack.api("POST", f"/api/agents/{agent_id}/pause", json={"code": "break"})
    assert (pending["state"], pending["pause_pending"]) == ("on_call", "break")
    (attempt,) = attempts_of(stack)
    stack.rt.carrier.hangup(attempt.call_sid)
    wait_until(lambda: stack.agent_state(agent_id)["state"] == "wrap_up", what="wrap-up")
    stack.api(
        "POST",
        f"/api/attempts/{attempt.id}/disposition",
        201,
        json={"agent_id": agent_id, "code": "LEM"},
    )
    state = stack.agent_state(agent_id)
    assert (state["state"], state["pause_reason"]) == ("paused", "break")
    codes = {c["code"] for c in stack.api("GET", "/api/agents/pause-codes")}
    assert {"break", "lunch", "training", "meeting"} <= codes and "wrap_up_overrun" not in codes
    added = stack.api(
        "PUT",
        "/api/agents/pause-codes/hop_giao_ban",
        json={"label_vi": "Họp giao ban", "label_en": "Morning briefing"},
    )
    assert added["code"] == "hop_giao_ban"
    stack.api("PUT", "/api/agents/pause-codes/x", 422, json={"label_vi": "", "label_en": "x"})


def test_the_softphone_token(stack: Stack, monkeypatch):
    _, agent_id = _campaign(stack)
    missing = stack.api("GET", f"/api/agents/{agent_id}/token", 409)["error"]
    assert "TWILIO_API_KEY and TWILIO_API_SECRET" in missing
    import jwt

    from dialer.agents import tokens

    settings = stack.rt.settings.with_overrides(
        twilio_api_key="SK" + "1" * 32,
        twilio_api_secret="s3cret-" + "x" * 32,
        twilio_twiml_app_sid=None,
    )
    issued = tokens.voice_token(settings, "client:lan")
    claims = jwt.decode(issued.token, settings.twilio_api_secret, algorithms=["HS256"])
    assert claims["grants"]["identity"] == "lan"
    assert claims["grants"]["voice"]["incoming"]["allow"] is True
    assert claims["iss"] == settings.twilio_api_key and claims["sub"] == settings.twilio_account_sid
    with stack.rt.db.begin() as s:
        factories.agent(s, "sip.agent").endpoint = "sip:agent@pbx.example.vn"
    try:
        tokens.voice_token(settings, "sip:agent@pbx.example.vn")
    except tokens.TokenUnavailable as exc:
        assert "not a browser softphone" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("a SIP phone got a token")
