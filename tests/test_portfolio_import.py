"""Portfolio CSV import against the real database, and the `dialer accounts` commands."""

import json
import re
from datetime import date

import pytest
import sqlalchemy
from click.testing import CliRunner
from sqlalchemy import func, select, text

from dialer.cli import main
from dialer.config import get_settings
from dialer.portfolio.importer import (
    ImportFileError,
    RowIssue,
    check_timezone,
    open_portfolio,
    parse_amount,
    parse_portfolio,
)
from dialer.portfolio.models import Account, Phone
from dialer.portfolio.sample import generate_portfolio_csv
from dialer.portfolio.service import (
    AccountError,
    account_to_dict,
    get_account,
    import_accounts,
    set_account_timezone,
)

HEADER = (
    "account_no,customer_name,national_id,product,overdue_amount,principal_outstanding,"
    "dpd,due_date,branch,mobile,home_phone,work_phone,reference_phone,reference_relation"
)


def csv_text(*rows: str, header: str = HEADER) -> str:
    return "\n".join((header, *rows)) + "\n"


def do_import(session, data, chunk_size=500):
    result = import_accounts(session, open_portfolio(data), chunk_size=chunk_size)
    session.commit()
    return result


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def phones_of(session, account_no):
    session.expire_all()
    account = get_account(session, account_no)
    return sorted(
        ((p.relation, p.number, p.dialable, p.reason) for p in account.phones),
        key=lambda t: (t[0], t[1]),
    )


HOA = "HD001,Nguyễn Thị Hoa,079185001234,cash loan,12.500.000,40.000.000,45,05/03/2026,Hà Nội,0901234567,028 3822 1234,,0912345678,mẹ"  # noqa: E501
BINH = 'HD002,Trần Văn Bình,001090004321,credit card,"3,200,000","9,000,000",12,2026-04-10,TP. Hồ Chí Minh,0381234567,,,,'  # noqa: E501


# --- the file as a whole ------------------------------------------------------------------


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_utf8_with_and_without_bom(session, bom):
    result = do_import(session, bom + csv_text(HOA, BINH).encode())
    assert (result.imported, result.updated, result.rejected) == (2, 0, [])
    hoa = get_account(session, "HD001")
    assert hoa.customer_name == "Nguyễn Thị Hoa"
    assert (hoa.overdue_amount, hoa.principal_outstanding, hoa.dpd) == (12_500_000, 40_000_000, 45)
    assert (hoa.due_date, hoa.branch, hoa.product) == (date(2026, 3, 5), "Hà Nội", "cash loan")
    assert hoa.national_id == "079185001234"
    assert [(p.relation, p.number, p.priority, p.dialable) for p in hoa.phones] == [
        ("mobile", "+84901234567", 0, True),
        ("home", "+842838221234", 1, True),
        ("reference", "+84912345678", 3, True),
    ]
    assert hoa.phones[2].reference_relation == "mẹ"
    assert get_account(session, "HD002").overdue_amount == 3_200_000


def test_header_names_are_trimmed_and_case_insensitive(session):
    header = " Account_No ,CUSTOMER_NAME,Overdue_Amount , DPD,Mobile"
    result = do_import(session, csv_text("HD010,Lê Thị Mai,1.000.000,3,0987654321", header=header))
    assert (result.imported, result.rejected) == (1, [])
    account = get_account(session, "HD010")
    assert (account.overdue_amount, account.dpd, account.principal_outstanding) == (1_000_000, 3, 0)
    assert (account.national_id, account.due_date, account.branch) == (None, None, None)


def test_semicolon_separated_export(session):
    text = HEADER.replace(",", ";") + "\nHD011;Phạm Văn Nam;;;12.500.000,00;;30;;;0987654321;;;;\n"
    result = do_import(session, text)
    assert (result.imported, result.rejected) == (1, [])
    assert get_account(session, "HD011").overdue_amount == 12_500_000


@pytest.mark.parametrize(
    "missing", ["account_no", "customer_name", "overdue_amount", "dpd", "mobile"]
)
def test_missing_required_column_refuses_the_file(session, missing):
    columns = HEADER.split(",")
    keep = [i for i, c in enumerate(columns) if c != missing]
    header = ",".join(columns[i] for i in keep)
    row = ",".join(HOA.split(",")[i] for i in keep)
    with pytest.raises(ImportFileError, match=rf"missing required column\(s\): {missing} "):
        open_portfolio(csv_text(row, header=header).encode())
    assert count(session, Account) == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (b"\xef\xbb\xbf \r\n\r\n", "the file is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not UTF-8"),
        (b'{"accounts": []}\n', "missing required column"),
        (
            b"account_no,customer_name,overdue_amount,dpd,mobile,dpd\n",
            "more than once: dpd",
        ),
        ("tên,số tiền\nHoa,1\n".encode("utf-16"), "not UTF-8"),
    ],
)
def test_files_that_are_not_portfolios_are_refused(data, message):
    with pytest.raises(ImportFileError, match=message):
        open_portfolio(data)


