"""`dialer mock-carrier`: run the local Twilio-compatible mock carrier in the foreground."""

from __future__ import annotations

import logging
import signal
from pathlib import Path

import click

from dialer.clock import Clock
from dialer.config import get_settings


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
@click.option("--max-active-calls", type=int, help="Refuse new calls (20429) beyond this many.")
def mock_carrier(
    host: str,
    port: int,
    speed: float | None,
    scenario: Path | None,
    seed: int | None,
    threads: int,
    max_active_calls: int | None,
) -> None:
    """Local Twilio-compatible REST API and call simulator that sends signed webhooks."""
    from dialer.privacy import configure_logging
    from dialer.telephony.mock.carrier import MockCarrier
    from dialer.telephony.mock.population import Population, ScenarioError, load_scenario_file

    settings = get_settings()
    clock = build_clock(speed)
    population = Population(seed=1)
    if scenario is not None:
        try:
            population = Population.from_scenario(load_scenario_file(scenario))
        except ScenarioError as exc:
            raise click.BadParameter(str(exc), param_hint="--scenario") from None
    configure_logging(logging.INFO)
    carrier = MockCarrier(
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        clock,
        population,
        seed,
        threads=threads,
        max_active_calls=max_active_calls,
    )

    def on_sigterm(signum, frame):  # stop like Ctrl-C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    base_url = carrier.start_in_thread(host, port)
    click.echo(
        f"Mock carrier on {base_url} (account {settings.twilio_account_sid}, "
        f"speed {carrier.clock.speed:g}, seed {carrier.population.seed}). "
        f"Point TWILIO_API_BASE at it. Ctrl-C stops."
    )
    carrier.serve(host, port)
