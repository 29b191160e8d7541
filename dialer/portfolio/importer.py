"""Reading a bank's portfolio CSV export into validated rows: pure, no database.

The file is refused as a whole (ImportFileError) only when it cannot be read as a portfolio
at all: not UTF-8, empty, a required column missing, broken quoting. Otherwise every record
comes out either as an AccountRow (possibly with warnings) or as a RowIssue saying why that
line was rejected; a bad row never stops the file.

Reasons are written for a supervisor and never contain a raw phone number or national ID.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import BinaryIO, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from dialer.portfolio.phones import PhoneCheck, normalize_phone
from dialer.privacy import mask_phone, mask_text

# The export's columns, in the bank's order; the rest may be absent (read as empty).
COLUMNS = (
    "account_no",
    "customer_name",
    "national_id",
    "product",
    "overdue_amount",
    "principal_outstanding",
    "dpd",
    "due_date",
    "branch",
    "mobile",
    "home_phone",
    "work_phone",
    "reference_phone",
    "reference_relation",
    # Optional: the account's time zone override for the calling-hour rules (IANA name).
    "timezone",
)
REQUIRED_COLUMNS = ("account_no", "customer_name", "overdue_amount", "dpd", "mobile")
# CSV column -> Phone.relation, in dialing priority order.
PHONE_COLUMNS = (
    ("mobile", "mobile"),
    ("home_phone", "home"),
    ("work_phone", "work"),
    ("reference_phone", "reference"),
)
# Column sizes of the accounts/phones tables: longer values are row errors, not DB errors
# (on PostgreSQL one oversized value would abort the whole import transaction).
MAX_LENGTHS = {
    "account_no": 64,
    "customer_name": 200,
    "national_id": 32,
    "product": 64,
    "branch": 64,
    "reference_relation": 64,
}
MAX_AMOUNT = 10**15  # one quadrillion đồng: anything above is a broken cell, not a loan
MAX_DPD = 36_500  # a hundred years

_CURRENCY_RE = re.compile(r"\s*(?:đ|₫|vnd|vnđ|đồng)\.?\s*$", re.IGNORECASE)
_DMY_RE = re.compile(r"(\d{1,2})([/.-])(\d{1,2})\2(\d{4})")
_ISO_RE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
# Several numbers in one cell: "0901234567 / 0912345678".
_PHONE_SPLIT_RE = re.compile(r"\s*[/;,|]\s*")


class ImportFileError(ValueError):
    """The whole file is refused; nothing from it may be written."""


@dataclass(frozen=True, slots=True)
class RowIssue:
    """A rejected line (in a row stream) or a warning about an imported one."""

    line: int  # physical line where the record starts; the header is line 1
    reason: str


@dataclass(frozen=True, slots=True)
class PhoneEntry:
    relation: str  # mobile | home | work | reference
    check: PhoneCheck
    reference_relation: str | None = None


@dataclass(frozen=True, slots=True)
class AccountRow:
    """One valid record of the file, ready to be written."""

    line: int
    account_no: str
    customer_name: str
    national_id: str | None
    product: str | None
    overdue_amount: int
    principal_outstanding: int
    dpd: int
    due_date: date | None
    branch: str | None
    phones: tuple[PhoneEntry, ...]
    warnings: tuple[str, ...] = ()
    timezone: str | None = None  # None: the file does not say (an override is kept)


@dataclass
class ParsedPortfolio:
    """A whole file parsed in memory (small files, previews and tests)."""

    rows: list[AccountRow] = field(default_factory=list)
    rejected: list[RowIssue] = field(default_factory=list)
    ignored_columns: tuple[str, ...] = ()

    @property
    def warnings(self) -> list[RowIssue]:
        return [RowIssue(row.line, w) for row in self.rows for w in row.warnings]


# Zone names that exist in the tz database but say nothing about where a borrower is.
_NOT_PLACES = {"localtime", "Factory"}


@lru_cache(maxsize=1)
def _zones_by_folded_name() -> dict[str, str]:
    # Places only ("Region/City"): not "EST" or "Etc/GMT+7", whose sign is the reverse of
    # what it reads (UTC-7), an easy way to put a borrower 14 hours off.
    return {
        name.casefold(): name
        for name in available_timezones()
        if "/" in name and not name.startswith(("Etc/", "SystemV/")) and name not in _NOT_PLACES
    }


def check_timezone(name: str) -> str:
    """The IANA time zone `name` names, spelled as the tz database does ("asia/ho_chi_minh"
    gives "Asia/Ho_Chi_Minh"), or ValueError saying why it is not one."""
    zone = _zones_by_folded_name().get(name.strip().casefold())
    if zone is None:
        raise ValueError(
            f"unknown time zone {_show(name.strip())} (an IANA name such as "
            "Asia/Ho_Chi_Minh, America/New_York, Europe/London)"
        )
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"time zone {zone} cannot be loaded on this machine") from None
    return zone


def _show(value: str, limit: int = 40) -> str:
    """A cell value quoted for a message: anything that looks like a phone or ID masked."""
    value = mask_text(value)
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    return f'"{value}"'


def _text(value: str) -> str:
    # NFC: files from older Windows tools often carry decomposed Vietnamese ("tổ hợp") text,
    # which would not compare equal to the same name typed in the web console.
    return " ".join(unicodedata.normalize("NFC", value).split())


def parse_amount(text: str) -> int:
    """Whole đồng from "12.500.000", "12,500,000", "12 500 000 đ", "12500000.00"."""
    s = " ".join(unicodedata.normalize("NFC", text).split())
    s = _CURRENCY_RE.sub("", s)
    if not s:
        raise ValueError("is empty")
    if s.startswith("-") or (s.startswith("(") and s.endswith(")")):
        raise ValueError("is negative")
    s = s.removeprefix("+")
    if not re.fullmatch(r"[\d., ]*\d[\d., ]*", s, flags=re.ASCII):
        raise ValueError("is not an amount")
    last_dot, last_comma = s.rfind("."), s.rfind(",")
    decimal_sep = None
    if last_dot >= 0 and last_comma >= 0:
        decimal_sep = "." if last_dot > last_comma else ","
    elif last_dot >= 0 or last_comma >= 0:
        sep = "." if last_dot >= 0 else ","
        # One separator followed by exactly three digits groups thousands ("12.500");
        # otherwise it marks decimals ("12500000.00", "1,5").
        if s.count(sep) == 1 and len(s) - s.index(sep) - 1 != 3:
            decimal_sep = sep
    whole, fraction = s.rsplit(decimal_sep, 1) if decimal_sep else (s, "")
    if fraction and not fraction.isdigit():
        raise ValueError("is not an amount")
    if fraction.strip("0"):
        raise ValueError("has a fractional part (amounts are whole đồng)")
    groups = re.split(r"[., ]", whole)
    if not all(g.isdigit() for g in groups) or (
        len(groups) > 1 and (len(groups[0]) > 3 or any(len(g) != 3 for g in groups[1:]))
    ):
        raise ValueError("has misplaced thousand separators")
    value = int("".join(groups))
    if value >= MAX_AMOUNT:
        raise ValueError("is too large")
    return value


def parse_date(text: str) -> date:
    """A date from dd/mm/yyyy, d/m/yyyy, dd-mm-yyyy, dd.mm.yyyy or ISO yyyy-mm-dd."""
    s = text.strip()
    if m := _ISO_RE.fullmatch(s):
        year, month, day = int(m[1]), int(m[2]), int(m[3])
    elif m := _DMY_RE.fullmatch(s):
        day, month, year = int(m[1]), int(m[3]), int(m[4])
    else:
        raise ValueError("is not a date (use dd/mm/yyyy or yyyy-mm-dd)")
    if not 1900 <= year <= 2100:
        raise ValueError("has an implausible year")
    try:
        return date(year, month, day)
    except ValueError:
        raise ValueError("is not a real date") from None


def parse_dpd(text: str) -> int:
    """Days past due: a whole number from 0 to MAX_DPD."""
    s = text.strip()
    if re.fullmatch(r"-\s*\d+", s):
        raise ValueError("is negative")
    if not re.fullmatch(r"\+?\d+", s, flags=re.ASCII):
        raise ValueError("is not a whole number of days")
    value = int(s)
    if value > MAX_DPD:
        raise ValueError("is implausibly large")
    return value


def decode_csv(data: bytes) -> str:
    """A CSV file's bytes as text (UTF-8, with or without Excel's BOM), or a clear
    ImportFileError naming the line of the first unreadable byte."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ImportFileError(
            f"the file is not UTF-8 text (unreadable byte 0x{data[exc.start]:02x} on line "
            f'{line}); save it from the spreadsheet as "CSV UTF-8" and import it again'
        ) from None
    return text


