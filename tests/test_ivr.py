"""The IVR (agentless reminders answered with key presses), end to end through the mock
carrier's TwiML interpreter: each branch of the menu tree with scripted keys (`digits` in
the number's override), asserting the action code it landed, the promise, and what the
mock's call log says the borrower heard (docs/ivr.md has the tree)."""

from __future__ import annotations

from datetime import timedelta

import requests
from sqlalchemy import select

from dialer.campaigns.models import CallAttempt, Campaign, CampaignEntry, DncNumber
from dialer.outcomes.models import Callback, Disposition, Promise
from dialer.portfolio.models import Account, Phone
from tests import factories
from tests.mock_support import wait_until
from tests.stack_support import VN, Stack, attempts_of, campaign_with_agents

NUMBER = "+84901300100"


def _ivr_campaign(stack: Stack, n_agents: int = 0, **settings) -> tuple[int, list[int]]:
    return campaign_with_agents(
        stack, n_agents, prefix="i", name="nhắc nợ", dial_mode="ivr", script="nhac-no-mac-dinh",
        **settings,
    )  # fmt: skip


def _call(
    stack: Stack, keys: list[str], n_agents: int = 0, **behaviour
) -> tuple[CallAttempt, dict, list[int]]:
    """One borrower answers the IVR and presses `keys` (one string per menu); returns the
    ended attempt, the mock's summary of the call, and the agents."""
    with stack.rt.db.begin() as s:
        factories.account(s, phones=((NUMBER, "mobile"), ("+842838000100", "home")))
    behaviour = {"answer": "human", "ring_seconds": 3, "talk_seconds": 600, **behaviour}
    stack.override(NUMBER, digits=keys, **behaviour)
    cid, agents = _ivr_campaign(stack, n_agents)
    assert stack.dial_round() == {cid: 1}
    wait_until(lambda: (a := attempts_of(stack)) and a[0].ended_at, timeout=30, what="the call")
    (attempt,) = attempts_of(stack)
    summary = requests.get(f"{stack.mock_url}/_mock/calls/{attempt.call_sid}", timeout=5).json()
    return attempt, summary, agents


def _said(summary: dict) -> str:
    return " | ".join(h.get("say", "") for h in summary["heard"])


def _disposition(stack: Stack, attempt: CallAttempt) -> Disposition:
    with stack.rt.db.session() as s:
        return s.scalar(select(Disposition).where(Disposition.attempt_id == attempt.id))


def _greeted(stack: Stack, summary: dict, attempt: CallAttempt) -> Account:
    """The greeting names the borrower and states the amount and due date, in Vietnamese."""
    with stack.rt.db.session() as s:
        account = s.get_one(Account, attempt.account_id)
    first = summary["heard"][0]
    assert first["language"] == "vi-VN"
    assert account.customer_name in first["say"] and "5.000.000" in first["say"]
    assert "bấm phím 1" in summary["heard"][1]["say"]  # then the menu
    return account


def test_key_1_then_1_promises_the_overdue_amount_today(stack: Stack):
    attempt, summary, _ = _call(stack, ["1", "1"])
    account = _greeted(stack, summary, attempt)
    assert summary["pressed"] == ["1", "1"]
    assert (attempt.action_code, attempt.ivr_path, attempt.agent_id) == ("PTP", "1-1", None)
    disposition = _disposition(stack, attempt)
    assert (disposition.set_by, disposition.agent_id) == ("ivr", None)
    today = stack.rt.clock.now().astimezone(VN).date()
    with stack.rt.db.session() as s:
        promise = s.scalar(select(Promise))
        entry = s.get_one(CampaignEntry, attempt.entry_id)
        suppressed = s.get_one(Account, account.id).suppressed_until
    assert (promise.kind, promise.amount, promise.due_date) == ("promise", 5_000_000, today)
    assert entry.state == "done" and suppressed == today + timedelta(days=2)
    said = _said(summary)
    assert "thanh toán trong ngày hôm nay" in said  # the promise menu
    assert f"{today:%d/%m/%Y}" in said and "chuyển khoản" in said  # confirmed, how to pay


