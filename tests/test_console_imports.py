"""Files imported from the console: an upload checked before anything is written, a run
queued and carried out by a real RQ worker with the CLI's own use case, its progress, row
report and rejected rows' file read back line by line; bad files refused with nothing
changed; an agent refused. And the progress bars of `dialer accounts import` and `dialer
campaign launch` on a terminal (a pty), absent when stdout is not one."""

from __future__ import annotations

import csv
import io
import os
import pty
import re
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from markupsafe import escape
from rq import SimpleWorker
from sqlalchemy import func, select

from dialer.app import create_app
from dialer.campaigns import builder
from dialer.campaigns import service as campaigns
from dialer.cli import main
from dialer.portfolio.imports import jobs, service
from dialer.portfolio.imports.models import (
    ImportRun,
    ImportRunFile,
    ImportRunLine,
    ImportState,
)
from dialer.portfolio.models import Account, Payment
from dialer.runtime import get_runtime
from tests import factories
from tests.web_support import csrf_of, sign_in

HEADER = [
    "account_no", "customer_name", "national_id", "product", "overdue_amount",
    "principal_outstanding", "dpd", "due_date", "branch", "mobile", "home_phone",
    "work_phone", "reference_phone", "reference_relation", "Ghi chú",
]  # fmt: skip
ROWS = [
    # line 2: a known account, updated
    ["HD001", "Nguyễn Thị Hoa", "", "cash loan", "12.500.000", "", "45", "", "Hà Nội",
     "0901234567", "", "", "", "", ""],
    # line 3: new, with a premium-rate home phone (a warning)
    ["HD002", "Trần Văn Bình", "", "", "3.200.000", "", "12", "", "", "0381234567",
     "1900 1234", "", "", "", ""],
    # line 4: rejected, a fractional amount; a note Excel would run as a formula
    ["HD003", "Lê Thị Cúc", "", "", "1.5", "", "1", "", "", "+84971234567", "", "", "",
     "", "=1+1"],
    # line 5: rejected, no name; a quoted cell with a comma
    ["HD004", "", "", "", "1.000.000", "", "5", "", "Hải Phòng, Lê Chân", "0901234568", "",
     "", "", "", ""],
    # line 6: new
    ["HD005", "Phạm Văn Dũng", "", "", "2.000.000", "", "7", "", "", "0912345670", "", "",
     "", "", ""],
]  # fmt: skip
PAYMENTS = [
    ["account_no", "amount", "paid_on", "reference"],
    ["HD001", "1.000.000", "01/12/2026", "FT001"],
    ["NOPE9", "500.000", "01/12/2026", "FT002"],
    ["HD001", "abc", "01/12/2026", "FT003"],
]


def as_csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode("utf-8")


@pytest.fixture
def app(process_env, db, redis_client):
    return create_app(runtime=get_runtime())


@pytest.fixture
def lead(app, db):
    with db.begin() as s:
        factories.account(s, account_no="HD001", customer_name="Nguyễn Thị Hoa cũ")
        username = factories.user(s, role="lead", team="B2", locale="en").username
    client = app.test_client()
    sign_in(client, username)
    return client


def _token(client) -> str:
    return csrf_of(client.get("/console/imports").get_data(as_text=True))


def upload(client, data: bytes, *, kind="portfolio", name="danh-muc.csv", token=None):
    return client.post(
        "/console/imports",
        data={
            "kind": kind,
            "csrf_token": token or _token(client),
            "file": (io.BytesIO(data), name),
        },
        content_type="multipart/form-data",
    )


def work() -> None:
    rt = get_runtime()
    SimpleWorker(rt.queues, connection=rt.redis).work(burst=True)


def _counts(db) -> tuple[int, int, int, int]:
    with db.session() as s:
        return tuple(
            s.scalar(select(func.count()).select_from(m))
            for m in (Account, Payment, ImportRun, ImportRunLine)
        )


