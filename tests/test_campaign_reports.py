"""Supervisor reports (dialer/campaigns/reports.py) through the CLI and the JSON API, against
the real SQL database and Redis: entries in dial order with their score explained, blocked
dials by rule (JSON, CSV for Excel), and the daily-template actions of the API."""

from __future__ import annotations

import ast
import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import event, func, select, text, tuple_

from dialer.app import create_app
from dialer.campaigns import attempts, builder, compliance, reports, service
from dialer.campaigns.models import (
    DIAL_ORDER,
    Campaign,
    CampaignEntry,
    CampaignTemplate,
    DncNumber,
)
from dialer.cli import main
from dialer.clock import Clock
from dialer.config import load_settings
from dialer.outcomes.catalogue import seed_default_codes
from dialer.portfolio.models import Account
from dialer.runtime import Runtime
from tests import factories

VN = "Asia/Ho_Chi_Minh"
BUILT = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)  # Wednesday 10:00 in Hà Nội
LATE = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # 22:00 local: outside the calling window
NEXT_DAY = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)  # Thursday 10:00 local
AUTH = {"Authorization": "Bearer test-api-token"}


@pytest.fixture
def env(process_env, db):
    """The CLI's runtime (from the environment) and the API's, on the test database."""
    with db.begin() as s:
        seed_default_codes(s)


@pytest.fixture
def cli(env):
    runner = CliRunner()
    return lambda *args: runner.invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def api(env, settings):
    app = create_app(runtime=Runtime(settings))
    return app.test_client()


def _launch(db, ranking=None) -> int:
    """A campaign over the accounts of DPD up to 360 in the database, built at BUILT."""
    with db.begin() as s:
        campaign = service.create_campaign(
            s, "B-all sáng", filters={"dpd_max": 360}, ranking=ranking or {}
        )
        service.launch(s, campaign, BUILT, VN)
        return campaign.id


@pytest.fixture
def portfolio(env, db):
    """Three callable accounts (two of them with equal scores) and two the build leaves out."""
    with db.begin() as s:
        # B4, 9 M overdue: bucket 40 + amount 10 + recency 10 (never contacted) = 60.
        factories.account(
            s,
            account_no="VCB-001",
            customer_name="Nguyễn Thị Hằng",
            dpd=100,
            overdue=9_000_000,
            phones=(("+84901000100", "mobile"),),
        )
        # B2, 99 M: 20 + 20 + 10 = 50; B1, 999 M: 10 + 30 + 10 = 50 (tie: higher DPD first).
        factories.account(
            s,
            account_no="VCB-002",
            customer_name="Trần Văn Đức",
            dpd=45,
            overdue=99_000_000,
            phones=(("+84901000045", "mobile"),),
        )
        factories.account(
            s,
            account_no="VCB-003",
            customer_name="Lê Thị Ánh",
            dpd=10,
            overdue=999_000_000,
            phones=(("+84901000010", "mobile"),),
        )
        factories.account(s, account_no="VCB-004", status="closed")
        factories.account(s, account_no="VCB-005", phones=())
        factories.account(s, account_no="OTHER-1", dpd=400)  # outside the filter


def _entry(s, campaign_id: int, account_no: str) -> tuple[CampaignEntry, Account]:
    account = s.scalar(select(Account).where(Account.account_no == account_no))
    entry = s.scalar(
        select(CampaignEntry).where(
            CampaignEntry.campaign_id == campaign_id, CampaignEntry.account_id == account.id
        )
    )
    return entry, account


