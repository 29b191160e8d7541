"""The data-quality report: what keeps the portfolio from being complete and correct, for
the bank to fix. Four lists, each with its count: active accounts without a dialable
phone, numbers retired as wrong by a call's result, numbers agents added during calls, and
accounts whose lines an import refused lately (from the recorded import runs).

Accounts belong to no team (teams reach them through campaigns), so the account lists are
the whole portfolio's; the numbers agents added are a lead's own team's. Read-only, over a
session given explicitly; every list is a generator a file export streams."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session

from dialer.agents.models import Agent
from dialer.messages import N_
from dialer.outcomes.models import Disposition
from dialer.portfolio.imports.models import ImportRun, ImportRunLine, ImportState, LineKind
from dialer.portfolio.models import Account, Phone

REJECTED_DAYS = 30  # import runs looked at for refused lines
RETIRED_PREFIX = "retired:"

SECTIONS = {
    "no_phone": N_("Accounts without a dialable phone"),
    "retired": N_("Numbers retired as wrong"),
    "agent_numbers": N_("Numbers added by agents"),
    "rejected": N_("Accounts with refused import lines"),
}
# Each list's columns, in order, with their headers (catalogue messages).
COLUMNS = {
    "no_phone": {
        "account_no": N_("Account"),
        "customer_name": N_("Customer"),
        "branch": N_("Branch"),
        "dpd": N_("DPD"),
        "overdue_amount": N_("Overdue (VND)"),
        "phones": N_("Numbers stored"),
        "why": N_("Why none is dialable"),
    },
    "retired": {
        "account_no": N_("Account"),
        "customer_name": N_("Customer"),
        "number": N_("Number"),
        "relation": N_("Relation"),
        "code": N_("Action code"),
        "agent": N_("Agent"),
        "retired_at": N_("Retired at"),
    },
    "agent_numbers": {
        "account_no": N_("Account"),
        "customer_name": N_("Customer"),
        "number": N_("Number"),
        "agent": N_("Agent"),
        "team": N_("Team"),
        "added_at": N_("Added at"),
        "dialable": N_("Dialable"),
    },
    "rejected": {
        "account_no": N_("Account"),
        "in_portfolio": N_("In the portfolio"),
        "kind": N_("File kind"),
        "file_name": N_("File"),
        "run_id": N_("Import run"),
        "imported_at": N_("Imported at"),
        "line": N_("Line"),
        "reason": N_("Reason"),
    },
}
AMOUNT_COLUMNS = {"no_phone": ("overdue_amount",)}
# Free text from files and people: quoted in a CSV where Excel would run it.
TEXT_COLUMNS = {
    "no_phone": ("account_no", "customer_name", "branch", "why"),
    "retired": ("account_no", "customer_name", "agent"),
    "agent_numbers": ("account_no", "customer_name", "agent", "team"),
    "rejected": ("account_no", "file_name", "reason"),
}


def _no_dialable_phone():
    has_dialable = exists().where(Phone.account_id == Account.id, Phone.dialable.is_(True))
    return and_(Account.status == "active", ~has_dialable)


def _retired_disposition():
    """Per retired phone, the latest disposition that retired it (the applied effects name
    the phone; a correction that undid it no longer does)."""
    phone_id = Disposition.applied["retired_phone_id"].as_integer()
    return (
        select(phone_id.label("phone_id"), func.max(Disposition.id).label("disposition_id"))
        .where(phone_id.is_not(None))
        .group_by(phone_id)
        .subquery("retired_by")
    )


def _added_phone():
    phone_id = Disposition.applied["added_phone_id"].as_integer()
    return phone_id


def _rejected_lines(since: datetime):
    return and_(
        ImportRunLine.kind == LineKind.REJECTED,
        ImportRun.state == ImportState.DONE,
        ImportRun.created_at >= since,
    )


def summary(session: Session, *, team: str | None, now: datetime) -> dict[str, int]:
    """How many in each list (the rejected one: distinct account numbers)."""
    since = now - timedelta(days=REJECTED_DAYS)
    retired = session.scalar(select(func.count()).where(Phone.reason.like(f"{RETIRED_PREFIX}%")))
    added = select(func.count()).select_from(Disposition).join(Phone, Phone.id == _added_phone())
    if team is not None:
        added = added.join(Agent, Agent.id == Disposition.agent_id).where(Agent.team == team)
    return {
        "no_phone": session.scalar(select(func.count()).where(_no_dialable_phone())) or 0,
        "retired": retired or 0,
        "agent_numbers": session.scalar(added) or 0,
        "rejected": session.scalar(
            select(func.count(func.distinct(ImportRunLine.account_no)))
            .join(ImportRun, ImportRun.id == ImportRunLine.run_id)
            .where(_rejected_lines(since), ImportRunLine.account_no.is_not(None))
        )
        or 0,
    }


def rows(
    session: Session,
    section: str,
    *,
    team: str | None,
    now: datetime,
    limit: int | None = None,
) -> Iterator[dict[str, Any]]:
    """One list's rows (the first `limit`, or all), in the order the page shows them."""
    if section == "no_phone":
        return _no_phone_rows(session, limit)
    if section == "retired":
        return _retired_rows(session, limit)
    if section == "agent_numbers":
        return _agent_number_rows(session, team, limit)
    if section == "rejected":
        return _rejected_rows(session, now - timedelta(days=REJECTED_DAYS), limit)
    raise KeyError(section)