def test_non_utf8_file_is_refused_naming_the_line(session):
    data = csv_text(BINH, HOA).encode("cp1258", errors="replace")  # Windows Vietnamese
    with pytest.raises(ImportFileError) as refused:
        open_portfolio(data)
    assert "not UTF-8" in str(refused.value) and "on line 2" in str(refused.value)
    assert "CSV UTF-8" in str(refused.value)
    assert count(session, Account) == 0


# --- values --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written",
    ["12.500.000", "12,500,000", "12 500 000", "12500000", "12.500.000 đ", "12,500,000 VND",
     "12500000₫", "12500000.00", "12.500.000,00", "\u00a012\u00a0500\u00a0000 vnđ"],
)  # fmt: skip
def test_amount_separator_styles(session, written):
    row = f'HD020,Võ Thị Lan,,,"{written}","{written}",5,,,0901234567,,,,'
    result = do_import(session, csv_text(row))
    assert result.rejected == []
    account = get_account(session, "HD020")
    assert (account.overdue_amount, account.principal_outstanding) == (12_500_000, 12_500_000)


@pytest.mark.parametrize(
    ("written", "expected"),
    [("1.000", 1000), ("999", 999), ("0", 0), ("1,000.000", 1000), ("+5000", 5000)],
)
def test_parse_amount_edge_cases(written, expected):
    assert parse_amount(written) == expected


@pytest.mark.parametrize("written", ["05/03/2026", "5/3/2026", "05-03-2026", "2026-03-05"])
def test_date_formats(session, written):
    row = f"HD030,Đặng Văn Hùng,,,1000000,,5,{written},,0901234567,,,,"
    result = do_import(session, csv_text(row))
    assert result.rejected == []
    assert get_account(session, "HD030").due_date == date(2026, 3, 5)


def test_bad_rows_are_reported_with_their_line_numbers(session):
    text = csv_text(
        # Lines 2-4: one record whose quoted name runs over three physical lines.
        'HD101,"Nguyễn Văn\nAn\r\nNguyên",,,1.000.000,,10,,,0901234567,,,,',
        "HD102,Trần Thị Bích,,,12.5x,,10,,,0901234568,,,,",  # line 5
        "HD103,Lê Văn Cường,,,1.000.000,,10,31/02/2026,,0901234569,,,,",  # line 6
        'HD104,Phạm Thị Dung,,,"-1.000.000",,10,,,0901234570,,,,',  # line 7
        'HD105,Hoàng Văn Em,,,"12,5",,10,,,0901234571,,,,',  # line 8
        "HD106,Huỳnh Thị Giang,,,1.000.000,,-3,,,0901234572,,,,",  # line 9
        "HD107,Phan Văn Hải,,,1.000.000,,10,,,,,,,",  # line 10
        ",Vũ Thị Kim,,,1.000.000,,10,,,0901234573,,,,",  # line 11
        "HD108,,,,1.000.000,,10,,,0901234574,,,,",  # line 12
        "",  # line 13: blank
        "HD109,Bùi Văn Lâm,,,1.000.000,,abc,13/13/2026,,0901234575,,,,",  # line 14
        "HD110,Đỗ Thị Mơ,,,2.000.000,,10,,,0901234576,,,,",  # line 15, good
        "HD111,Hồ Văn, Nam,,,1.000.000,,10,,,0901234577,,,0912345678,mẹ",  # line 16: a comma
    )
    parsed = parse_portfolio(text.encode())
    reasons = {issue.line: issue.reason for issue in parsed.rejected}
    assert sorted(reasons) == [5, 6, 7, 8, 9, 10, 11, 12, 14, 16]
    assert reasons[5] == 'overdue_amount "12.5x" is not an amount'
    assert reasons[6] == 'due_date "31/02/2026" is not a real date'
    assert reasons[7] == 'overdue_amount "-1.000.000" is negative'
    assert reasons[8] == 'overdue_amount "12,5" has a fractional part (amounts are whole đồng)'
    assert reasons[9] == 'dpd "-3" is negative'
    assert reasons[10].startswith("no phone number")
    assert reasons[11] == "account_no is empty"
    assert reasons[12] == "customer_name is empty"
    assert reasons[14] == (
        'dpd "abc" is not a whole number of days; due_date "13/13/2026" is not a real date'
    )
    assert reasons[16].startswith("has 15 fields but the header has 14")
    assert [(row.line, row.account_no) for row in parsed.rows] == [(2, "HD101"), (15, "HD110")]
    assert parsed.rows[0].customer_name == "Nguyễn Văn An Nguyên"

    result = do_import(session, text)
    assert (result.imported, len(result.rejected)) == (2, 10)
    assert [r.line for r in result.rejected] == [5, 6, 7, 8, 9, 10, 11, 12, 14, 16]
    assert count(session, Account) == 2