@pytest.fixture
def blocked(db, portfolio) -> int:
    """A built campaign with three dials stopped by real checks: the calling window (late
    on the first day), the DNC list and a suppression (both the next day)."""
    campaign_id = _launch(db)
    with db.begin() as s:
        campaign = s.get_one(Campaign, campaign_id)
        for account_no, now, prepare in (
            ("VCB-001", LATE, None),
            ("VCB-002", NEXT_DAY, "dnc"),
            ("VCB-003", NEXT_DAY.replace(hour=4), "suppress"),
        ):
            entry, account = _entry(s, campaign_id, account_no)
            phone = account.phones[0]
            if prepare == "dnc":
                s.add(DncNumber(number=phone.number, reason="opt-out"))
                s.flush()
            if prepare == "suppress":
                account.suppressed_until = now.date()
                verdict = attempts.account_hold(s, account, now.date())
                phone = None
            else:
                verdict = attempts.compliance_verdict(
                    s, campaign, account, phone, now, VN, ring_timeout=25
                )
            assert verdict is not None and not verdict.allowed
            attempts.record_block(s, entry, phone, verdict, now)
    return campaign_id


# --- entries in dial order ----------------------------------------------------------------


def test_entries_come_in_dial_order_with_their_components(cli, portfolio, db):
    campaign_id = _launch(db)
    result = cli("campaign", "entries", campaign_id, "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["position"], r["rank"], r["account_no"], r["score"]) for r in rows] == [
        (1, 1, "VCB-001", 60.0),
        (2, 2, "VCB-002", 50.0),
        (3, 3, "VCB-003", 50.0),
    ]
    first = rows[0]
    assert first["components"] == {
        "callback": 0.0,
        "broken": 0.0,
        "bucket": 40.0,
        "amount": 10.0,
        "recency": 10.0,
        "rpc": 0.0,
        "attempts": 0.0,
    }
    assert (first["customer_name"], first["dpd"], first["overdue_amount"]) == (
        "Nguyễn Thị Hằng",
        100,
        9_000_000,
    )
    assert (first["state"], first["attempts"], first["last_result"], first["not_before"]) == (
        "queued",
        0,
        None,
        None,
    )
    # The components stored by the build add up to the score.
    for row in rows:
        assert sum(row["components"].values()) == pytest.approx(row["score"])

    table = cli("campaign", "entries", campaign_id).output.splitlines()
    assert "customer" in table[0] and "components" in table[0]
    assert "Trần Văn Đức" in table[2] and "99,000,000" in table[2]
    assert "bucket +20, amount +20, recency +10" in table[2]

    page = json.loads(cli("campaign", "entries", campaign_id, "--limit", 1, "--json").output)
    assert [r["account_no"] for r in page] == ["VCB-001"]
    later = cli("campaign", "entries", campaign_id, "--limit", 1, "--offset", 2, "--json")
    assert [r["account_no"] for r in json.loads(later.output)] == ["VCB-003"]


def test_a_state_filter_keeps_each_entrys_place_in_the_whole_order(cli, blocked):
    # The DNC and suppression blocks closed their entries; the calling window's is queued
    # again for the window's next opening.
    done = json.loads(cli("campaign", "entries", blocked, "--state", "done", "--json").output)
    assert [(r["position"], r["account_no"], r["last_result"]) for r in done] == [
        (2, "VCB-002", "blocked:dnc"),
        (3, "VCB-003", "blocked:suppressed"),
    ]
    queued = json.loads(cli("campaign", "entries", blocked, "--state", "queued", "--json").output)
    assert [(r["position"], r["account_no"]) for r in queued] == [(1, "VCB-001")]
    # The calling-window block keeps the window's next opening: 07:00 local the next day.
    assert queued[0]["not_before"] == "2026-12-03T07:00:00+07:00"


