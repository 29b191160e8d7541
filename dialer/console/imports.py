"""The console's imports (/console/imports) and data-quality report
(/console/reports/quality). Staff only (team leads and administrators).

An upload is checked as its importer reads it (kind, size, a CSV with the right header,
quoting) before anything is written: a refused file changes nothing. A good one becomes a
queued run whose RQ job runs the CLI's own use case (portfolio/imports/service.py); its
page polls a small JSON status for the progress bar, then shows the row report and offers
the rejected rows as a CSV to fix and send again. The portfolio belongs to no team, so
every lead sees every run."""

from __future__ import annotations

from datetime import datetime
from pathlib import PurePosixPath, PureWindowsPath
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext
from flask_login import current_user
from werkzeug.exceptions import Forbidden, RequestEntityTooLarge, Unauthorized

from dialer.auth import access, reach
from dialer.console.access import FILE_KINDS, staff_required, table_file
from dialer.console.reports import quality
from dialer.db import on_commit
from dialer.http import current_runtime
from dialer.messages import N_
from dialer.portfolio.importer import ImportFileError
from dialer.portfolio.imports import jobs, service
from dialer.portfolio.imports.models import ImportKind, ImportRun, ImportState, LineKind
from dialer.runtime import local_today
from dialer.spreadsheet import excel_csv

bp = Blueprint("imports", __name__, url_prefix="/console")

SHOWN_LINES = 500  # rejected lines / warnings listed on a run's page (all in the file)
SHOWN_ROWS = 100  # rows of each data-quality list on its page (all in its files)
RECENT_RUNS = 30
FORM_OVERHEAD = 64 * 1024  # the multipart form around the file
KIND_NAMES = {
    ImportKind.PORTFOLIO: N_("Portfolio (accounts and phones)"),
    ImportKind.PAYMENTS: N_("Payments received"),
}
STATE_NAMES = {
    ImportState.QUEUED: N_("waiting for a worker"),
    ImportState.RUNNING: N_("importing"),
    ImportState.DONE: N_("done"),
    ImportState.FAILED: N_("failed"),
}


def max_upload_bytes() -> int:
    return int(current_app.config.get("DIALER_IMPORT_MAX_BYTES", service.MAX_UPLOAD_BYTES))


@bp.url_value_preprocessor
def _limit_upload(endpoint: str | None, values: dict | None) -> None:
    # Before every before_request (the CSRF guard reads the form): a body over the limit is
    # refused (413) before it is parsed.
    if endpoint == "imports.upload":
        request.max_content_length = max_upload_bytes() + FORM_OVERHEAD


def _names(names: dict) -> dict[str, str]:
    return {str(k): gettext(v) for k, v in names.items()}


def _index(error: str | None = None, status: int = 200, kind: str = ImportKind.PORTFOLIO):
    with current_runtime().db.session() as s:
        runs = service.recent_runs(s, limit=RECENT_RUNS)
    page = render_template(
        "console/imports.html",
        runs=runs,
        error=error,
        chosen=kind,
        kinds=_names(KIND_NAMES),
        states=_names(STATE_NAMES),
        max_mb=max_upload_bytes() // (1024 * 1024),
    )
    return page, status


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(exc: RequestEntityTooLarge):
    # The limit bites before the view's own staff check (the CSRF guard reads the form
    # first): only staff see the page again with the reason; anyone else gets the refusal.
    signed_in_staff = (
        current_user.is_authenticated
        and not access.has_bearer()
        and current_user.role in access.STAFF
    )
    if not signed_in_staff:  # the app's own refusal page (an error handler cannot abort)
        refusal = Forbidden() if current_user.is_authenticated else Unauthorized()
        return current_app.handle_user_exception(refusal)
    return _index(_too_large_message(), 413)


def _too_large_message() -> str:
    return gettext(
        "The file is larger than %(mb)s MB and was not imported. Split it, or import it "
        "on the server with `dialer accounts import`.",
        mb=max_upload_bytes() // (1024 * 1024),
    )


@bp.get("/imports")
@staff_required
def index():
    """The upload form and the recent runs."""
    return _index()


def _file_name(raw: str) -> str:
    # Browsers send the bare name; an old one may send its whole Windows path.
    return PureWindowsPath(PurePosixPath(raw).name).name.strip()[:255]


@bp.post("/imports")
@staff_required
def upload():
    """Check the file and queue its run (303 to the run's page); a refusal re-renders the
    form with the reason (400) and writes nothing."""
    rt = current_runtime()
    kind = request.form.get("kind", "")
    if kind not in set(ImportKind):
        return _index(gettext("Choose what the file holds: a portfolio or payments."), 400)
    given = request.files.get("file")
    if given is None or not given.filename:
        return _index(gettext("Choose a CSV file to import."), 400, kind)
    limit = max_upload_bytes()
    data = given.read(limit + 1)
    if len(data) > limit:
        return _index(_too_large_message(), 413, kind)
    name = _file_name(given.filename) or "upload.csv"
    try:
        check = service.check_file(
            kind, data, region=rt.settings.default_region, today=local_today(rt)
        )
    except ImportFileError as exc:
        message = gettext(
            "%(file)s was refused and nothing was imported: %(reason)s", file=name, reason=str(exc)
        )
        return _index(message, 400, kind)
    with rt.db.begin() as s:
        run = service.create_run(
            s,
            kind=kind,
            file_name=name,
            data=data,
            check=check,
            who=current_user.name,
            user_id=current_user.id,
            now=rt.clock.now(),
        )
        run_id = run.id
        on_commit(s, lambda: jobs.try_enqueue(rt, run_id))
    return redirect(url_for("imports.run_page", run_id=run_id), 303)


