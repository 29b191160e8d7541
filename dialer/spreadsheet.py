"""CSV exports a supervisor opens in Excel: UTF-8 with a byte order mark (Excel then reads
Vietnamese names right) and text that Excel would run as a formula quoted."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


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
    writer.writerow(columns)
    for n, row in enumerate(rows, start=1):
        writer.writerow([excel_cell(row[c]) if c in guarded else row[c] for c in columns])
        if n % chunk_rows == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