def test_key_set_pages_walk_the_whole_dial_order(db, env):
    """Pages after a cursor give the order SQL gives (score down, rank up with the unranked
    last, id), each entry's place in the whole campaign, with or without a state filter."""
    with db.begin() as s:
        c = factories.campaign(s)
        for n in range(23):
            acc = factories.account(s, account_no=f"KS-{n:03}")
            rank = None if n % 5 == 0 else 23 - n
            factories.entry(
                s, campaign=c, account=acc, score=float(n % 4), rank=rank,
                state="done" if n % 3 == 0 else "queued",
            )  # fmt: skip
        campaign_id = c.id
    with db.session() as s:
        rows = s.execute(
            select(CampaignEntry.id, CampaignEntry.score, CampaignEntry.rank, CampaignEntry.state)
            .where(CampaignEntry.campaign_id == campaign_id)
        ).all()  # fmt: skip
        expected = sorted(rows, key=lambda r: (-r.score, r.rank is None, r.rank or 0, r.id))
        places = {r.id: n for n, r in enumerate(expected, start=1)}
        for state in (None, "done", "queued"):
            walked, after = [], None
            while True:
                page = reports.list_entries(
                    s, campaign_id, tz=VN, state=state, limit=4, after=after
                )
                if not page:
                    break
                walked += page
                after = page[-1]["cursor"]
            want = [r.id for r in expected if state in (None, r.state)]
            assert [e["entry_id"] for e in walked] == want
            assert all(e["position"] == places[e["entry_id"]] for e in walked)
        # An offset page of one state still numbers the entries in the whole campaign.
        deep = reports.list_entries(s, campaign_id, tz=VN, state="queued", limit=2, offset=5)
        assert [e["position"] for e in deep] == [
            places[r.id] for r in expected if r.state == "queued"
        ][5:7]
        with pytest.raises(reports.ReportError, match="cursor"):
            reports.list_entries(s, campaign_id, tz=VN, after="12")
        with pytest.raises(reports.ReportError, match="not in campaign"):
            reports.list_entries(s, campaign_id, tz=VN, after="999999:3")


def test_the_dial_order_index_exists_and_serves_a_page(db, env):
    """Alembic cannot compare expression indexes, so this test does: migration 0012 made
    it, and (SQLite) a key-set page and a place count read it as a range."""
    with db.session() as s:
        if db.engine.dialect.name == "sqlite":
            names = s.scalars(text("SELECT name FROM sqlite_master WHERE type = 'index'"))
        else:
            names = s.scalars(text("SELECT indexname FROM pg_indexes"))
        assert "ix_campaign_entries_dial_order" in set(names)
        if db.engine.dialect.name != "sqlite":
            return
        key = (-30.0, 5, 7)
        page = reports._entries(1).where(DIAL_ORDER[0] > key[0]).limit(20)
        count = select(func.count()).where(
            CampaignEntry.campaign_id == 1, DIAL_ORDER[0] <= key[0], tuple_(*DIAL_ORDER) < key
        )
        for query in (page, count):
            compiled = query.compile(db.engine)  # bound values as the report binds them
            values = tuple(compiled.params[name] for name in compiled.positiontup)
            rows = s.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", values)
            plan = " ".join(str(row[-1]) for row in rows)
            assert "ix_campaign_entries_dial_order (campaign_id=? AND <expr>" in plan, plan