def _run_or_404(s, run_id: int) -> ImportRun:
    run = s.get(ImportRun, run_id)
    if run is None:
        abort(404)
    return run


@bp.get("/imports/<int:run_id>")
@staff_required
def run_page(run_id: int):
    """A run: its progress bar while it runs, then its row report."""
    rt = current_runtime()
    jobs.look_after(rt, run_id)
    with rt.db.session() as s:
        run = _run_or_404(s, run_id)
        lines = {
            kind: service.run_lines(s, run_id=run_id, kind=kind, limit=SHOWN_LINES)
            for kind in LineKind
        }
        return render_template(
            "console/import_run.html",
            run=run,
            status=service.status(rt.redis, run),
            rejected=lines[LineKind.REJECTED],
            warnings=lines[LineKind.WARNING],
            shown=SHOWN_LINES,
            kinds=_names(KIND_NAMES),
            states=_names(STATE_NAMES),
        )


@bp.get("/imports/<int:run_id>/status")
@staff_required
def run_status(run_id: int):
    """{state, processed, total, percent}: what the progress bar draws."""
    rt = current_runtime()
    jobs.look_after(rt, run_id)
    with rt.db.session() as s:
        out = service.status(rt.redis, _run_or_404(s, run_id))
    out["state_name"] = gettext(STATE_NAMES[ImportState(out["state"])])
    return jsonify(out)


@bp.get("/imports/<int:run_id>/rejected.csv")
@staff_required
def rejected_file(run_id: int):
    """The rejected lines as the file had them (its header and cells) plus the line and
    the reason: UTF-8 with BOM, for the bank to fix and send again."""
    rt = current_runtime()
    s = rt.db.session()  # read as the file is sent; closed with the response
    try:
        run = _run_or_404(s, run_id)
        columns, rows = service.rejected_file_rows(s, run)
    except BaseException:
        s.close()
        raise
    stem = PurePosixPath(run.file_name).stem or "import"

    def chunks():
        for text in excel_csv(columns, rows):
            yield text.encode("utf-8")

    response = current_app.response_class(
        chunks(),
        content_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{_ascii(stem)}-rejected-{run.id}.csv"'
        },
    )
    response.call_on_close(s.close)  # also when the body is never read
    return response


def _ascii(name: str) -> str:
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in name)


# --- data quality -----------------------------------------------------------------------


def _quality_rows(section: str, limit: int | None):
    """The list's rows for a file, moments in the centre's time (a spreadsheet has no
    zones), read as the file is written; the session closes with the last row."""
    rt = current_runtime()
    zone = ZoneInfo(rt.settings.timezone)
    team, now = reach.team_of_principal(), rt.clock.now()

    def local_rows():
        # The session is opened by the first row asked for and closed with the last (or
        # when the response is dropped): none is left open by a file never read.
        with rt.db.session() as s:
            for row in quality.rows(s, section, team=team, now=now, limit=limit):
                yield {
                    k: v.astimezone(zone).replace(tzinfo=None) if isinstance(v, datetime) else v
                    for k, v in row.items()
                }

    return local_rows()


@bp.get("/reports/quality")
@staff_required
def quality_report():
    """Counts of each data-quality list and its first rows, with its files."""
    rt = current_runtime()
    team = reach.team_of_principal()
    with rt.db.session() as s:
        counts = quality.summary(s, team=team, now=rt.clock.now())
        lists = {
            section: list(quality.rows(s, section, team=team, now=rt.clock.now(), limit=SHOWN_ROWS))
            for section in quality.SECTIONS
        }
    return render_template(
        "console/quality_report.html",
        counts=counts,
        lists=lists,
        sections=_names(quality.SECTIONS),
        columns={k: _names(v) for k, v in quality.COLUMNS.items()},
        kinds=_names(KIND_NAMES),
        shown=SHOWN_ROWS,
        days=quality.REJECTED_DAYS,
        team=team,
    )


@bp.get("/reports/quality/<section>.<kind>")
@staff_required
def quality_file(section: str, kind: str):
    """One list, all of it, as CSV (UTF-8 with BOM) or XLSX."""
    if section not in quality.SECTIONS or kind not in FILE_KINDS:
        abort(404)
    columns = list(quality.COLUMNS[section])
    headers = [gettext(quality.COLUMNS[section][c]) for c in columns]
    return table_file(
        kind,
        filename=f"data-quality-{section.replace('_', '-')}",
        sheet=gettext(quality.SECTIONS[section]),
        columns=columns,
        headers=headers,
        rows=_quality_rows(section, None),
        amount_columns=quality.AMOUNT_COLUMNS.get(section, ()),
        guard=quality.TEXT_COLUMNS[section],
    )