def _no_phone_rows(session: Session, limit: int | None) -> Iterator[dict[str, Any]]:
    stored = (
        select(func.count())
        .where(Phone.account_id == Account.id)
        .correlate(Account)
        .scalar_subquery()
    )
    q = (
        select(
            Account.id,
            Account.account_no,
            Account.customer_name,
            Account.branch,
            Account.dpd,
            Account.overdue_amount,
            stored.label("phones"),
        )
        .where(_no_dialable_phone())
        .order_by(Account.overdue_amount.desc(), Account.account_no)
        .limit(limit)
        .execution_options(yield_per=1000)
    )
    for chunk in session.execute(q).partitions():
        reasons: dict[int, list[str]] = {}
        ids = [row.id for row in chunk]
        for account_id, reason in session.execute(
            select(Phone.account_id, Phone.reason)
            .where(Phone.account_id.in_(ids))
            .order_by(Phone.account_id, Phone.priority, Phone.id)
        ):
            seen = reasons.setdefault(account_id, [])
            if (reason or "") not in seen:
                seen.append(reason or "")
        for row in chunk:
            yield {
                "account_no": row.account_no,
                "customer_name": row.customer_name,
                "branch": row.branch,
                "dpd": row.dpd,
                "overdue_amount": row.overdue_amount,
                "phones": row.phones,
                # invalid, premium_rate, replaced, retired:<code>...; empty: no number at all
                "why": ", ".join(r for r in reasons.get(row.id, []) if r),
            }


def _retired_rows(session: Session, limit: int | None) -> Iterator[dict[str, Any]]:
    by = _retired_disposition()
    q = (
        select(
            Account.account_no,
            Account.customer_name,
            Phone.number,
            Phone.relation,
            Phone.reason,
            Agent.name.label("agent"),
            func.coalesce(Disposition.created_at, Phone.updated_at).label("retired_at"),
        )
        .join(Account, Account.id == Phone.account_id)
        .outerjoin(by, by.c.phone_id == Phone.id)
        .outerjoin(Disposition, Disposition.id == by.c.disposition_id)
        .outerjoin(Agent, Agent.id == Disposition.agent_id)
        .where(Phone.reason.like(f"{RETIRED_PREFIX}%"))
        .order_by(func.coalesce(Disposition.created_at, Phone.updated_at).desc(), Phone.id)
        .limit(limit)
        .execution_options(yield_per=1000)
    )
    for row in session.execute(q):
        yield {
            "account_no": row.account_no,
            "customer_name": row.customer_name,
            "number": row.number,
            "relation": row.relation,
            "code": row.reason.removeprefix(RETIRED_PREFIX),
            "agent": row.agent,
            "retired_at": row.retired_at,
        }


def _agent_number_rows(
    session: Session, team: str | None, limit: int | None
) -> Iterator[dict[str, Any]]:
    q = (
        select(
            Account.account_no,
            Account.customer_name,
            Phone.number,
            Phone.dialable,
            Agent.name.label("agent"),
            Agent.team,
            Disposition.created_at,
        )
        .select_from(Disposition)
        .join(Phone, Phone.id == _added_phone())
        .join(Account, Account.id == Phone.account_id)
        .outerjoin(Agent, Agent.id == Disposition.agent_id)
        .order_by(Disposition.created_at.desc(), Disposition.id.desc())
        .limit(limit)
        .execution_options(yield_per=1000)
    )
    if team is not None:
        q = q.where(Agent.team == team)
    for row in session.execute(q):
        yield {
            "account_no": row.account_no,
            "customer_name": row.customer_name,
            "number": row.number,
            "agent": row.agent,
            "team": row.team,
            "added_at": row.created_at,
            "dialable": row.dialable,
        }


def _rejected_rows(
    session: Session, since: datetime, limit: int | None
) -> Iterator[dict[str, Any]]:
    known = exists().where(Account.account_no == ImportRunLine.account_no)
    q = (
        select(
            ImportRunLine.account_no,
            known.label("in_portfolio"),
            ImportRun.kind,
            ImportRun.file_name,
            ImportRun.id.label("run_id"),
            ImportRun.created_at,
            ImportRunLine.line,
            ImportRunLine.reason,
        )
        .join(ImportRun, ImportRun.id == ImportRunLine.run_id)
        .where(_rejected_lines(since))
        .order_by(ImportRun.id.desc(), ImportRunLine.line)
        .limit(limit)
        .execution_options(yield_per=1000)
    )
    for row in session.execute(q):
        yield {
            "account_no": row.account_no,
            "in_portfolio": bool(row.in_portfolio),
            "kind": row.kind,
            "file_name": row.file_name,
            "run_id": row.run_id,
            "imported_at": row.created_at,
            "line": row.line,
            "reason": row.reason,
        }
