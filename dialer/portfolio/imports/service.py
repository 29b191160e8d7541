"""Import runs: a file checked before anything is written, the one use case that imports it
(`import_file`, called by `dialer accounts import`, `dialer payments import` and the
console's RQ job alike, with the same importers), its progress in Redis, and the rejected
rows as a file for the bank to fix and send again.

Functions take the session first and never commit: the caller owns the transaction, so a
run's rows and what the file changed are written (or rolled back) together.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import redis
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from dialer.portfolio.importer import (
    ImportFileError,
    decode_csv,
    detect_delimiter,
    header_key,
    open_portfolio,
)
from dialer.portfolio.imports.models import (
    ImportKind,
    ImportRun,
    ImportRunFile,
    ImportRunLine,
    ImportState,
    LineKind,
)
from dialer.portfolio.payments import PaymentImport, import_payments, read_payments
from dialer.portfolio.service import ImportResult, import_accounts
from dialer.redis import PREFIX
from dialer.spreadsheet import excel_cell

MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # ~150 000 portfolio lines; a larger file: the CLI
PROGRESS_TTL_SECONDS = 24 * 3600
LINES_CHUNK = 1000  # run lines per INSERT
# The columns added to a file's own in the rejected rows' file (names a re-import ignores).
REJECTED_EXTRA = ("rejected_line", "rejected_reason")
_NUMBER_LIKE = re.compile(r"[+\-]?[\d .,()]+")
_WORKBOOK_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0")  # .xlsx (zip), .xls (OLE)


@dataclass(frozen=True)
class FileCheck:
    """A file that may be imported: its header as written and how many records follow."""

    header: list[str]
    total_lines: int


@dataclass
class FileOutcome:
    """What import_file did: the importer's own result, as the CLI has always printed it."""

    kind: ImportKind
    result: ImportResult | PaymentImport
    ignored_columns: tuple[str, ...] = ()
    rejected_lines: list[int] = field(default_factory=list)


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(physical line where it starts, cells) of each non-blank CSV record, header included,
    read as the importers read them (the first line's delimiter, quoted newlines)."""
    text = text.removeprefix("\ufeff")
    delimiter = detect_delimiter(text.split("\n", 1)[0])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    previous_end = 0
    try:
        for record in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if any(cell.strip() for cell in record):
                yield start, record
    except csv.Error as exc:  # the portfolio importer's own words for it
        raise ImportFileError(
            f"line {previous_end + 1}: the CSV is malformed ({exc}); check for an unbalanced quote"
        ) from None


def check_file(kind: str, data: bytes, *, region: str, today: date) -> FileCheck:
    """The file read the way its importer reads it, writing nothing: ImportFileError (with
    the importer's reason) for a workbook, a non-UTF-8 or empty file, a missing or repeated
    column, or broken quoting anywhere in it."""
    if kind not in set(ImportKind):
        raise ImportFileError(f"unknown kind of file {kind!r} (portfolio or payments)")
    if data.startswith(_WORKBOOK_MAGIC):
        raise ImportFileError(
            'this is an Excel workbook, not a CSV file: save it from Excel as "CSV UTF-8" '
            "and import that"
        )
    if kind == ImportKind.PORTFOLIO:
        open_portfolio(data, region)  # header checked
    else:
        read_payments(data, today)  # header checked (raises before its first line)
    header: list[str] = []
    total = 0
    for _, record in _records(decode_csv(data)):
        if not header:
            header = record
        else:
            total += 1
    return FileCheck(header=[h.strip() for h in header], total_lines=total)


def create_run(
    session: Session,
    *,
    kind: str,
    file_name: str,
    data: bytes,
    check: FileCheck,
    who: str,
    now: datetime,
    user_id: int | None = None,
    source: str = "web",
    keep_file: bool = True,
) -> ImportRun:
    """A new run (queued; with its file kept in SQL for the worker when `keep_file`)."""
    run = ImportRun(
        kind=ImportKind(kind),
        state=ImportState.QUEUED,
        source=source,
        file_name=file_name[:255],
        size_bytes=len(data),
        user_id=user_id,
        who=who[:200],
        created_at=now,
        total_lines=check.total_lines,
        header=check.header,
    )
    session.add(run)
    session.flush()
    if keep_file:
        session.add(ImportRunFile(run_id=run.id, data=data))
        session.flush()
    return run


def import_file(
    session: Session,
    run: ImportRun,
    data: bytes,
    *,
    region: str,
    today: date,
    now: datetime,
    progress: Callable[[int], None] | None = None,
) -> FileOutcome:
    """Import the run's file with its kind's importer (the CLI's), then record on the run
    what it did and each rejected line (with its cells) and warning. ImportFileError when
    the file is refused as a whole: the caller rolls back, and nothing is written.
    `progress(records read)` follows the importer."""
    check = check_file(run.kind, data, region=region, today=today)
    run.total_lines, run.header = check.total_lines, check.header
    outcome: FileOutcome
    if run.kind == ImportKind.PORTFOLIO:
        portfolio = open_portfolio(data, region)
        accounts = import_accounts(session, portfolio, progress=progress)
        run.imported, run.updated = accounts.imported, accounts.updated
        run.ignored_columns = list(portfolio.ignored_columns)
        outcome = FileOutcome(ImportKind.PORTFOLIO, accounts, portfolio.ignored_columns)
        rejected, warnings = accounts.rejected, accounts.warnings
    else:
        payments = import_payments(session, read_payments(data, today), now=now, progress=progress)
        run.imported, run.duplicates = payments.imported, payments.duplicates
        run.unmatched = payments.unmatched
        outcome = FileOutcome(ImportKind.PAYMENTS, payments)
        rejected, warnings = payments.rejected, []
    run.rejected, run.warnings = len(rejected), len(warnings)
    cells = _cells_at(decode_csv(data), {r.line for r in rejected})
    keys = [header_key(h) for h in check.header]
    at = keys.index("account_no") if "account_no" in keys else None

    def account_no(record: list[str] | None) -> str | None:
        if record is None or at is None or at >= len(record):
            return None
        return " ".join(record[at].split())[:64] or None

    lines = [
        {
            "run_id": run.id,
            "kind": LineKind.REJECTED,
            "line": r.line,
            "account_no": account_no(cells.get(r.line)),
            "reason": r.reason,
            "cells": cells.get(r.line),
        }
        for r in rejected
    ]
    lines += [
        {
            "run_id": run.id,
            "kind": LineKind.WARNING,
            "line": w.line,
            "account_no": None,
            "reason": w.reason,
            "cells": None,
        }
        for w in warnings
    ]
    for start in range(0, len(lines), LINES_CHUNK):
        session.execute(insert(ImportRunLine), lines[start : start + LINES_CHUNK])
    outcome.rejected_lines = [r.line for r in rejected]
    return outcome


def _cells_at(text: str, lines: set[int]) -> dict[int, list[str]]:
    """The cells of the records starting on these lines."""
    if not lines:
        return {}
    return {start: record for start, record in _records(text) if start in lines}


def finish(session: Session, run: ImportRun, *, now: datetime) -> None:
    """The run is done: its file is no longer kept."""
    run.state, run.finished_at, run.error = ImportState.DONE, now, None
    session.execute(delete(ImportRunFile).where(ImportRunFile.run_id == run.id))
    session.flush()


def fail(session: Session, run_id: int, *, error: str, now: datetime) -> None:
    """The run stopped (nothing of its file was written): why, and its file let go."""
    run = session.get_one(ImportRun, run_id)
    run.state, run.finished_at, run.error = ImportState.FAILED, now, error[:2000]
    session.execute(delete(ImportRunFile).where(ImportRunFile.run_id == run_id))
    session.flush()


# --- progress (Redis: the import's own transaction is not visible until it commits) ----


def progress_key(run_id: int) -> str:
    return f"{PREFIX}:import-run:{run_id}:progress"


def report_progress(r: redis.Redis, run_id: int, done: int) -> None:
    r.set(progress_key(run_id), done, ex=PROGRESS_TTL_SECONDS)


def status(r: redis.Redis, run: ImportRun) -> dict[str, Any]:
    """The run's state and lines processed of its total, for the page's progress bar."""
    if run.state == ImportState.DONE:
        done = run.total_lines
    elif run.state == ImportState.RUNNING:
        done = min(int(r.get(progress_key(run.id)) or 0), run.total_lines)
    else:
        done = 0
    total = run.total_lines
    return {
        "id": run.id,
        "state": str(run.state),
        "processed": done,
        "total": total,
        "percent": 100
        if total == 0 and run.state == ImportState.DONE
        else (round(100 * done / total) if total else 0),
    }


# --- reading runs back ------------------------------------------------------------------


def recent_runs(session: Session, *, limit: int = 30) -> list[ImportRun]:
    return list(session.scalars(select(ImportRun).order_by(ImportRun.id.desc()).limit(limit)))


def run_lines(
    session: Session, *, run_id: int, kind: LineKind, limit: int | None = None
) -> list[ImportRunLine]:
    q = (
        select(ImportRunLine)
        .where(ImportRunLine.run_id == run_id, ImportRunLine.kind == kind)
        .order_by(ImportRunLine.line, ImportRunLine.id)
    )
    if limit is not None:
        q = q.limit(limit)
    return list(session.scalars(q))


def _guarded(value: str) -> str:
    """A cell as the file had it, except text Excel would run as a formula; numbers
    written with a sign (+84 90..., -5) are left as they are so the file imports again."""
    return value if _NUMBER_LIKE.fullmatch(value) else excel_cell(value)


def rejected_file_rows(
    session: Session, run: ImportRun
) -> tuple[list[str], Iterable[dict[str, Any]]]:
    """The rejected rows' file: the run's own header then rejected_line, rejected_reason;
    each rejected line's cells as the file had them (short rows padded) and its reason."""
    header = list(run.header or [])
    extra = [name if name not in header else f"_{name}" for name in REJECTED_EXTRA]
    columns = [*header, *extra]

    def rows() -> Iterator[dict[str, Any]]:
        q = (
            select(ImportRunLine.line, ImportRunLine.cells, ImportRunLine.reason)
            .where(ImportRunLine.run_id == run.id, ImportRunLine.kind == LineKind.REJECTED)
            .order_by(ImportRunLine.line)
            .execution_options(yield_per=500)
        )
        for line, cells, reason in session.execute(q):
            values = [_guarded(c) for c in (cells or [])][: len(header)]
            values += [""] * (len(header) - len(values))
            yield dict(zip(columns, [*values, line, excel_cell(reason)], strict=True))

    return columns, rows()