def test_a_portfolio_upload_runs_on_a_worker_with_its_row_report(lead, db):
    sent = as_csv([HEADER, *ROWS])
    answer = upload(lead, sent)
    assert answer.status_code == 303
    run_url = answer.headers["Location"]
    run_id = int(run_url.rsplit("/", 1)[1])
    queued = lead.get(run_url).get_data(as_text=True)
    assert 'id="progress-bar"' in queued and "waiting for a worker" in queued
    assert lead.get(f"{run_url}/status").json == {
        "id": run_id, "state": "queued", "state_name": "waiting for a worker",
        "processed": 0, "total": 5, "percent": 0,
    }  # fmt: skip
    assert _counts(db)[0] == 1  # nothing imported before the worker runs

    work()
    assert lead.get(f"{run_url}/status").json["state"] == "done"
    assert lead.get(f"{run_url}/status").json["processed"] == 5
    with db.session() as s:
        run = s.get_one(ImportRun, run_id)
        assert (run.kind, run.state, run.source, run.file_name) == (
            "portfolio", ImportState.DONE, "web", "danh-muc.csv",
        )  # fmt: skip
        assert run.who.startswith("Phạm Minh") and run.user_id is not None
        assert (run.imported, run.updated, run.rejected, run.warnings) == (2, 1, 2, 1)
        assert run.ignored_columns == ["Ghi chú"]
        assert s.get(ImportRunFile, run_id) is None  # the upload is let go once run
        numbers = set(s.scalars(select(Account.account_no)))
        assert numbers == {"HD001", "HD002", "HD005"}
        assert s.scalar(select(Account.customer_name).where(Account.account_no == "HD001")) == (
            "Nguyễn Thị Hoa"
        )
        lines = list(s.scalars(select(ImportRunLine).order_by(ImportRunLine.id)))
    rejected = [(x.line, x.account_no) for x in lines if x.kind == "rejected"]
    assert rejected == [(4, "HD003"), (5, "HD004")]
    reasons = {x.line: x.reason for x in lines}
    assert reasons[4] == 'overdue_amount "1.5" has a fractional part (amounts are whole đồng)'
    assert reasons[5] == "customer_name is empty"
    assert "premium-rate" in reasons[3]

    page = lead.get(run_url).get_data(as_text=True)
    assert 'id="progress-bar"' not in page
    for key, value in (("imported", 2), ("updated", 1), ("rejected", 2), ("warnings", 1)):
        assert re.search(rf'id="count-{key}"[^>]*>{value}<', page), key
    for line, account_no in rejected:
        reason = escape(reasons[line])
        assert f'<tr><td>{line}</td><td>{account_no}</td><td class="note">{reason}</td></tr>' in (
            page
        )
    assert "Columns ignored: Ghi chú" in page

    download = lead.get(f"{run_url}/rejected.csv")
    assert download.status_code == 200 and download.data.startswith(b"\xef\xbb\xbf")
    assert "danh-muc-rejected" in download.headers["Content-Disposition"]
    back = list(csv.reader(io.StringIO(download.data.decode("utf-8-sig"))))
    assert back[0] == [*HEADER, "rejected_line", "rejected_reason"]
    guarded = [*ROWS[2][:-1], "'=1+1"]  # the formula quoted; +84... left to import again
    assert back[1] == [*guarded, "4", reasons[4]]
    assert back[2] == [*ROWS[3], "5", reasons[5]]
    assert len(back) == 3

    index = lead.get("/console/imports").get_data(as_text=True)
    assert f'data-run="{run_id}"' in index and "danh-muc.csv" in index


def test_a_payments_upload_reports_unmatched_and_rejected_lines(lead, db):
    answer = upload(lead, as_csv(PAYMENTS), kind="payments", name="thu-tien.csv")
    assert answer.status_code == 303
    work()
    with db.session() as s:
        run = s.scalars(select(ImportRun)).one()
        assert (run.kind, run.state, run.total_lines) == ("payments", "done", 3)
        assert (run.imported, run.duplicates, run.unmatched, run.rejected) == (1, 0, 1, 2)
        assert s.scalar(select(func.count()).select_from(Payment)) == 1
    page = lead.get(answer.headers["Location"]).get_data(as_text=True)
    assert re.search(r'id="count-unmatched"[^>]*>1<', page)
    back = list(csv.reader(io.StringIO(lead.get(f"/console/imports/{run.id}/rejected.csv")
                                       .data.decode("utf-8-sig"))))  # fmt: skip
    assert [row[:4] for row in back[1:]] == [PAYMENTS[2], PAYMENTS[3]]
    assert back[1][-1].startswith("unmatched: no account") and back[1][-2] == "3"
    assert back[2][-2] == "4" and 'amount "abc"' in back[2][-1]


