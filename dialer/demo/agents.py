"""Simulated agents for the demo: they use the agent desk's HTTP API like a person would.

Each bot watches its agent's state; when a connected call ends it waits the wrap-up time,
then records an action code through POST /api/attempts/<id>/disposition. Nothing here
writes to the database directly.
"""

from __future__ import annotations

import logging
import random
import threading
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
        self.poll = max(0.02, clock.real_seconds(1.0))

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                state = self.http.get(f"{self.base}/api/agents/{self.agent_id}", timeout=10).json()
                call = state.get("call")
                if state.get("state") == "wrap_up" and call and not call.get("action_code"):
                    self.clock.sleep(WRAP_UP_SECONDS)
                    self._dispose(call)
            except requests.RequestException as exc:
                log.warning("agent bot %s: %s", self.agent_id, exc)
            self.stop_event.wait(self.poll)

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
            share = self.rng.choice([0.3, 0.5, 1.0, 1.0])
            amount = max(100_000, int(call["overdue_amount"] * share) // 100_000 * 100_000)
            body["promise_amount"] = min(amount, call["overdue_amount"])
            body["promise_date"] = (
                local_now.date() + timedelta(days=self.rng.randint(1, 7))
            ).isoformat()
        elif code == "CAB":
            when = local_now + timedelta(minutes=self.rng.choice([30, 45, 60, 90]))
            body["callback_at"] = datetime.strftime(when.replace(tzinfo=None), "%Y-%m-%dT%H:%M")
        if code in NOTES:
            body["note"] = NOTES[code]
        return body
