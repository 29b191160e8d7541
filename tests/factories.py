"""Small builders of real rows for tests (written through the ORM, committed by the caller)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from itertools import count

import yaml
from sqlalchemy.orm import Session

from dialer.agents.models import Agent
from dialer.auth.models import User
from dialer.auth.service import hash_password
from dialer.campaigns.models import BlockedDial, CallAttempt, Campaign, CampaignEntry
from dialer.outcomes.catalogue import seed_default_codes
from dialer.outcomes.models import ActionCode, Callback, Disposition, Promise
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


def agent(session: Session, username: str | None = None, team: str | None = None) -> Agent:
    n = next(_seq)
    username = username or f"agent{n}"
    a = Agent(username=username, name=f"Agent {n}", endpoint=f"client:{username}", team=team)
    session.add(a)
    session.flush()
    return a


PASSWORD = "mat-khau-du-dai"  # every factory user's password (at least 10 characters)
# One scrypt hash for every factory user: hashing is slow by design, tests make many users.
_PASSWORD_HASH = hash_password(PASSWORD)


def user(
    session: Session,
    *,
    role: str = "agent",
    team: str | None = "B2",
    username: str | None = None,
    agent_id: int | None = None,
    locale: str = "vi",
    name: str | None = None,
) -> User:
    """A user who signs in with PASSWORD; an agent user gets an agent of their own."""
    n = next(_seq)
    username = username or f"{role}{n}"
    name = name or (f"Trần Thị Lan {n}" if role == "agent" else f"Phạm Minh {n}")
    if role == "agent" and agent_id is None:
        made = agent(session, username, team=team)
        made.name = name
        agent_id = made.id
    u = User(
        username=username,
        name=name,
        role=role,
        team=team if role != "admin" else None,
        agent_id=agent_id,
        password_hash=_PASSWORD_HASH,
        locale=locale,
    )
    session.add(u)
    session.flush()
    return u


def campaign(session: Session, *, name: str | None = None, **fields: object) -> Campaign:
    """A campaign row as it stands (draft unless `state` says otherwise), settings as given."""
    n = next(_seq)
    c = Campaign(name=name or f"Campaign {n}", **fields)
    session.add(c)
    session.flush()
    return c


def entry(
    session: Session,
    *,
    campaign: Campaign,
    account: Account,
    score: float = 0.0,
    rank: int | None = None,
    state: str = "queued",
):
    e = CampaignEntry(
        campaign_id=campaign.id, account_id=account.id, score=score, rank=rank, state=state
    )
    session.add(e)
    session.flush()
    return e


def promise(
    session: Session,
    acc: Account,
    *,
    amount: int = 3_000_000,
    due_date: date = date(2026, 12, 5),
    state: str = "pending",
    created_at: datetime | None = None,
) -> Promise:
    """A promise row with the call attempt and PTP disposition it hangs on (no effects run:
    for tests that only read promises; test_promises.py makes them the real way)."""
    if session.get(ActionCode, "PTP") is None:
        seed_default_codes(session)
    c = campaign(session)
    entry = CampaignEntry(campaign_id=c.id, account_id=acc.id, score=0.0)
    session.add(entry)
    session.flush()
    attempt = CallAttempt(
        campaign_id=c.id, entry_id=entry.id, account_id=acc.id, phone_id=acc.phones[0].id
    )
    session.add(attempt)
    session.flush()
    disposition = Disposition(attempt_id=attempt.id, account_id=acc.id, code="PTP", set_by="agent")
    session.add(disposition)
    session.flush()
    p = Promise(
        account_id=acc.id,
        disposition_id=disposition.id,
        amount=amount,
        due_date=due_date,
        state=state,
        created_at=created_at or datetime.now(UTC),
    )
    session.add(p)
    session.flush()
    return p


def attempt(
    session: Session,
    *,
    account: Account,
    agent_id: int | None = None,
    campaign_id: int | None = None,
) -> CallAttempt:
    """A connected call of the account's first phone (an entry in a campaign if none is given)."""
    if campaign_id is None:
        campaign_id = campaign(session).id
    e = CampaignEntry(campaign_id=campaign_id, account_id=account.id, score=0.0)
    session.add(e)
    session.flush()
    a = CallAttempt(
        campaign_id=campaign_id,
        entry_id=e.id,
        account_id=account.id,
        phone_id=account.phones[0].id,
        agent_id=agent_id,
        status="in-progress",
        result="human",
        call_sid=f"CA{next(_seq):032x}",
    )
    session.add(a)
    session.flush()
    return a


def callback(
    session: Session, *, account: Account, agent_id: int, due_at: datetime, same_agent: bool = True
) -> Callback:
    """A scheduled callback with the CAB disposition of a call by this agent."""
    if session.get(ActionCode, "CAB") is None:
        seed_default_codes(session)
    call = attempt(session, account=account, agent_id=agent_id)
    d = Disposition(
        attempt_id=call.id, account_id=account.id, agent_id=agent_id, code="CAB", set_by="agent"
    )
    session.add(d)
    session.flush()
    cb = Callback(
        account_id=account.id,
        campaign_id=call.campaign_id,
        disposition_id=d.id,
        agent_id=agent_id if same_agent else None,
        due_at=due_at,
    )
    session.add(cb)
    session.flush()
    return cb


