"""The desk's softphone on the mock carrier: the app answers and hangs up the agent's leg
through the mock's control API (/_mock/endpoints/<identity>), as the agent's browser would
with the Twilio Voice SDK on the real carrier. Used only when TWILIO_API_BASE names a mock."""

from __future__ import annotations

import time
from typing import Any

import requests

from dialer.config import Settings
from dialer.telephony.carrier import CarrierError

ACTIONS = ("register", "answer", "reject", "hangup")
RING_WAIT_SECONDS = 5.0


def kind(settings: Settings) -> str:
    """'twilio' (the browser's Voice SDK) or 'mock' (the desk's built-in softphone)."""
    return "mock" if settings.twilio_api_base else "twilio"


def identity_of(endpoint: str) -> str | None:
    return endpoint[len("client:") :] if endpoint.startswith("client:") else None


def command(settings: Settings, *, endpoint: str, action: str) -> dict[str, Any]:
    """register: the mock rings this softphone and waits (no auto answer); answer, reject,
    hangup: what the agent pressed."""
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
    identity = identity_of(endpoint)
    if kind(settings) != "mock" or identity is None:
        raise CarrierError("the built-in softphone works only with the mock carrier")
    body: dict[str, Any] = {"auto_answer": False} if action == "register" else {action: True}
    url = f"{settings.twilio_api_base.rstrip('/')}/_mock/endpoints/{identity}"
    # The desk shows Answer as soon as the agent asks for their leg; the carrier may take
    # a moment to make it ring. A press before the ring waits for it (as a headset's
    # answer key held down would), a few seconds at most.
    deadline = time.monotonic() + (RING_WAIT_SECONDS if action in ("answer", "reject") else 0)
    while True:
        out = _post(url, body)
        if out.get("affected") or time.monotonic() >= deadline:
            return out
        time.sleep(0.1)


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    try:
        response = requests.post(url, json=body, timeout=5)
    except requests.RequestException as exc:
        raise CarrierError(f"mock carrier unreachable: {exc.__class__.__name__}") from exc
    if response.status_code >= 400:
        raise CarrierError(f"mock carrier refused: {response.text[:200]}")
    return response.json()
