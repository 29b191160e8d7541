"""Small builders of real rows for tests (written through the ORM, committed by the caller)."""

from __future__ import annotations

from itertools import count

from sqlalchemy.orm import Session

from dialer.agents.models import Agent
from dialer.portfolio.models import Account, Phone

_seq = count(1)


def account(
    session: Session,
    *,
    dpd: int = 45,
    overdue: int = 5_000_000,
    principal: int = 40_000_000,
    phones: tuple[tuple[str, str], ...] = (("+84901234567", "mobile"),),
    **fields: object,
) -> Account:
    n = next(_seq)
    acc = Account(
        account_no=fields.pop("account_no", f"T{n:06d}"),
        customer_name=fields.pop("customer_name", f"Nguyễn Văn {n}"),
        overdue_amount=overdue,
        principal_outstanding=principal,
        dpd=dpd,
        **fields,
    )
    session.add(acc)
    session.flush()
    for priority, (number, relation) in enumerate(phones):
        session.add(
            Phone(
                account_id=acc.id,
                number=number,
                raw=number,
                relation=relation,
                priority=priority,
                dialable=True,
            )
        )
    session.flush()
    session.refresh(acc)
    return acc


def agent(session: Session, username: str | None = None) -> Agent:
    n = next(_seq)
    username = username or f"agent{n}"
    a = Agent(username=username, name=f"Agent {n}", endpoint=f"client:{username}")
    session.add(a)
    session.flush()
    return a