def test_one_account_is_explained_component_by_component(cli, portfolio, db):
    campaign_id = _launch(db, ranking={"bucket": 15, "rpc": 0})
    result = cli("campaign", "entries", campaign_id, "--account", "VCB-002", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert (out["account_no"], out["position"], out["score"]) == ("VCB-002", 2, 60.0)
    assert {line["component"]: line["text"] for line in out["explanation"]} == {
        "callback": "no callback due: 0",
        "broken": "no promise broken in the last 7 days: 0",
        "bucket": "bucket B2: +30 (15 per bucket)",
        "amount": "overdue 99,000,000 VND: +20 (10 × log10(1 + overdue / 1,000,000))",
        "recency": "no contact for 30 days or more (or never): +10",
        "rpc": "rpc: 0 (weight 0 in this campaign: switched off)",
        "attempts": "no calls placed today: 0",
    }
    assert out["weights"]["per_bucket"] == 15.0 and out["weights"]["amount"] == 10.0
    assert out["weight_overrides"] == {"bucket": 15, "rpc": 0}

    text = cli("campaign", "entries", campaign_id, "--account", "VCB-002").output
    assert "Account VCB-002 (Trần Văn Đức): position 2" in text
    assert "bucket B2: +30 (15 per bucket)" in text
    assert "weights: defaults with bucket=15, rpc=0" in text


def test_explanations_of_calls_today_and_a_recent_contact():
    entry = {"dpd": 75, "overdue_amount": 0}
    w = reports.weights_from({})
    assert reports.explain_component("attempts", -10.0, entry, w) == (
        "2 call(s) placed today: -10 (-5 per call)"
    )
    assert reports.explain_component("recency", 2.0, entry, w) == (
        "last contact 6 days ago: +2 (6 ÷ 3)"
    )
    assert reports.explain_component("bucket", 20.0, entry, w) == (
        "bucket B2: +20 (10 per bucket); DPD is 75 (B3) now"
    )
    assert reports.explain_component("callback", 1000.0, entry, w) == "callback due: +1,000"


def test_entries_refuse_unknown_campaigns_and_accounts(cli, portfolio, db):
    campaign_id = _launch(db)
    missing = cli("campaign", "entries", 999)
    assert missing.exit_code == 1 and "no campaign 999" in missing.output
    nobody = cli("campaign", "entries", campaign_id, "--account", "NOPE")
    assert nobody.exit_code == 1 and "no account NOPE" in nobody.output
    outside = cli("campaign", "entries", campaign_id, "--account", "OTHER-1")
    assert outside.exit_code == 1
    assert f"account OTHER-1 is not in campaign {campaign_id}" in outside.output
    bad = cli("campaign", "entries", campaign_id, "--state", "ringing")
    assert bad.exit_code == 2


# --- blocked dials ------------------------------------------------------------------------


def test_blocked_report_counts_by_rule_and_lists_the_latest(cli, blocked):
    result = cli("campaign", "blocked", blocked, "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["by_rule"] == {"calling_window": 1, "dnc": 1, "suppressed": 1}
    assert out["excluded_at_build"] == {"account_closed": 1, "no_callable_phone": 1}
    assert out["rows"] == [
        {
            "at": "2026-12-03T11:00:00+07:00",
            "account_no": "VCB-003",
            "customer_name": "Lê Thị Ánh",
            "phone": None,
            "rule": "suppressed",
            "detail": "no calls until 2026-12-03",
        },
        {
            "at": "2026-12-03T10:00:00+07:00",
            "account_no": "VCB-002",
            "customer_name": "Trần Văn Đức",
            "phone": "+84******045",
            "rule": "dnc",
            "detail": "the number is on the do-not-call list",
        },
        {
            "at": "2026-12-02T22:00:00+07:00",
            "account_no": "VCB-001",
            "customer_name": "Nguyễn Thị Hằng",
            "phone": "+84******100",
            "rule": "calling_window",
            "detail": "22:00 local is outside 07:00-21:00",
        },
    ]
    since = json.loads(
        cli("campaign", "blocked", blocked, "--since", "2026-12-03", "--json").output
    )
    assert since["by_rule"] == {"dnc": 1, "suppressed": 1}
    assert [r["account_no"] for r in since["rows"]] == ["VCB-003", "VCB-002"]
    one = json.loads(cli("campaign", "blocked", blocked, "--rule", "dnc", "--json").output)
    assert one["by_rule"] == {"dnc": 1} and one["excluded_at_build"] == {}
    assert [r["rule"] for r in one["rows"]] == ["dnc"]
    build = json.loads(
        cli("campaign", "blocked", blocked, "--rule", "no_callable_phone", "--json").output
    )
    assert build == {"by_rule": {}, "excluded_at_build": {"no_callable_phone": 1}, "rows": []}
    latest = json.loads(cli("campaign", "blocked", blocked, "--limit", 1, "--json").output)
    assert [r["rule"] for r in latest["rows"]] == ["suppressed"]

    text = cli("campaign", "blocked", blocked).output
    assert "stopped at dial time: 3" in text and "left out at launch: 2" in text
    assert "2026-12-03 10:00  VCB-002  Trần Văn Đức  +84******045  dnc" in text
    assert "+84901000045" not in text


def test_blocked_report_refuses_unknown_rules_dates_and_campaigns(cli, blocked):
    bad_rule = cli("campaign", "blocked", blocked, "--rule", "lunch_break")
    assert bad_rule.exit_code == 2 and "unknown rule 'lunch_break'" in bad_rule.output
    assert "calling_window" in bad_rule.output  # the known ones are listed
    bad_day = cli("campaign", "blocked", blocked, "--since", "03/12/2026")
    assert bad_day.exit_code == 2 and "YYYY-MM-DD" in bad_day.output
    assert cli("campaign", "blocked", blocked, "--since", "2026-02-30").exit_code == 2
    missing = cli("campaign", "blocked", 999)
    assert missing.exit_code == 1 and "no campaign 999" in missing.output


def test_a_refused_csv_report_writes_no_file(cli, blocked, tmp_path: Path):
    path = tmp_path / "blocked.csv"
    refused = cli("campaign", "blocked", blocked, "--rule", "nonsense", "--csv", path)
    assert refused.exit_code == 2 and "unknown rule" in refused.output
    assert not path.exists()


def test_blocked_csv_has_a_bom_and_every_row_in_utf8(cli, blocked, tmp_path: Path):
    path = tmp_path / "blocked.csv"
    result = cli("campaign", "blocked", blocked, "--csv", path, "--limit", 1)
    assert result.exit_code == 0, result.output
    assert f"3 blocked dials written to {path}" in result.output  # --limit is for the screen
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert list(rows[0]) == list(reports.CSV_COLUMNS)
    assert [(r["account_no"], r["customer_name"], r["phone"], r["rule"]) for r in rows] == [
        ("VCB-003", "Lê Thị Ánh", "", "suppressed"),
        ("VCB-002", "Trần Văn Đức", "+84******045", "dnc"),
        ("VCB-001", "Nguyễn Thị Hằng", "+84******100", "calling_window"),
    ]
    assert b"+84901000" not in raw


def test_csv_text_that_excel_would_run_as_a_formula_is_quoted(db, env):
    with db.begin() as s:
        factories.account(s, account_no="X-1", customer_name='=HYPERLINK("http://x")')
    campaign_id = _launch(db)
    with db.begin() as s:
        entry, account = _entry(s, campaign_id, "X-1")
        account.status = "closed"
        attempts.record_block(
            s, entry, None, attempts.account_hold(s, account, BUILT.date()), BUILT
        )
    with db.session() as s:
        text = "".join(reports.blocked_csv(s, campaign_id, tz=VN))
    row = next(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert row["customer_name"] == '\'=HYPERLINK("http://x")'


def test_known_rules_are_those_the_checks_record():
    """Drift guard: the Verdict rule names written in compliance.py and attempts.py."""
    found = set()
    for module in ("compliance", "attempts"):
        source = Path(builder.__file__).with_name(f"{module}.py").read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "Verdict"
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str)  # a verdict without a rule: no block
            ):
                found.add(node.args[1].value)
    assert found == set(compliance.RULES) | set(attempts.HOLD_RULES)
    assert set(builder.EXCLUSION_RULES) <= set(reports.KNOWN_RULES)


def test_each_report_is_one_query_whatever_the_rows(db, blocked):
    """Set-based: accounts and phones are joined, never fetched row by row."""
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    with db.session() as s:
        campaign = s.get_one(Campaign, blocked)
        event.listen(db.engine, "before_cursor_execute", record)
        try:
            assert len(reports.list_entries(s, blocked, tz=VN, limit=100)) == 3
            reports.explain_entry(s, campaign, "VCB-002", tz=VN)
            assert len(reports.blocked_report(s, campaign, tz=VN, limit=100)["rows"]) == 3
            "".join(reports.blocked_csv(s, blocked, tz=VN))
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
    # entries, one entry and its place (an index count), blocked rows + counts by rule,
    # the CSV's rows.
    assert len(statements) == 6, statements


# --- the API ------------------------------------------------------------------------------


def test_api_entries_match_the_cli(api, cli, portfolio, db):
    campaign_id = _launch(db)
    got = api.get(f"/api/campaigns/{campaign_id}/entries?limit=2", headers=AUTH)
    assert got.status_code == 200
    cli_rows = json.loads(cli("campaign", "entries", campaign_id, "--limit", 2, "--json").output)
    assert got.get_json() == cli_rows
    one = api.get(f"/api/campaigns/{campaign_id}/entries?account=VCB-003", headers=AUTH)
    assert one.status_code == 200
    assert one.get_json()["explanation"][2]["text"] == "bucket B1: +10 (10 per bucket)"
    assert api.get(f"/api/campaigns/{campaign_id}/entries").status_code == 401


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("limit=0", 400, "limit must be a whole number from 1 to 1000, got 0"),
        ("limit=abc", 400, "limit must be a whole number, got 'abc'"),
        ("limit=5000", 400, "limit must be a whole number from 1 to 1000, got 5000"),
        ("offset=-1", 400, "offset must be a whole number from 0"),
        ("state=ringing", 400, "state must be one of queued, dialing, done, got 'ringing'"),
        ("limt=5", 400, "unknown query parameter(s) limt"),
        ("account=NOPE", 404, "no account NOPE"),
        ("account=OTHER-1", 404, "account OTHER-1 is not in campaign"),
    ],
)
def test_api_entries_refuse_bad_parameters(api, portfolio, db, query, status, message):
    campaign_id = _launch(db)
    got = api.get(f"/api/campaigns/{campaign_id}/entries?{query}", headers=AUTH)
    assert got.status_code == status
    assert message in got.get_json()["error"]