def test_duplicate_account_no_rejects_the_later_line(session):
    text = csv_text(
        HOA,
        BINH,
        HOA.replace("Nguyễn Thị Hoa", "Nguyễn Thị Hoa (bản sao)").replace("12.500.000", "1.000"),
    )
    result = do_import(session, text)
    assert result.imported == 2
    assert result.rejected == [RowIssue(4, 'account_no "HD001" already appears on line 2')]
    account = get_account(session, "HD001")
    assert (account.customer_name, account.overdue_amount) == ("Nguyễn Thị Hoa", 12_500_000)


def test_oversized_values_are_row_errors_not_database_errors(session):
    long_branch = "Chi nhánh " * 10
    text = csv_text(
        f"HD120,Ngô Thị Nga,,,1.000.000,,5,,{long_branch},0901234567,,,,",
        f"{'X' * 65},Ngô Văn Phúc,,,1.000.000,,5,,,0901234568,,,,",
        "HD122,Ngô Văn Quý,,,1.000.000.000.000.000,,5,,,0901234569,,,,",
        "HD123,Dương Thị Ry,,,1.000.000,,5,,,0901234570,,,,",
    )
    result = do_import(session, text)
    assert [(r.line, r.reason) for r in result.rejected] == [
        (2, "branch is longer than 64 characters"),
        (3, "account_no is longer than 64 characters"),
        (4, 'overdue_amount "1.000.000.000.000.000" is too large'),
    ]
    assert result.imported == 1


# --- phones --------------------------------------------------------------------------------


def test_premium_invalid_and_legacy_numbers(session):
    text = csv_text(
        "HD201,Lý Thị Oanh,,,1.000.000,,5,,,01681234567,1900 1234,09123,,",
        "HD202,Dương Văn Phát,,,1.000.000,,5,,,,,028 3822 1234,0987 654 321,",
    )
    result = do_import(session, text)
    assert (result.imported, result.rejected) == (2, [])
    assert phones_of(session, "HD201") == [
        ("home", "+8419001234", False, "premium_rate"),
        ("mobile", "+84381234567", True, None),
        ("work", "09123", False, "invalid"),
    ]
    legacy = next(p for p in get_account(session, "HD201").phones if p.relation == "mobile")
    assert legacy.raw == "01681234567"
    assert [(w.line, w.reason) for w in result.warnings] == [
        (2, "mobile: converted legacy 11-digit mobile 0168****567 to 038****567"),
        (2, "home_phone +84*****234 is a premium-rate number; stored, not dialed"),
        (2, "work_phone 0*123 is not a valid phone number; stored, not dialed"),
        (3, "reference_phone has no reference_relation (who answers it?)"),
        (3, "no mobile number; the home/work phone will be dialed"),
    ]


def test_row_warnings_for_missing_and_odd_phones(session):
    text = csv_text(
        "HD210,Trần Thị Quỳnh,12345,,1.000.000,,5,,,N/A,,,0912345678,",
        "HD211,Trần Văn Sang,,,1.000.000,,5,,,0901234567 / 0912345678,0901234567,,,vợ",
        "HD212,Trần Văn Tài,,,1.000.000,,5,,,028 3822 1234,,,,",
    )
    result = do_import(session, text)
    assert result.rejected == []
    assert [(w.line, w.reason) for w in result.warnings] == [
        (2, "national_id is not a 9-digit CMND or 12-digit CCCD number"),
        (2, 'mobile "N/A" holds no digits; ignored'),
        (2, "reference_phone has no reference_relation (who answers it?)"),
        (2, "no mobile, home or work phone: only the reference can be called"),
        (3, "mobile holds 2 numbers; only the first (+84******567) was imported"),
        (3, "home_phone is the same number as the mobile phone; stored once"),
        (3, "reference_relation is given without a reference_phone; ignored"),
        (4, "mobile +84*******234 is a landline number"),
    ]
    assert phones_of(session, "HD211") == [("mobile", "+84901234567", True, None)]


