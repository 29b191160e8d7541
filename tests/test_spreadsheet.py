"""The exports' own rules: a CSV header that a spreadsheet would run is quoted like any
cell, and an XLSX never drops rows past a sheet's limit without saying so."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from dialer import spreadsheet


def test_a_csv_header_taken_from_a_file_is_guarded_too():
    text = "".join(
        spreadsheet.excel_csv(["=HYPERLINK(1)", "name"], [{"=HYPERLINK(1)": 1, "name": "a"}])
    )
    header = next(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert header == ["'=HYPERLINK(1)", "name"]


def test_an_xlsx_past_a_sheets_rows_is_refused_not_cut(monkeypatch):
    # The limit made small (the real one is 1,048,576 rows), the same code path.
    monkeypatch.setattr(spreadsheet, "XLSX_MAX_ROWS", 4)
    rows = [{"n": n} for n in range(3)]
    book = load_workbook(io.BytesIO(spreadsheet.xlsx("s", ["n"], ["n"], rows)))
    assert [c.value for c in book.active["A"]] == ["n", 0, 1, 2]
    with pytest.raises(spreadsheet.TooManyRows):
        spreadsheet.xlsx("s", ["n"], ["n"], [*rows, {"n": 3}])
