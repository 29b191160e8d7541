"""Payments the bank received: validation (pure), recording by the bank's transaction
reference (idempotent), and the CSV import.

A payment is identified by its reference. The same reference again with the same content
(account, amount, date paid) is a duplicate: answered with the stored payment, nothing
written. The same reference with other content is refused: two different payments cannot
share a bank reference, and counting either could keep a promise that was not kept.
Channel and note describe a payment; a replay that differs only there is still a duplicate
and the stored ones are kept.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dialer.portfolio.importer import (
    MAX_AMOUNT,
    ImportFileError,
    decode_csv,
    detect_delimiter,
    header_key,
    parse_amount,
    parse_date,
)
from dialer.portfolio.models import Account, Payment
from dialer.privacy import mask_text

log = logging.getLogger(__name__)

MAX_ACCOUNT_NO = 64  # accounts.account_no
MAX_REFERENCE = 64  # payments.reference
MAX_CHANNEL = 32
MAX_NOTE = 500
REQUIRED_COLUMNS = ("account_no", "amount", "paid_on", "reference")
OPTIONAL_COLUMNS = ("channel", "note")
CHUNK_SIZE = 500
_REFERENCE_RE = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces: as banks write them


@dataclass(frozen=True)
class PaymentInput:
    """One payment as the bank reports it (API body or CSV line), already typed."""

    account_no: str
    amount: int
    paid_on: date
    reference: str
    channel: str | None = None
    note: str | None = None


def _clean(value: str | None) -> str:
    return " ".join(unicodedata.normalize("NFC", value or "").split())


def normalized(given: PaymentInput) -> PaymentInput:
    """Text fields trimmed (inner runs of spaces to one); empty optional ones to None."""
    return PaymentInput(
        account_no=_clean(given.account_no),
        amount=given.amount,
        paid_on=given.paid_on,
        reference=(given.reference or "").strip(),
        channel=_clean(given.channel) or None,
        note=_clean(given.note) or None,
    )


def validate_payment(given: PaymentInput, today: date) -> list[str]:
    """Every reason the (normalized) payment must be refused; empty: it may be recorded."""
    problems: list[str] = []
    if not given.account_no:
        problems.append("account_no is required")
    elif len(given.account_no) > MAX_ACCOUNT_NO:
        problems.append(f"account_no is longer than {MAX_ACCOUNT_NO} characters")
    if given.amount <= 0:
        problems.append("amount must be above 0 (whole đồng)")
    elif given.amount >= MAX_AMOUNT:
        problems.append(f"amount must be below {MAX_AMOUNT:,} đồng")
    if given.paid_on > today:
        problems.append(f"paid_on {given.paid_on.isoformat()} is after today ({today})")
    if not given.reference:
        problems.append("reference (the bank's transaction reference) is required")
    elif len(given.reference) > MAX_REFERENCE:
        problems.append(f"reference is longer than {MAX_REFERENCE} characters")
    elif not _REFERENCE_RE.fullmatch(given.reference):
        problems.append("reference must be printable characters without spaces")
    if given.channel and len(given.channel) > MAX_CHANNEL:
        problems.append(f"channel is longer than {MAX_CHANNEL} characters")
    if given.note and len(given.note) > MAX_NOTE:
        problems.append(f"note is longer than {MAX_NOTE} characters")
    return problems


def same_payment(stored: tuple[int, int, date], account_id: int, given: PaymentInput) -> bool:
    """Whether a stored payment (account id, amount, paid on) is the one given again."""
    return stored == (account_id, given.amount, given.paid_on)


class PaymentError(ValueError):
    """A payment refused: kind is invalid (400), unmatched (no such account) or conflict
    (the reference belongs to another payment)."""

    def __init__(self, kind: str, problems: list[str]):
        super().__init__("; ".join(problems))
        self.kind, self.problems = kind, problems


@dataclass(frozen=True)
class RecordedPayment:
    payment: Payment
    account_no: str
    duplicate: bool  # the reference was already recorded with this content: nothing written


def payment_to_dict(payment: Payment, account_no: str) -> dict[str, Any]:
    return {
        "id": payment.id,
        "account_no": account_no,
        "amount": payment.amount,
        "paid_on": payment.paid_on.isoformat(),
        "reference": payment.reference,
        "channel": payment.channel,
        "note": payment.note,
        "source": payment.source,
        "created_at": payment.created_at.isoformat(),
    }


def _conflict(reference: str, stored_account_no: str, stored: Payment) -> PaymentError:
    return PaymentError(
        "conflict",
        [
            f"reference {reference} is already recorded for a different payment (account "
            f"{stored_account_no}, amount {stored.amount:,}, paid on {stored.paid_on}); a bank "
            "reference names one payment: check the reference, nothing was changed"
        ],
    )


def _replay(session: Session, given: PaymentInput, account: Account | None) -> RecordedPayment:
    """The stored payment of given.reference as a duplicate, or the conflict error."""
    stored, stored_no = session.execute(
        select(Payment, Account.account_no)
        .join(Account, Account.id == Payment.account_id)
        .where(Payment.reference == given.reference)
    ).one()
    if account is None or not same_payment(
        (stored.account_id, stored.amount, stored.paid_on), account.id, given
    ):
        raise _conflict(given.reference, stored_no, stored)
    return RecordedPayment(stored, stored_no, duplicate=True)


def record_payment(
    session: Session, given: PaymentInput, *, today: date, now: datetime, source: str = "api"
) -> RecordedPayment:
    """Record one payment, idempotent by its reference; PaymentError (nothing written) when
    it is invalid, for an unknown account, or its reference belongs to another payment.
    The caller commits."""
    given = normalized(given)
    problems = validate_payment(given, today)
    if problems:
        raise PaymentError("invalid", problems)
    account = session.scalar(select(Account).where(Account.account_no == given.account_no))
    known = session.scalar(select(Payment.id).where(Payment.reference == given.reference))
    if known is not None:
        return _replay(session, given, account)
    if account is None:
        raise PaymentError(
            "unmatched",
            [f"unmatched: no account {given.account_no} in the portfolio; nothing was recorded"],
        )
    payment = Payment(
        account_id=account.id,
        amount=given.amount,
        paid_on=given.paid_on,
        reference=given.reference,
        channel=given.channel,
        note=given.note,
        source=source,
        created_at=now,
    )
    try:
        # A savepoint: the same reference posted at the same moment by another request.
        with session.begin_nested():
            session.add(payment)
    except IntegrityError:
        return _replay(session, given, account)
    log.info("payment %s recorded on account %s", payment.reference, account.account_no)
    return RecordedPayment(payment, account.account_no, duplicate=False)


# --- CSV import --------------------------------------------------------------------------


@dataclass(frozen=True)
class RejectedLine:
    line: int
    reason: str


@dataclass
class PaymentImport:
    """What an import did. Unmatched lines (no such account) are counted in `unmatched`
    and listed in `rejected` too, with a reason starting "unmatched:"."""

    imported: int = 0
    duplicates: int = 0
    unmatched: int = 0
    rejected: list[RejectedLine] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "duplicates": self.duplicates,
            "unmatched": self.unmatched,
            "rejected": [{"line": r.line, "reason": r.reason} for r in self.rejected],
        }


@dataclass(frozen=True)
class PaymentLine:
    line: int
    payment: PaymentInput


def _show(value: str, limit: int = 40) -> str:
    value = mask_text(value)
    return f'"{value[: limit - 1]}…"' if len(value) > limit else f'"{value}"'


def read_payments(data: bytes, today: date) -> Iterator[PaymentLine | RejectedLine]:
    """The payment file's lines, each typed and validated or rejected with a reason.

    Raises ImportFileError (before yielding anything) when the file cannot be read as a
    payment file: not UTF-8, empty, a required column missing or repeated.
    """
    text = decode_csv(data)
    if "\x00" in text:
        raise ImportFileError("the file contains NUL bytes: it is not a text CSV")
    if not text.strip():
        raise ImportFileError("the file is empty")
    delimiter = detect_delimiter(text.split("\n", 1)[0])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        records = list(reader)
    except csv.Error as exc:
        raise ImportFileError(
            f"the CSV is malformed ({exc}); check for an unbalanced quote"
        ) from None
    lines = _line_numbers(text, delimiter)
    header_at = next((i for i, r in enumerate(records) if any(c.strip() for c in r)), None)
    if header_at is None:
        raise ImportFileError("the file is empty")
    keys = [header_key(h) for h in records[header_at]]
    repeated = sorted({k for k in keys if k and keys.count(k) > 1})
    if repeated:
        raise ImportFileError(f"column(s) appear more than once: {', '.join(repeated)}")
    missing = [c for c in REQUIRED_COLUMNS if c not in keys]
    if missing:
        raise ImportFileError(
            f"missing required column(s): {', '.join(missing)}; required are "
            f"{', '.join(REQUIRED_COLUMNS)} (optional: {', '.join(OPTIONAL_COLUMNS)})"
        )
    return _rows(records[header_at + 1 :], lines[header_at + 1 :], keys, today)


def _line_numbers(text: str, delimiter: str) -> list[int]:
    """The physical line on which each CSV record starts (quoted cells may span lines)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    starts, previous_end = [], 0
    for _ in reader:
        starts.append(previous_end + 1)
        previous_end = reader.line_num
    return starts


