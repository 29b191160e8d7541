"""What every console page shares: staff only, and a report's rows sent as a CSV or XLSX
file."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import wraps
from typing import Any

from flask import Response, abort, stream_with_context
from flask_login import current_user, login_required

from dialer.auth import access
from dialer.spreadsheet import TooManyRows, excel_csv, xlsx

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FILE_KINDS = ("csv", "xlsx")
SPOOL_BYTES = 8 * 1024 * 1024
CHUNK_BYTES = 256 * 1024


def staff_required(view):
    """A signed-in team lead or administrator (an agent is refused: 403)."""

    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if access.has_bearer() or current_user.role not in access.STAFF:
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def table_file(
    kind: str,
    *,
    filename: str,
    sheet: str,
    columns: Sequence[str],
    headers: Sequence[str],
    rows: Iterable[Mapping[str, Any]],
    amount_columns: Iterable[str] = (),
    rate_columns: Iterable[str] = (),
    guard: Iterable[str] = (),
) -> Response:
    """The rows as a download: CSV (UTF-8 with BOM, streamed as the rows come; `guard` are
    the free-text columns quoted where Excel would run them) or XLSX (real numbers and
    dates, header frozen, written in constant memory). `rows` may be a generator that reads
    the database as it goes."""
    if kind not in FILE_KINDS:
        abort(404)
    disposition = {"Content-Disposition": f'attachment; filename="{filename}.{kind}"'}
    if kind == "csv":
        by_column = dict(zip(columns, headers, strict=True))
        labelled = ({by_column[c]: row[c] for c in columns} for row in rows)
        guarded = [by_column[c] for c in guard]

        def chunks() -> Iterator[bytes]:
            for text in excel_csv(headers, labelled, guard=guarded):
                yield text.encode("utf-8")

        return Response(
            stream_with_context(chunks()),
            content_type="text/csv; charset=utf-8",
            headers=disposition,
        )
    # Written to a temporary file (on disk past a few MB, so a million rows do not sit in
    # memory), then sent from it in chunks.
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (closed by sent)
    try:
        xlsx(
            sheet,
            columns,
            headers,
            rows,
            amount_columns=amount_columns,
            rate_columns=rate_columns,
            out=spool,
        )
    except TooManyRows:
        spool.close()
        abort(422)  # the page says: download the CSV
    except BaseException:
        spool.close()
        raise
    size = spool.tell()
    spool.seek(0)

    def sent() -> Iterator[bytes]:
        with spool:
            while chunk := spool.read(CHUNK_BYTES):
                yield chunk

    disposition["Content-Length"] = str(size)
    response = Response(sent(), content_type=XLSX_TYPE, headers=disposition)
    response.call_on_close(spool.close)  # also when the body is never read (HEAD, a hang-up)
    return response
