"""`dialer agent ...`: agents, their pauses, pause codes, and their day's presence."""

from __future__ import annotations

import json
from datetime import date
from zoneinfo import ZoneInfo

import click
from sqlalchemy import select

from dialer.agents import pauses, reports, service
from dialer.agents.models import Agent
from dialer.runtime import get_runtime


def _echo_json(data: object) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _agent_id(username: str) -> int:
    with get_runtime().db.session() as s:
        agent_id = s.scalar(select(Agent.id).where(Agent.username == username.strip().lower()))
    if agent_id is None:
        raise click.ClickException(f"no agent {username!r}")
    return agent_id


@click.group()
def agent() -> None:
    """Manage agents, their pauses and pause codes; read their presence."""


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


@agent.command("pause")
@click.argument("username")
@click.argument("code")
def pause(username: str, code: str) -> None:
    """Away from calls for a reason (dialer agent pause-codes): now, or after the call."""
    try:
        state = service.pause(get_runtime(), _agent_id(username), code)
    except service.AgentError as exc:
        raise click.ClickException(str(exc)) from None
    if state.state == "paused":
        click.echo(f"{username} is paused ({state.pause_reason}).")
    else:
        click.echo(f"{username} is {state.state}; paused ({state.pause_pending}) after the call.")


@agent.command("resume")
@click.argument("username")
def resume(username: str) -> None:
    """Back from a pause (or a pause asked for during a call called off)."""
    try:
        state = service.resume(get_runtime(), _agent_id(username))
    except service.AgentError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{username} is {state.state}.")


@agent.command("pause-codes")
@click.option("--all", "everything", is_flag=True, help="the dialer's own and disabled ones too")
@click.option("--json", "as_json", is_flag=True)
def pause_codes(everything: bool, as_json: bool) -> None:
    """The pause codes agents choose from."""
    with get_runtime().db.session() as s:
        rows = [
            pauses.as_dict(c)
            for c in pauses.list_codes(s, include_inactive=everything)
            if everything or not c.system
        ]
    if as_json:
        _echo_json(rows)
        return
    for row in rows:
        flags = ("" if row["active"] else " (disabled)") + (" (dialer)" if row["system"] else "")
        click.echo(f"{row['code']:<16} {row['label_vi']} / {row['label_en']}{flags}")


@agent.command("pause-code")
@click.argument("code")
@click.option("--label-vi", required=True)
@click.option("--label-en", required=True)
@click.option("--disabled", is_flag=True, help="no longer offered to agents")
def pause_code(code: str, label_vi: str, label_en: str, disabled: bool) -> None:
    """Add or edit a pause code."""
    try:
        with get_runtime().db.begin() as s:
            row = pauses.save_code(
                s, code=code, label_vi=label_vi, label_en=label_en, active=not disabled
            )
            click.echo(f"Pause code {row.code} saved.")
    except pauses.PauseCodeError as exc:
        raise click.ClickException(str(exc)) from None


@agent.command("presence")
@click.argument("username")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), help="local day [today]")
@click.option("--json", "as_json", is_flag=True)
def presence_report(username: str, day, as_json: bool) -> None:
    """The agent's day: state changes, time in each state, pauses by reason."""
    rt = get_runtime()
    agent_id = _agent_id(username)
    on: date = (
        day.date() if day else rt.clock.now().astimezone(ZoneInfo(rt.settings.timezone)).date()
    )
    with rt.db.session() as s:
        report = reports.presence_day(
            s, agent_id=agent_id, day=on, tz=rt.settings.timezone, now=rt.clock.now()
        )
    if as_json:
        _echo_json(report)
        return
    click.echo(f"{username} on {report['date']}:")
    for state, seconds in sorted(report["seconds_in_state"].items()):
        click.echo(f"  {state:<12} {seconds // 3600:d}h{seconds % 3600 // 60:02d}m")
    for reason, seconds in sorted(report["seconds_paused_by_reason"].items()):
        click.echo(f"  paused: {reason:<18} {seconds // 60:d} min")
    click.echo(f"  wrap-up overruns: {report['wrap_up_overruns']}")
