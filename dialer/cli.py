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
    """Apply migrations and seed the default action codes (safe to repeat)."""
    from dialer.db import get_database, upgrade
    from dialer.outcomes.catalogue import seed_default_codes

    settings = get_settings()
    upgrade(settings)
    with get_database(settings).begin() as session:
        added = seed_default_codes(session)
    click.echo(f"Database at {settings.database_url.split('@')[-1]} is up to date.")
    if added:
        click.echo(f"Seeded {added} default action codes.")


def _register() -> None:
    from dialer.portfolio.commands import accounts

    main.add_command(accounts)


_register()


if __name__ == "__main__":
    sys.exit(main())
