"""Accounts (loan contracts), their phone numbers, and payments received."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dialer.db import Base, UTCDateTime, utcnow

# Phone relations, in the order an account's numbers are tried.
PHONE_RELATIONS = ("mobile", "home", "work", "reference")
OBLIGOR_RELATIONS = ("mobile", "home", "work")


def keypad_digits(account_no: str) -> str:
    """The digits of an account number: what a caller keys in on the phone (LD012345678
    is keyed 012345678)."""
    return "".join(ch for ch in account_no if ch.isdigit())


def _keypad_default(context) -> str:  # type: ignore[no-untyped-def]
    return keypad_digits(context.get_current_parameters()["account_no"])


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_no: Mapped[str] = mapped_column(String(64), unique=True)
    # The account number's digits, for an inbound caller who keys it in (indexed: the IVR
    # looks it up while the caller waits). Set from account_no on insert (it never changes).
    keypad_no: Mapped[str] = mapped_column(String(64), index=True, default=_keypad_default)
    customer_name: Mapped[str] = mapped_column(String(200))
    national_id: Mapped[str | None] = mapped_column(String(32))
    product: Mapped[str | None] = mapped_column(String(64))
    # Amounts are whole đồng (VND has no minor unit in use).
    overdue_amount: Mapped[int] = mapped_column(BigInteger)
    principal_outstanding: Mapped[int] = mapped_column(BigInteger, default=0)
    dpd: Mapped[int] = mapped_column(Integer)
    due_date: Mapped[date | None] = mapped_column(Date)
    branch: Mapped[str | None] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3), default="VND")
    # Overrides the timezone derived from the phone number (compliance local time).
    timezone: Mapped[str | None] = mapped_column(String(64))
    # active | closed | cured (a kept promise paid the overdue amount: the collection cycle
    # is over until the bank's next file says otherwise). Only active accounts are called.
    status: Mapped[str] = mapped_column(String(16), default="active")
    # No collection calls before this date (pending promise, says paid, ...).
    suppressed_until: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    phones: Mapped[list[Phone]] = relationship(
        back_populates="account", order_by="Phone.priority, Phone.id"
    )

    @property
    def dialable_phones(self) -> list[Phone]:
        return [p for p in self.phones if p.dialable]


class Phone(Base):
    __tablename__ = "phones"
    __table_args__ = (UniqueConstraint("account_id", "relation", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    # E.164 when it parsed (+84901234567); the cleaned raw text when it did not.
    number: Mapped[str] = mapped_column(String(32), index=True)
    raw: Mapped[str] = mapped_column(String(64))
    relation: Mapped[str] = mapped_column(String(16))  # one of PHONE_RELATIONS
    reference_relation: Mapped[str | None] = mapped_column(String(64))  # for references
    priority: Mapped[int] = mapped_column(Integer, default=0)  # lower is tried first
    dialable: Mapped[bool] = mapped_column(Boolean, default=True)
    # Why it is not dialable: invalid, premium_rate, retired:<code>, replaced...
    reason: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    account: Mapped[Account] = relationship(back_populates="phones")


class Payment(Base):
    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    paid_on: Mapped[date] = mapped_column(Date)
    # The bank's transaction reference: payments are idempotent by it.
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(String(16), default="api")  # api | csv
    # Where the money came in (branch, transfer, e-wallet...) and a free note, as given.
    channel: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AccountList(Base):
    """A saved set of accounts (from a file of account numbers) a campaign may filter on."""

    __tablename__ = "account_lists"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AccountListMember(Base):
    """One account of a saved list."""

    __tablename__ = "account_list_members"

    list_id: Mapped[int] = mapped_column(
        ForeignKey("account_lists.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
