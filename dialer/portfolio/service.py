"""Writing imported portfolio rows to the database, and reading accounts back."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, selectinload

from dialer.portfolio.importer import AccountRow, PhoneEntry, RowIssue
from dialer.portfolio.models import PHONE_RELATIONS, Account, Phone
from dialer.privacy import mask_national_id

logger = logging.getLogger(__name__)

PHONE_PRIORITY = {relation: i for i, relation in enumerate(PHONE_RELATIONS)}
# Rows per round trip. Each chunk loads its existing accounts with one IN (...) query; 500
# keeps that list (and selectinload's own batches) well under any driver's parameter limit.
CHUNK_SIZE = 500


@dataclass
class ImportResult:
    imported: int = 0  # new accounts
    updated: int = 0  # accounts already known, overwritten from the file
    rejected: list[RowIssue] = field(default_factory=list)
    warnings: list[RowIssue] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "updated": self.updated,
            "rejected": [{"line": r.line, "reason": r.reason} for r in self.rejected],
            "warnings": [{"line": w.line, "reason": w.reason} for w in self.warnings],
        }


def import_accounts(
    session: Session, rows: Iterable[AccountRow | RowIssue], chunk_size: int = CHUNK_SIZE
) -> ImportResult:
    """Insert or update accounts (by account_no) and their phones; RowIssues count as rejected.

    Flushes each chunk but never commits: the caller owns the transaction. `dialer accounts
    import` runs a whole file in one transaction, so a crash or a refused file half-way
    (broken quoting on line 90 000) writes nothing, and re-running the same file is safe.
    Memory stays bounded anyway: rows are consumed as a stream, new accounts are written
    with bulk INSERTs, and flushed objects are only weakly held by the session.
    """
    result = ImportResult()
    chunk: dict[str, AccountRow] = {}
    for item in rows:
        if isinstance(item, RowIssue):
            result.rejected.append(item)
            continue
        # A chunk holds each account once; a repeat (possible from callers other than the
        # CSV reader, which rejects them) starts a new chunk and becomes an update.
        if len(chunk) >= chunk_size or item.account_no in chunk:
            _import_chunk(session, list(chunk.values()), result)
            chunk = {}
        chunk[item.account_no] = item
    if chunk:
        _import_chunk(session, list(chunk.values()), result)
    logger.info(
        "portfolio import: %d new, %d updated, %d rejected, %d warnings",
        result.imported,
        result.updated,
        len(result.rejected),
        len(result.warnings),
    )
    return result


def _account_fields(row: AccountRow) -> dict[str, Any]:
    return {
        "customer_name": row.customer_name,
        "national_id": row.national_id,
        "product": row.product,
        "overdue_amount": row.overdue_amount,
        "principal_outstanding": row.principal_outstanding,
        "dpd": row.dpd,
        "due_date": row.due_date,
        "branch": row.branch,
    }


def _phone_fields(entry: PhoneEntry) -> dict[str, Any]:
    return {
        "number": entry.check.number,
        "raw": entry.check.raw[:64],
        "relation": entry.relation,
        "reference_relation": entry.reference_relation,
        "priority": PHONE_PRIORITY[entry.relation],
        "dialable": entry.check.dialable,
        "reason": entry.check.reason,
    }


def _import_chunk(session: Session, chunk: list[AccountRow], result: ImportResult) -> None:
    existing = {
        account.account_no: account
        for account in session.scalars(
            select(Account)
            .where(Account.account_no.in_([row.account_no for row in chunk]))
            .options(selectinload(Account.phones))
        )
    }
    new_rows = []
    for row in chunk:
        account = existing.get(row.account_no)
        if account is None:
            new_rows.append(row)
        else:
            for name, value in _account_fields(row).items():
                setattr(account, name, value)
            _merge_phones(account, row.phones)
        result.warnings.extend(RowIssue(row.line, warning) for warning in row.warnings)
    result.updated += len(chunk) - len(new_rows)
    result.imported += len(new_rows)
    if new_rows:
        # New accounts and their phones go in as one executemany INSERT per table: through
        # the unit of work each object is its own INSERT on SQLite (a 100k-row file took
        # twice as long).
        session.execute(
            insert(Account),
            [{"account_no": row.account_no, **_account_fields(row)} for row in new_rows],
        )
        new_numbers = [row.account_no for row in new_rows]
        ids = {
            account_no: account_id
            for account_no, account_id in session.execute(
                select(Account.account_no, Account.id).where(Account.account_no.in_(new_numbers))
            )
        }
        phones = [
            {"account_id": ids[row.account_no], **_phone_fields(entry)}
            for row in new_rows
            for entry in row.phones
        ]
        if phones:
            session.execute(insert(Phone), phones)
    session.flush()


def _merge_phones(account: Account, entries: Iterable[PhoneEntry]) -> None:
    """Bring the account's phones in line with the file's, keeping history.

    A relation's number that is unchanged keeps its row (and its contact history). A changed
    one adds a row and marks the old one replaced, never deletes it: call attempts point at
    it. A number the outcomes engine retired (wrong number) stays retired even if the bank
    sends it again. A blank cell changes nothing: exports often leave out numbers they hold.
    """
    for entry in entries:
        check = entry.check
        current = None
        for phone in account.phones:
            if phone.relation != entry.relation:
                continue
            if phone.number == check.number:
                current = phone
            elif not (phone.reason or "").startswith(("retired", "replaced")):
                phone.dialable = False
                phone.reason = "replaced"
        if current is None:
            account.phones.append(Phone(**_phone_fields(entry)))
            continue
        current.raw = check.raw[:64]
        current.priority = PHONE_PRIORITY[entry.relation]
        current.reference_relation = entry.reference_relation
        if not (current.reason or "").startswith("retired"):
            # A number that was replaced and now comes back is the current one again.
            current.dialable = check.dialable
            current.reason = check.reason


def get_account(session: Session, account_no: str) -> Account | None:
    """The account with this number and its phones, None if unknown."""
    return session.scalars(
        select(Account)
        .where(Account.account_no == account_no.strip())
        .options(selectinload(Account.phones))
    ).one_or_none()


def account_to_dict(account: Account) -> dict[str, Any]:
    """A JSON-ready view of an account; the national ID is masked."""
    phones = sorted(account.phones, key=lambda p: (p.priority, p.id or 0))
    return {
        "account_no": account.account_no,
        "customer_name": account.customer_name,
        "national_id": mask_national_id(account.national_id) or None,
        "product": account.product,
        "overdue_amount": account.overdue_amount,
        "principal_outstanding": account.principal_outstanding,
        "dpd": account.dpd,
        "due_date": account.due_date.isoformat() if account.due_date else None,
        "branch": account.branch,
        "status": account.status,
        "phones": [
            {
                "number": p.number,
                "relation": p.relation,
                "dialable": p.dialable,
                "reason": p.reason,
                "reference_relation": p.reference_relation,
            }
            for p in phones
        ],
    }
