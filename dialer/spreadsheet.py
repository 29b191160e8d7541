"""Exports a supervisor opens in Excel: CSV in UTF-8 with a byte order mark (Excel then
reads Vietnamese names right) and text that Excel would run as a formula quoted; XLSX with
real number and date cells and a frozen header row (XlsxWriter)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any, BinaryIO

import xlsxwriter

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
XLSX_MAX_ROWS = 1_048_576  # an Excel sheet's rows, the header's included


class TooManyRows(ValueError):
    """More rows than one Excel sheet holds: the CSV has no such limit."""


def excel_cell(value: Any) -> Any:
    """Text a spreadsheet would run as a formula (= + - @...) gets a leading quote."""
    if isinstance(value, str) and value[:1] in _FORMULA_STARTS:
        return "'" + value
    return value


def excel_csv(
    columns: Sequence[str],
    rows: Iterable[Mapping[str, Any]],
    *,
    guard: Iterable[str] = (),
    chunk_rows: int = 500,
) -> Iterator[str]:
    """The rows as CSV text, streamed in chunks: the byte order mark, a header, then one
    line per row with the `guard` columns (free text from files and people) quoted where
    Excel would run them. None is written as an empty cell."""
    guarded = set(guard)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow([excel_cell(c) for c in columns])  # a header may be a file's own
    for n, row in enumerate(rows, start=1):
        writer.writerow([excel_cell(row[c]) if c in guarded else row[c] for c in columns])
        if n % chunk_rows == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def xlsx(
    sheet: str,
    columns: Sequence[str],
    headers: Sequence[str],
    rows: Iterable[Mapping[str, Any]],
    *,
    amount_columns: Iterable[str] = (),
    rate_columns: Iterable[str] = (),
    out: BinaryIO | None = None,
) -> bytes | None:
    """One sheet: the header row frozen, numbers as numbers (amounts with thousands
    separators, rates as percentages), dates as dates (dd/mm/yyyy), text as text (never a
    formula). Written in constant memory, row by row; into `out` when given (a temporary
    file, for a large report: None is returned), else returned as bytes."""
    target = out if out is not None else io.BytesIO()
    book = xlsxwriter.Workbook(target, {"constant_memory": True, "strings_to_formulas": False})
    bold = book.add_format({"bold": True, "bg_color": "#E8EEF5"})
    day = book.add_format({"num_format": "dd/mm/yyyy"})
    moment = book.add_format({"num_format": "dd/mm/yyyy hh:mm"})
    money = book.add_format({"num_format": "#,##0"})
    percent = book.add_format({"num_format": "0.0%"})
    amounts, rates = set(amount_columns), set(rate_columns)
    ws = book.add_worksheet(sheet[:31])
    ws.freeze_panes(1, 0)
    for c, header in enumerate(headers):
        ws.write_string(0, c, header, bold)
        ws.set_column(c, c, max(10, min(40, len(header) + 2)))
    for r, row in enumerate(rows, start=1):
        if r >= XLSX_MAX_ROWS:  # XlsxWriter would drop the rest without a word
            book.close()
            raise TooManyRows(f"more than {XLSX_MAX_ROWS - 1:,} rows: an Excel sheet's limit")
        for c, name in enumerate(columns):
            value = row[name]
            if value is None:
                continue
            if isinstance(value, datetime):
                ws.write_datetime(r, c, value.replace(tzinfo=None), moment)
            elif isinstance(value, date):
                ws.write_datetime(r, c, datetime.combine(value, datetime.min.time()), day)
            elif isinstance(value, bool):
                ws.write_boolean(r, c, value)
            elif isinstance(value, int | float):
                shown = money if name in amounts else percent if name in rates else None
                ws.write_number(r, c, value, shown)
            else:
                ws.write_string(r, c, str(value))
    book.close()
    return None if out is not None else target.getvalue()
