"""Users: create, list, disable, reset a password, and check a sign-in."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from dialer.agents import presence
from dialer.agents import service as agents
from dialer.agents.models import Agent
from dialer.auth.models import Role, User
from dialer.runtime import Runtime

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")
_TEAM = re.compile(r"^[\w .-]{1,64}$")
MIN_PASSWORD = 10
LOCALES = ("vi", "en")
# Checked when the username is unknown, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not a password of anyone", method="scrypt")


class UserError(ValueError):
    """A user request refused; the message says why."""


def hash_password(password: str) -> str:
    """scrypt (werkzeug's default parameters: N=32768, r=8, p=1) with a random salt."""
    if len(password or "") < MIN_PASSWORD:
        raise UserError(f"a password needs at least {MIN_PASSWORD} characters")
    if password.strip() != password:
        raise UserError("a password may not start or end with spaces")
    return generate_password_hash(password, method="scrypt")


def get(session: Session, *, id: int) -> User | None:
    return session.get(User, id)


def get_by_username(session: Session, *, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username.strip().lower()))


def get_by_username_or_raise(session: Session, *, username: str) -> User:
    user = get_by_username(session, username=username)
    if user is None:
        raise UserError(f"no user {username!r}")
    return user


def create_user(
    session: Session,
    *,
    username: str,
    name: str,
    role: str,
    password: str,
    team: str | None = None,
    agent_id: int | None = None,
    locale: str = "vi",
) -> User:
    """A new user. An agent needs a team; without `agent_id` their agent is created with the
    same username (softphone client:<username>); a team lead needs a team."""
    username = (username or "").strip().lower()
    if not _USERNAME.match(username):
        raise UserError("username must be 2-63 characters: a-z, 0-9, '.', '_' or '-'")
    try:
        role = Role(role)
    except ValueError:
        raise UserError(f"role must be one of {', '.join(Role)}") from None
    team = (team or "").strip() or None
    if team is not None and not _TEAM.match(team):
        raise UserError("team must be 1-64 letters, digits, spaces, '.', '_' or '-'")
    if role is not Role.ADMIN and team is None and agent_id is None:
        raise UserError(f"a user with role {role} needs --team")
    if role is not Role.AGENT and agent_id is not None:
        raise UserError("only an agent user is linked to an agent")
    if locale not in LOCALES:
        raise UserError(f"locale must be one of {', '.join(LOCALES)}")
    if not (name or "").strip():
        raise UserError("a user needs a name")
    if get_by_username(session, username=username) is not None:
        raise UserError(f"user {username!r} exists already")
    password_hash = hash_password(password)
    if role is Role.AGENT:
        agent_id, team = _agent_for(session, username, name, team, agent_id)
    user = User(
        username=username,
        name=name.strip(),
        role=role,
        team=team,
        agent_id=agent_id,
        password_hash=password_hash,
        locale=locale,
    )
    session.add(user)
    session.flush()
    return user


def _agent_for(
    session: Session, username: str, name: str, team: str | None, agent_id: int | None
) -> tuple[int, str | None]:
    if agent_id is None:
        try:
            agent = agents.create_agent(session, username, name, team=team)
        except agents.AgentError as exc:
            raise UserError(str(exc)) from None
        return agent.id, team
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise UserError(f"no agent {agent_id}")
    if session.scalar(select(User).where(User.agent_id == agent_id)) is not None:
        raise UserError(f"agent {agent_id} has a user already")
    if team is not None and agent.team not in (None, team):
        raise UserError(f"agent {agent_id} is in team {agent.team!r}, not {team!r}")
    if team is not None and agent.team is None:
        agent.team = team
    return agent.id, agent.team


def list_users(session: Session, *, include_disabled: bool = True) -> list[User]:
    query = select(User).order_by(User.username)
    if not include_disabled:
        query = query.where(User.active.is_(True))
    return list(session.scalars(query))


def disable(session: Session, *, username: str) -> User:
    user = get_by_username_or_raise(session, username=username)
    user.active = False
    return user


def enable(session: Session, *, username: str) -> User:
    user = get_by_username_or_raise(session, username=username)
    user.active = True
    return user


def reset_password(session: Session, *, username: str, password: str, now: datetime) -> User:
    user = get_by_username_or_raise(session, username=username)
    user.password_hash = hash_password(password)
    user.password_changed_at = now
    return user


def set_locale(session: Session, *, user: User, locale: str) -> None:
    if locale not in LOCALES:
        raise UserError(f"locale must be one of {', '.join(LOCALES)}")
    user.locale = locale


def authenticate(session: Session, *, username: str, password: str, now: datetime) -> User | None:
    """The active user with this name and password, else None (the same answer, and about
    the same time, for an unknown name, a wrong password and a disabled user)."""
    user = get_by_username(session, username=username or "")
    if user is None:
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    if not check_password_hash(user.password_hash, password or "") or not user.active:
        return None
    user.last_login_at = now
    return user


def sign_off_agent(rt: Runtime, *, agent_id: int) -> None:
    """A user who signs out (or is disabled) is off the dialer too: no call may reach an
    agent nobody is sitting at."""
    if presence.get(rt.redis, agent_id).state != presence.AgentState.OFFLINE:
        agents.logout(rt, agent_id)