def test_reasons_never_contain_raw_numbers_or_national_ids():
    numbers = ["01681234567", "0901234568", "09123456", "1900 1234", "0912345678"]
    text = csv_text(
        "HD301,Nguyễn Văn Tú,079185001234,,1.000.000,,5,,,01681234567,0901234568,09123456,"
        "1900 1234,",
        "HD302,Nguyễn Văn Út,0791850,,0912345678,,079185001235,,,0901234567,,,,",
        "HD301,Nguyễn Văn Tú,079185001234,,1.000.000,,5,,,0912345678,,,,",
        "0912345678,Nguyễn Văn Vĩnh,,,1.000.000,,5,,,0912345678,,,,",
        "0912345678,Nguyễn Văn Vĩnh,,,1.000.000,,5,,,0912345678,,,,",
    )
    parsed = parse_portfolio(text)
    reasons = [i.reason for i in parsed.rejected] + [w.reason for w in parsed.warnings]
    assert len(parsed.rejected) == 3 and len(parsed.warnings) >= 4
    for reason in reasons:
        digits_only = re.sub(r"\D", "", reason)
        for secret in [*numbers, "079185001234", "079185001235", "0791850"]:
            assert re.sub(r"\D", "", secret) not in digits_only, reason


def test_reimport_updates_and_counts(session):
    do_import(session, csv_text(HOA, BINH))
    changed = HOA.replace("12.500.000", "13.000.000").replace(",45,", ",75,")
    changed = changed.replace("Hà Nội", "Hải Phòng")
    third = "HD003,Lê Thị Cúc,,,500.000,,1,,,0971234567,,,,"
    result = do_import(session, csv_text(changed, BINH, third))
    assert (result.imported, result.updated, result.rejected) == (1, 2, [])
    session.expire_all()
    hoa = get_account(session, "HD001")
    assert (hoa.overdue_amount, hoa.dpd, hoa.branch) == (13_000_000, 75, "Hải Phòng")
    assert count(session, Account) == 3
    assert count(session, Phone) == 5  # nothing duplicated


def test_changed_number_replaces_the_old_phone_and_keeps_it(session):
    do_import(session, csv_text(HOA))
    before = {p.relation: p.id for p in get_account(session, "HD001").phones}
    do_import(session, csv_text(HOA.replace("0901234567", "0387654321")))
    assert phones_of(session, "HD001") == [
        ("home", "+842838221234", True, None),
        ("mobile", "+84387654321", True, None),
        ("mobile", "+84901234567", False, "replaced"),
        ("reference", "+84912345678", True, None),
    ]
    after = {(p.relation, p.number): p.id for p in get_account(session, "HD001").phones}
    assert after[("mobile", "+84901234567")] == before["mobile"]
    assert after[("home", "+842838221234")] == before["home"]
    # The old number coming back is the current one again.
    do_import(session, csv_text(HOA))
    assert ("mobile", "+84901234567", True, None) in phones_of(session, "HD001")
    assert ("mobile", "+84387654321", False, "replaced") in phones_of(session, "HD001")


def test_retired_phone_is_not_resurrected(session):
    do_import(session, csv_text(HOA))
    mobile = next(p for p in get_account(session, "HD001").phones if p.relation == "mobile")
    mobile.dialable, mobile.reason = False, "retired:NAB"
    session.commit()
    result = do_import(session, csv_text(HOA))
    assert (result.imported, result.updated) == (0, 1)
    assert phones_of(session, "HD001")[1] == ("mobile", "+84901234567", False, "retired:NAB")
    # A new mobile later: the retired one stays retired, not "replaced".
    do_import(session, csv_text(HOA.replace("0901234567", "0387654321")))
    assert phones_of(session, "HD001")[1:3] == [
        ("mobile", "+84387654321", True, None),
        ("mobile", "+84901234567", False, "retired:NAB"),
    ]


def test_chunks_and_in_file_repeats_through_the_service(session):
    rows = [
        f"HD4{i:02d},Nguyễn Thị Hoa {i},,,{i}.000.000,,{i},,,09012345{i:02d},,,,"
        for i in range(1, 8)
    ]
    result = do_import(session, csv_text(*rows), chunk_size=3)
    assert (result.imported, result.updated) == (7, 0)
    result = do_import(session, csv_text(*rows[2:]), chunk_size=2)
    assert (result.imported, result.updated) == (0, 5)
    assert count(session, Account) == 7 and count(session, Phone) == 7
    assert get_account(session, "HD407").overdue_amount == 7_000_000