def test_api_unknown_campaign_is_404(api, env):
    for path in ("entries", "blocked", "blocked.csv"):
        got = api.get(f"/api/campaigns/999/{path}", headers=AUTH)
        assert (got.status_code, got.get_json()) == (404, {"error": "no campaign 999"})


def test_api_lists_the_compliance_profiles_as_data(api, env):
    assert api.get("/api/campaigns/profiles").status_code == 401  # a token, like all /api
    got = api.get("/api/campaigns/profiles", headers=AUTH).get_json()
    by_name = {p["name"]: p for p in got}
    assert by_name["vn-finance"]["max_attempts_per_account_per_day"] == 5
    assert by_name["vn-finance"]["window_start"] == "07:00"
    assert by_name["us-regf"]["max_attempts_per_account_in_days"] == [7, 7]
    assert by_name["us-regf"]["abandon_cap_hours"] == 720
    assert by_name["uk-ofcom"]["abandon_quiet_hours"] == 72
    assert by_name["uk-ofcom"]["machine_same_day"] is False


def test_api_blocked_report_json_and_csv(api, cli, blocked):
    got = api.get(f"/api/campaigns/{blocked}/blocked?since=2026-12-03", headers=AUTH)
    assert got.status_code == 200
    cli_out = cli("campaign", "blocked", blocked, "--since", "2026-12-03", "--json").output
    assert got.get_json() == json.loads(cli_out)
    assert got.get_json()["by_rule"] == {"dnc": 1, "suppressed": 1}

    sheet = api.get(f"/api/campaigns/{blocked}/blocked.csv?rule=calling_window", headers=AUTH)
    assert sheet.status_code == 200
    assert sheet.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert f"campaign-{blocked}-blocked.csv" in sheet.headers["Content-Disposition"]
    assert sheet.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(sheet.data.decode("utf-8-sig"))))
    assert [(r["customer_name"], r["phone"]) for r in rows] == [("Nguyễn Thị Hằng", "+84******100")]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("blocked?rule=lunch_break", "unknown rule 'lunch_break'"),
        ("blocked?since=2026-12-32", "since must be a date as YYYY-MM-DD"),
        ("blocked?since=yesterday", "since must be a date as YYYY-MM-DD"),
        ("blocked?limit=x", "limit must be a whole number"),
        ("blocked.csv?rule=lunch_break", "unknown rule 'lunch_break'"),
        ("blocked.csv?limit=5", "unknown query parameter(s) limit"),
    ],
)
def test_api_blocked_refuses_bad_parameters(api, blocked, path, message):
    got = api.get(f"/api/campaigns/{blocked}/{path}", headers=AUTH)
    assert got.status_code == 400
    assert message in got.get_json()["error"]


