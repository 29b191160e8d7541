"""`dialer agent ...`."""

from __future__ import annotations

import click

from dialer.agents import service
from dialer.runtime import get_runtime


@click.group()
def agent() -> None:
    """Manage agents."""


@agent.command("create")
@click.argument("username")
@click.option("--name", required=True, help="full name shown on the console")
@click.option("--endpoint", help="client:<id>, sip:<uri> or +E.164 (default client:USERNAME)")
@click.option("--team")
def create(username: str, name: str, endpoint: str | None, team: str | None) -> None:
    with get_runtime().db.begin() as s:
        try:
            a = service.create_agent(s, username, name, endpoint, team)
        except service.AgentError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"Agent {a.id} {a.username} created ({a.endpoint}).")
