"""With Twilio (no mock carrier), the desk's softphone is the vendored Twilio Voice JS SDK:
it takes the agent's access token from GET /api/agents/<me>/token and registers with
Twilio's signalling. Nothing reaches Twilio here: the browser's WebSocket to it is held by
the test (Playwright's route_web_socket), which reads what the SDK sends."""

from __future__ import annotations

import base64
import json
import re
import struct
import threading

import pytest

pytest.importorskip(
    "playwright.sync_api", reason="browser tests skipped: playwright is not installed"
)
from playwright.sync_api import Page, expect

from dialer.app import create_app
from dialer.outcomes.catalogue import seed_default_codes
from dialer.runtime import Runtime
from dialer.telephony.mock.serving import ServerThread
from tests import factories
from tests.factories import PASSWORD

pytestmark = pytest.mark.slow


def _silence() -> bytes:
    """A valid WAV of 10 ms of silence (8 kHz, 16 bit, mono)."""
    samples = b"\x00\x00" * 80
    header = b"RIFF" + struct.pack("<I", 36 + len(samples)) + b"WAVEfmt "
    header += struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16)
    return header + b"data" + struct.pack("<I", len(samples)) + samples


def _twilio_http(route) -> None:
    if re.search(r"\.(mp3|wav|ogg)(\?|$)", route.request.url):
        route.fulfill(body=_silence(), content_type="audio/wav")
    else:
        route.fulfill(body="{}", content_type="application/json")


def _claims(jwt: str) -> dict:
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_the_twilio_softphone_registers_with_the_agents_token(process_env, db, page: Page):
    settings = process_env.with_overrides(
        twilio_api_base=None,  # the real carrier: the desk uses Twilio's SDK
        twilio_account_sid="AC" + "1" * 32,
        twilio_api_key="SK" + "2" * 32,
        twilio_api_secret="the-secret-of-the-api-key-for-tests",
        twilio_twiml_app_sid="AP" + "3" * 32,
    )
    with db.begin() as s:
        seed_default_codes(s)
        factories.user(s, role="agent", team="B2", username="thu")
    server = ServerThread(create_app(runtime=Runtime(settings)), port=0, name="web")
    web = server.start()
    sent: list[str] = []
    opened = threading.Event()

    def twilio_signalling(ws) -> None:
        opened.set()
        ws.on_message(lambda message: sent.append(message))

    page.route_web_socket(re.compile(r"wss://.*twilio\.com/.*"), twilio_signalling)
    # The SDK's own requests to Twilio (its ringtones, its insights) have nowhere to go
    # here: a short silence for the sounds, an empty answer for the rest.
    page.route(re.compile(r"https://.*twilio(cdn)?\.com/.*"), _twilio_http)
    try:
        page.goto(f"{web}/login")
        page.get_by_label("Tên đăng nhập").fill("thu")
        page.get_by_label("Mật khẩu").fill(PASSWORD)
        page.get_by_role("button", name="Đăng nhập").click()
        expect(page.locator("#softphone")).to_have_attribute("data-kind", "twilio")
        page.wait_for_function("() => typeof window.Twilio?.Device === 'function'")
        # Playwright hands the socket's messages over while it runs a call of its own, so
        # the wait is in its steps (a condition, bounded), not a sleep.
        for _ in range(150):
            if sent:
                break
            page.wait_for_timeout(100)
        assert opened.is_set(), "the SDK opened no WebSocket to Twilio"
        assert sent, "the SDK sent nothing to Twilio's signalling"
        listen = json.loads(sent[0])
        assert listen["type"] == "listen"
        claims = _claims(listen["payload"]["token"])
        assert claims["grants"]["identity"] == "thu"
        assert claims["grants"]["voice"]["incoming"]["allow"] is True
        assert claims["iss"] == "SK" + "2" * 32
    finally:
        server.stop()