def _many(i: int, mobile: str | None = None, overdue: int | None = None) -> str:
    """Account HD6ii with a mobile, a home phone and a reference; every other one without
    national ID and branch (None values mixed within one chunk)."""
    national_id, branch = (f"079185001{i:03d}", "Hà Nội") if i % 2 == 0 else ("", "")
    return (
        f"HD6{i:02d},Phạm Văn {i},{national_id},,{overdue or i}.000.000,,{i},,{branch},"
        f"{mobile or f'0901234{i:03d}'},028 3822 {1000 + i},,0912345{i:03d},mẹ"
    )


def test_reimport_in_many_chunks_keeps_every_rule(session):
    result = do_import(session, csv_text(*(_many(i) for i in range(12))), chunk_size=5)
    assert (result.imported, result.updated) == (12, 0)
    phones = {
        (p.account.account_no, p.relation, p.number): p for p in session.scalars(select(Phone))
    }
    assert len(phones) == 36
    for account_no in ("HD603", "HD604"):
        mobile = next(p for k, p in phones.items() if k[:2] == (account_no, "mobile"))
        mobile.dialable, mobile.reason = False, "retired:NAB"
    session.commit()
    session.expire_all()
    before = {k: (p.id, p.updated_at) for k, p in phones.items()}
    accounts_before = {a.account_no: a.updated_at for a in session.scalars(select(Account))}
    loaded = get_account(session, "HD601")  # held across the import: must not go stale

    # Every third mobile changes (HD603's retired one among them), every fourth amount; two
    # new accounts come in between; chunks of 4 put old and new accounts in one chunk.
    rows = [
        _many(i, mobile=f"0387654{i:03d}" if i % 3 == 0 else None,
              overdue=100 + i if i % 4 == 1 else None)
        for i in range(12)
    ]  # fmt: skip
    rows[5:5] = ["HD690,Đinh Thị Xuân,,,1.000.000,,9,,,0971234690,,,,"]
    rows.append("HD691,Đinh Văn Yên,,,1.000.000,,9,,,0971234691,0971234691,,0912345003,")
    result = do_import(session, csv_text(*rows), chunk_size=4)
    assert (result.imported, result.updated, result.rejected) == (2, 12, [])

    assert loaded.overdue_amount == 101_000_000
    session.expire_all()
    after = {
        (p.account.account_no, p.relation, p.number): p for p in session.scalars(select(Phone))
    }
    assert len(after) == 36 + 4 + 3  # new mobiles of HD600/603/606/609; HD690 and HD691
    for key, (phone_id, updated_at) in before.items():
        account_no, relation, _ = key
        phone = after[key]
        assert phone.id == phone_id  # nothing deleted or re-created
        if relation == "mobile" and int(account_no[3:]) % 3 == 0:
            expected = "retired:NAB" if account_no == "HD603" else "replaced"
            assert (phone.dialable, phone.reason) == (False, expected), key
            assert (phone.updated_at > updated_at) == (account_no != "HD603"), key
        else:
            retired = account_no in ("HD603", "HD604") and relation == "mobile"
            expected = (False, "retired:NAB") if retired else (True, None)
            assert (phone.dialable, phone.reason) == expected, key
            assert phone.updated_at == updated_at, key  # unchanged: not rewritten
    for i in (0, 3, 6, 9):
        assert (after[(f"HD6{i:02d}", "mobile", f"+84387654{i:03d}")].dialable) is True
    assert after[("HD691", "reference", "+84912345003")].reference_relation is None
    accounts = session.scalars(select(Account).where(Account.account_no < "HD690")).all()
    assert len(accounts) == 12
    for account in accounts:
        i = int(account.account_no[3:])
        assert account.overdue_amount == (100 + i if i % 4 == 1 else i) * 1_000_000
        assert account.national_id == (f"079185001{i:03d}" if i % 2 == 0 else None)
        assert (account.updated_at > accounts_before[account.account_no]) == (i % 4 == 1)
    assert [r.line for r in result.warnings] == [15, 15]  # HD691: same number twice, no mobile


