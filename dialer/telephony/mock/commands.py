"""`dialer mock-carrier`: run the local Twilio-compatible mock carrier in the foreground."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from dialer.clock import Clock
from dialer.config import get_settings

if TYPE_CHECKING:
    from dialer.telephony.mock.policy import Limits


def _describe_limits(limits: Limits) -> str:
    parts = []
    if limits.cps is not None:
        parts.append(f"{limits.cps:g} CPS ({limits.cps_mode})")
    if limits.max_concurrent_requests is not None:
        parts.append(f"{limits.max_concurrent_requests} concurrent requests")
    if limits.max_active_calls is not None:
        parts.append(f"{limits.max_active_calls} active calls")
    if limits.allowed_countries is not None:
        parts.append("countries " + ",".join(limits.allowed_countries))
    return ", ".join(parts) or "none"


def build_clock(speed: float | None) -> Clock:
    """The settings' clock; with --speed, the same simulated now, running at the new speed."""
    clock = Clock.from_settings(get_settings())
    if speed is None:
        return clock
    if speed <= 0:
        raise click.BadParameter("must be above 0", param_hint="--speed")
    if clock.real_origin is None or clock.sim_origin is None:
        return Clock() if speed == 1.0 else Clock.started_now(speed)
    return Clock.started_now(speed, sim_start=clock.now())


@click.command("mock-carrier")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8901, show_default=True, type=int, help="Port to listen on.")
@click.option("--speed", type=float, help="Simulated seconds per real second (default: settings).")
@click.option(
    "--scenario",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Scenario JSON: seed, population parameters, per-number overrides, endpoints.",
)
@click.option("--seed", type=int, help="Random seed for callee outcomes (overrides the scenario).")
@click.option("--threads", default=32, show_default=True, type=int, help="HTTP worker threads.")
@click.option("--cps", type=float, help="Calls per second for REST-created calls (Twilio: 1).")
@click.option(
    "--cps-mode",
    type=click.Choice(["queue", "reject"]),
    help="Over the CPS: queue the call like Twilio (default) or refuse it with 20429.",
)
@click.option(
    "--max-concurrent-requests", type=int, help="Refuse REST requests (20429) beyond this many."
)
@click.option("--max-active-calls", type=int, help="Refuse new calls (20429) beyond this many.")
@click.option(
    "--allow-country",
    "allowed_countries",
    multiple=True,
    metavar="CC",
    help="Geo permissions: only these countries (ISO code, repeatable); others get 21215.",
)
def mock_carrier(
    host: str,
    port: int,
    speed: float | None,
    scenario: Path | None,
    seed: int | None,
    threads: int,
    **limit_options: Any,
) -> None:
    """Local Twilio-compatible REST API and call simulator that sends signed webhooks.

    Limits given here win over the scenario file's "limits".
    """
    from dialer.privacy import configure_logging
    from dialer.telephony.mock.carrier import MockCarrier
    from dialer.telephony.mock.policy import Faults, Limits
    from dialer.telephony.mock.population import Population, ScenarioError, load_scenario_file

    settings = get_settings()
    clock = build_clock(speed)
    population, limits, faults = Population(seed=1), Limits(), Faults()
    if scenario is not None:
        try:
            data = load_scenario_file(scenario)
        except ScenarioError as exc:
            raise click.BadParameter(str(exc), param_hint="--scenario") from None
        population = Population.from_scenario(data)
        limits = Limits.from_dict(data.get("limits") or {})
        faults = Faults.from_dict(data.get("faults") or {})
    given = {k: v for k, v in limit_options.items() if v not in (None, ())}
    if "allowed_countries" in given:
        given["allowed_countries"] = list(given["allowed_countries"])
    try:
        limits = Limits.from_dict(given, limits)
    except ScenarioError as exc:
        raise click.UsageError(str(exc)) from None
    configure_logging(logging.INFO)
    carrier = MockCarrier(
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        clock,
        population,
        seed,
        threads=threads,
        limits=limits,
        faults=faults,
    )

    def on_sigterm(signum, frame):  # stop like Ctrl-C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    base_url = carrier.start_in_thread(host, port)
    click.echo(
        f"Mock carrier on {base_url} (account {settings.twilio_account_sid}, "
        f"speed {carrier.clock.speed:g}, seed {carrier.population.seed}, "
        f"limits {_describe_limits(limits)}). "
        f"Point TWILIO_API_BASE at it. Ctrl-C stops."
    )
    carrier.serve(host, port)