def test_key_1_then_2_promises_within_three_days(stack: Stack):
    attempt, summary, _ = _call(stack, ["1", "2"])
    assert (attempt.action_code, attempt.ivr_path) == ("PTP", "1-2")
    with stack.rt.db.session() as s:
        promise = s.scalar(select(Promise))
    due = stack.rt.clock.now().astimezone(VN).date() + timedelta(days=3)
    assert promise.due_date == due and f"{due:%d/%m/%Y}" in _said(summary)


def test_key_2_says_already_paid_and_opens_a_paid_claim(stack: Stack):
    attempt, summary, _ = _call(stack, ["2"])
    assert attempt.action_code == "PAID"
    with stack.rt.db.session() as s:
        claim = s.scalar(select(Promise))
        account = s.get_one(Account, attempt.account_id)
    today = stack.rt.clock.now().astimezone(VN).date()
    # The overdue amount "paid by today", checked against the payments by the evaluation.
    assert (claim.kind, claim.amount, claim.due_date, claim.state) == (
        "paid_claim",
        5_000_000,
        today,
        "pending",
    )
    assert account.suppressed_until == today + timedelta(days=3)
    assert "đối soát" in _said(summary)


def test_key_3_reaches_a_ready_agent_of_the_campaign(stack: Stack):
    attempt, summary, (agent_id,) = _call(stack, ["3"], n_agents=1, talk_seconds=60)
    assert (attempt.result, attempt.agent_id, attempt.ivr_path) == ("human", agent_id, "3")
    assert attempt.connected_at is not None and attempt.action_code is None  # the agent's
    assert "chuyển cuộc gọi tới nhân viên" in _said(summary)
    events = stack.mock.events(attempt.call_sid)
    assert any(
        e["type"] == "conference-join" and e["friendly_name"] == f"agent-{agent_id}" for e in events
    )
    state = wait_until(
        lambda: (st := stack.agent_state(agent_id))["state"] == "wrap_up" and st,
        what="the agent to wrap up",
    )
    assert state["call"]["attempt_id"] == attempt.id
    done = stack.api(
        "POST",
        f"/api/attempts/{attempt.id}/disposition",
        201,
        json={"agent_id": agent_id, "code": "RTP"},
    )
    assert done["code"] == "RTP"


def test_key_3_with_no_agent_books_a_callback_for_anyone(stack: Stack):
    attempt, summary, _ = _call(stack, ["3"])
    assert (attempt.action_code, attempt.agent_id) == ("IAR", None)
    with stack.rt.db.session() as s:
        callback = s.scalar(select(Callback))
        entry = s.get_one(CampaignEntry, attempt.entry_id)
    # The IVR campaign lets go of the account: an agent campaign takes the callback.
    assert entry.state == "done"
    now = stack.rt.clock.now()
    assert callback.agent_id is None and callback.campaign_id == attempt.campaign_id
    minutes = stack.rt.settings.ivr_callback_minutes
    assert now < callback.due_at <= now + timedelta(minutes=minutes + 1)
    local = callback.due_at.astimezone(VN)
    assert f"{local:%H:%M}" in _said(summary)  # the borrower hears when


def test_key_9_retires_the_number_for_this_account_only(stack: Stack):
    attempt, summary, _ = _call(stack, ["9"])
    assert attempt.action_code == "NCI"
    with stack.rt.db.session() as s:
        phone = s.get_one(Phone, attempt.phone_id)
        on_dnc = s.get(DncNumber, NUMBER)
        entry = s.get_one(CampaignEntry, attempt.entry_id)
    assert (phone.dialable, phone.reason) == (False, "retired:NCI")
    assert on_dnc is None  # an unverified key press does not bar the number everywhere
    assert entry.state == "queued" and entry.not_before is None  # the home number next
    # After "not me", nothing more about the debt: the apology, then the call ends.
    last = summary["heard"][-1]["say"]
    assert "xin lỗi" in last.lower() and "5.000.000" not in last


