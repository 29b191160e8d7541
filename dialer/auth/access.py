"""Who is asking, and what they may reach: one Principal per request.

A request is either a signed-in user (the session cookie, through Flask-Login) or one of
the bank's systems (`Authorization: Bearer <token>`, an API client; the shared
DIALER_API_TOKEN, when set, is the demo's all-reaching client). The acting agent of a
signed-in agent is always the user's own agent, never a field of the request.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import current_app, g, request
from flask_login import current_user
from sqlalchemy.orm import Session

from dialer.agents.models import Agent
from dialer.auth import clients
from dialer.auth.models import Role, Scope
from dialer.http import ApiError, current_runtime

STAFF = (Role.LEAD, Role.ADMIN)
EVERYONE = (Role.AGENT, Role.LEAD, Role.ADMIN)
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Principal:
    name: str
    user_id: int | None = None  # a signed-in user
    role: Role | None = None
    team: str | None = None
    agent_id: int | None = None
    scope: Scope | None = None  # an API client

    @property
    def is_system(self) -> bool:
        """An API client with the whole API: it names the agent it acts for."""
        return self.scope is Scope.API

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN or self.is_system


def has_bearer() -> bool:
    return request.headers.get("Authorization", "").startswith("Bearer ")


def _from_bearer(header: str) -> Principal:
    token = header[7:].strip()
    rt = current_runtime()
    shared = rt.settings.api_token
    if token and shared and secrets.compare_digest(token, shared):
        return Principal(name="shared-token", scope=Scope.API)
    if token:
        with rt.db.begin() as s:
            client = clients.verify(s, token=token, now=rt.clock.now())
            if client is not None:
                return Principal(name=client.name, scope=Scope(client.scope))
    raise ApiError("missing, wrong or revoked API token (Authorization: Bearer ...)", 401)


def current_principal() -> Principal | None:
    """The request's principal (cached on g), or None when nobody is signed in."""
    if "principal" in g:
        return g.principal
    header = request.headers.get("Authorization", "")
    # Only a bearer token is ours; another scheme (a proxy's Basic) leaves the cookie to say.
    if header.startswith("Bearer "):
        principal = _from_bearer(header)
    elif current_user.is_authenticated:
        user = current_user
        principal = Principal(
            name=user.username,
            user_id=user.id,
            role=Role(user.role),
            team=user.team,
            agent_id=user.agent_id,
        )
    else:
        principal = None
    g.principal = principal
    return principal


def principal_or_raise() -> Principal:
    principal = current_principal()
    if principal is None:
        raise ApiError("sign in, or send an API token (Authorization: Bearer ...)", 401)
    return principal


def scopes(*allowed: Scope) -> Callable[[F], F]:
    """Mark a view as reachable by API clients with these scopes too (besides API)."""

    def mark(view: F) -> F:
        view.api_scopes = frozenset(allowed)  # type: ignore[attr-defined]
        return view

    return mark


def require_api(roles: Iterable[Role] = STAFF) -> Callable[[], None]:
    """before_request for a JSON API blueprint: an API client whose scope reaches the view,
    or a signed-in user with one of `roles`."""
    roles = frozenset(roles)

    def check() -> None:
        principal = principal_or_raise()
        if principal.scope is not None:
            if principal.scope is Scope.API:
                return
            view = current_app.view_functions.get(request.endpoint or "")
            if principal.scope not in getattr(view, "api_scopes", ()):
                raise ApiError(f"this token's scope ({principal.scope}) does not reach here", 403)
            return
        if principal.role not in roles:
            raise ApiError("your role may not do this", 403)

    return check


def acting_agent_id(named: Any = None) -> int:
    """The agent a request acts for: a signed-in agent's own (a different one named is
    refused); an all-reaching API client must name it."""
    principal = principal_or_raise()
    if principal.is_system:
        if not isinstance(named, int) or isinstance(named, bool):
            raise ApiError("the disposition was refused", 400, ["agent_id (a number) is required"])
        return named
    if principal.agent_id is None:
        raise ApiError("only an agent signed in at the desk acts for an agent", 403)
    if named is not None and named != principal.agent_id:
        raise ApiError("you may act only for yourself", 403)
    return principal.agent_id


def check_agent(
    agent_id: int, agent_team: str | None, *, act: bool = False, lead_may_act: bool = False
) -> None:
    """May the principal see (or, with act, change) this agent's state and calls? The agent
    themselves and an administrator; their team's lead sees them (and, where lead_may_act,
    acts for them: signing them off)."""
    principal = principal_or_raise()
    if principal.is_admin or principal.agent_id == agent_id:
        return
    same_team = agent_team is not None and principal.team == agent_team
    if principal.role is Role.LEAD and same_team and (not act or lead_may_act):
        return
    raise ApiError("this agent is not yours to see or act for", 403)


def agent_or_raise(
    session: Session, agent_id: int, *, act: bool = False, lead_may_act: bool = False
) -> Agent:
    """The agent (404 if none) once check_agent allows the principal to reach them."""
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise ApiError(f"no agent {agent_id}", 404)
    check_agent(agent.id, agent.team, act=act, lead_may_act=lead_may_act)
    return agent


def require_role(*roles: Role) -> Principal:
    """Inside a view: a signed-in user with one of `roles`, or an all-reaching API client."""
    principal = principal_or_raise()
    if principal.is_system or principal.role in roles:
        return principal
    raise ApiError("your role may not do this", 403)
