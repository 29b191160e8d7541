"""Writing imported portfolio rows to the database, and reading accounts back."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session, selectinload

from dialer.portfolio.importer import AccountRow, PhoneEntry, RowIssue, check_timezone
from dialer.portfolio.models import (
    PHONE_RELATIONS,
    Account,
    AccountList,
    AccountListMember,
    Phone,
)
from dialer.privacy import mask_national_id

logger = logging.getLogger(__name__)

PHONE_PRIORITY = {relation: i for i, relation in enumerate(PHONE_RELATIONS)}
# Rows per round trip. Each chunk loads its existing accounts, then their phones, with one
# IN (...) query each; 500 keeps those lists well under any driver's parameter limit.
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
    session: Session,
    rows: Iterable[AccountRow | RowIssue],
    chunk_size: int = CHUNK_SIZE,
    *,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Insert or update accounts (by account_no) and their phones; RowIssues count as rejected.

    A row's timezone (the file's optional `timezone` column) sets the account's timezone
    override; a row without one leaves the override as it was (`dialer accounts
    set-timezone ... --clear` removes one).

    Writes each chunk but never commits: the caller owns the transaction. `dialer accounts
    import` runs a whole file in one transaction, so a crash or a refused file half-way
    (broken quoting on line 90 000) writes nothing, and re-running the same file is safe.
    Memory stays bounded anyway: rows are consumed as a stream, and each chunk is one lookup
    of its existing accounts (and their phones) into plain tuples, then one executemany per
    table and kind of write. No ORM object is loaded, so the session does not grow.

    `progress`, when given, is called with the number of the file's records read so far,
    every `chunk_size` records and once at the end (a progress bar's lines processed).
    """
    session.flush()  # pending changes first, as the queries' autoflush did before
    restore_plan_mode = _prefer_custom_plans(session)
    result = ImportResult()
    chunk: dict[str, AccountRow] = {}
    done = 0
    for item in rows:
        done += 1
        if progress is not None and done % chunk_size == 0:
            progress(done)
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
    if progress is not None:
        progress(done)
    if restore_plan_mode is not None:
        session.execute(select(func.set_config("plan_cache_mode", restore_plan_mode, True)))
    # Accounts and phones the caller had loaded no longer match the rows: reload on access.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Account | Phone):
            session.expire(obj)
    logger.info(
        "portfolio import: %d new, %d updated, %d rejected, %d warnings",
        result.imported,
        result.updated,
        len(result.rejected),
        len(result.warnings),
    )
    return result


def _prefer_custom_plans(session: Session) -> str | None:
    """On PostgreSQL, plan the import's lookups with their values for this transaction.

    psycopg prepares a statement the server has seen 5 times, and the server may then switch
    to a generic plan costed when the statement was first prepared. A first import into an
    empty table prepares "account_no IN (500 parameters)" while the table is tiny; ~80
    chunks later the server adopts that plan: a sequential scan comparing every row with
    each of the 500 parameters, ~450 ms per chunk at 40 000 accounts and growing with the
    table (a 100k file took 4 minutes instead of seconds). Custom plans hash the values
    (or use the index). Returns the previous setting, to restore, or None.
    """
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql" or (dialect.server_version_info or (0,)) < (12,):
        return None
    previous = connection.exec_driver_sql("SHOW plan_cache_mode").scalar_one()
    connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")
    return previous


# The columns a file row writes; a known account is updated only when one of them differs.
ACCOUNT_FIELDS = (
    "customer_name",
    "national_id",
    "product",
    "overdue_amount",
    "principal_outstanding",
    "dpd",
    "due_date",
    "branch",
)
# The columns of a known phone that a re-import may change.
PHONE_UPDATE_FIELDS = ("raw", "priority", "reference_relation", "dialable", "reason")

