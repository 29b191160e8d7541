"""`dialer users ...` (who signs in, with which role) and `dialer tokens ...` (the bank's
systems' bearer tokens for the JSON API)."""

from __future__ import annotations

import json
import sys

import click

from dialer.auth import clients, service, sessions
from dialer.auth.models import Role, Scope
from dialer.runtime import get_runtime


def _password(password_stdin: bool, *, confirm: bool = True) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=confirm)


@click.group()
def users() -> None:
    """Users who sign in to the desk and the console (agent, lead, admin)."""


@users.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--name", help="full name shown on the pages (default: the user name)")
@click.option("--team", help="the agent's or the team lead's team")
@click.option("--agent-id", type=int, help="an existing agent (default: a new one)")
@click.option("--locale", type=click.Choice(service.LOCALES), default="vi", show_default=True)
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
def create(
    username: str,
    role: str,
    name: str | None,
    team: str | None,
    agent_id: int | None,
    locale: str,
    password_stdin: bool,
) -> None:
    """Create a user; asks for the password (at least 10 characters)."""
    password = _password(password_stdin)
    try:
        with get_runtime().db.begin() as s:
            user = service.create_user(
                s,
                username=username,
                name=name or username,
                role=role,
                password=password,
                team=team,
                agent_id=agent_id,
                locale=locale,
            )
            out = f"User {user.username} ({user.role}) created"
            if user.agent_id is not None:
                out += f", agent {user.agent_id}"
    except service.UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(out + ".")


@users.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_(as_json: bool) -> None:
    with get_runtime().db.session() as s:
        rows = [
            {
                "username": u.username,
                "name": u.name,
                "role": u.role,
                "team": u.team,
                "agent_id": u.agent_id,
                "active": u.active,
                "locale": u.locale,
                "last_login_at": u.last_login_at.isoformat() if u.last_login_at else None,
            }
            for u in service.list_users(s)
        ]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for r in rows:
        state = "" if r["active"] else "  (disabled)"
        click.echo(f"{r['username']:<20} {r['role']:<6} {r['team'] or '-':<12} {r['name']}{state}")


def _end_sessions(user_id: int) -> int:
    return sessions.end_all(get_runtime().redis, user_id=user_id)


@users.command("disable")
@click.argument("username")
def disable(username: str) -> None:
    """Stop a user signing in; their open sessions end now."""
    rt = get_runtime()
    try:
        with rt.db.begin() as s:
            user = service.disable(s, username=username)
            user_id, agent_id = user.id, user.agent_id
    except service.UserError as exc:
        raise click.ClickException(str(exc)) from None
    ended = _end_sessions(user_id)
    if agent_id is not None:
        service.sign_off_agent(rt, agent_id=agent_id)
    click.echo(f"User {username} disabled ({ended} open session(s) ended).")


@users.command("enable")
@click.argument("username")
def enable(username: str) -> None:
    try:
        with get_runtime().db.begin() as s:
            service.enable(s, username=username)
    except service.UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"User {username} enabled.")


@users.command("reset-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True)
def reset_password(username: str, password_stdin: bool) -> None:
    """Set a new password; the user's open sessions end."""
    password = _password(password_stdin)
    rt = get_runtime()
    try:
        with rt.db.begin() as s:
            user_id = service.reset_password(
                s, username=username, password=password, now=rt.clock.now()
            ).id
    except service.UserError as exc:
        raise click.ClickException(str(exc)) from None
    ended = _end_sessions(user_id)
    click.echo(f"Password of {username} changed ({ended} open session(s) ended).")


@click.group()
def tokens() -> None:
    """Bearer tokens for the bank's systems (one per client)."""


@tokens.command("create")
@click.argument("name")
@click.option(
    "--scope",
    type=click.Choice([s.value for s in Scope]),
    default=Scope.PAYMENTS.value,
    show_default=True,
    help="payments: POST /api/payments only; api: the whole JSON API",
)
def token_create(name: str, scope: str) -> None:
    """Create a client and print its token (shown once: store it in the client's vault)."""
    try:
        with get_runtime().db.begin() as s:
            client, token = clients.create(s, name=name, scope=scope)
            prefix = client.token_prefix
    except clients.ClientError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(token)
    click.echo(f"Client {name!r} ({scope}) created; token {prefix}… shown only now.", err=True)


@tokens.command("list")
@click.option("--json", "as_json", is_flag=True)
def token_list(as_json: bool) -> None:
    with get_runtime().db.session() as s:
        rows = [
            {
                "name": c.name,
                "scope": c.scope,
                "token": c.token_prefix + "…",
                "created_at": c.created_at.isoformat(),
                "last_used_at": c.last_used_at.isoformat() if c.last_used_at else None,
                "revoked_at": c.revoked_at.isoformat() if c.revoked_at else None,
            }
            for c in clients.list_clients(s)
        ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        state = f"revoked {r['revoked_at'][:16]}" if r["revoked_at"] else "live"
        click.echo(f"{r['name']:<24} {r['scope']:<9} {r['token']:<14} {state}")


@tokens.command("revoke")
@click.argument("name")
def token_revoke(name: str) -> None:
    rt = get_runtime()
    try:
        with rt.db.begin() as s:
            clients.revoke(s, name=name, now=rt.clock.now())
    except clients.ClientError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Client {name!r} revoked: its token no longer works.")