def test_import_is_a_few_statements_per_chunk_whatever_the_rows(db, session):
    # Rows differ in which values are None (national ID, branch, reason, reference
    # relation): one executemany per table and chunk all the same, not one INSERT per phone.
    statements = []

    def count_statement(conn, cursor, statement, parameters, context, executemany):
        if not statement.startswith(("SHOW", "SET", "SELECT set_config")):
            statements.append(statement.split()[0])

    rows = [_many(i) for i in range(12)] + [
        f"HD7{i:02d},Võ Thị Bé,,,1.000.000,,3,,,0901234{i:03d},,09123,1900 1234," for i in range(12)
    ]
    sqlalchemy.event.listen(db.engine, "before_cursor_execute", count_statement)
    try:
        do_import(session, csv_text(*rows), chunk_size=8)
        first = len(statements)
        changed = [row.replace("0901234", "0387654") for row in rows]
        do_import(session, csv_text(*changed), chunk_size=8)
    finally:
        sqlalchemy.event.remove(db.engine, "before_cursor_execute", count_statement)
    # A chunk: look up accounts, INSERT accounts, SELECT their ids, INSERT phones...
    assert first == 3 * 4
    # ...or look up accounts, then phones; UPDATE phones (replaced), INSERT the new ones.
    assert len(statements) - first == 3 * 4
    assert count(session, Phone) == 12 * 3 + 12 * 3 + 24


def test_import_leaves_the_transaction_settings_alone(session):
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("PostgreSQL: the import plans its lookups as custom plans meanwhile")
    session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
    import_accounts(session, open_portfolio(csv_text(HOA)))
    assert session.execute(text("SHOW plan_cache_mode")).scalar() == "force_generic_plan"
    session.rollback()


def test_account_to_dict(session):
    do_import(session, csv_text(HOA))
    data = account_to_dict(get_account(session, "HD001"))
    assert data == {
        "account_no": "HD001",
        "customer_name": "Nguyễn Thị Hoa",
        "national_id": "*********234",
        "product": "cash loan",
        "overdue_amount": 12_500_000,
        "principal_outstanding": 40_000_000,
        "dpd": 45,
        "due_date": "2026-03-05",
        "branch": "Hà Nội",
        "status": "active",
        "timezone": None,
        "phones": [
            {"number": "+84901234567", "relation": "mobile", "dialable": True, "reason": None,
             "reference_relation": None},
            {"number": "+842838221234", "relation": "home", "dialable": True, "reason": None,
             "reference_relation": None},
            {"number": "+84912345678", "relation": "reference", "dialable": True,
             "reason": None, "reference_relation": "mẹ"},
        ],
    }  # fmt: skip
    assert get_account(session, "NOPE") is None


# --- timezone override ---------------------------------------------------------------------

TZ_HEADER = HEADER + ",timezone"


def test_timezone_column_sets_the_override_and_rejects_unknown_zones(session):
    multiline = 'HD003,"Lê Thị\nCúc",,,1.000.000,,5,,,0971234567,,,,,Asia/Hanoi'
    text = csv_text(
        HOA + ",America/New_York",
        BINH + ",",  # blank: no override
        multiline,  # runs over lines 4-5, unknown zone
        "HD004,Phạm Văn Dũng,,,1.000.000,,5,,,0981234567,,,,, asia/ho_chi_minh ",
        "HD005,Đỗ Thị Én,,,1.5,,5,,,0991234567,,,,,Mars/Olympus",  # two errors
        "HD006,Vũ Văn Phúc,,,1.000.000,,5,,,0961234567,,,,,localtime",  # the server's zone
        header=TZ_HEADER,
    )
    result = do_import(session, text, chunk_size=2)
    assert (result.imported, result.updated) == (3, 0)
    reasons = {issue.line: issue.reason for issue in result.rejected}
    assert reasons[4] == (
        'timezone: unknown time zone "Asia/Hanoi" (an IANA name such as Asia/Ho_Chi_Minh, '
        "America/New_York, Europe/London) (this record runs over lines 4-5: an unbalanced quote?)"
    )
    assert reasons[7].startswith('overdue_amount "1.5" has a fractional part')
    assert reasons[7].endswith('; timezone: unknown time zone "Mars/Olympus" (an IANA name such '
                               "as Asia/Ho_Chi_Minh, America/New_York, Europe/London)")  # fmt: skip
    assert reasons[8].startswith('timezone: unknown time zone "localtime"')
    assert set(reasons) == {4, 7, 8}
    zones = dict(session.execute(select(Account.account_no, Account.timezone)).all())
    assert zones == {"HD001": "America/New_York", "HD002": None, "HD004": "Asia/Ho_Chi_Minh"}
    assert open_portfolio(text).ignored_columns == ()


