"""The browser fixtures work: a local page is opened, clicked and read back, and the vendored
Twilio Voice SDK bundle loads in the browser and defines Twilio.Device."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.browser.support import REPO_ROOT, screenshot

TWILIO_JS = REPO_ROOT / "dialer" / "web" / "static" / "vendor" / "twilio-voice" / "twilio.min.js"

PAGES = {
    "/": (
        '<!doctype html><html><head><link rel="icon" href="data:,"></head><body>'
        '<button id="b" onclick="this.textContent=\'Đã bấm\'">'
        "Bấm</button></body></html>"
    ),
    "/twilio.html": (
        '<!doctype html><html><head><link rel="icon" href="data:,">'
        '<script src="/twilio.min.js"></script></head>'
        '<body><p id="r"></p><script>document.getElementById("r").textContent = '
        '(typeof Twilio === "object" && typeof Twilio.Device === "function") ? "ok" : "missing";'
        "</script></body></html>"
    ),
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/twilio.min.js":
            body, ctype = TWILIO_JS.read_bytes(), "text/javascript"
        elif self.path in PAGES:
            body, ctype = PAGES[self.path].encode(), "text/html; charset=utf-8"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_click_changes_the_text(page, site, monkeypatch):
    from playwright.sync_api import expect  # here: without playwright the fixture skips

    # This picture is not one for the docs, even on a DIALER_SCREENSHOTS=1 run.
    monkeypatch.delenv("DIALER_SCREENSHOTS", raising=False)

    page.goto(site + "/")
    button = page.locator("#b")
    expect(button).to_have_text("Bấm")
    button.click()
    expect(button).to_have_text("Đã bấm")
    assert page.evaluate("navigator.language") == "vi-VN"
    # Chromium's ICU may report the zone by its older alias, Asia/Saigon: check UTC+7 too.
    zone = page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")
    assert zone in ("Asia/Ho_Chi_Minh", "Asia/Saigon")
    assert page.evaluate("new Date(Date.UTC(2025, 0, 1)).getTimezoneOffset()") == -420
    assert page.viewport_size == {"width": 1366, "height": 768}
    path = screenshot(page, "browser-smoke")
    assert path.name == "browser-smoke.png" and "docs" not in path.relative_to(path.anchor).parts
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_vendored_twilio_sdk_defines_device(page, site):
    from playwright.sync_api import expect

    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(site + "/twilio.html")
    expect(page.locator("#r")).to_have_text("ok")
    assert errors == []