def header_key(name: str) -> str:
    """A header cell as a column key: 'Account No' and 'account-no' read as account_no."""
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def detect_delimiter(first_line: str) -> str:
    """The delimiter the header line uses (comma, semicolon or tab)."""
    # Spreadsheets set to Vietnamese locale export with ";" (the comma is the decimal mark).
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


class PortfolioFile:
    """A decoded portfolio file whose header has been checked; iterate it for its rows.

    Iterating yields, in file order, an AccountRow for each good record and a RowIssue for
    each rejected one. The file can be iterated more than once.
    """

    def __init__(self, text: str, region: str = "VN") -> None:
        text = text.removeprefix("\ufeff")
        if "\x00" in text:
            raise ImportFileError(
                "the file contains NUL bytes: it is not a text CSV (saved as UTF-16 or Excel?)"
            )
        if not text.strip():
            raise ImportFileError("the file is empty")
        self.region = region
        self._text = text
        first_line_end = text.find("\n")
        self._delimiter = detect_delimiter(text if first_line_end < 0 else text[:first_line_end])
        reader = self._reader()
        header: list[str] = []
        try:
            for record in reader:
                if any(cell.strip() for cell in record):
                    header = record
                    break
        except csv.Error as exc:
            raise ImportFileError(f"the header line cannot be read as CSV ({exc})") from None
        self._header_line = reader.line_num
        keys = [header_key(name) for name in header]
        duplicated = sorted({k for k in keys if k and keys.count(k) > 1})
        if duplicated:
            raise ImportFileError(f"column(s) appear more than once: {', '.join(duplicated)}")
        missing = [c for c in REQUIRED_COLUMNS if c not in keys]
        if missing:
            found = ", ".join(_show(h, 30) for h in header[:8]) or "none"
            raise ImportFileError(
                f"missing required column(s): {', '.join(missing)} (columns found: {found}); "
                f"required are {', '.join(REQUIRED_COLUMNS)}"
            )
        self._keys = keys
        self.ignored_columns = tuple(
            h.strip() for h, k in zip(header, keys, strict=True) if k and k not in COLUMNS
        )

    def _reader(self):  # -> csv reader (its type is private to _csv)
        # newline="": the csv module sees \r\n inside quoted fields and counts lines right.
        return csv.reader(io.StringIO(self._text, newline=""), delimiter=self._delimiter)

    def __iter__(self) -> Iterator[AccountRow | RowIssue]:
        reader = self._reader()
        seen: dict[str, int] = {}
        previous_end = 0
        try:
            for record in reader:
                start, previous_end = previous_end + 1, reader.line_num
                if start <= self._header_line or not any(c.strip() for c in record):
                    continue
                yield _parse_record(record, self._keys, start, reader.line_num, seen, self.region)
        except csv.Error as exc:
            raise ImportFileError(
                f"line {previous_end + 1}: the CSV is malformed ({exc}); "
                "check for an unbalanced quote"
            ) from None


