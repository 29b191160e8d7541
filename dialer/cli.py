"""The `dialer` command. Each domain keeps its own commands (commands.py); they are joined here."""

from __future__ import annotations

import sys

import click

from dialer.config import ConfigError, get_settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Collections auto-dialer: portfolio, campaigns, calls and outcomes."""
    try:
        get_settings()
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply migrations and seed the default action and pause codes (safe to repeat)."""
    from dialer.agents.pauses import seed_default_pause_codes
    from dialer.db import get_database, upgrade
    from dialer.outcomes.catalogue import seed_default_codes

    settings = get_settings()
    upgrade(settings)
    with get_database(settings).begin() as session:
        added = seed_default_codes(session)
        pauses = seed_default_pause_codes(session)
    click.echo(f"Database at {settings.database_url.split('@')[-1]} is up to date.")
    if added:
        click.echo(f"Seeded {added} default action codes.")
    if pauses:
        click.echo(f"Seeded {pauses} default pause codes.")


@main.command()
@click.option("--host", help="default DIALER_WEB_HOST or 127.0.0.1")
@click.option("--port", type=int, help="default DIALER_WEB_PORT or 8900")
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=16,
    show_default=True,
    help="for the webhooks and the API; each event stream gets one more (DIALER_EVENT_STREAMS)",
)
def web(host: str | None, port: int | None, threads: int) -> None:
    """Serve the web app: Twilio webhooks, JSON API, desk event streams, console."""
    from dialer.app import create_app
    from dialer.privacy import configure_logging
    from dialer.webserver import serve

    settings = get_settings()
    configure_logging()
    serve(create_app(settings), settings, host=host, port=port, threads=threads)


@main.command()
@click.option("--burst", is_flag=True, help="stop when the queue is empty")
@click.option(
    "--fork/--no-fork",
    default=False,
    show_default=True,
    help="run each job in a forked child (isolation) instead of in-process (speed)",
)
def worker(burst: bool, fork: bool) -> None:
    """Run an RQ worker: places calls and runs background jobs; console imports come from a
    queue of their own (`<queue>-imports`), taken only when no call is waiting.

    In-process by default: place_call is a short I/O job, and reusing the carrier's HTTP
    connection and the database pool keeps the time from "pacer says dial" to "call
    created" in milliseconds. A crash ends the worker; run it under a supervisor, and
    entries it held come back to the queue after their lease.
    """
    from rq import SimpleWorker, Worker

    from dialer.privacy import configure_logging
    from dialer.runtime import get_runtime
    from dialer.telephony.carrier import CarrierError

    configure_logging()
    rt = get_runtime()
    try:
        rt.carrier  # noqa: B018  (fail now, not on the first call, when it is misconfigured)
    except CarrierError as exc:
        raise click.ClickException(str(exc)) from None
    from dialer.campaigns.scheduled import schedule_templates

    # Daily templates live in SQL; their next launches must be in RQ's scheduler even
    # after Redis lost them (idempotent: the jobs have fixed ids).
    schedule_templates(rt)
    from dialer.outcomes.scheduled import schedule_evaluation

    # The daily promise evaluation, likewise (fixed job id per day; idempotent).
    schedule_evaluation(rt)
    worker_class = Worker if fork else SimpleWorker
    worker_class(rt.queues, connection=rt.redis).work(burst=burst, with_scheduler=True)


def _register() -> None:
    from dialer.agents.commands import agent
    from dialer.auth.commands import tokens, users
    from dialer.campaigns.commands import campaign, pacer
    from dialer.demo.commands import demo
    from dialer.outcomes.admin_commands import codes
    from dialer.outcomes.commands import promises
    from dialer.portfolio.commands import accounts, payments
    from dialer.scripts.commands import scripts
    from dialer.telephony.mock.commands import mock_carrier

    for command in (
        accounts,
        payments,
        promises,
        codes,
        scripts,
        agent,
        users,
        tokens,
        campaign,
        pacer,
        demo,
        mock_carrier,
    ):
        main.add_command(command)
    from dialer.outcomes.worklist_commands import alerts, referrals

    main.add_command(referrals)
    main.add_command(alerts)


_register()


if __name__ == "__main__":
    sys.exit(main())
