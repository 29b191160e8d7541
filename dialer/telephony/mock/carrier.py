"""MockCarrier: the local Twilio stand-in, as one object you can start and stop.

    carrier = MockCarrier(MOCK_ACCOUNT_SID, MOCK_AUTH_TOKEN, Clock.started_now(60))
    base_url = carrier.start_in_thread()          # free port, background thread
    ...  # point TWILIO_API_BASE at base_url and use the official twilio client
    carrier.stop()                                # ends every simulated call, frees the port

or, in the foreground (what `dialer mock-carrier` does): carrier.serve(host, port).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from dialer.clock import Clock
from dialer.config import MOCK_ACCOUNT_SID, MOCK_AUTH_TOKEN
from dialer.telephony.mock.inbound import IncomingNumber
from dialer.telephony.mock.policy import Faults, Limits, RequestGauge
from dialer.telephony.mock.population import Population, validate_scenario
from dialer.telephony.mock.server import create_app
from dialer.telephony.mock.serving import ServerThread
from dialer.telephony.mock.simulator import Simulator

log = logging.getLogger("dialer.mock")
ACCOUNT_SID_RE = re.compile(r"^AC[0-9a-fA-F]{32}$")


def simulated_clock(clock: Clock | None) -> Clock:
    """A clock whose time() really runs at its speed.

    Clock(speed=60) without origins reports wall time while sleeping 60 times faster;
    the simulator needs both to agree, so such a clock is anchored at the current time.
    """
    if clock is None:
        return Clock()
    if clock.speed != 1.0 and (clock.real_origin is None or clock.sim_origin is None):
        return Clock.started_now(clock.speed)
    return clock


class MockCarrier:
    def __init__(
        self,
        account_sid: str = MOCK_ACCOUNT_SID,
        auth_token: str = MOCK_AUTH_TOKEN,
        clock: Clock | None = None,
        population: Population | None = None,
        seed: int | None = None,
        *,
        webhook_timeout: float = 15.0,
        max_calls: int = 50_000,
        threads: int = 32,
        webhook_workers: int = 16,
        limits: Limits | None = None,
        faults: Faults | None = None,
    ):
        if not ACCOUNT_SID_RE.match(account_sid):
            log.warning(
                "account SID %r is not AC + 32 hex digits as Twilio's are; using it anyway",
                account_sid,
            )
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.clock = simulated_clock(clock)
        self.population = population or Population()
        if seed is not None:
            self.population.seed = seed
        self.threads = max(16, threads)
        self.simulator = Simulator(
            account_sid,
            auth_token,
            self.clock,
            self.population,
            webhook_timeout=webhook_timeout,
            max_calls=max_calls,
            webhook_workers=webhook_workers,
            limits=limits,
            faults=faults,
        )
        self.requests = RequestGauge()  # REST requests in flight, against the concurrency limit
        self.app = create_app(self)
        self._server: ServerThread | None = None

    # The account's rules and the injected faults can change while it runs (control API).
    @property
    def limits(self) -> Limits:
        return self.simulator.limits

    def set_limits(self, data: dict[str, Any]) -> Limits:
        """Change some limits (the others stay); raises ScenarioError on a bad value."""
        self.simulator.limits = Limits.from_dict(data, self.simulator.limits)
        return self.simulator.limits

    @property
    def faults(self) -> Faults:
        return self.simulator.faults

    def set_faults(self, data: dict[str, Any]) -> Faults:
        """Change some fault settings (the others stay); raises ScenarioError on a bad value."""
        self.simulator.faults = Faults.from_dict(data, self.simulator.faults)
        return self.simulator.faults

    def load_scenario(self, scenario: dict[str, Any]) -> None:
        """Replace the whole scenario: population, overrides, endpoints, limits and faults."""
        data = validate_scenario(scenario)
        self.population.load_scenario(scenario)
        self.simulator.limits = data["limits"]
        self.simulator.faults = data["faults"]

    def describe(self) -> dict[str, Any]:
        """The scenario in force, in the scenario file's shape."""
        return {
            **self.population.describe(),
            "limits": self.limits.to_dict(),
            "faults": self.faults.to_dict(),
        }

    @property
    def base_url(self) -> str | None:
        return self._server.base_url if self._server is not None else None

    def start_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on host:port (0: a free port) in a background thread; return the base URL."""
        if self._server is None:
            self._server = ServerThread(self.app, host, port, threads=self.threads, name="mock")
            self._server.start()
            self.simulator.public_base = self._server.base_url
            log.info(
                "mock carrier listening on %s (speed %s, seed %s)",
                self._server.base_url,
                self.clock.speed,
                self.population.seed,
            )
        return self._server.base_url

    def serve(self, host: str = "127.0.0.1", port: int = 8901) -> None:
        """Serve in the foreground until interrupted (Ctrl-C), then stop cleanly."""
        self.start_in_thread(host, port)
        assert self._server is not None
        try:
            self._server.serve_forever()
        finally:
            self.stop()

    def stop(self, timeout: float = 5.0) -> None:
        """End every simulated call (no further webhooks) and stop listening."""
        self.simulator.stop(timeout)
        if self._server is not None:
            self._server.stop(timeout)
            self._server = None

    def __enter__(self) -> MockCarrier:
        self.start_in_thread()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # Conveniences for in-process use (tests, demo) without going through HTTP.
    def wait_until_idle(self, timeout: float = 10.0) -> bool:
        return self.simulator.wait_until_idle(timeout)

    def events(self, call_sid: str) -> list[dict[str, Any]]:
        return self.simulator.call_events(call_sid)

    def call_log(self, call_sid: str) -> dict[str, Any]:
        return self.simulator.call_summary(self.simulator.get_call(call_sid))

    def stats(self, since: float | None = None) -> dict[str, Any]:
        """What GET /_mock/stats answers: webhook latencies and answer-to-bridge times."""
        return self.simulator.stats(since)

    def reset_stats(self) -> float:
        """Start a fresh measurement window (DELETE /_mock/stats); returns its wall time."""
        return self.simulator.reset_stats()

    def add_incoming_number(
        self,
        number: str,
        voice_url: str,
        *,
        voice_method: str = "POST",
        status_callback: str | None = None,
        **more: Any,
    ) -> IncomingNumber:
        """Make `number` one of the account's numbers, its calls' TwiML at `voice_url`
        (what POST /_mock/incoming-numbers/<number> does); ScenarioError if invalid."""
        data = {"voice_url": voice_url, "voice_method": voice_method, **more}
        if status_callback is not None:
            data["status_callback"] = status_callback
        return self.simulator.incoming.register(number, data)

    def inbound_call(self, from_: str, to: str, **behaviour: Any) -> str:
        """A person at `from_` calls our number `to`; returns the call SID. `behaviour`:
        digits, talk_seconds, hangup_after_seconds, hold_patience (as POST /_mock/inbound).
        ScenarioError if invalid; inbound.UnknownNumber if `to` is not registered."""
        return self.simulator.inbound_call({"from": from_, "to": to, **behaviour}).sid