@pytest.mark.parametrize(
    ("data", "name", "status", "says"),
    [
        (as_csv([["account_no", "customer_name", "mobile"], ["HD9", "A", "0901234567"]]),
         "thieu-cot.csv", 400, "missing required column(s): overdue_amount, dpd"),
        (b"PK\x03\x04 a workbook", "danh-muc.xlsx", 400, "Excel workbook, not a CSV"),
        ("account_no;tên\n".encode("cp1258"), "cu.csv", 400, "not UTF-8"),
        (as_csv([HEADER, *ROWS]) + b'HD9,"runaway' + b"x" * 140_000, "vo.csv", 400,
         "line 7: the CSV is malformed"),
    ],
)  # fmt: skip
def test_a_bad_file_is_refused_and_changes_nothing(lead, db, data, name, status, says):
    before = _counts(db)
    answer = upload(lead, data, name=name)
    assert answer.status_code == status
    page = answer.get_data(as_text=True)
    assert f"{name} was refused and nothing was imported" in page
    assert str(escape(says)) in page
    assert _counts(db) == before and len(get_runtime().imports_queue) == 0


def test_a_file_over_the_limit_or_no_file_is_refused(app, lead, db):
    app.config["DIALER_IMPORT_MAX_BYTES"] = 1024
    before = _counts(db)
    big = as_csv([HEADER, *ROWS * 10])
    assert len(big) > 1024
    answer = upload(lead, big)
    assert answer.status_code == 413
    assert "larger than 0 MB" in answer.get_data(as_text=True)
    # A body far over the limit is refused before its form is read (the CSRF guard's).
    huge = upload(lead, as_csv([HEADER, *ROWS * 1000]))
    assert huge.status_code == 413 and "larger than 0 MB" in huge.get_data(as_text=True)
    app.config["DIALER_IMPORT_MAX_BYTES"] = 64 * 1024 * 1024
    body = lead.get("/console/imports").get_data(as_text=True)
    none = lead.post(
        "/console/imports",
        data={"kind": "portfolio", "csrf_token": csrf_of(body)},
        content_type="multipart/form-data",
    )
    assert none.status_code == 400 and "Choose a CSV file" in none.get_data(as_text=True)
    odd = upload(lead, as_csv([HEADER, *ROWS]), kind="loans")
    assert odd.status_code == 400
    assert _counts(db) == before and len(get_runtime().imports_queue) == 0


def test_an_agent_is_refused(app, db):
    with db.begin() as s:
        agent = factories.user(s, role="agent", team="B2").username
    client = app.test_client()
    sign_in(client, agent)
    assert client.get("/console/imports").status_code == 403
    assert client.get("/console/reports/quality").status_code == 403
    token = csrf_of(client.get("/desk").get_data(as_text=True))
    answer = upload(client, as_csv([HEADER, *ROWS]), token=token)
    assert answer.status_code == 403
    # A body over the limit is refused before any view runs: still a 403, not the page.
    app.config["DIALER_IMPORT_MAX_BYTES"] = 1024
    huge = upload(client, as_csv([HEADER, *ROWS * 1000]), token=token)
    assert huge.status_code == 403 and "HD001" not in huge.get_data(as_text=True)
    assert _counts(db)[2] == 0


def test_a_file_refused_while_running_fails_the_run_and_writes_nothing(process_env, db):
    rt = get_runtime()
    data = as_csv([HEADER, *ROWS]).replace(b"HD005", b'"HD005') + b"x" * 140_000
    with rt.db.begin() as s:
        check = service.FileCheck(header=HEADER, total_lines=5)  # as if checked earlier
        run = service.create_run(
            s, kind="portfolio", file_name="x.csv", data=data, check=check, who="t",
            now=rt.clock.now(),
        )  # fmt: skip
        run_id = run.id
    assert jobs.execute(rt, run_id) == "failed"
    assert jobs.execute(rt, run_id) == "not queued"  # a repeated job does nothing
    with rt.db.session() as s:
        run = s.get_one(ImportRun, run_id)
        assert run.state == ImportState.FAILED and "unbalanced quote" in run.error
        assert s.get(ImportRunFile, run_id) is None
        assert s.scalar(select(func.count()).select_from(Account)) == 0


