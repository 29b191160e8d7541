"""The live wallboard in Chromium: a lead watches the floor change (an agent on line, a call
connecting, a promise recorded) with no reload; an agent is refused the console."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

pytest.importorskip(
    "playwright.sync_api", reason="browser tests skipped: playwright is not installed"
)
from playwright.sync_api import Page, expect

from tests import factories
from tests.browser.support import screenshot
from tests.browser.test_desk import NUMBER, _sign_in
from tests.mock_support import wait_until
from tests.stack_support import Stack, attempts_of

pytestmark = pytest.mark.slow


def test_the_wallboard_follows_a_call_and_a_promise(stack: Stack, page: Page):
    with stack.rt.db.begin() as s:
        factories.user(s, role="lead", team="B2", username="mai")
        agents = [factories.user(s, role="agent", team="B2").agent_id for _ in range(3)]
        factories.user(s, role="agent", team="B2", username="ngoc")
        factories.account(s, phones=((NUMBER, "mobile"),), customer_name="Đặng Văn Hùng")
    stack.override(NUMBER, answer="human", ring_seconds=2, talk_seconds=36000)
    cid = stack.api("POST", "/api/campaigns", 201, json={"name": "B2 sáng", "team": "B2"})["id"]
    stack.api("POST", f"/api/campaigns/{cid}/launch")

    page.set_viewport_size({"width": 1920, "height": 1080})
    _sign_in(page, stack, "mai")
    page.goto(f"{stack.web}/console/live")
    expect(page.locator("#no-agents")).to_be_visible()

    for agent_id in agents:  # the floor logs in (the bots' way: the API with a token)
        stack.api("POST", f"/api/agents/{agent_id}/login", json={"campaign_id": cid})
    for agent_id in agents:
        wait_until(lambda a=agent_id: stack.agent_state(a)["state"] == "ready", what="ready")
    expect(page.locator("#k-ready")).to_have_text("3")
    expect(page.locator(".tile")).to_have_count(3)

    stack.dial_round()
    expect(page.locator("#k-connected")).to_have_text("1")
    expect(page.locator(".tile.state-on_call")).to_have_count(1)
    expect(page.locator("#campaigns tbody tr")).to_contain_text("B2 sáng")
    screenshot(page, "wallboard")

    (attempt,) = attempts_of(stack)
    stack.rt.carrier.hangup(attempt.call_sid)
    stack.api(
        "POST",
        f"/api/attempts/{attempt.id}/disposition",
        201,
        json={
            "agent_id": attempt.agent_id,
            "code": "PTP",
            "promise_amount": 2_000_000,
            "promise_date": (date.today() + timedelta(days=2)).isoformat(),
        },
    )
    expect(page.locator("#k-promises")).to_have_text("1")
    expect(page.locator("#k-promised")).to_contain_text("2.000.000")
    expect(page.locator("#k-connected")).to_have_text("0")
    expect(page.locator("#k-ready")).to_have_text("3")

    page.goto(f"{stack.web}/console/reports/agents")
    screenshot(page, "console-agent-kpis")

    # An agent is refused the console.
    page.get_by_role("button", name="Đăng xuất").click()
    _sign_in(page, stack, "ngoc")
    response = page.goto(f"{stack.web}/console/live")
    assert response is not None and response.status == 403


def test_a_floor_of_40_agents_fits_one_1920x1080_screen(stack: Stack, page: Page):
    """The collections centre's 40 agents on line, some paused: every tile and panel on one
    screen, nothing to scroll."""
    with stack.rt.db.begin() as s:
        factories.user(s, role="lead", team="B2", username="mai")
        agents = [factories.user(s, role="agent", team="B2").agent_id for _ in range(40)]
    cid = stack.api("POST", "/api/campaigns", 201, json={"name": "B2 cả ngày", "team": "B2"})["id"]
    for agent_id in agents:
        stack.api("POST", f"/api/agents/{agent_id}/login", json={"campaign_id": cid})
    for agent_id in agents[:6]:
        stack.api("POST", f"/api/agents/{agent_id}/pause", json={"code": "break"})
    page.set_viewport_size({"width": 1920, "height": 1080})
    _sign_in(page, stack, "mai")
    page.goto(f"{stack.web}/console/live")
    expect(page.locator(".tile")).to_have_count(40)
    expect(page.locator(".tile.state-paused")).to_have_count(6)
    overflow = page.evaluate(
        "() => [document.documentElement.scrollHeight - innerHeight,"
        " document.documentElement.scrollWidth - innerWidth]"
    )
    assert overflow[0] <= 0 and overflow[1] <= 0, overflow
    screenshot(page, "wallboard-40-agents")