_accounts = Account.__table__
_phones = Phone.__table__
# Core statements, executemany: every parameter set has the same keys (None included), so
# a chunk is one statement per table (the ORM's bulk INSERT leaves out None values and so
# splits a chunk into hundreds of single-row INSERTs). updated_at comes from onupdate.
_UPDATE_ACCOUNT = update(_accounts).where(_accounts.c.id == bindparam("account_id_"))
_UPDATE_PHONE = update(_phones).where(_phones.c.id == bindparam("phone_id_"))


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
        for account in session.execute(
            select(
                _accounts.c.id,
                _accounts.c.account_no,
                _accounts.c.timezone,
                *(_accounts.c[f] for f in ACCOUNT_FIELDS),
            ).where(_accounts.c.account_no.in_([row.account_no for row in chunk]))
        )
    }
    phones_by_account: dict[int, list[dict[str, Any]]] = {}
    if existing:
        for phone in session.execute(
            select(
                _phones.c.id,
                _phones.c.account_id,
                _phones.c.relation,
                _phones.c.number,
                *(_phones.c[f] for f in PHONE_UPDATE_FIELDS),
            ).where(_phones.c.account_id.in_([account.id for account in existing.values()]))
        ):
            phones_by_account.setdefault(phone.account_id, []).append(dict(phone._mapping))

    new_rows: list[AccountRow] = []
    account_updates: list[dict[str, Any]] = []
    phone_updates: list[dict[str, Any]] = []
    phone_inserts: list[dict[str, Any]] = []
    for row in chunk:
        result.warnings.extend(RowIssue(row.line, warning) for warning in row.warnings)
        account = existing.get(row.account_no)
        if account is None:
            new_rows.append(row)
            continue
        # Every update carries the timezone (one executemany needs the same keys): the
        # file's when it gives one, else the account's own.
        fields = {**_account_fields(row), "timezone": row.timezone or account.timezone}
        if any(getattr(account, name) != value for name, value in fields.items()):
            account_updates.append({"account_id_": account.id, **fields})
        phones = phones_by_account.get(account.id, [])
        before = {p["id"]: tuple(p[f] for f in PHONE_UPDATE_FIELDS) for p in phones}
        _merge_phones(phones, row.phones)
        for phone in phones:
            if "id" not in phone:  # added by _merge_phones
                phone_inserts.append({"account_id": account.id, **phone})
            elif tuple(phone[f] for f in PHONE_UPDATE_FIELDS) != before[phone["id"]]:
                phone_updates.append(
                    {"phone_id_": phone["id"], **{f: phone[f] for f in PHONE_UPDATE_FIELDS}}
                )
    result.updated += len(chunk) - len(new_rows)
    result.imported += len(new_rows)

    if account_updates:
        session.execute(_UPDATE_ACCOUNT, account_updates)
    if phone_updates:
        session.execute(_UPDATE_PHONE, phone_updates)
    if new_rows:
        ids = _insert_accounts(session, new_rows)
        phone_inserts.extend(
            {"account_id": ids[row.account_no], **_phone_fields(entry)}
            for row in new_rows
            for entry in row.phones
        )
    if phone_inserts:
        session.execute(insert(_phones), phone_inserts)


def _insert_accounts(session: Session, rows: list[AccountRow]) -> dict[str, int]:
    """INSERT new accounts in one executemany; their ids by account_no.

    A plain executemany then a SELECT of the ids: on psycopg, INSERT ... RETURNING (one
    multi-row VALUES statement per 1000 rows) took twice as long, most of it spent by the
    driver converting the long statement's placeholders.
    """
    session.execute(
        insert(_accounts),
        [
            {
                "account_no": row.account_no,
                **_account_fields(row),
                "timezone": row.timezone,
            }
            for row in rows
        ],
    )
    return {
        account_no: account_id
        for account_no, account_id in session.execute(
            select(_accounts.c.account_no, _accounts.c.id).where(
                _accounts.c.account_no.in_([row.account_no for row in rows])
            )
        )
    }


def _merge_phones(phones: list[dict[str, Any]], entries: Iterable[PhoneEntry]) -> None:
    """Bring an account's phones (dicts of their columns) in line with the file's.

    Changes the dicts in place and appends one (without an "id") for each number to add. A
    relation's number that is unchanged keeps its row (and its contact history). A changed
    one adds a row and marks the old one replaced, never deletes it: call attempts point at
    it. A number the outcomes engine retired (wrong number) stays retired even if the bank
    sends it again. A blank cell changes nothing: exports often leave out numbers they hold.
    """
    for entry in entries:
        check = entry.check
        current = None
        for phone in phones:
            if phone["relation"] != entry.relation:
                continue
            if phone["number"] == check.number:
                current = phone
            elif not (phone["reason"] or "").startswith(("retired", "replaced")):
                phone["dialable"] = False
                phone["reason"] = "replaced"
        if current is None:
            phones.append(_phone_fields(entry))
            continue
        current["raw"] = check.raw[:64]
        current["priority"] = PHONE_PRIORITY[entry.relation]
        current["reference_relation"] = entry.reference_relation
        if not (current["reason"] or "").startswith("retired"):
            # A number that was replaced and now comes back is the current one again.
            current["dialable"] = check.dialable
            current["reason"] = check.reason


def get_account(session: Session, account_no: str) -> Account | None:
    """The account with this number and its phones, None if unknown."""
    return session.scalars(
        select(Account)
        .where(Account.account_no == account_no.strip())
        .options(selectinload(Account.phones))
    ).one_or_none()


