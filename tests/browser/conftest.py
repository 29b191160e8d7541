"""Fixtures for the browser tests: a headless Chromium driven by Playwright's sync API.

`browser` (session): one Chromium for the whole run. `page` (function): a fresh context
(1366x768, vi-VN, Asia/Ho_Chi_Minh) per test, 15 s default timeout; tests wait on conditions
with playwright.sync_api.expect, never with sleeps.

Without playwright or without the Chromium executable every test that uses these fixtures is
skipped, with the reason in the skip and once more at the end of the run's output.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.browser import support

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

DEFAULT_TIMEOUT_MS = 15_000
VIEWPORT = {"width": 1366, "height": 768}

_skipped: list[str] = []


@pytest.fixture(scope="session", autouse=True)
def _screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Where support.screenshot writes unless DIALER_SCREENSHOTS=1: under pytest's basetemp.
    support._fallback_dir = tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    reason = support.unavailable_reason()
    if reason is not None:
        _skipped.append(reason)
        pytest.skip(reason)
    from playwright.sync_api import expect, sync_playwright

    # expect() has its own timeout (5 s by default): the same 15 s as the pages'.
    expect.set_options(timeout=DEFAULT_TIMEOUT_MS)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=support.chromium_path(),
            headless=True,
            args=support.LAUNCH_ARGS,
            # Chromium takes its formats (a date input's dd/mm/yyyy) from the language.
            env={**os.environ, "LANGUAGE": "vi", "LANG": "vi_VN.UTF-8"},
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(
        viewport=VIEWPORT,
        locale="vi-VN",
        timezone_id="Asia/Ho_Chi_Minh",
    )
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on(
            "console",
            lambda msg: errors.append(msg.text) if msg.type == "error" else None,
        )
        yield page
        # A script error on a page is a defect even when the test's checks passed.
        # (A refusal the test asks for, 400/401/403/422/429, shows as a failed resource load.)
        expected = re.compile(r"status of (400|401|403|422|429)")
        unexpected = [e for e in errors if not expected.search(e)]
        assert not unexpected, f"errors on the page: {unexpected}"
    finally:
        context.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # The session fixture's skip is cached, so the reason is recorded once however many
    # tests were skipped for it.
    if _skipped:
        terminalreporter.write_sep("-", "browser tests")
        terminalreporter.write_line(_skipped[0])
