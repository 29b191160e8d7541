"""The console's pages: the live wallboard (its figures by server-sent events every
WALLBOARD_SECONDS, no page reloads). Team leads see their team, administrators all."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date, timedelta
from functools import wraps

from flask import Blueprint, Response, abort, render_template, request
from flask_babel import get_locale, gettext
from flask_login import current_user, login_required

from dialer.agents import events, pauses
from dialer.agents.events import STREAM_LIFETIME_SECONDS, sse
from dialer.auth import access, reach
from dialer.callflow.views import event_stream
from dialer.campaigns import service as campaigns
from dialer.campaigns.compliance import PROFILES
from dialer.campaigns.followups import local_today
from dialer.campaigns.models import DIAL_MODES
from dialer.campaigns.ranking import BUCKETS
from dialer.console import reports, wallboard
from dialer.http import current_runtime
from dialer.scripts import service as scripts
from dialer.spreadsheet import excel_csv, xlsx

bp = Blueprint("console", __name__, url_prefix="/console")
WALLBOARD_SECONDS = 2.0  # real seconds between two pictures of the floor
REPORT_DAYS = 31  # days offered in a report's day list (any other by ?date=)
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def staff_required(view):
    """A signed-in team lead or administrator (an agent is refused: 403)."""

    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if access.has_bearer() or current_user.role not in access.STAFF:
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def _picture() -> dict:
    rt = current_runtime()
    with rt.db.session() as s:
        return wallboard.snapshot(
            s,
            rt.redis,
            team=reach.team_of_principal(),
            now=rt.clock.now(),
            tz=rt.settings.timezone,
        )


@bp.get("/live")
@staff_required
def live():
    english = str(get_locale()) == "en"
    with current_runtime().db.session() as s:
        labels = {
            c.code: c.label_en if english else c.label_vi
            for c in pauses.list_codes(s, include_inactive=True)
        }
    return render_template("console/live.html", picture=_picture(), pause_labels=labels)


@bp.get("/campaigns")
@staff_required
def campaigns_page():
    """The team's campaigns with their controls, and the form for a new one (its live count
    comes from POST /api/campaigns/count as the filters change)."""
    rt = current_runtime()
    team = reach.team_of_principal()
    with rt.db.session() as s:
        rows = campaigns.statuses(s, rt.redis, team=team, now=rt.clock.now())
        return render_template(
            "console/campaigns.html",
            campaigns=rows,
            team=team,
            modes=DIAL_MODES,
            profiles=sorted(PROFILES),
            buckets=[name for name, _, _ in BUCKETS],
            scripts=[i.name for i in scripts.names(s)],
            machine_actions=campaigns.MACHINE_ACTIONS,
            defaults=campaigns.DEFAULT_SETTINGS,
        )


def _report_day() -> date:
    raw = request.args.get("date")
    if not raw:
        return local_today(current_runtime())
    try:
        return date.fromisoformat(raw)
    except ValueError:
        abort(400)


def _agent_rows(day: date) -> list[dict]:
    rt = current_runtime()
    # The pacer copies the presence log into SQL every few seconds; a report of today
    # copies what is left first, so the time of a call just ended is counted.
    events.copy_presence_log(rt)
    with rt.db.session() as s:
        return reports.agent_day(
            s,
            day=day,
            tz=rt.settings.timezone,
            team=reach.team_of_principal(),
            now=rt.clock.now(),
        )


@bp.get("/reports/agents")
@staff_required
def agent_report():
    """Agent KPIs on a day (?date=YYYY-MM-DD, default today)."""
    day = _report_day()
    today = local_today(current_runtime())
    # A list of days, not a date input: Chromium draws that in the computer's locale.
    days = sorted({day, *(today - timedelta(days=n) for n in range(REPORT_DAYS))}, reverse=True)
    return render_template(
        "console/agents_report.html",
        day=day,
        days=days,
        rows=_agent_rows(day),
        columns={k: gettext(v) for k, v in reports.AGENT_COLUMNS.items()},
    )


@bp.get("/reports/agents.<kind>")
@staff_required
def agent_report_file(kind: str):
    """The same rows as CSV (UTF-8 with BOM) or XLSX (numbers as numbers, header frozen)."""
    if kind not in ("csv", "xlsx"):
        abort(404)
    day = _report_day()
    rows = _agent_rows(day)
    columns = list(reports.AGENT_COLUMNS)
    # Times are whole seconds in a file (numbers a spreadsheet can add up).
    headers = [
        gettext(reports.AGENT_COLUMNS[c]) + (" (s)" if c.endswith("_seconds") else "")
        for c in columns
    ]
    name = f"agent-kpis-{day.isoformat()}.{kind}"
    disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
    if kind == "csv":
        labelled = [{headers[i]: row[c] for i, c in enumerate(columns)} for row in rows]
        body = "".join(excel_csv(headers, labelled, guard=[headers[0], headers[1]]))
        return Response(body, content_type="text/csv; charset=utf-8", headers=disposition)
    body = xlsx(gettext("Agents"), columns, headers, rows, amount_columns=["promised_amount"])
    return Response(body, content_type=XLSX_TYPE, headers=disposition)


@bp.get("/live/events")
@staff_required
def live_events():
    """The wallboard's picture, again and again (event `wallboard`)."""

    def pictures() -> Iterator[str]:
        yield "retry: 3000\n\n"
        deadline = time.monotonic() + STREAM_LIFETIME_SECONDS
        while time.monotonic() < deadline:
            yield sse(_picture(), event="wallboard")
            time.sleep(WALLBOARD_SECONDS)

    return event_stream(pictures())