def open_portfolio(source: bytes | str | BinaryIO | TextIO, region: str = "VN") -> PortfolioFile:
    """Decode and check a portfolio file; raises ImportFileError when it is refused."""
    if not isinstance(source, bytes | str):
        source = source.read()
    text = decode_csv(source) if isinstance(source, bytes) else source
    return PortfolioFile(text, region)


def parse_portfolio(source: bytes | str | BinaryIO | TextIO, region: str = "VN") -> ParsedPortfolio:
    """Parse a whole file into memory (use open_portfolio to stream a large one)."""
    portfolio = open_portfolio(source, region)
    parsed = ParsedPortfolio(ignored_columns=portfolio.ignored_columns)
    for item in portfolio:
        if isinstance(item, AccountRow):
            parsed.rows.append(item)
        else:
            parsed.rejected.append(item)
    return parsed


def _parse_record(
    record: list[str],
    keys: list[str],
    line: int,
    end_line: int,
    seen: dict[str, int],
    region: str,
) -> AccountRow | RowIssue:
    errors: list[str] = []
    warnings: list[str] = []
    extra = record[len(keys) :]
    if any(cell.strip() for cell in extra):
        errors.append(
            f"has {len(record)} fields but the header has {len(keys)} "
            "(a comma inside a value that is not quoted?)"
        )
    cells = dict(zip(keys, record, strict=False))
    values = {column: _text(cells.get(column, "")) for column in COLUMNS}

    for column, limit in MAX_LENGTHS.items():
        if len(values[column]) > limit:
            errors.append(f"{column} is longer than {limit} characters")
    account_no = values["account_no"]
    if not account_no:
        errors.append("account_no is empty")
    elif account_no in seen:
        errors.append(f"account_no {_show(account_no)} already appears on line {seen[account_no]}")
    else:
        seen[account_no] = line
    if not values["customer_name"]:
        errors.append("customer_name is empty")

    national_id = values["national_id"].replace(" ", "") or None
    if national_id and not (national_id.isdigit() and len(national_id) in (9, 12)):
        warnings.append("national_id is not a 9-digit CMND or 12-digit CCCD number")

    amounts: dict[str, int] = {}
    for column in ("overdue_amount", "principal_outstanding"):
        raw = values[column]
        if not raw and column == "principal_outstanding":
            amounts[column] = 0
            continue
        try:
            amounts[column] = parse_amount(raw)
        except ValueError as exc:
            shown = f" {_show(raw)}" if raw else ""
            errors.append(f"{column}{shown} {exc}")

    dpd = None
    try:
        dpd = parse_dpd(values["dpd"])
    except ValueError as exc:
        errors.append(f"dpd {_show(values['dpd'])} {exc}" if values["dpd"] else "dpd is empty")

    due_date = None
    if values["due_date"]:
        try:
            due_date = parse_date(values["due_date"])
        except ValueError as exc:
            errors.append(f"due_date {_show(values['due_date'])} {exc}")

    timezone = None
    if values["timezone"]:
        try:
            timezone = check_timezone(values["timezone"])
        except ValueError as exc:
            errors.append(f"timezone: {exc}")

    phones = _parse_phones(values, region, warnings)
    if not phones:
        errors.append("no phone number (mobile, home_phone, work_phone, reference_phone all empty)")

    if errors:
        reason = "; ".join(errors)
        if end_line > line:
            reason += f" (this record runs over lines {line}-{end_line}: an unbalanced quote?)"
        return RowIssue(line, reason)
    assert dpd is not None  # no error was recorded, so it parsed
    return AccountRow(
        line=line,
        account_no=account_no,
        customer_name=values["customer_name"],
        national_id=national_id,
        product=values["product"] or None,
        overdue_amount=amounts["overdue_amount"],
        principal_outstanding=amounts["principal_outstanding"],
        dpd=dpd,
        due_date=due_date,
        branch=values["branch"] or None,
        phones=tuple(phones),
        warnings=tuple(warnings),
        timezone=timezone,
    )