def script_source(name: str = "thu-nghiem", **parts: object) -> str:
    """A small valid call script as YAML; keyword arguments replace (or, as None, remove)
    its top-level parts."""
    data: dict[str, object] = {
        "name": name,
        "description": {"vi": "Kịch bản thử", "en": "A test script"},
        "payment_channels": {
            "vi": "Chuyển khoản, ghi số hợp đồng {{ account_no }}.",
            "en": "Transfer, quoting contract {{ account_no }}.",
        },
        "prompts": {
            "greeting": {
                "vi": "Xin chào {{ honorific }} {{ customer_name }}, quá hạn {{ overdue_amount }}.",
                "en": "Hello {{ customer_name }}, {{ overdue_amount }} is overdue.",
            }
        },
    }
    for key, value in parts.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


# Who the abandon and voicemail messages say is calling: the US and UK profiles require it.
CALLER = {"company_name": "Ngân hàng TMCP Đông Á", "callback_number": "+842873000001"}


# --- rows the console's reports read (tests/test_console_report_*.py) ----------------------


def call(
    session: Session,
    *,
    account: Account,
    campaign_id: int,
    at: datetime,
    answered_by: str | None = None,
    agent_id: int | None = None,
    talk_seconds: int = 60,
) -> CallAttempt:
    """A call of a campaign placed at `at`: answered_by None (nobody answered), "machine",
    or "human" (bridged to `agent_id` when given, else abandoned); ended after the talk."""
    from datetime import timedelta

    from sqlalchemy import select

    e = session.scalar(
        select(CampaignEntry).where(
            CampaignEntry.campaign_id == campaign_id, CampaignEntry.account_id == account.id
        )
    )
    if e is None:  # the account's entry in the campaign (one per account), made once
        e = CampaignEntry(campaign_id=campaign_id, account_id=account.id, score=0.0)
        session.add(e)
        session.flush()
    answered = at + timedelta(seconds=10) if answered_by else None
    result = {None: "no_answer", "machine": "machine"}.get(answered_by)
    if answered_by == "human":
        result = "human" if agent_id is not None else "abandoned"
    a = CallAttempt(
        campaign_id=campaign_id,
        entry_id=e.id,
        account_id=account.id,
        phone_id=account.phones[0].id,
        agent_id=agent_id if answered_by == "human" else None,
        status="completed",
        answered_by=answered_by,
        result=result,
        call_sid=f"CA{next(_seq):032x}",
        created_at=at,
        answered_at=answered,
        connected_at=answered if result == "human" else None,
        ended_at=(answered or at) + timedelta(seconds=talk_seconds),
    )
    session.add(a)
    session.flush()
    return a


def dispose(
    session: Session,
    attempt: CallAttempt,
    code: str,
    *,
    promise_amount: int | None = None,
    due_date: date | None = None,
    state: str = "pending",
    kind: str = "promise",
) -> Disposition:
    """The code recorded on the call when it ended (by its agent, else the system), with
    the promise it made when an amount is given (no effects run)."""
    if session.get(ActionCode, code) is None:
        seed_default_codes(session)
    d = Disposition(
        attempt_id=attempt.id,
        account_id=attempt.account_id,
        agent_id=attempt.agent_id,
        code=code,
        set_by="agent" if attempt.agent_id else "system",
        created_at=attempt.ended_at,
    )
    session.add(d)
    session.flush()
    if promise_amount is not None:
        session.add(
            Promise(
                account_id=attempt.account_id,
                disposition_id=d.id,
                agent_id=attempt.agent_id,
                kind=kind,
                amount=promise_amount,
                due_date=due_date or attempt.ended_at.date(),
                state=state,
                created_at=attempt.ended_at,
            )
        )
        session.flush()
    return d


def payment(
    session: Session, acc: Account, *, amount: int, paid_on: date, reference: str | None = None
):
    from dialer.portfolio.models import Payment

    p = Payment(
        account_id=acc.id, amount=amount, paid_on=paid_on, reference=reference or f"FT{next(_seq)}"
    )
    session.add(p)
    session.flush()
    return p


def referral(
    session: Session,
    acc: Account,
    *,
    kind: str,
    state: str = "open",
    referred_by: int | None = None,
    created_at: datetime | None = None,
):
    from dialer.outcomes.models import Referral

    r = Referral(
        account_id=acc.id,
        kind=kind,
        state=state,
        referred_by=referred_by,
        created_at=created_at or datetime.now(UTC),
    )
    session.add(r)
    session.flush()
    return r


def blocked_dial(
    session: Session,
    *,
    entry: CampaignEntry,
    rule: str = "calling_window",
    detail: str | None = None,
    at: datetime | None = None,
) -> BlockedDial:
    """A dial a rule stopped, on the entry's account's first phone."""
    acc = session.get(Account, entry.account_id)
    blocked = BlockedDial(
        campaign_id=entry.campaign_id, entry_id=entry.id,
        phone_id=acc.phones[0].id if acc and acc.phones else None, rule=rule, detail=detail,
        created_at=at or datetime.now(UTC),
    )  # fmt: skip
    session.add(blocked)
    session.flush()
    return blocked
