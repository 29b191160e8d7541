"""Simulated agents for the demo: they use the agent desk's HTTP API like a person would.

Each bot follows its agent's event stream (GET /api/agents/<id>/events, server-sent
events): the screen pop tells it whose call it takes, and when the call ends (wrap-up) it
waits the wrap-up time, then records an action code through
POST /api/attempts/<id>/disposition. Nothing here writes to the database directly.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import requests

from dialer.clock import Clock

log = logging.getLogger(__name__)

# How the demo's agents dispose of connected calls (weights).
CODE_WEIGHTS = {
    "PTP": 35, "RTP": 14, "CAB": 14, "NCP": 7, "LEM": 10, "HUP": 5, "DIF": 5, "PAID": 5,
    "IGN": 3, "GSF": 2,
}  # fmt: skip
NOTES = {
    "DIF": "Mất việc từ tháng trước, xin giãn nợ",
    "IGN": "Khách hàng khiếu nại số tiền phạt trả chậm",
    "GSF": "Khách hàng nói không vay khoản này, nghi giả mạo giấy tờ",
}
WRAP_UP_SECONDS = 20


@dataclass
class BotStats:
    dispositions: dict[str, int] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)


class AgentBot(threading.Thread):
    def __init__(
        self,
        base_url: str,
        token: str,
        agent_id: int,
        clock: Clock,
        tz: str,
        seed: int,
        stop: threading.Event,
    ) -> None:
        super().__init__(name=f"agent-bot-{agent_id}", daemon=True)
        self.base, self.agent_id, self.clock, self.tz = base_url, agent_id, clock, tz
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"
        self.rng = random.Random(f"{seed}:agent:{agent_id}")
        self.stop_event = stop
        self.stats = BotStats()
        self.calls: dict[int, dict] = {}  # attempt id -> its screen pop
        self.events = 0

    def run(self) -> None:
        last_event_id: str | None = None
        while not self.stop_event.is_set():
            try:
                for event_id, event, data in self._events(last_event_id):
                    last_event_id = event_id or last_event_id
                    if self.stop_event.is_set():
                        return
                    self._on_event(event, data)
            except (requests.RequestException, ValueError) as exc:
                if not self.stop_event.is_set():
                    log.warning("agent bot %s: event stream: %s", self.agent_id, exc)
                    self.stop_event.wait(0.5)

    def _events(self, last_event_id: str | None) -> Iterator[tuple[str | None, str, dict]]:
        url = f"{self.base}/api/agents/{self.agent_id}/events"
        return read_events(self.http, url, last_event_id, self.stop_event)

    def _on_event(self, event: str, data: dict) -> None:
        self.events += 1
        if event == "screen-pop" and data.get("attempt_id"):
            self.calls[data["attempt_id"]] = data
        elif data.get("state") == "wrap_up" and data.get("attempt_id"):
            call = self.calls.pop(data["attempt_id"], None)
            if call is not None:
                self.clock.sleep(WRAP_UP_SECONDS)
                self._dispose(call)

    def _dispose(self, call: dict) -> None:
        code = self.rng.choices(list(CODE_WEIGHTS), weights=list(CODE_WEIGHTS.values()))[0]
        body = self._fields(code, call)
        resp = self.http.post(
            f"{self.base}/api/attempts/{call['attempt_id']}/disposition", json=body, timeout=10
        )
        if resp.status_code == 201:
            self.stats.dispositions[code] = self.stats.dispositions.get(code, 0) + 1
            return
        problems = resp.json().get("problems", [resp.text])
        self.stats.refused.append(f"{code}: {'; '.join(problems)}")
        # A person would fix the form; the bot falls back to a code that needs nothing.
        fallback = {"agent_id": self.agent_id, "code": "LEM"}
        resp = self.http.post(
            f"{self.base}/api/attempts/{call['attempt_id']}/disposition", json=fallback, timeout=10
        )
        if resp.status_code == 201:
            self.stats.dispositions["LEM"] = self.stats.dispositions.get("LEM", 0) + 1

    def _fields(self, code: str, call: dict) -> dict:
        body: dict = {"agent_id": self.agent_id, "code": code}
        local_now = self.clock.now().astimezone(ZoneInfo(self.tz))
        if code == "PTP":
            overdue = call["account"]["overdue_amount"]
            share = self.rng.choice([0.3, 0.5, 1.0, 1.0])
            amount = max(100_000, int(overdue * share) // 100_000 * 100_000)
            body["promise_amount"] = min(amount, overdue)
            body["promise_date"] = (
                local_now.date() + timedelta(days=self.rng.randint(1, 7))
            ).isoformat()
        elif code == "CAB":
            when = local_now + timedelta(minutes=self.rng.choice([30, 45, 60, 90]))
            body["callback_at"] = datetime.strftime(when.replace(tzinfo=None), "%Y-%m-%dT%H:%M")
        if code in NOTES:
            body["note"] = NOTES[code]
        return body


def read_events(
    http: requests.Session,
    url: str,
    last_event_id: str | None,
    stop: threading.Event,
    opened: Callable[[requests.Response], None] | None = None,
) -> Iterator[tuple[str | None, str, dict]]:
    """A server-sent event stream as (id, event, data), resuming after an id; `opened`
    sees the response first (its status)."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    with http.get(url, headers=headers, stream=True, timeout=(10, 60)) as resp:
        if opened is not None:
            opened(resp)
        resp.raise_for_status()
        event_id, event, data = None, "message", ""
        for line in resp.iter_lines(decode_unicode=True):
            if line is None or stop.is_set():
                return
            if line == "":
                if data:
                    yield event_id, event, json.loads(data)
                event_id, event, data = None, "message", ""
            elif line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data += line[6:]


class StreamWatcher(threading.Thread):
    """A console (or an idle desk) holding an event stream open and reading it."""

    def __init__(self, url: str, token: str, stop: threading.Event) -> None:
        super().__init__(name="stream-watcher", daemon=True)
        self.url, self.stop_event, self.events = url, stop, 0
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"

    def run(self) -> None:
        last: str | None = None
        while not self.stop_event.is_set():
            try:
                for event_id, _, _ in read_events(self.http, self.url, last, self.stop_event):
                    last, self.events = event_id or last, self.events + 1
            except (requests.RequestException, ValueError):
                self.stop_event.wait(0.5)
