"""Referral worklists: accounts sent to field collection, restructuring, legal (fraud) or
dispute handling, and the life of each referral there.

States: open (just referred) -> accepted (the team took it) -> returned (back to
collections) or closed (the team finished it). An open or accepted referral holds the
account: no campaign builds an entry for it and a dial already queued is stopped right
before it is placed (`campaigns.attempts.account_hold`, rule `referred`, the entry closed).
That dial-time hold is the only way a referral takes an account out of a running
campaign: the entry is closed the moment it would have been dialed, so nothing is placed,
and no Redis work is needed when a referral opens.

A returned (or closed) referral no longer holds the account: the next campaign build
includes it again. An entry of a running campaign that the hold (or the referring code)
closed stays closed: the team's decision usually comes days later, and today's campaign is
not reopened for it; `dialer campaign` builds tomorrow's.

The transition table is pure data (TRANSITIONS); `transition` refuses anything else with a
message that says what is allowed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from dialer.agents.models import Agent
from dialer.clock import local_iso
from dialer.outcomes.catalogue import REFERRAL_KINDS
from dialer.outcomes.models import Referral
from dialer.portfolio.models import Account
from dialer.spreadsheet import excel_csv

# "withdrawn": the referring code was corrected away (outcomes.service); final, like closed.
STATES = ("open", "accepted", "returned", "closed", "withdrawn")
# The states in which the account is held (not dialed).
HOLD_STATES = ("open", "accepted")
# Action -> (states it may start from, state it leads to).
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "accept": (("open",), "accepted"),
    "return": (("open", "accepted"), "returned"),
    "close": (("open", "accepted"), "closed"),
}
MAX_NOTE = 2000
MAX_HANDLER = 100


class ReferralError(ValueError):
    """A referral action was refused; the message says why."""


def next_state(state: str, action: str) -> str:
    """The state `action` leads to from `state`, or ReferralError saying what is allowed."""
    if action not in TRANSITIONS:
        raise ReferralError(f"unknown action {action!r}; known: {', '.join(TRANSITIONS)}")
    sources, target = TRANSITIONS[action]
    if state not in sources:
        allowed = [_PAST[name] for name, (srcs, _) in TRANSITIONS.items() if state in srcs]
        can = f"it can only be {' or '.join(allowed)}" if allowed else "it is finished"
        raise ReferralError(f"a referral that is {state} cannot be {_PAST[action]} ({can})")
    return target


_PAST = {"accept": "accepted", "return": "returned", "close": "closed"}


def holds_account(state: str) -> bool:
    return state in HOLD_STATES


def check_filters(kind: str | None, state: str | None) -> list[str]:
    """Problems with worklist filters (empty: fine)."""
    problems = []
    if kind is not None and kind not in REFERRAL_KINDS:
        problems.append(f"unknown referral kind {kind!r}; known: {', '.join(REFERRAL_KINDS)}")
    if state is not None and state not in STATES:
        problems.append(f"unknown referral state {state!r}; known: {', '.join(STATES)}")
    return problems


def _clean_text(value: str | None, name: str, limit: int) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if len(value) > limit:
        raise ReferralError(f"{name} is longer than {limit} characters")
    return value or None


# --- service: SQL ---------------------------------------------------------------------


@dataclass(frozen=True)
class Changed:
    referral_id: int
    account_id: int
    before: str
    after: str


def _rows(kind: str | None, state: str | None, team: str | None = None) -> Select[Any]:
    query = (
        select(Referral, Account.account_no, Account.customer_name, Agent.username, Agent.name)
        .join(Account, Account.id == Referral.account_id)
        .outerjoin(Agent, Agent.id == Referral.referred_by)
        .order_by(Referral.created_at, Referral.id)
    )
    if kind is not None:
        query = query.where(Referral.kind == kind)
    if state is not None:
        query = query.where(Referral.state == state)
    if team is not None:  # a team lead's: the referrals their agents made
        query = query.where(Agent.team == team)
    return query


def _as_dict(row: Any, tz: str) -> dict[str, Any]:
    referral, account_no, customer_name, username, agent_name = row
    return {
        "id": referral.id,
        "kind": referral.kind,
        "state": referral.state,
        "account_id": referral.account_id,
        "account_no": account_no,
        "customer_name": customer_name,
        "reason": referral.reason,
        "referred_by": username,
        "referred_by_name": agent_name,
        "created_at": local_iso(referral.created_at, tz),
        "accepted_at": local_iso(referral.accepted_at, tz),
        "returned_at": local_iso(referral.returned_at, tz),
        "closed_at": local_iso(referral.closed_at, tz),
        "handled_by": referral.handled_by,
        "handler_note": referral.handler_note,
    }


def worklist(
    session: Session,
    *,
    kind: str | None = None,
    state: str | None = None,
    tz: str,
    team: str | None = None,
) -> list[dict[str, Any]]:
    """The referrals of a kind and state (any when None), oldest first, times local; with
    a team, only those its agents made."""
    problems = check_filters(kind, state)
    if problems:
        raise ReferralError("; ".join(problems))
    return [_as_dict(row, tz) for row in session.execute(_rows(kind, state, team))]


def get(session: Session, referral_id: int, tz: str) -> dict[str, Any]:
    row = session.execute(_rows(None, None).where(Referral.id == referral_id)).first()
    if row is None:
        raise LookupError(f"no referral {referral_id}")
    return _as_dict(row, tz)


def transition(
    session: Session,
    referral_id: int,
    action: str,
    *,
    now: datetime,
    by: str | None = None,
    note: str | None = None,
) -> Changed:
    """Accept, return or close a referral; refused (ReferralError, nothing changed) when
    the state does not allow it. LookupError when there is no such referral."""
    by = _clean_text(by, "by", MAX_HANDLER)
    note = _clean_text(note, "note", MAX_NOTE)
    # Locked for the change, so two handlers cannot both move it from the same state.
    referral = session.get(Referral, referral_id, with_for_update=True)
    if referral is None:
        raise LookupError(f"no referral {referral_id}")
    before = referral.state
    after = next_state(before, action)
    referral.state = after
    setattr(referral, f"{after}_at", now)
    if by is not None:
        referral.handled_by = by
    if note is not None:
        referral.handler_note = note
    session.flush()
    return Changed(referral.id, referral.account_id, before, after)


def counts_by_kind(session: Session, state: str | None = None) -> dict[str, int]:
    """Referrals per kind (every kind listed, 0 when none), e.g. for the demo summary."""
    query = select(Referral.kind)
    if state is not None:
        query = query.where(Referral.state == state)
    out = dict.fromkeys(REFERRAL_KINDS, 0)
    for kind in session.scalars(query):
        out[kind] = out.get(kind, 0) + 1
    return out


CSV_COLUMNS = (
    "id",
    "kind",
    "state",
    "account_no",
    "customer_name",
    "reason",
    "referred_by",
    "created_at",
    "accepted_at",
    "returned_at",
    "closed_at",
    "handled_by",
    "handler_note",
)
_TEXT_COLUMNS = (
    "account_no",
    "customer_name",
    "reason",
    "referred_by",
    "handled_by",
    "handler_note",
)


def worklist_csv(
    session: Session,
    *,
    kind: str | None = None,
    state: str | None = None,
    tz: str,
    team: str | None = None,
) -> Iterator[str]:
    """The worklist as CSV text: a UTF-8 byte order mark first (Excel then reads Vietnamese
    names right), a header, oldest referral first; streamed in chunks."""
    problems = check_filters(kind, state)
    if problems:
        raise ReferralError("; ".join(problems))
    query = _rows(kind, state, team).execution_options(yield_per=500)
    rows = (_as_dict(row, tz) for row in session.execute(query))
    yield from excel_csv(CSV_COLUMNS, rows, guard=_TEXT_COLUMNS)