# --- daily templates through the API ------------------------------------------------------


@pytest.fixture
def template_id(api, portfolio) -> int:
    saved = api.post(
        "/api/campaigns/templates",
        json={"name": "B-all hằng ngày", "launch_time": "07:45", "weekdays": "mon-sun"},
        headers=AUTH,
    )
    assert saved.status_code == 201, saved.get_json()
    return saved.get_json()["id"]


def _api_on(monkeypatch, day: str):
    """The API on a clock at 10:00 in Hà Nội on `day` (a template launches for today only)."""
    start = datetime.fromisoformat(f"{day}T10:00:00+07:00")
    for name, value in Clock.started_now(1.0, sim_start=start).env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DIALER_API_TOKEN", "test-api-token")
    return create_app(runtime=Runtime(load_settings())).test_client()


def test_api_runs_a_template_once_a_day(api, db, template_id, monkeypatch):
    url = f"/api/campaigns/templates/{template_id}/run"
    on_the_9th = _api_on(monkeypatch, "2026-12-09")
    other_day = on_the_9th.post(url, json={"date": "2026-12-08"}, headers=AUTH)
    assert other_day.status_code == 409
    assert "today only (2026-12-09 in Asia/Ho_Chi_Minh)" in other_day.get_json()["error"]
    first = on_the_9th.post(url, json={"date": "2026-12-09"}, headers=AUTH)
    assert first.status_code == 200, first.get_json()
    body = first.get_json()
    assert (body["launched"], body["date"]) == (True, "2026-12-09")
    with db.session() as s:
        campaign = s.scalar(select(Campaign).where(Campaign.template_id == template_id))
        assert (campaign.name, campaign.state) == ("B-all hằng ngày 2026-12-09", "running")
        assert campaign.build_summary["selected"] == 4
        assert s.get_one(CampaignTemplate, template_id).last_launched_on.isoformat() == (
            "2026-12-09"
        )
    again = on_the_9th.post(url, headers=AUTH).get_json()  # no date: today
    assert again["launched"] is False and "already ran" in again["result"]
    # 24 November is Vietnam Cultural Day: a public holiday, nothing launches.
    holiday = _api_on(monkeypatch, "2026-11-24").post(url, headers=AUTH).get_json()
    assert holiday["launched"] is False
    with db.session() as s:
        assert len(s.scalars(select(Campaign)).all()) == 1


