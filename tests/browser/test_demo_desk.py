"""`dialer demo` with a person at the desk: the demo makes their sign-in, the bots take the
other calls, and the person takes one in the browser (real time, as at a terminal); the
demo's administrator watches the floor on the wallboard meanwhile."""

from __future__ import annotations

import queue
import re
import threading

import pytest

pytest.importorskip(
    "playwright.sync_api", reason="browser tests skipped: playwright is not installed"
)
from playwright.sync_api import Page, expect

from dialer.config import load_settings
from dialer.demo.runner import DemoOptions, run_demo
from tests.browser.support import screenshot

pytestmark = pytest.mark.slow
CALL_WAIT_MS = 180_000  # real time: a borrower who answers, while a bot takes calls too


def test_a_person_takes_one_of_the_demos_calls(page: Page, tmp_path):
    signed = queue.Queue()
    until = threading.Event()
    options = DemoOptions(
        accounts=60,
        agents=3,
        seed=5,
        minutes=10**6,
        speed=1.0,
        as_json=True,
        person=True,
        until=until,
        on_desk=signed.put,
    )
    summary: dict = {}
    failure: list[BaseException] = []

    def demo() -> None:
        try:
            summary.update(run_demo(options, load_settings({"DIALER_HOME": str(tmp_path)})))
        except BaseException as exc:  # reported by the test below
            failure.append(exc)
            signed.put(None)

    runner = threading.Thread(target=demo, daemon=True)
    runner.start()
    try:
        person = signed.get(timeout=180)
        assert person is not None, failure
        page.goto(person["desk"])
        page.get_by_label("Tên đăng nhập").fill(person["username"])
        page.get_by_label("Mật khẩu").fill(person["password"])
        page.get_by_role("button", name="Đăng nhập").click()
        page.get_by_role("button", name="Vào ca").click()
        page.get_by_role("button", name="Nghe máy").click()
        expect(page.locator("#state-badge")).to_have_attribute("data-state", "ready")
        expect(page.locator("#customer-name")).to_be_visible(timeout=CALL_WAIT_MS)
        page.keyboard.press("3")  # RTP: refused to pay, no field needed
        page.get_by_role("button", name="Lưu kết quả").click()
        expect(page.get_by_role("status")).to_contain_text("Đã lưu")
        expect(page.locator("#state-badge")).to_have_attribute(
            "data-state", re.compile("ready|on_call")
        )

        # The administrator's wallboard, on a screen of its own, while the demo runs.
        board = page.context.browser.new_page(
            viewport={"width": 1920, "height": 1080}, timezone_id="Asia/Ho_Chi_Minh"
        )
        board.goto(person["desk"].replace("/desk", "/login"))
        board.get_by_label("Tên đăng nhập").fill(person["admin_username"])
        board.get_by_label("Mật khẩu").fill(person["admin_password"])
        board.get_by_role("button", name="Đăng nhập").click()
        board.goto(person["desk"].replace("/desk", "/console/live"))
        expect(board.locator(".tile")).to_have_count(4)  # three bots and the person
        expect(board.locator("#campaigns tbody tr")).to_contain_text("Demo")
        expect(board.locator(".tile.state-on_call")).not_to_have_count(0, timeout=CALL_WAIT_MS)
        screenshot(board, "wallboard-demo")
        board.close()
    finally:
        until.set()
        runner.join(timeout=300)
    assert not failure, failure
    assert summary["connected_to_agent"] >= 1, summary
    assert summary["action_codes"].get("RTP", 0) >= 1  # the person's code, through the desk
