"""The reports' pages and files (/console/reports/...): each page shows a report's rows,
each `.csv` / `.xlsx` sends the same rows. Team leads see their team, administrators all."""

from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, render_template
from flask_babel import gettext

from dialer.agents import events
from dialer.auth import reach
from dialer.campaigns.followups import local_today
from dialer.console.access import day_arg, staff_required, table_file
from dialer.console.reports import agents
from dialer.http import current_runtime

bp = Blueprint("reports", __name__, url_prefix="/console/reports")
REPORT_DAYS = 31  # days offered in a report's day list (any other by ?date=)


def day_choices(day: date) -> list[date]:
    """The days a report's list offers, newest first, the one shown included. A list, not a
    date input: Chromium draws that in the computer's locale, not the page's."""
    today = local_today(current_runtime())
    return sorted({day, *(today - timedelta(days=n) for n in range(REPORT_DAYS))}, reverse=True)


def _agent_rows(day: date) -> list[dict]:
    rt = current_runtime()
    # The pacer copies the presence log into SQL every few seconds; a report of today
    # copies what is left first, so the time of a call just ended is counted.
    events.copy_presence_log(rt)
    with rt.db.session() as s:
        return agents.agent_day(
            s,
            day=day,
            tz=rt.settings.timezone,
            team=reach.team_of_principal(),
            now=rt.clock.now(),
        )


@bp.get("/agents")
@staff_required
def agent_report():
    """Agent KPIs on a day (?date=YYYY-MM-DD, default today)."""
    day = day_arg()
    return render_template(
        "console/agents_report.html",
        day=day,
        days=day_choices(day),
        rows=_agent_rows(day),
        columns={k: gettext(v) for k, v in agents.AGENT_COLUMNS.items()},
    )


@bp.get("/agents.<kind>")
@staff_required
def agent_report_file(kind: str):
    """The same rows as CSV (UTF-8 with BOM) or XLSX (numbers as numbers, header frozen)."""
    day = day_arg()
    columns = list(agents.AGENT_COLUMNS)
    # Times are whole seconds in a file (numbers a spreadsheet can add up).
    headers = [
        gettext(agents.AGENT_COLUMNS[c]) + (" (s)" if c.endswith("_seconds") else "")
        for c in columns
    ]
    return table_file(
        kind,
        filename=f"agent-kpis-{day.isoformat()}",
        sheet=gettext("Agents"),
        columns=columns,
        headers=headers,
        rows=_agent_rows(day),
        amount_columns=["promised_amount"],
        guard=["agent", "team"],
    )