def _typed(cells: dict[str, str], column: str, parse: Any, problems: list[str]) -> Any:
    """The cell parsed, or None with the reason added to problems."""
    raw = cells.get(column, "")
    if not raw.strip():
        problems.append(f"{column} is empty")
        return None
    try:
        return parse(raw)
    except ValueError as exc:
        problems.append(f"{column} {_show(raw.strip())} {exc}")
        return None


def _rows(
    records: list[list[str]], lines: list[int], keys: list[str], today: date
) -> Iterator[PaymentLine | RejectedLine]:
    for record, line in zip(records, lines, strict=True):
        if not any(c.strip() for c in record):
            continue
        cells = dict(zip(keys, record, strict=False))
        problems: list[str] = []
        if any(c.strip() for c in record[len(keys) :]):
            problems.append(f"has {len(record)} fields but the header has {len(keys)}")
        amount = _typed(cells, "amount", parse_amount, problems)
        paid_on = _typed(cells, "paid_on", parse_date, problems)
        given = normalized(
            PaymentInput(
                account_no=cells.get("account_no", ""),
                # A cell that did not parse is reported above; the stand-ins pass the checks.
                amount=1 if amount is None else amount,
                paid_on=today if paid_on is None else paid_on,
                reference=cells.get("reference", ""),
                channel=cells.get("channel"),
                note=cells.get("note"),
            )
        )
        problems += validate_payment(given, today)
        if problems:
            yield RejectedLine(line, "; ".join(problems))
        else:
            yield PaymentLine(line, given)


