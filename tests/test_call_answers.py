"""How an answered outbound call of an agent campaign is handled, end to end through the
mock carrier: the abandon message (who calls, where to call back, within 2 s), answering
machines hung up on or given the voicemail, AnsweredBy=unknown taken for a person or a
machine as the campaign says."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import func, select

from dialer.agents import presence
from dialer.campaigns.models import CallAttempt
from tests import factories
from tests.mock_support import wait_until
from tests.stack_support import Stack, attempts_of, campaign_with_agents

NUMBER = "+84901400100"


def _campaign(stack: Stack, n_agents: int, **settings) -> tuple[int, list[int]]:
    return campaign_with_agents(stack, n_agents, prefix="c", name="B2", **settings)


def _one_call(stack: Stack, n_agents: int, behaviour: dict, **settings):
    with stack.rt.db.begin() as s:
        factories.account(s, phones=((NUMBER, "mobile"),))
    stack.override(NUMBER, **behaviour)
    cid, agents = _campaign(stack, n_agents, **settings)
    return cid, agents


def _ended(stack: Stack) -> tuple[CallAttempt, dict]:
    wait_until(lambda: (a := attempts_of(stack)) and a[0].ended_at, timeout=30, what="the call")
    (attempt,) = attempts_of(stack)
    summary = requests.get(f"{stack.mock_url}/_mock/calls/{attempt.call_sid}", timeout=5).json()
    return attempt, summary


# A slower clock than the suite's: the agent's break must come while the phone still rings
# (20 simulated seconds: 2 real seconds here, 0.4 at the usual speed, too short for a busy
# machine between the dial round and the pause).
@pytest.mark.stack_speed(10)
def test_no_agent_in_time_hears_who_calls_and_where_to_call_back(stack: Stack):
    cid, (agent_id,) = _one_call(
        stack,
        1,
        {"answer": "human", "ring_seconds": 20, "talk_seconds": 30},
        compliance_profile="us-regf",
        **factories.CALLER,
    )
    assert stack.dial_round() == {cid: 1}
    # The agent takes a break while the borrower's phone rings: nobody is free at the answer.
    assert presence.pause(stack.rt.redis, agent_id, "break", stack.rt.now_ts()) == "paused"
    attempt, summary = _ended(stack)
    assert (attempt.result, attempt.agent_id, attempt.action_code) == ("abandoned", None, "NKP")
    (message,) = summary["heard"]
    assert factories.CALLER["company_name"] in message["say"]
    assert factories.CALLER["callback_number"] in message["say"]
    assert "5.000.000" not in message["say"]  # nothing about the debt to whoever answered
    # The message starts within 2 s of the live answer: the claim waits 1 s at most.
    timeout_ms = 1000 * stack.rt.settings.agent_claim_timeout
    assert timeout_ms <= attempt.abandon_delay_ms < 2000
    status = stack.api("GET", f"/api/campaigns/{cid}")
    assert status["abandoned"] == 1 and status["abandon_delay_ms_max"] == attempt.abandon_delay_ms


def test_a_profile_that_requires_it_refuses_a_campaign_without_company_and_number(stack: Stack):
    refused = stack.api(
        "POST", "/api/campaigns", 400, json={"name": "UK", "compliance_profile": "uk-ofcom"}
    )
    assert "set company_name and callback_number" in refused["error"]


def test_a_machine_is_hung_up_on_by_default(stack: Stack):
    _one_call(stack, 1, {"answer": "machine", "ring_seconds": 3})
    stack.dial_round()
    attempt, summary = _ended(stack)
    assert summary["params"]["MachineDetection"] == "Enable"
    assert summary["heard"] == [] and summary["ended_by"] == "twiml-hangup"
    assert (attempt.result, attempt.action_code, attempt.voicemail_at) == ("machine", "NKP", None)


def test_a_machine_gets_the_voicemail_after_the_beep_and_never_an_agent(stack: Stack):
    cid, (agent_id,) = _one_call(
        stack, 1, {"answer": "machine", "ring_seconds": 3}, on_machine="voicemail"
    )
    stack.dial_round()
    attempt, summary = _ended(stack)
    assert summary["params"]["MachineDetection"] == "DetectMessageEnd"
    assert summary["answered_by"].startswith("machine_end")  # the message waited for the beep
    (heard,) = summary["heard"]
    assert stack.rt.settings.company_name in heard["say"] and "5.000.000" not in heard["say"]
    assert (attempt.result, attempt.agent_id) == ("machine", None)
    assert attempt.voicemail_at is not None
    assert stack.agent_state(agent_id)["state"] == "ready"  # never bridged
    assert stack.api("GET", f"/api/campaigns/{cid}")["voicemails_left"] == 1


def test_unknown_is_a_person_by_default(stack: Stack):
    behaviour = {"answer": "human", "ring_seconds": 3, "talk_seconds": 10, "amd_result": "unknown"}
    _, (agent_id,) = _one_call(stack, 1, behaviour)
    stack.dial_round()
    attempt, _ = _ended(stack)
    assert (attempt.answered_by, attempt.result, attempt.agent_id) == ("unknown", "human", agent_id)


def test_unknown_is_a_machine_when_the_campaign_says_so(stack: Stack):
    behaviour = {"answer": "human", "ring_seconds": 3, "talk_seconds": 10, "amd_result": "unknown"}
    _one_call(stack, 1, behaviour, on_unknown="machine")
    stack.dial_round()
    attempt, summary = _ended(stack)
    assert (attempt.answered_by, attempt.result, attempt.agent_id) == ("unknown", "machine", None)
    assert summary["heard"] == []
    with stack.rt.db.session() as s:
        assert s.scalar(select(func.count(CallAttempt.id))) == 1