class AccountError(ValueError):
    """An account change that cannot be made; the message says why."""


def set_account_timezone(
    session: Session, account_no: str, zone: str | None
) -> tuple[str | None, str | None]:
    """Set the account's timezone override (None clears it: each phone number's own zone
    applies again); returns the override before and after (as the tz database spells
    it). AccountError for an unknown account or zone, and nothing is changed then. Never
    commits: the caller owns the transaction."""
    clean = None
    if zone is not None:
        try:
            clean = check_timezone(zone)
        except ValueError as exc:
            raise AccountError(str(exc)) from None
    account = session.scalars(
        select(Account).where(Account.account_no == account_no.strip())
    ).one_or_none()
    if account is None:
        raise AccountError(f"no account {account_no.strip()!r}")
    before = account.timezone
    account.timezone = clean
    session.flush()
    return before, clean


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
        "timezone": account.timezone,  # the override; None: each number's own zone
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


class AccountListError(ValueError):
    """A saved account list that cannot be written; the message says why."""


@dataclass
class SavedList:
    name: str
    accounts: int = 0  # accounts in the saved list
    unknown: list[str] = field(default_factory=list)  # account numbers not in the portfolio

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "accounts": self.accounts, "unknown": self.unknown}


MAX_LIST_NAME = 200


def save_account_list(
    session: Session,
    name: str,
    account_nos: Iterable[str] = (),
    account_ids: Iterable[int] = (),
    description: str | None = None,
    replace: bool = False,
) -> SavedList:
    """Save (or with `replace`, overwrite) a named list of accounts, given by number or id.

    All or nothing: unknown account numbers or ids are reported in the result and nothing
    is written (check `unknown`); a bad name or an empty list raises AccountListError.
    Never commits: the caller owns the transaction."""
    name = (name or "").strip()
    if not name or len(name) > MAX_LIST_NAME:
        raise AccountListError(f"a list needs a name of 1 to {MAX_LIST_NAME} characters")
    if description is not None and len(description) > 500:
        raise AccountListError("a list's description is at most 500 characters")
    numbers = list(dict.fromkeys(n.strip() for n in account_nos if n and n.strip()))
    wanted_ids = list(dict.fromkeys(account_ids))
    ids: set[int] = set()
    unknown: list[str] = []
    for start in range(0, len(numbers), CHUNK_SIZE):
        part = numbers[start : start + CHUNK_SIZE]
        found = dict(
            session.execute(
                select(_accounts.c.account_no, _accounts.c.id).where(
                    _accounts.c.account_no.in_(part)
                )
            ).all()
        )
        ids.update(found.values())
        unknown.extend(n for n in part if n not in found)
    for start in range(0, len(wanted_ids), CHUNK_SIZE):
        part = wanted_ids[start : start + CHUNK_SIZE]
        found_ids = set(session.scalars(select(_accounts.c.id).where(_accounts.c.id.in_(part))))
        ids.update(found_ids)
        unknown.extend(f"id {i}" for i in part if i not in found_ids)
    result = SavedList(name=name, unknown=unknown)
    if unknown:
        return result
    if not ids:
        raise AccountListError(f"list {name!r} has no accounts")
    existing = session.scalars(select(AccountList).where(AccountList.name == name)).one_or_none()
    if existing is not None and not replace:
        raise AccountListError(f"a list named {name!r} exists already (replace it explicitly)")
    if existing is None:
        existing = AccountList(name=name, description=description)
        session.add(existing)
        session.flush()
    else:
        session.execute(delete(AccountListMember).where(AccountListMember.list_id == existing.id))
        if description is not None:
            existing.description = description
    ordered = sorted(ids)
    for start in range(0, len(ordered), 5000):
        session.execute(
            insert(AccountListMember),
            [{"list_id": existing.id, "account_id": i} for i in ordered[start : start + 5000]],
        )
    result.accounts = len(ordered)
    return result


def read_account_numbers(data: bytes) -> list[str]:
    """Account numbers from a text file (one per line) or a CSV (the account_no column if
    the first line names one, else the first column); blank lines are skipped."""
    text = data.decode("utf-8-sig")
    sample = text[:4096]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = [row for row in csv.reader(io.StringIO(text), dialect) if any(c.strip() for c in row)]
    column = 0
    if rows:
        header = [c.strip().lower() for c in rows[0]]
        if "account_no" in header:
            column = header.index("account_no")
            rows = rows[1:]
    return [row[column].strip() for row in rows if len(row) > column and row[column].strip()]
