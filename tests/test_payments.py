"""Payments: the API (idempotent by the bank's reference) and the CSV import, against the
real database; validation as pure functions."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import event, func, select

from dialer.app import create_app
from dialer.cli import main
from dialer.clock import Clock
from dialer.portfolio.models import Payment
from dialer.portfolio.payments import (
    PaymentInput,
    import_payments,
    normalized,
    read_payments,
    record_payment,
    validate_payment,
)
from dialer.runtime import reset_runtime
from tests import factories

TODAY = date(2026, 12, 1)
NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
AUTH = {"Authorization": "Bearer test-api-token"}


@pytest.fixture
def fixed_day(process_env, monkeypatch):
    """Every process (app, CLI) on a clock whose local today is 1 December 2026."""
    start = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)  # 10:00 in Hà Nội
    for name, value in Clock.started_now(1.0, sim_start=start).env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DIALER_API_TOKEN", "test-api-token")
    reset_runtime()
    yield process_env
    reset_runtime()


@pytest.fixture
def api(fixed_day):
    from dialer.config import load_settings

    app = create_app(load_settings())
    app.testing = True
    return app.test_client()


@pytest.fixture
def accounts(db):
    with db.begin() as s:
        return [factories.account(s, account_no=no).id for no in ("ACC001", "ACC002")]


def _count(db) -> int:
    with db.session() as s:
        return s.scalar(select(func.count(Payment.id)))


# --- validation (pure) -------------------------------------------------------------------


def _payment(**changes) -> PaymentInput:
    base = {"account_no": "ACC001", "amount": 1_000_000, "paid_on": TODAY, "reference": "FT1"}
    return normalized(PaymentInput(**{**base, **changes}))


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"amount": 0}, "amount must be above 0"),
        ({"amount": -5}, "amount must be above 0"),
        ({"amount": 10**15}, "amount must be below"),
        ({"paid_on": date(2026, 12, 2)}, "is after today"),
        ({"reference": "   "}, "reference (the bank's transaction reference) is required"),
        ({"reference": "F" * 65}, "reference is longer than 64"),
        ({"reference": "FT 1"}, "without spaces"),
        ({"account_no": ""}, "account_no is required"),
        ({"note": "x" * 501}, "note is longer than 500"),
    ],
)
def test_a_bad_payment_is_refused_with_a_reason(changes, problem):
    problems = validate_payment(_payment(**changes), TODAY)
    assert any(problem in p for p in problems), problems


def test_a_good_payment_passes_and_is_trimmed():
    given = _payment(reference="  FT26335A  ", account_no=" ACC001 ", channel=" ")
    assert validate_payment(given, TODAY) == []
    assert (given.reference, given.account_no, given.channel) == ("FT26335A", "ACC001", None)


# --- API ---------------------------------------------------------------------------------

BODY = {"account_no": "ACC001", "amount": 2_000_000, "paid_on": "2026-11-30", "reference": "FT1"}


def test_post_records_a_payment_and_a_replay_is_a_duplicate(api, db, accounts):
    first = api.post("/api/payments", json={**BODY, "channel": "branch"}, headers=AUTH)
    assert first.status_code == 201, first.json
    assert first.json["duplicate"] is False
    assert first.json["payment"]["amount"] == 2_000_000
    assert first.json["payment"]["channel"] == "branch"
    again = api.post("/api/payments", json={**BODY, "reference": " FT1 "}, headers=AUTH)
    assert again.status_code == 200
    assert again.json["duplicate"] is True
    assert again.json["payment"]["id"] == first.json["payment"]["id"]
    assert again.json["payment"]["channel"] == "branch"  # the stored one, unchanged
    assert _count(db) == 1


@pytest.mark.parametrize(
    "changes", [{"amount": 2_000_001}, {"paid_on": "2026-11-29"}, {"account_no": "ACC002"}]
)
def test_the_same_reference_with_other_content_is_refused(api, db, accounts, changes):
    assert api.post("/api/payments", json=BODY, headers=AUTH).status_code == 201
    refused = api.post("/api/payments", json={**BODY, **changes}, headers=AUTH)
    assert refused.status_code == 409
    assert "already recorded for a different payment" in refused.json["problems"][0]
    assert _count(db) == 1


def test_an_unknown_account_is_unmatched_and_nothing_is_written(api, db, accounts):
    refused = api.post("/api/payments", json={**BODY, "account_no": "NOPE9"}, headers=AUTH)
    assert refused.status_code == 422
    assert refused.json["error"].startswith("unmatched")
    assert "no account NOPE9" in refused.json["problems"][0]
    assert _count(db) == 0


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({**BODY, "amount": "2000000"}, "amount is required: a whole number"),
        ({**BODY, "amount": 1.5}, "amount is required: a whole number"),
        ({**BODY, "amount": 0}, "amount must be above 0"),
        ({**BODY, "paid_on": "30/11/2026"}, "paid_on is required: a date as YYYY-MM-DD"),
        ({**BODY, "paid_on": "2026-12-02"}, "after today"),
        ({**BODY, "reference": ""}, "reference (text) is required"),
        ({**BODY, "colour": "red"}, "unknown field(s): colour"),
    ],
)
def test_bad_bodies_are_refused_clearly(api, db, accounts, body, problem):
    refused = api.post("/api/payments", json=body, headers=AUTH)
    assert refused.status_code == 400
    assert any(problem in p for p in refused.json["problems"]), refused.json
    assert _count(db) == 0


def test_the_payments_api_needs_the_token(api, db, accounts):
    assert api.post("/api/payments", json=BODY).status_code == 401
    assert _count(db) == 0


# --- CSV import --------------------------------------------------------------------------


@pytest.fixture
def cli(fixed_day, accounts):
    runner = CliRunner()
    return lambda *args: runner.invoke(main, list(args), catch_exceptions=False)


def _write(tmp_path, text: str, name: str = "payments.csv", bom: bool = False):
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return str(path)


GOOD = (
    "account_no,amount,paid_on,reference,channel\n"
    'ACC001,"1.500.000",30/11/2026,FT100,chi nhánh\n'
    "ACC002,2500000,2026-11-29,FT101,\n"
)


def test_import_writes_payments_and_a_reimport_only_finds_duplicates(cli, db, tmp_path):
    path = _write(tmp_path, GOOD, bom=True)  # Excel's "CSV UTF-8" starts with a BOM
    first = cli("payments", "import", path, "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.output) == {
        "imported": 2,
        "duplicates": 0,
        "unmatched": 0,
        "rejected": [],
    }
    again = json.loads(cli("payments", "import", path, "--json").output)
    assert again == {"imported": 0, "duplicates": 2, "unmatched": 0, "rejected": []}
    with db.session() as s:
        rows = s.execute(
            select(Payment.reference, Payment.amount, Payment.paid_on, Payment.source)
        ).all()
    assert sorted(rows) == [
        ("FT100", 1_500_000, date(2026, 11, 30), "csv"),
        ("FT101", 2_500_000, date(2026, 11, 29), "csv"),
    ]


def test_bad_lines_unmatched_and_repeated_references_are_reported(cli, db, tmp_path):
    text = (
        "account_no,amount,paid_on,reference\n"
        "ACC001,1000000,30/11/2026,FT1\n"  # 2: imported
        "ACC001,1000000,30/11/2026,FT1\n"  # 3: same payment twice in the file: duplicate
        "ACC001,9000000,30/11/2026,FT1\n"  # 4: same reference, other amount
        "ZZZ999,1000000,30/11/2026,FT2\n"  # 5: no such account
        "ACC002,-5,30/11/2026,FT3\n"  # 6: negative
        "ACC002,1000000,02/12/2026,FT4\n"  # 7: after today
        "ACC002,1000000,31/02/2026,FT5\n"  # 8: not a date
        "ACC002,1000000,30/11/2026,\n"  # 9: no reference
        'ACC002,"1,5",30/11/2026,FT6\n'  # 10: fraction of a đồng
    )
    out = cli("payments", "import", _write(tmp_path, text), "--json")
    assert out.exit_code == 0, out.output
    body = json.loads(out.output)
    assert set(body) == {"imported", "duplicates", "unmatched", "rejected"}
    assert (body["imported"], body["duplicates"], body["unmatched"]) == (1, 1, 1)
    reasons = {r["line"]: r["reason"] for r in body["rejected"]}
    assert sorted(reasons) == [4, 5, 6, 7, 8, 9, 10]
    assert "already used on line 2 for a different payment" in reasons[4]
    assert reasons[5].startswith('unmatched: no account "ZZZ999"')
    assert "is negative" in reasons[6]
    assert "is after today" in reasons[7]
    assert "is not a real date" in reasons[8]
    assert "reference" in reasons[9]
    assert "fractional part" in reasons[10]
    assert _count(db) == 1


def test_a_csv_line_conflicting_with_a_stored_payment_is_rejected(cli, api, db, tmp_path):
    assert api.post("/api/payments", json=BODY, headers=AUTH).status_code == 201
    text = "account_no,amount,paid_on,reference\nACC001,2000000,30/11/2026,FT1\n"
    same = json.loads(cli("payments", "import", _write(tmp_path, text), "--json").output)
    assert (same["imported"], same["duplicates"], same["rejected"]) == (0, 1, [])
    other = text.replace("2000000", "3000000")
    body = json.loads(cli("payments", "import", _write(tmp_path, other, "b.csv"), "--json").output)
    assert body["rejected"][0]["line"] == 2
    assert "already recorded for a different payment" in body["rejected"][0]["reason"]
    assert _count(db) == 1


def test_a_file_missing_a_column_is_refused_whole(cli, db, tmp_path):
    text = "account_no,amount,reference\nACC001,1000000,FT1\n"
    out = cli("payments", "import", _write(tmp_path, text), "--json")
    assert out.exit_code == 2
    assert "missing required column(s): paid_on" in json.loads(out.stdout)["error"]
    assert _count(db) == 0


def test_a_semicolon_file_and_the_human_summary(cli, db, tmp_path):
    text = (
        "account_no;amount;paid_on;reference\nACC001;1.000.000;30/11/2026;FT7\nX;1;30/11/2026;FT8\n"
    )
    out = cli("payments", "import", _write(tmp_path, text))
    assert out.exit_code == 0
    assert "1 payments imported, 0 duplicates skipped, 1 unmatched" in out.output
    assert "0 lines rejected" in out.output
    assert 'line 3: unmatched: no account "X"' in out.output
    assert _count(db) == 1


def test_control_characters_in_a_json_body_are_refused_clearly(api):
    body = {
        "account_no": "HD001",
        "amount": 1_000_000,
        "paid_on": "2026-12-01",
        "reference": "FT1",
        "note": "chuyển\x00khoản",
    }
    got = api.post("/api/payments", json=body, headers=AUTH)
    assert got.status_code == 400
    assert "note holds a control character" in got.get_json()["error"]
    nested = api.post(
        "/api/payments", json={**body, "note": None, "x": [{"y": "a\x07"}]}, headers=AUTH
    )
    assert nested.status_code == 400 and "x.0.y" in nested.get_json()["error"]


def test_a_reference_recorded_through_the_api_during_an_import_costs_only_its_line(db, accounts):
    """The API records FT101 at the very moment the file's chunk inserts it: the chunk is
    planned again from what is stored then (FT101 a duplicate, the same payment), and the
    rest of the file is imported, not the whole file refused."""
    text = GOOD + "ACC001,700000,2026-11-28,FT102,\n"
    raced = []

    def the_api_records_ft101_first(conn, cursor, statement, params, context, many):
        if statement.lstrip().upper().startswith("INSERT INTO PAYMENTS") and not raced:
            raced.append(True)
            with db.begin() as other:  # another connection: the API's request, committed
                record_payment(
                    other,
                    PaymentInput("ACC002", 2_500_000, date(2026, 11, 29), "FT101"),
                    today=TODAY, now=NOW,
                )  # fmt: skip

    with db.session() as s:
        event.listen(db.engine, "before_cursor_execute", the_api_records_ft101_first)
        try:
            result = import_payments(s, read_payments(text.encode(), TODAY), now=NOW)
            s.commit()
        finally:
            event.remove(db.engine, "before_cursor_execute", the_api_records_ft101_first)
    assert raced and (result.imported, result.duplicates, result.rejected) == (2, 1, [])
    with db.session() as s:
        refs = sorted(s.scalars(select(Payment.reference)))
        sources = dict(s.execute(select(Payment.reference, Payment.source)).all())
    assert refs == ["FT100", "FT101", "FT102"] and sources["FT101"] == "api"
