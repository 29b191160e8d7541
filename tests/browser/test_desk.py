"""The agent desk in a real browser (Debian's chromium through Playwright) against the
whole stack: the web app on waitress, the mock carrier, the pacer's tick and a worker.

One agent's shift: sign-in refused then accepted, on line and ready through the built-in
softphone, a mock call landing with the screen pop, a promise refused (over the balance)
then accepted, back to ready, a callback shown in "my callbacks", another team's account
refused, a fetch without the CSRF token refused. Screenshots at 1366x768 go to
docs/screenshots/ with DIALER_SCREENSHOTS=1 (docs/desk.md shows them)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

pytest.importorskip(
    "playwright.sync_api", reason="browser tests skipped: playwright is not installed"
)
from playwright.sync_api import Page, expect
from rq import SimpleWorker

from dialer.portfolio.models import Account
from tests import factories
from tests.browser.support import screenshot
from tests.factories import PASSWORD
from tests.mock_support import wait_until
from tests.stack_support import VN, Stack

NUMBER, SECOND_NUMBER = "+84901110001", "+84901110002"
# Real time: a person answers the softphone within the carrier's ring timeout.
pytestmark = [pytest.mark.slow, pytest.mark.stack_speed(1)]


def _sign_in(page: Page, stack: Stack, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{stack.web}/login")
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(password)
    page.get_by_role("button", name="Đăng nhập").click()


def _shift(stack: Stack):
    """A B2 campaign with two borrowers who answer and talk until hung up, another team's
    account, and an agent of B2 who signs in."""
    with stack.rt.db.begin() as s:
        agent = factories.user(s, role="agent", team="B2", username="lan")
        factories.account(
            s,
            phones=((NUMBER, "mobile"),),
            customer_name="Nguyễn Thị Hoa",
            national_id="079123456789",
            overdue=1_250_000,
            principal=3_000_000,
            product="Thẻ tín dụng",
        )
        factories.account(
            s,
            phones=((SECOND_NUMBER, "mobile"),),
            customer_name="Lê Văn Nam",
            national_id="001098765432",
        )
        theirs = factories.account(s, phones=(), customer_name="Trần Văn Khác", dpd=200)
        other = factories.campaign(s, team="B3", state="running", name="B3 sáng")
        factories.entry(s, campaign=other, account=theirs)
        ids = agent.agent_id, theirs.account_no
    return _launched(stack, name="B2 nhắc nợ", wrap_up_seconds=3600), *ids


def _launched(stack: Stack, **settings) -> int:
    """A B2 campaign launched, its two borrowers answering and talking until hung up."""
    for number in (NUMBER, SECOND_NUMBER):
        stack.override(number, answer="human", ring_seconds=2, talk_seconds=36000)
    cid = stack.api("POST", "/api/campaigns", 201, json={"team": "B2", **settings})["id"]
    stack.api("POST", f"/api/campaigns/{cid}/launch")
    return cid


def _wait_ready(stack: Stack, agent_id: int) -> None:
    wait_until(lambda: stack.agent_state(agent_id)["state"] == "ready", what="agent ready")


def test_an_agents_shift_at_the_desk(stack: Stack, page: Page):
    cid, agent_id, other_account = _shift(stack)

    _sign_in(page, stack, "lan", "wrong-password")
    expect(page.get_by_role("alert")).to_contain_text("Sai tên đăng nhập hoặc mật khẩu")
    _sign_in(page, stack, "lan")
    expect(page).to_have_url(re.compile(r"/desk$"))
    expect(page.locator("#state-name")).to_have_text("Ngoại tuyến")
    screenshot(page, "desk-idle")

    # On line: the mock rings the built-in softphone, the agent answers, ready.
    page.get_by_label("Chiến dịch").select_option(str(cid))
    page.get_by_role("button", name="Vào ca").click()
    answer = page.get_by_role("button", name="Nghe máy")
    expect(answer).to_be_visible()
    answer.click()
    expect(page.locator("#state-badge")).to_have_attribute("data-state", "ready")
    expect(page.locator("#state-name")).to_have_text("Sẵn sàng")

    # A call lands: the screen pop comes by the event stream, no reload.
    stack.dial_round()
    expect(page.locator("#customer-name")).to_have_text(re.compile("Nguyễn Thị Hoa|Lê Văn Nam"))
    name = page.locator("#customer-name").inner_text()
    customer = page.locator(".customer")
    expect(customer).to_contain_text("CCCD ********")  # the national ID is masked
    expect(customer).not_to_contain_text("079123456789")
    expect(customer).not_to_contain_text("001098765432")
    expect(page.locator(".script")).to_contain_text("Kịch bản cuộc gọi")
    expect(page.locator("#state-badge")).to_have_attribute("data-state", "on_call")
    screenshot(page, "desk-screen-pop")

    # Hang up (Esc), then a promise over the balance: refused next to the amount.
    page.keyboard.press("Escape")
    expect(page.locator("#state-badge")).to_have_attribute("data-state", "wrap_up")
    expect(page.locator("#wrapup-timer")).to_be_visible()
    page.keyboard.press("1")  # PTP, the first code
    with stack.rt.db.session() as s:
        outstanding = s.query(Account).filter_by(customer_name=name).one().principal_outstanding
    amount = page.locator('input[name="promise_amount"]')
    expect(amount).to_be_visible()
    amount.fill(str(outstanding + 1_000_000))
    page.get_by_role("button", name="Lưu kết quả").click()
    error = page.locator('.field-error[data-for="promise_amount"]')
    expect(error).to_contain_text("vượt quá dư nợ")
    expect(error).to_contain_text("₫")
    screenshot(page, "desk-disposition-error")

    # Corrected: saved, the agent is ready again.
    amount.fill("1000000")
    page.get_by_role("button", name="Lưu kết quả").click()
    expect(page.get_by_role("status")).to_contain_text("Đã lưu")
    expect(page.locator("#state-badge")).to_have_attribute("data-state", "ready")
    _wait_ready(stack, agent_id)

    # The second borrower: a callback tomorrow at 10:00, shown in "my callbacks".
    stack.dial_round()
    expect(page.locator("#customer-name")).not_to_have_text(name)
    second = page.locator("#customer-name").inner_text()
    page.locator('label.code:has(input[value="CAB"])').click()
    tomorrow = (datetime.now(VN) + timedelta(days=1)).date().isoformat()
    page.locator('select[name="callback_day"]').select_option(tomorrow)
    page.locator('select[name="callback_time"]').select_option("10:00")
    page.locator('textarea[name="note"]').fill("Khách hẹn gọi lại sáng mai")
    page.get_by_role("button", name="Lưu kết quả").click()
    expect(page.get_by_role("status")).to_contain_text("Đã lưu")
    expect(page.locator("#callbacks-upcoming")).to_contain_text(second)

    # Another team's account: 403, in Vietnamese.
    response = page.goto(f"{stack.web}/desk/accounts/{other_account}")
    assert response is not None and response.status == 403
    expect(page.get_by_role("alert")).to_contain_text("thuộc nhóm hoặc vai trò khác")

    # A state-changing fetch without the page's CSRF token is refused.
    page.goto(f"{stack.web}/desk")
    status = page.evaluate(
        """async (id) => (await fetch(`/api/agents/${id}/pause`, {method: "POST",
             headers: {"Content-Type": "application/json"}, body: '{"code": "break"}'})).status""",
        agent_id,
    )
    assert status == 400
    assert stack.agent_state(agent_id)["state"] in ("ready", "on_call", "wrap_up")

    # Signing out takes the agent off the dialer: no call can reach an empty chair.
    page.get_by_role("button", name="Đăng xuất").click()
    expect(page).to_have_url(re.compile(r"/login"))
    wait_until(lambda: stack.agent_state(agent_id)["state"] == "offline", what="agent offline")


def test_preview_mode_next_account_skip_with_a_reason_then_dial(stack: Stack, page: Page):
    with stack.rt.db.begin() as s:
        factories.user(s, role="agent", team="B2", username="tam")
        for number, name in ((NUMBER, "Hoàng Văn Một"), (SECOND_NUMBER, "Hoàng Thị Hai")):
            factories.account(s, phones=((number, "mobile"),), customer_name=name)
    _launched(stack, name="B2 xem trước", dial_mode="preview")
    _sign_in(page, stack, "tam")
    page.get_by_role("button", name="Vào ca").click()
    page.get_by_role("button", name="Nghe máy").click()
    expect(page.locator("#state-badge")).to_have_attribute("data-state", "ready")

    page.get_by_role("button", name="Hồ sơ tiếp theo").click()
    first = page.locator(".preview h1")
    expect(first).to_contain_text("Hoàng")
    skipped = first.inner_text()
    page.get_by_role("button", name="Bỏ qua").click()  # no reason chosen: refused
    expect(page.locator("#preview-error")).to_contain_text("lý do")
    page.get_by_label("Lý do bỏ qua").select_option("wrong_time")
    page.get_by_role("button", name="Bỏ qua").click()
    expect(page.locator("#idle")).to_be_visible()

    page.get_by_role("button", name="Hồ sơ tiếp theo").click()
    expect(page.locator(".preview h1")).to_be_visible()
    dialed = page.locator(".preview h1").inner_text()
    page.get_by_role("button", name="Gọi").click()
    SimpleWorker([stack.rt.queue], connection=stack.rt.redis).work(burst=True)
    expect(page.locator("#customer-name")).to_be_visible()
    assert page.locator("#customer-name").inner_text() in dialed  # the account previewed
    assert skipped  # (the skipped account went back to the queue: dialed may be it again)


def test_sign_in_is_rate_limited_after_repeated_failures(stack: Stack, page: Page):
    with stack.rt.db.begin() as s:
        factories.user(s, role="agent", team="B2", username="binh")
    for _ in range(5):
        _sign_in(page, stack, "binh", "wrong-password")
        expect(page.get_by_role("alert")).to_contain_text("Sai tên đăng nhập hoặc mật khẩu")
    _sign_in(page, stack, "binh")  # the right password, too late
    expect(page.get_by_role("alert")).to_contain_text("Đăng nhập sai quá nhiều lần")
    expect(page).to_have_url(re.compile(r"/login"))