def test_no_key_twice_ends_with_the_no_response_code(stack: Stack):
    attempt, summary, _ = _call(stack, ["", ""])
    assert (attempt.action_code, attempt.ivr_path) == ("NRS", "_-_")
    said = [h["say"] for h in summary["heard"]]
    menus = [text for text in said if "bấm phím 1" in text]
    assert len(menus) == 2  # said once more, then not again
    assert any("chưa nhận được lựa chọn" in text for text in said)
    assert "Cảm ơn quý khách đã nghe máy" in said[-1]  # goodbye
    with stack.rt.db.session() as s:
        entry = s.get_one(CampaignEntry, attempt.entry_id)
    assert entry.state == "queued" and entry.not_before is not None  # tried again later


def test_a_wrong_key_twice_ends_with_the_no_response_code(stack: Stack):
    attempt, summary, _ = _call(stack, ["7", "8"])
    assert (attempt.action_code, attempt.ivr_path) == ("NRS", "7-8")
    assert "Lựa chọn chưa đúng" in _said(summary)


def test_a_wrong_key_then_a_right_one_takes_that_branch(stack: Stack):
    attempt, summary, _ = _call(stack, ["5", "2"])
    assert (attempt.action_code, attempt.ivr_path) == ("PAID", "5-2")
    assert "Lựa chọn chưa đúng" in _said(summary)


def test_no_key_at_the_promise_menu_is_said_again_then_no_response(stack: Stack):
    attempt, _, _ = _call(stack, ["1", "", ""])
    assert (attempt.action_code, attempt.ivr_path) == ("NRS", "1-_-_")
    with stack.rt.db.session() as s:
        assert s.scalar(select(Promise)) is None


def test_a_machine_gets_the_voicemail_never_the_menu(stack: Stack):
    with stack.rt.db.begin() as s:
        factories.account(s, phones=((NUMBER, "mobile"),))
    stack.override(NUMBER, answer="machine", ring_seconds=3)
    cid, _ = _ivr_campaign(stack)
    stack.dial_round()
    wait_until(lambda: (a := attempts_of(stack)) and a[0].ended_at, timeout=30, what="the call")
    (attempt,) = attempts_of(stack)
    summary = requests.get(f"{stack.mock_url}/_mock/calls/{attempt.call_sid}", timeout=5).json()
    # Waited for the beep (DetectMessageEnd), then the voicemail: who called, where to call
    # back, nothing about the debt (anyone may play the tape); no menu.
    assert summary["params"]["MachineDetection"] == "DetectMessageEnd"
    (heard,) = summary["heard"]
    assert stack.rt.settings.company_name in heard["say"] and "5.000.000" not in heard["say"]
    assert summary["pressed"] == []
    assert (attempt.result, attempt.action_code) == ("machine", "NKP")
    assert attempt.voicemail_at is not None
    status = stack.api("GET", f"/api/campaigns/{cid}")
    assert status["voicemails_left"] == 1 and status["ivr_codes"] == {}


def test_the_campaigns_own_company_and_number_are_said(stack: Stack):
    with stack.rt.db.begin() as s:
        factories.account(s, phones=((NUMBER, "mobile"),))
    stack.override(NUMBER, answer="human", ring_seconds=3, talk_seconds=600, digits=["2"])
    cid, _ = _ivr_campaign(stack, **factories.CALLER)
    stack.dial_round()
    wait_until(lambda: (a := attempts_of(stack)) and a[0].ended_at, timeout=30, what="the call")
    (attempt,) = attempts_of(stack)
    summary = requests.get(f"{stack.mock_url}/_mock/calls/{attempt.call_sid}", timeout=5).json()
    said = _said(summary)
    assert factories.CALLER["company_name"] in said
    assert factories.CALLER["callback_number"] in said  # in the goodbye
    with stack.rt.db.session() as s:
        assert s.get_one(Campaign, cid).company_name == factories.CALLER["company_name"]
