"""Redis or the database gone: every request answers 503 with a retry hint (JSON for the
API and the webhooks, a page for a person) and the log says so once per outage, not with a
traceback per request. Real clients pointed at a port nobody listens on."""

from __future__ import annotations

import dataclasses
import logging
import socket

import pytest

from dialer import http
from dialer.app import create_app
from dialer.runtime import Runtime
from tests import factories
from tests.web_support import sign_in

AUTH = {"Authorization": "Bearer test-api-token"}


def _closed_port() -> int:
    """A local port with nothing listening (bound, then let go)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def _fresh_log_throttle():
    http._last_logged.clear()


def test_redis_gone_is_a_503_with_retry_after_and_one_log_line(settings, db, caplog):
    with db.begin() as s:
        agent_id = factories.user(s, role="agent", team="B2", username="lan").agent_id
    gone = dataclasses.replace(settings, redis_url=f"redis://127.0.0.1:{_closed_port()}/0")
    client = create_app(runtime=Runtime(gone)).test_client()
    with caplog.at_level(logging.WARNING, logger="dialer.http"):
        for _ in range(3):
            answer = client.get(f"/api/agents/{agent_id}", headers=AUTH)
            assert answer.status_code == 503
            assert answer.headers["Retry-After"] == str(http.RETRY_AFTER_SECONDS)
            assert "Redis is unavailable" in answer.get_json()["error"]
        # The sign-in page itself needs neither; signing in needs the session store.
        assert client.get("/login").status_code == 200
        page = sign_in(client, "lan")
    assert page.status_code == 503 and page.headers["Retry-After"]
    html = page.get_data(as_text=True)
    assert "Try again in a few seconds" in html and "Traceback" not in html
    lines = [r for r in caplog.records if r.name == "dialer.http"]
    assert len(lines) == 1 and "Redis unavailable" in lines[0].getMessage()
    assert not any(r.exc_info for r in caplog.records)


def test_a_database_that_refuses_connections_is_a_503(settings, redis_client, caplog):
    refused = dataclasses.replace(
        settings, database_url=f"postgresql://postgres@127.0.0.1:{_closed_port()}/test"
    )
    client = create_app(runtime=Runtime(refused)).test_client()
    with caplog.at_level(logging.WARNING, logger="dialer.http"):
        answer = client.get("/api/campaigns/1", headers=AUTH)
        health = client.get("/healthz")
    assert answer.status_code == 503 and answer.headers["Retry-After"]
    assert "database is unavailable" in answer.get_json()["error"]
    assert health.status_code == 503
    assert not any(r.exc_info for r in caplog.records)


def test_a_signed_in_page_with_redis_gone_still_answers(settings, db, redis_client):
    """The session store is the thing that is down: the page must not need it to render."""
    with db.begin() as s:
        factories.user(s, role="lead", team="B2", username="mai")
    app = create_app(runtime=Runtime(settings))
    client = app.test_client()
    sign_in(client, "mai")
    gone = dataclasses.replace(settings, redis_url=f"redis://127.0.0.1:{_closed_port()}/0")
    down = create_app(runtime=Runtime(gone)).test_client()
    for cookie in client._cookies.values():  # the same browser, the other server
        down.set_cookie(cookie.key, cookie.value)
    page = down.get("/console/live")
    assert page.status_code == 503
    assert "Hãy thử lại sau vài giây" in page.get_data(as_text=True)