def test_api_template_run_refuses_bad_input(api, template_id):
    url = f"/api/campaigns/templates/{template_id}/run"
    bad_day = api.post(url, json={"date": "09/12/2026"}, headers=AUTH)
    assert bad_day.status_code == 400 and "date must be a date" in bad_day.get_json()["error"]
    not_text = api.post(url, json={"date": 20261209}, headers=AUTH)
    assert not_text.status_code == 400 and "date must be text" in not_text.get_json()["error"]
    not_object = api.post(url, data="[]", content_type="application/json", headers=AUTH)
    assert not_object.status_code == 400
    missing = api.post("/api/campaigns/templates/999/run", headers=AUTH)
    assert (missing.status_code, missing.get_json()) == (404, {"error": "no template 999"})


def test_api_disables_a_template(api, db, template_id):
    got = api.post(f"/api/campaigns/templates/{template_id}/disable", headers=AUTH)
    assert got.status_code == 200
    assert (got.get_json()["active"], got.get_json()["next_launch"]) == (False, None)
    with db.session() as s:
        assert s.get_one(CampaignTemplate, template_id).active is False
    run = api.post(f"/api/campaigns/templates/{template_id}/run", headers=AUTH).get_json()
    assert (run["id"], run["launched"]) == (template_id, False)
    assert run["result"] == "template gone or inactive"
    listed = api.get("/api/campaigns/templates", headers=AUTH).get_json()
    assert [t["active"] for t in listed] == [False]
    assert api.post("/api/campaigns/templates/999/disable", headers=AUTH).status_code == 404