# --- the command line -------------------------------------------------------------------


def test_the_cli_import_is_a_recorded_run_with_unchanged_output(process_env, db, tmp_path):
    from click.testing import CliRunner

    path = tmp_path / "danh-muc.csv"
    path.write_bytes(as_csv([HEADER, *ROWS]))
    result = CliRunner().invoke(main, ["accounts", "import", str(path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "danh-muc.csv: 3 new accounts, 0 updated, 2 rows rejected, 1 warnings."
    assert "Importing" not in result.stdout  # no bar: stdout is not a terminal
    with db.session() as s:
        run = s.scalars(select(ImportRun)).one()
        assert (run.source, run.state, run.imported, run.rejected) == ("cli", "done", 3, 2)
        assert run.who.endswith("(command line)")
        assert s.get(ImportRunFile, run.id) is None  # never kept


def _on_a_terminal(*args: str) -> str:
    """Run `dialer ARGS` with stdout (and stderr) on a pseudo-terminal; all it wrote."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dialer.cli", *args],
        stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, env=os.environ.copy(),
    )  # fmt: skip
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    assert proc.wait(timeout=60) == 0, out.decode(errors="replace")
    return out.decode("utf-8", errors="replace")


def test_the_cli_shows_progress_bars_on_a_terminal(process_env, db, tmp_path):
    path = tmp_path / "danh-muc.csv"
    path.write_bytes(as_csv([HEADER, *ROWS]))
    shown = _on_a_terminal("accounts", "import", str(path))
    assert "Importing accounts" in shown and "5/5" in shown and "100%" in shown
    assert "danh-muc.csv: 3 new accounts" in shown
    with db.begin() as s:
        factories.account(s, phones=(("+84901234599", "mobile"),))
        campaign_id = campaigns.create_campaign(s, "tien-trinh").id
    shown = _on_a_terminal("campaign", "launch", str(campaign_id))
    assert "Selecting and ranking accounts" in shown and "3/3" in shown
    assert "Loading the dial queue" in shown
    assert f"Campaign {campaign_id} running with 4 accounts queued." in shown


def test_the_launch_use_case_reports_its_progress(session, redis_client):
    for n in range(3):
        factories.account(session, phones=((f"+8490123450{n}", "mobile"),))
    campaign = campaigns.create_campaign(session, "buoc")
    steps: list[int] = []
    now = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)  # 10:00 in Vietnam, a Wednesday
    built = campaigns.launch(session, campaign, now, "Asia/Ho_Chi_Minh", progress=steps.append)
    assert steps == list(range(1, builder.BUILD_STEPS + 1)) and built.entries == 3
    loaded: list[int] = []
    assert campaigns.start_dialing(session, redis_client, campaign, now, progress=loaded.append)
    assert loaded[-1] == 3


def test_a_run_whose_job_was_lost_is_queued_again_or_failed(lead, db):
    """Queued with its job gone from Redis: queued again when its page is read. Running
    with its job gone (a worker killed mid-file): failed with the reason, not left
    'importing' for ever."""
    rt = get_runtime()
    answer = upload(lead, as_csv([HEADER, *ROWS]))
    run_id = int(answer.headers["Location"].rsplit("/", 1)[1])
    assert len(rt.imports_queue) == 1
    rt.imports_queue.empty()  # Redis lost the job
    assert lead.get(f"/console/imports/{run_id}/status").get_json()["state"] == "queued"
    assert rt.imports_queue.job_ids == [jobs.job_id(run_id)]
    # A worker took it, then was killed: its job is gone, its run still says running.
    with db.begin() as s:
        s.get_one(ImportRun, run_id).state = ImportState.RUNNING
    rt.imports_queue.empty()
    status = lead.get(f"/console/imports/{run_id}/status").get_json()
    assert status["state"] == "failed"
    with db.session() as s:
        run = s.get_one(ImportRun, run_id)
        assert run.error == jobs.LOST_WORKER and run.finished_at is not None
    assert _counts(db)[0] == 1  # nothing of the file written: the one account it had
    page = lead.get(f"/console/imports/{run_id}").get_data(as_text=True)
    assert "its worker was lost" in page
