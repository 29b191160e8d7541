"""API clients: one bearer token per system of the bank, created and revoked by an admin."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dialer.auth.models import ApiClient, Scope

TOKEN_PREFIX = "dlr_"
_NAME = re.compile(r"^[\w .:-]{2,100}$")
# last_used_at is written at most this often per client (not on every request).
_TOUCH_SECONDS = 60


class ClientError(ValueError):
    """An API client request refused; the message says why."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(session: Session, *, name: str, scope: str) -> tuple[ApiClient, str]:
    """A new client and its token: the token is returned once and never stored."""
    name = (name or "").strip()
    if not _NAME.match(name):
        raise ClientError("a client's name must be 2-100 letters, digits, spaces, '.:_-'")
    try:
        scope = Scope(scope)
    except ValueError:
        raise ClientError(f"scope must be one of {', '.join(Scope)}") from None
    if session.scalar(select(ApiClient).where(ApiClient.name == name)) is not None:
        raise ClientError(f"client {name!r} exists already (revoke it, then create it again)")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    client = ApiClient(
        name=name, token_hash=token_hash(token), token_prefix=token[:10], scope=scope
    )
    session.add(client)
    session.flush()
    return client, token


def list_clients(session: Session) -> list[ApiClient]:
    return list(session.scalars(select(ApiClient).order_by(ApiClient.name)))


def revoke(session: Session, *, name: str, now: datetime) -> ApiClient:
    client = session.scalar(select(ApiClient).where(ApiClient.name == name))
    if client is None:
        raise ClientError(f"no client {name!r}")
    if client.revoked_at is None:
        client.revoked_at = now
    return client


def verify(session: Session, *, token: str, now: datetime) -> ApiClient | None:
    """The live client holding this token, else None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    client = session.scalar(
        select(ApiClient).where(
            ApiClient.token_hash == token_hash(token), ApiClient.revoked_at.is_(None)
        )
    )
    if client is not None and (
        client.last_used_at is None or (now - client.last_used_at).total_seconds() > _TOUCH_SECONDS
    ):
        session.execute(update(ApiClient).where(ApiClient.id == client.id).values(last_used_at=now))
    return client