def import_payments(
    session: Session,
    items: Iterator[PaymentLine | RejectedLine],
    *,
    now: datetime,
    chunk_size: int = CHUNK_SIZE,
    progress: Callable[[int], None] | None = None,
) -> PaymentImport:
    """Record the file's payments (source "csv"), idempotent by reference like the API.

    Writes but never commits: `dialer payments import` runs a whole file in one
    transaction. A reference seen earlier in the same file or already stored is a duplicate
    when its content is the same, a rejected line otherwise. `progress`, when given, is
    called with the number of lines read so far, every `chunk_size` lines and at the end.
    """
    result = PaymentImport()
    in_file: dict[str, tuple[int, PaymentInput]] = {}  # reference -> (line, payment)
    chunk: list[PaymentLine] = []
    done = 0
    for item in items:
        done += 1
        if progress is not None and done % chunk_size == 0:
            progress(done)
        if isinstance(item, RejectedLine):
            result.rejected.append(item)
            continue
        chunk.append(item)
        if len(chunk) >= chunk_size:
            _import_chunk(session, chunk, in_file, result, now)
            chunk = []
    if chunk:
        _import_chunk(session, chunk, in_file, result, now)
    if progress is not None:
        progress(done)
    result.rejected.sort(key=lambda r: r.line)
    log.info(
        "payment import: %d imported, %d duplicates, %d unmatched, %d rejected",
        result.imported,
        result.duplicates,
        result.unmatched,
        len(result.rejected),
    )
    return result


