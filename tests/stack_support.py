"""The whole stack in one test process, for end-to-end tests: the web app served by
waitress on a free port (with the same server settings as `dialer web`), the mock carrier
in-process, the pacer's tick and an RQ SimpleWorker in burst mode placing the calls exactly
as the processes do, real SQL and Redis. The mock carrier's witness log says what really
happened on the line.

    def test_something(stack: Stack): ...   # the `stack` fixture (a pytest plugin)
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests
from rq import SimpleWorker
from sqlalchemy import select

from dialer.agents.pauses import seed_default_pause_codes
from dialer.app import create_app
from dialer.campaigns import pacer
from dialer.campaigns.models import CallAttempt
from dialer.clock import Clock
from dialer.config import Settings
from dialer.demo.agents import read_events
from dialer.outcomes.catalogue import seed_default_codes
from dialer.redis import redis_url
from dialer.runtime import Runtime, get_runtime, reset_runtime
from dialer.telephony.mock import MockCarrier
from dialer.telephony.mock.serving import ServerThread
from dialer.webserver import server_options
from tests import factories
from tests.mock_support import wait_until

SPEED = 50.0
VN = ZoneInfo("Asia/Ho_Chi_Minh")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Stack:
    rt: Runtime
    web: str
    mock: MockCarrier
    mock_url: str
    http: requests.Session
    server: ServerThread
    port: int

    def api(self, method: str, path: str, expect: int = 200, **kw) -> dict:
        resp = self.http.request(method, f"{self.web}{path}", timeout=10, **kw)
        assert resp.status_code == expect, resp.text
        return resp.json()

    def callees(self, behaviours: dict[str, dict]) -> None:
        """One account per number (its borrower's mobile), each answering as scripted."""
        with self.rt.db.begin() as s:
            for number in behaviours:
                factories.account(s, phones=((number, "mobile"),))
        for number, behaviour in behaviours.items():
            self.override(number, **behaviour)

    def override(self, number: str, **behaviour) -> None:
        resp = requests.post(f"{self.mock_url}/_mock/numbers/{number}", json=behaviour, timeout=5)
        assert resp.status_code in (200, 201), resp.text

    def dial_round(self) -> dict[int, int]:
        """One pacer tick, then a worker drains the jobs it queued."""
        started = pacer.tick(self.rt)
        SimpleWorker(self.rt.queues, connection=self.rt.redis).work(burst=True)
        return started

    def agent_state(self, agent_id: int) -> dict:
        return self.api("GET", f"/api/agents/{agent_id}")

    def stop_web(self) -> None:
        """Take the app's web server down: the carrier's webhooks are refused (11205)."""
        self.server.stop()

    def start_web(self) -> None:
        """Bring the app back on the same address, as a restarted process would."""
        self.server = ServerThread(
            create_app(runtime=self.rt),
            port=self.port,
            name="web",
            **server_options(self.rt.settings),
        )
        self.server.start()


@pytest.fixture
def stack(request, settings: Settings, db, redis_client, monkeypatch) -> Iterator[Stack]:
    """The stack at SPEED; `@pytest.mark.stack_speed(1)` for a test where a person (a
    browser) acts within the carrier's timeouts."""
    with db.begin() as s:
        seed_default_codes(s)
        seed_default_pause_codes(s)
    marker = request.node.get_closest_marker("stack_speed")
    speed = float(marker.args[0]) if marker else SPEED
    # 10:00 in Vietnam today: inside every calling window.
    start = datetime.combine(datetime.now(VN).date(), datetime.min.time(), VN) + timedelta(hours=10)
    clock = Clock.started_now(speed, sim_start=start)
    mock = MockCarrier(clock=clock, seed=11)
    mock_url = mock.start_in_thread()
    port = free_port()
    env = {
        "DIALER_HOME": str(settings.home),
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": redis_url(settings),
        "TWILIO_API_BASE": mock_url,
        "DIALER_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "DIALER_WEB_PORT": str(port),
        "DIALER_API_TOKEN": "test-api-token",
        # Calls per second are not what these tests are about: a round dials all it may.
        "DIALER_CPS": "100",
        # A desk that closed its stream is noticed at the next keepalive: soon, in tests.
        "DIALER_EVENT_KEEPALIVE_SECONDS": "0.5",
        **clock.env(),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_runtime()  # RQ jobs build their runtime from this environment, like a worker
    rt = get_runtime()
    server = ServerThread(
        create_app(runtime=rt), port=port, name="web", **server_options(rt.settings)
    )
    web = server.start()
    http = requests.Session()
    http.headers["Authorization"] = "Bearer test-api-token"
    stack = Stack(rt, web, mock, mock_url, http, server, port)
    try:
        yield stack
    finally:
        mock.stop()
        stack.server.stop()
        reset_runtime()


def campaign_with_agents(
    stack: Stack, n_agents: int, *, prefix: str = "a", name: str = "e2e", **settings
) -> tuple[int, list[int]]:
    """A campaign with these settings, launched, and n agents logged in to it and ready
    (usernames prefix0, prefix1...)."""
    cid = stack.api("POST", "/api/campaigns", 201, json={"name": name, **settings})["id"]
    agents = [
        stack.api("POST", "/api/agents", 201, json={"username": f"{prefix}{i}", "name": f"NV {i}"})[
            "id"
        ]
        for i in range(n_agents)
    ]
    stack.api("POST", f"/api/campaigns/{cid}/launch")
    for agent_id in agents:
        stack.api("POST", f"/api/agents/{agent_id}/login", json={"campaign_id": cid})
    for agent_id in agents:
        wait_until(lambda a=agent_id: stack.agent_state(a)["state"] == "ready", what="agent ready")
    return cid, agents


def attempts_of(stack: Stack) -> list[CallAttempt]:
    with stack.rt.db.session() as s:
        return list(s.scalars(select(CallAttempt).order_by(CallAttempt.id)))


class EventReader(threading.Thread):
    """Reads a server-sent event stream in the background, as a desk does: every event as
    (id, event, data), in order; `wait_for` waits on a condition over them."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(daemon=True, name="sse-reader")
        self.url, self.headers = url, {"Authorization": "Bearer test-api-token", **(headers or {})}
        self.events: list[tuple[str | None, str, dict]] = []
        self.status: int | None = None
        self._cond = threading.Condition()
        self._response: requests.Response | None = None
        self._stop = threading.Event()

    def run(self) -> None:
        http = requests.Session()
        http.headers.update(self.headers)
        last = self.headers.get("Last-Event-ID")
        http.headers.pop("Last-Event-ID", None)
        with self._cond:
            self.status = 0
        try:
            for item in read_events(http, self.url, last, self._stop, opened=self._opened):
                with self._cond:
                    self.events.append(item)
                    self._cond.notify_all()
        except (requests.RequestException, AttributeError, ValueError):
            return  # closed by close()

    def _opened(self, resp: requests.Response) -> None:
        self._response = resp
        with self._cond:
            self.status = resp.status_code
            self._cond.notify_all()

    def wait_for(self, predicate, timeout: float = 15.0, what: str = "events"):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = predicate(list(self.events))
                if found:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out waiting for {what}: {self.events}")
                self._cond.wait(min(remaining, 0.2))

    def close(self) -> None:
        self._stop.set()
        if self._response is not None:
            self._response.close()


def open_events(url: str, headers: dict[str, str] | None = None) -> EventReader:
    reader = EventReader(url, headers)
    reader.start()
    reader.wait_for(lambda _: reader.status, what="the stream to open")
    return reader