def _parse_phones(values: dict[str, str], region: str, warnings: list[str]) -> list[PhoneEntry]:
    """The row's phones in priority order; appends what a supervisor should know to warnings."""
    entries: list[PhoneEntry] = []
    reference_relation = values["reference_relation"] or None
    for column, relation in PHONE_COLUMNS:
        cell = values[column]
        if not cell:
            continue
        parts = [p for p in _PHONE_SPLIT_RE.split(cell) if p]
        # Only separators (",", " / "...): as empty as "N/A" (found by tests/test_fuzz_inputs.py).
        check = normalize_phone(parts[0] if parts else "", region)
        if check.reason == "empty":
            # "N/A", "không có", "-": a placeholder, not a number.
            warnings.append(f"{column} {_show(cell)} holds no digits; ignored")
            continue
        shown = mask_phone(check.number)
        if len(parts) > 1:
            warnings.append(
                f"{column} holds {len(parts)} numbers; only the first ({shown}) was imported"
            )
        if check.warning:
            warnings.append(f"{column}: {check.warning}")
        if check.reason == "invalid":
            warnings.append(f"{column} {shown} is not a valid phone number; stored, not dialed")
        elif check.reason == "premium_rate":
            warnings.append(f"{column} {shown} is a premium-rate number; stored, not dialed")
        elif relation == "mobile" and check.kind == "fixed_line":
            warnings.append(f"mobile {shown} is a landline number")
        duplicate = next((e for e in entries if e.check.number == check.number), None)
        if duplicate is not None:
            warnings.append(
                f"{column} is the same number as the {duplicate.relation} phone; stored once"
            )
            continue
        entries.append(
            PhoneEntry(relation, check, reference_relation if relation == "reference" else None)
        )

    relations = {e.relation for e in entries}
    has_reference = bool(values["reference_phone"])
    if "reference" in relations and not reference_relation:
        warnings.append("reference_phone has no reference_relation (who answers it?)")
    if reference_relation and not has_reference:
        warnings.append("reference_relation is given without a reference_phone; ignored")
    if entries and "mobile" not in relations:
        if relations & {"home", "work"}:
            warnings.append("no mobile number; the home/work phone will be dialed")
        else:
            warnings.append("no mobile, home or work phone: only the reference can be called")
    if entries and not any(e.check.dialable for e in entries):
        warnings.append("no dialable phone number")
    return entries