def _plan_chunk(
    session: Session,
    chunk: list[PaymentLine],
    in_file: dict[str, tuple[int, PaymentInput]],
    result: PaymentImport,
    now: datetime,
) -> list[Payment]:
    """What the chunk adds, from what is stored now; counts and rejections go into
    `result` and seen references into `in_file` (the caller passes copies to try with)."""
    numbers = {item.payment.account_no for item in chunk}
    accounts = dict(
        session.execute(
            select(Account.account_no, Account.id).where(Account.account_no.in_(numbers))
        ).all()
    )
    references = {item.payment.reference for item in chunk}
    stored = {
        ref: (account_id, amount, paid_on, account_no)
        for ref, account_id, amount, paid_on, account_no in session.execute(
            select(
                Payment.reference,
                Payment.account_id,
                Payment.amount,
                Payment.paid_on,
                Account.account_no,
            )
            .join(Account, Account.id == Payment.account_id)
            .where(Payment.reference.in_(references))
        )
    }
    new: list[Payment] = []
    for item in chunk:
        p, line = item.payment, item.line
        account_id = accounts.get(p.account_no)
        if p.reference in in_file:
            first_line, first = in_file[p.reference]
            if (first.account_no, first.amount, first.paid_on) == (
                p.account_no,
                p.amount,
                p.paid_on,
            ):
                result.duplicates += 1
            else:
                result.rejected.append(
                    RejectedLine(
                        line,
                        f"reference {p.reference} is already used on line {first_line} for a "
                        "different payment",
                    )
                )
            continue
        if p.reference in stored:
            s_account, s_amount, s_paid_on, s_no = stored[p.reference]
            if account_id is not None and same_payment(
                (s_account, s_amount, s_paid_on), account_id, p
            ):
                result.duplicates += 1
                in_file[p.reference] = (line, p)
            else:
                result.rejected.append(
                    RejectedLine(
                        line,
                        f"reference {p.reference} is already recorded for a different payment "
                        f"(account {s_no}, amount {s_amount:,}, paid on {s_paid_on})",
                    )
                )
            continue
        if account_id is None:
            result.unmatched += 1
            result.rejected.append(
                RejectedLine(line, f"unmatched: no account {_show(p.account_no)} in the portfolio")
            )
            continue
        in_file[p.reference] = (line, p)
        new.append(
            Payment(
                account_id=account_id,
                amount=p.amount,
                paid_on=p.paid_on,
                reference=p.reference,
                channel=p.channel,
                note=p.note,
                source="csv",
                created_at=now,
            )
        )
    return new


# A chunk whose insert meets a reference written at the same moment (the API recording the
# same payment) is planned again from what is stored then: the rest of the file goes on.
CHUNK_ATTEMPTS = 3


def _import_chunk(
    session: Session,
    chunk: list[PaymentLine],
    in_file: dict[str, tuple[int, PaymentInput]],
    result: PaymentImport,
    now: datetime,
) -> None:
    for attempt in range(1, CHUNK_ATTEMPTS + 1):
        trial, seen = PaymentImport(), dict(in_file)
        new = _plan_chunk(session, chunk, seen, trial, now)
        try:
            with session.begin_nested():  # a savepoint: only this chunk is taken back
                session.add_all(new)
                session.flush()
        except IntegrityError:
            if attempt == CHUNK_ATTEMPTS:
                raise
            log.info("payment import: a reference was recorded meanwhile; chunk planned again")
            continue
        in_file.clear()
        in_file.update(seen)
        result.imported += len(new)
        result.duplicates += trial.duplicates
        result.unmatched += trial.unmatched
        result.rejected.extend(trial.rejected)
        return
