"""The data-quality report on seeded data: each count checked against SQL counted here (not
against the report's own functions), the lists against the rows SQL holds, a lead's view of
agents' numbers narrowed to their team, and the CSV and XLSX files read back."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import bindparam, select, text

from dialer.agents.models import Agent
from dialer.app import create_app
from dialer.console.reports import quality
from dialer.db import UTCDateTime
from dialer.outcomes.catalogue import seed_default_codes
from dialer.outcomes.models import Disposition
from dialer.portfolio.imports.models import ImportRun, ImportRunLine
from dialer.portfolio.models import Phone
from dialer.runtime import get_runtime
from tests import factories
from tests.web_support import sign_in

NOW = datetime.now(UTC)


def _phone(s, account, number, relation="home", *, dialable=True, reason=None) -> Phone:
    phone = Phone(
        account_id=account.id, number=number, raw=number, relation=relation, priority=1,
        dialable=dialable, reason=reason,
    )  # fmt: skip
    s.add(phone)
    s.flush()
    return phone


def _disposition(s, account, agent, code, applied) -> None:
    call = factories.attempt(s, account=account, agent_id=agent.id)
    s.add(Disposition(
        attempt_id=call.id, account_id=account.id, agent_id=agent.id, code=code,
        set_by="agent", applied=applied, created_at=NOW - timedelta(hours=2),
    ))  # fmt: skip
    s.flush()


def _run(s, *, days_ago, state="done", lines=()) -> None:
    run = ImportRun(
        kind="portfolio", state=state, source="web", file_name=f"f{days_ago}.csv", who="t",
        created_at=NOW - timedelta(days=days_ago), total_lines=len(lines), header=["account_no"],
        rejected=sum(1 for k, *_ in lines if k == "rejected"),
    )  # fmt: skip
    s.add(run)
    s.flush()
    for kind, line, account_no in lines:
        s.add(ImportRunLine(run_id=run.id, kind=kind, line=line, account_no=account_no,
                            reason="customer_name is empty", cells=[account_no or ""]))  # fmt: skip
    s.flush()


@pytest.fixture
def seeded(db):
    with db.begin() as s:
        seed_default_codes(s)
        lan = factories.agent(s, team="B2")
        other = factories.agent(s, team="B9")
        factories.account(s, account_no="OK1")  # a dialable mobile: nothing to fix
        bad = factories.account(s, account_no="INV1", overdue=9_000_000, phones=())
        _phone(s, bad, "12345", dialable=False, reason="invalid")
        factories.account(s, account_no="NONE1", phones=())
        factories.account(s, account_no="CLOSED1", phones=(), status="closed")
        wrong = factories.account(s, account_no="WRONG1")
        retired = _phone(s, wrong, "+84283822123", dialable=False, reason="retired:NCP")
        _disposition(s, wrong, lan, "NCP", {"retired_phone_id": retired.id})
        only = factories.account(s, account_no="WRONG2", phones=())
        _phone(s, only, "+84912000111", relation="mobile", dialable=False, reason="retired:NAB")
        added_here = factories.account(s, account_no="NEW1")
        mine = _phone(s, added_here, "+84987654321", relation="mobile")
        _disposition(s, added_here, lan, "NCP", {"added_phone_id": mine.id})
        theirs = _phone(s, added_here, "+84987654322", relation="mobile")
        _disposition(s, added_here, other, "NCP", {"added_phone_id": theirs.id})
        _run(s, days_ago=2, lines=[("rejected", 4, "HD003"), ("rejected", 5, "INV1"),
                                   ("warning", 3, None), ("rejected", 6, None)])  # fmt: skip
        _run(s, days_ago=1, lines=[("rejected", 2, "HD003")])
        _run(s, days_ago=40, lines=[("rejected", 2, "OLD1")])  # too old to list
        lead = factories.user(s, role="lead", team="B2", locale="en").username
        admin = factories.user(s, role="admin", locale="en").username
    return lead, admin


def _sql(session, query: str, **params) -> list:
    typed = text(query)
    if "since" in params:  # stored as the models store moments
        typed = typed.bindparams(bindparam("since", type_=UTCDateTime()))
    return [row[0] for row in session.execute(typed, params)]


def _expected(session, team: str | None) -> dict[str, list]:
    """Each list's keys, counted here in SQL (and the JSON of the dispositions in Python,
    as no portable SQL reads it)."""
    no_phone = _sql(session, """
        SELECT a.account_no FROM accounts a WHERE a.status = 'active' AND NOT EXISTS
          (SELECT 1 FROM phones p WHERE p.account_id = a.id AND p.dialable = :yes)
    """, yes=True)  # fmt: skip
    retired = _sql(session, "SELECT number FROM phones WHERE reason LIKE 'retired:%'")
    teams = dict(session.execute(select(Agent.id, Agent.team)).all())
    added_ids = [
        applied["added_phone_id"]
        for applied, agent_id in session.execute(select(Disposition.applied, Disposition.agent_id))
        if applied and "added_phone_id" in applied and (team is None or teams[agent_id] == team)
    ]
    added = [session.get(Phone, i).number for i in added_ids]
    rejected = _sql(session, """
        SELECT DISTINCT l.account_no FROM import_run_lines l JOIN import_runs r ON r.id = l.run_id
        WHERE l.kind = 'rejected' AND r.state = 'done' AND r.created_at >= :since
          AND l.account_no IS NOT NULL
    """, since=NOW - timedelta(days=quality.REJECTED_DAYS))  # fmt: skip
    return {"no_phone": no_phone, "retired": retired, "agent_numbers": added, "rejected": rejected}


@pytest.mark.parametrize("team", ["B2", None])
def test_the_counts_and_lists_match_what_sql_holds(session, seeded, team):
    expected = _expected(session, team)
    counts = quality.summary(session, team=team, now=NOW)
    assert counts == {k: len(v) for k, v in expected.items()}
    # The seed's own story, so a broken expectation cannot pass with the report.
    assert sorted(expected["no_phone"]) == ["INV1", "NONE1", "WRONG2"]
    assert sorted(expected["rejected"]) == ["HD003", "INV1"]
    assert len(expected["agent_numbers"]) == (1 if team else 2)

    def listed(section, key):
        return sorted(r[key] for r in quality.rows(session, section, team=team, now=NOW))

    assert listed("no_phone", "account_no") == sorted(expected["no_phone"])
    assert listed("retired", "number") == sorted(expected["retired"])
    assert listed("agent_numbers", "number") == sorted(expected["agent_numbers"])
    rejected = list(quality.rows(session, "rejected", team=team, now=NOW))
    assert len(rejected) == 4  # every refused line of the last 30 days, unnumbered included
    assert {r["account_no"]: r["in_portfolio"] for r in rejected if r["account_no"]} == {
        "HD003": False, "INV1": True,
    }  # fmt: skip
    by_number = {r["number"]: r for r in quality.rows(session, "retired", team=team, now=NOW)}
    assert by_number["+84283822123"]["code"] == "NCP" and by_number["+84283822123"]["agent"]
    assert by_number["+84912000111"]["agent"] is None  # retired by a carrier error
    why = {r["account_no"]: r for r in quality.rows(session, "no_phone", team=team, now=NOW)}
    assert (why["INV1"]["why"], why["INV1"]["phones"]) == ("invalid", 1)
    assert (why["NONE1"]["why"], why["NONE1"]["phones"]) == ("", 0)
    assert next(iter(why)) == "INV1"  # the largest overdue amount first


def test_the_page_and_its_files(process_env, db, redis_client, seeded):
    lead, admin = seeded
    app = create_app(runtime=get_runtime())
    client = app.test_client()
    sign_in(client, lead)
    page = client.get("/console/reports/quality").get_data(as_text=True)
    assert "Accounts without a dialable phone" in page and "+84987654321" in page
    assert "+84987654322" not in page  # another team's agent's number
    with db.session() as s:
        expected = _expected(s, "B2")

    answer = client.get("/console/reports/quality/no_phone.csv")
    assert answer.status_code == 200 and answer.data.startswith(b"\xef\xbb\xbf")
    back = list(csv.reader(io.StringIO(answer.data.decode("utf-8-sig"))))
    assert back[0][:3] == ["Account", "Customer", "Branch"]
    assert sorted(row[0] for row in back[1:]) == sorted(expected["no_phone"])

    answer = client.get("/console/reports/quality/retired.xlsx")
    assert answer.status_code == 200
    sheet = load_workbook(io.BytesIO(answer.data)).active
    header = [c.value for c in sheet[1]]
    assert header[:3] == ["Account", "Customer", "Number"] and sheet.freeze_panes == "A2"
    rows = [
        dict(zip(header, (c.value for c in r), strict=True)) for r in sheet.iter_rows(min_row=2)
    ]
    assert sorted(r["Number"] for r in rows) == sorted(expected["retired"])
    assert all(isinstance(r["Retired at"], datetime) for r in rows)

    sheet = load_workbook(io.BytesIO(client.get("/console/reports/quality/no_phone.xlsx").data))
    amounts = {r[0].value: r[4].value for r in sheet.active.iter_rows(min_row=2)}
    assert amounts["INV1"] == 9_000_000  # a number, not text
    assert client.get("/console/reports/quality/nope.csv").status_code == 404
    assert client.get("/console/reports/quality/retired.pdf").status_code == 404

    everyone = app.test_client()
    sign_in(everyone, admin)
    page = everyone.get("/console/reports/quality").get_data(as_text=True)
    assert "+84987654321" in page and "+84987654322" in page