def test_reimport_changes_the_override_only_when_the_file_gives_one(session):
    do_import(session, csv_text(HOA + ",Europe/London", header=TZ_HEADER))

    def zone():
        session.expire_all()
        return get_account(session, "HD001").timezone

    assert zone() == "Europe/London"
    assert do_import(session, csv_text(HOA)).updated == 1  # no column: kept
    assert zone() == "Europe/London"
    do_import(session, csv_text(HOA + ",", header=TZ_HEADER))  # blank cell: kept
    assert zone() == "Europe/London"
    do_import(session, csv_text(HOA + ",America/Chicago", header=TZ_HEADER))
    assert zone() == "America/Chicago"
    assert account_to_dict(get_account(session, "HD001"))["timezone"] == "America/Chicago"


def test_set_account_timezone_validates_before_changing_anything(session):
    do_import(session, csv_text(HOA))
    assert set_account_timezone(session, "HD001", "asia/ho_chi_minh") == (None, "Asia/Ho_Chi_Minh")
    with pytest.raises(AccountError, match='unknown time zone "Asia/Hanoi"'):
        set_account_timezone(session, "HD001", "Asia/Hanoi")
    with pytest.raises(AccountError, match="no account 'HD404'"):
        set_account_timezone(session, "HD404", "Asia/Ho_Chi_Minh")
    with pytest.raises(AccountError, match="unknown time zone"):
        set_account_timezone(session, "HD404", "Mars/Olympus")  # the zone is checked first
    assert get_account(session, "HD001").timezone == "Asia/Ho_Chi_Minh"
    assert set_account_timezone(session, "HD001", None) == ("Asia/Ho_Chi_Minh", None)


# --- the sample portfolio ------------------------------------------------------------------


def test_sample_portfolio_imports_cleanly(session, tmp_path):
    path = tmp_path / "sample.csv"
    generate_portfolio_csv(path, 200, seed=42, today=date(2026, 11, 23))
    result = do_import(session, path.read_bytes())
    assert (result.imported, result.updated, result.rejected) == (200, 0, [])
    accounts = session.scalars(select(Account)).all()
    assert all(a.principal_outstanding > a.overdue_amount > 0 for a in accounts)
    dpds = [a.dpd for a in accounts]
    for low, high in ((1, 30), (31, 60), (61, 90), (91, 180), (181, 360)):
        assert any(low <= d <= high for d in dpds), (low, high)
    assert all(a.due_date == date.fromordinal(date(2026, 11, 23).toordinal() - a.dpd)
               for a in accounts)  # fmt: skip
    assert all(len(a.national_id) == 12 and a.national_id.isdigit() for a in accounts)
    legacy = [w for w in result.warnings if "converted legacy" in w.reason]
    assert 2 <= len(legacy) <= 25
    dialable = session.scalar(select(func.count()).where(Phone.dialable.is_(True)))
    assert dialable >= 200 * 0.9


def test_sample_is_deterministic_per_seed(tmp_path):
    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    generate_portfolio_csv(a, 50, seed=1, today=date(2026, 11, 23))
    generate_portfolio_csv(b, 50, seed=1, today=date(2026, 11, 23))
    generate_portfolio_csv(c, 50, seed=2, today=date(2026, 11, 23))
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()
    assert a.read_bytes().startswith(b"\xef\xbb\xbf" + HEADER.encode())


# --- the command line -----------------------------------------------------------------------


@pytest.fixture
def cli(db, settings, monkeypatch):
    """Runs `dialer ...` against the fixture's database."""
    monkeypatch.setenv("DIALER_HOME", str(settings.home))
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(main, [str(a) for a in args], catch_exceptions=False)
    get_settings.cache_clear()


def test_cli_import_json(cli, session, tmp_path):
    path = tmp_path / "portfolio.csv"
    path.write_text(csv_text(HOA, BINH, "HD003,Lê Thị Cúc,,,1.5,,1,,,0971234567,,,,"))
    result = cli("accounts", "import", path, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "imported": 2,
        "updated": 0,
        "rejected": [
            {
                "line": 4,
                "reason": 'overdue_amount "1.5" has a fractional part (amounts are whole đồng)',
            }
        ],
        "warnings": [],
    }
    result = cli("accounts", "import", path, "--json")
    assert json.loads(result.stdout)["updated"] == 2
    assert count(session, Account) == 2


def test_cli_import_summary_lists_the_first_twenty(cli, tmp_path):
    rows = [f"HD5{i:02d},Bùi Thị Uyên,,,1.000.000,,5,,,1900 12{i:02d},,,," for i in range(25)]
    path = tmp_path / "portfolio.csv"
    path.write_text(csv_text(*rows, "HD599,,,,1.000.000,,5,,,0901234567,,,,"))
    result = cli("accounts", "import", path)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "portfolio.csv: 25 new accounts, 0 updated, 1 rows rejected, 50 warnings."
    assert "Rejected rows (1):" in lines
    assert "  line 27: customer_name is empty" in lines
    assert "Warnings (50):" in lines
    assert sum(line.startswith("  line ") for line in lines) == 21
    assert lines[-1] == "  ... and 30 more"


def test_cli_refused_file_exits_2_and_writes_nothing(cli, session, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(csv_text(HOA).encode("cp1258", errors="replace"))
    result = cli("accounts", "import", path, "--json")
    assert result.exit_code == 2
    assert "not UTF-8" in json.loads(result.stdout)["error"]
    assert "bad.csv refused, nothing imported" in result.stderr
    path.write_text(csv_text(HOA, header="account_no,customer_name,mobile"))
    result = cli("accounts", "import", path)
    assert result.exit_code == 2 and result.stdout == ""
    assert "missing required column(s): overdue_amount, dpd" in result.stderr
    assert count(session, Account) == 0


def test_cli_file_broken_late_writes_nothing(cli, session, tmp_path):
    # 600 good rows (more than one flushed chunk), then a quote that never closes.
    rows = [f"HD{i:04d},Nguyễn Văn An,,,1.000.000,,5,,,0901234567,,,," for i in range(600)]
    runaway = 'HD9999,"Trần Văn Bình' + ("x" * 200_000)
    path = tmp_path / "broken.csv"
    path.write_text(csv_text(*rows, runaway))
    result = cli("accounts", "import", path)
    assert result.exit_code == 2
    assert "line 602" in result.stderr and "unbalanced quote" in result.stderr
    assert count(session, Account) == 0


def test_cli_import_nonexistent_path(cli, tmp_path):
    result = cli("accounts", "import", tmp_path / "nope.csv")
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_cli_show(cli, tmp_path):
    path = tmp_path / "portfolio.csv"
    path.write_text(csv_text(HOA))
    assert cli("accounts", "import", path).exit_code == 0
    result = cli("accounts", "show", "HD001", "--json")
    assert result.exit_code == 0
    assert '"customer_name": "Nguyễn Thị Hoa"' in result.stdout  # not \u escaped
    data = json.loads(result.stdout)
    assert data["national_id"] == "*********234"
    assert [p["number"] for p in data["phones"]] == ["+84901234567", "+842838221234",
                                                     "+84912345678"]  # fmt: skip
    result = cli("accounts", "show", "HD001")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[:5] == [
        "Account HD001: Nguyễn Thị Hoa",
        "  National ID: *********234",
        "  Product:     cash loan",
        "  Branch:      Hà Nội",
        "  Overdue:     12.500.000 ₫",
    ]
    assert "+84912345678" in result.stdout and "reference (mẹ)" in result.stdout


def test_cli_show_unknown_account(cli):
    result = cli("accounts", "show", "HD404")
    assert result.exit_code == 1
    assert "no account 'HD404'" in result.stderr


def test_cli_without_tables_says_to_upgrade(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    get_settings.cache_clear()
    result = cli("accounts", "show", "HD001")
    assert result.exit_code == 1
    assert "run `dialer db upgrade` first" in result.stderr


def test_cli_import_reads_the_timezone_column(cli, session, tmp_path):
    path = tmp_path / "portfolio.csv"
    path.write_text(
        csv_text(
            HOA + ",Asia/Ho_Chi_Minh", BINH + ",Asia/Hanoi", header=TZ_HEADER + ",note"
        ).replace("Asia/Ho_Chi_Minh\n", "Asia/Ho_Chi_Minh,x\n")
    )
    result = cli("accounts", "import", path)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "portfolio.csv: 1 new accounts, 0 updated, 1 rows rejected, 0 warnings."
    assert "Ignored columns: note" in lines  # timezone is read, not ignored
    assert '  line 3: timezone: unknown time zone "Asia/Hanoi"' in result.stdout
    assert json.loads(cli("accounts", "show", "HD001", "--json").stdout)["timezone"] == (
        "Asia/Ho_Chi_Minh"
    )
    assert "  Timezone:    Asia/Ho_Chi_Minh" in cli("accounts", "show", "HD001").stdout


@pytest.mark.parametrize("name", ["Etc/GMT+7", "EST", "UTC", "GMT", "Factory"])
def test_a_timezone_must_name_a_place(name):
    # "Etc/GMT+7" is UTC-7: a borrower in Hà Nội would be called 14 hours off.
    with pytest.raises(ValueError, match="unknown time zone"):
        check_timezone(name)
    assert check_timezone(" asia/HO_CHI_MINH ") == "Asia/Ho_Chi_Minh"
