"""The reports' pages and files (/console/reports/...): each page shows a report's rows
(and a chart where one reads better than a table), each `.csv` / `.xlsx` sends the same
rows. Team leads see their team, administrators all. Every report is over a range of
local days (?from=YYYY-MM-DD&to=YYYY-MM-DD; ?date= for one day)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from flask import Blueprint, abort, current_app, render_template, request
from flask_babel import gettext

from dialer.agents import events
from dialer.auth import reach
from dialer.console.access import staff_required, table_file
from dialer.console.reports import (
    agents,
    collected,
    funnel,
    hourly,
    promise_age,
    referral_lists,
)
from dialer.console.reports.common import MAX_RANGE_DAYS, Column
from dialer.http import current_runtime
from dialer.messages import N_
from dialer.outcomes.scheduled import kept_rule
from dialer.runtime import local_today

bp = Blueprint("reports", __name__, url_prefix="/console/reports")
REPORT_DAYS = 31  # days offered in a one-day list (any other by ?date=)
RANGE_DAYS = 92  # days offered in a range's lists (any other by ?from= / ?to=)


def day_choices(day: date, *more: date, back: int = REPORT_DAYS) -> list[date]:
    """The days a report's list offers, newest first, the ones shown included. A list, not
    a date input: Chromium draws that in the computer's locale, not the page's."""
    today = local_today(current_runtime())
    return sorted({day, *more, *(today - timedelta(days=n) for n in range(back))}, reverse=True)


def _date(name: str) -> date | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        abort(400)


def range_args(default_days: int = 1) -> tuple[date, date]:
    """?from=&to= (both days included), or ?date= for one day; by default the last
    `default_days` days up to today. 400 when a day is not one, from is after to, or the
    range is longer than MAX_RANGE_DAYS."""
    one = _date("date")
    last = _date("to") or one or local_today(current_runtime())
    first = _date("from") or one or last - timedelta(days=default_days - 1)
    if first > last or (last - first).days + 1 > MAX_RANGE_DAYS:
        abort(400)
    return first, last


def _choice(name: str, allowed: Iterable[str], default: str) -> str:
    value = request.args.get(name) or default
    if value not in allowed:
        abort(400)
    return value


@dataclass
class Built:
    """A report as asked for: its columns and rows (people's words already translated),
    what the page needs besides, and the file's name."""

    columns: tuple[Column, ...]
    rows: list[dict[str, Any]]
    filename: str
    args: dict[str, str] = field(default_factory=dict)  # the filters, for the file links
    total: dict[str, Any] | None = None
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Report:
    slug: str
    endpoint: str
    title: str  # catalogue message
    summary: str  # catalogue message: what the index says of it
    template: str
    sheet: str  # catalogue message: the XLSX sheet's name
    build: Callable[[date, date], Built]
    default_days: int = 1


def _runtime_and_team():
    return current_runtime(), reach.team_of_principal()


def _stem(name: str, first: date, last: date) -> str:
    if first == last:
        return f"{name}-{first.isoformat()}"
    return f"{name}-{first.isoformat()}-{last.isoformat()}"


# --- the reports ---------------------------------------------------------------------------


def _agents(first: date, last: date) -> Built:
    rt, team = _runtime_and_team()
    # The pacer copies the presence log into SQL every few seconds; a report of today
    # copies what is left first, so the time of a call just ended is counted.
    events.copy_presence_log(rt)
    with rt.db.session() as s:
        rows = agents.agent_range(
            s, first=first, last=last, tz=rt.settings.timezone, team=team, now=rt.clock.now()
        )
    return Built(agents.AGENT_COLUMNS, rows, _stem("agent-kpis", first, last))


def _funnel(first: date, last: date) -> Built:
    rt, team = _runtime_and_team()
    raw = request.args.get("campaign") or None
    if raw is not None and not re.fullmatch(r"[0-9]{1,12}", raw):  # not str.isdigit: "²"
        abort(400)
    campaign_id = int(raw) if raw else None
    with rt.db.session() as s:
        if campaign_id is not None and not funnel.reaches_campaign(s, campaign_id, team=team):
            abort(404)  # no such campaign, or another team's
        choices = funnel.campaigns_of(s, team=team)
        rows = funnel.campaign_funnel(
            s, first=first, last=last, tz=rt.settings.timezone, team=team, campaign_id=campaign_id
        )
    total = funnel.funnel_total(rows, gettext("All campaigns shown")) if len(rows) > 1 else None
    stages = total or (rows[0] if rows else None)
    return Built(
        funnel.FUNNEL_COLUMNS,
        rows,
        _stem(f"funnel-{campaign_id}" if campaign_id else "funnel", first, last),
        args={"campaign": str(campaign_id)} if campaign_id else {},
        total=total,
        context={
            "campaigns": choices,
            "campaign_id": campaign_id,
            "stages": [(gettext(label), stages[key]) for key, label in funnel.STAGES]
            if stages
            else [],
        },
    )


def _promise_age(first: date, last: date) -> Built:
    rt, team = _runtime_and_team()
    basis = _choice("basis", promise_age.BASES, "due")
    with rt.db.session() as s:
        rows = promise_age.kept_by_age(
            s,
            first=first,
            last=last,
            tz=rt.settings.timezone,
            team=team,
            today=local_today(rt),
            basis=basis,
        )
    for row in rows:
        if row["band"] == "<0":
            row["band"] = gettext("Not yet due")
    columns = tuple(
        Column(c.key, promise_age.BASES[basis], c.kind) if c.key == "band" else c
        for c in promise_age.AGE_COLUMNS
    )
    return Built(
        columns,
        rows,
        _stem(f"promises-by-age-{basis}", first, last),
        args={"basis": basis},
        context={"basis": basis, "bases": promise_age.BASES},
    )


def _collected(first: date, last: date) -> Built:
    rt, team = _runtime_and_team()
    group = _choice("group", collected.GROUPS, "day")
    with rt.db.session() as s:
        rows = collected.collected(
            s,
            first=first,
            last=last,
            tz=rt.settings.timezone,
            team=team,
            rule=kept_rule(rt),
            group=group,
        )
    if group == "agent":
        for row in rows:
            if row["agent"] is None:
                row["agent"] = gettext("Nobody (no call to the customer)")
    return Built(
        collected.COLLECTED_COLUMNS[group],
        rows,
        _stem(f"collected-by-{group}", first, last),
        args={"group": group},
        total=collected.collected_total(rows, group, gettext("Total")) if rows else None,
        context={"group": group, "groups": collected.GROUPS},
    )


def _hourly(first: date, last: date) -> Built:
    rt, team = _runtime_and_team()
    with rt.db.session() as s:
        rows = hourly.hourly(s, first=first, last=last, tz=rt.settings.timezone, team=team)
    return Built(
        hourly.HOURLY_COLUMNS,
        rows,
        _stem("hourly", first, last),
        context={"timezone": rt.settings.timezone},
    )


def _referrals(first: date, last: date) -> Built:
    rt, team = _runtime_and_team()
    with rt.db.session() as s:
        rows = referral_lists.referrals_by_kind(
            s, first=first, last=last, tz=rt.settings.timezone, team=team, today=local_today(rt)
        )
    for row in rows:
        row["kind_code"] = row["kind"]
        message = referral_lists.KIND_NAMES.get(row["kind"])
        row["kind"] = gettext(message) if message else row["kind"]
    return Built(referral_lists.REFERRAL_COLUMNS, rows, _stem("referrals", first, last))


REPORTS = (
    Report(
        "agents",
        "agent_report",
        N_("Agent KPIs"),
        N_("Calls, right-party contacts, promises, talk, wrap-up, pause and ready time per agent."),
        "console/agents_report.html",
        N_("Agents"),
        _agents,
    ),
    Report(
        "funnel",
        "funnel_report",
        N_("Campaign funnel"),
        N_("Accounts, dialed, answered, right party, promised and kept, per campaign."),
        "console/funnel_report.html",
        N_("Funnel"),
        _funnel,
    ),
    Report(
        "promise-age",
        "promise_age_report",
        N_("Promises kept by age"),
        N_("Promises kept, broken and pending by days since the due date or since made."),
        "console/promise_age_report.html",
        N_("Promises by age"),
        _promise_age,
        default_days=30,
    ),
    Report(
        "collected",
        "collected_report",
        N_("Collected and promises"),
        N_("Payments received, matched to a promise or not, per day or per agent."),
        "console/collected_report.html",
        N_("Collected"),
        _collected,
        default_days=30,
    ),
    Report(
        "hourly",
        "hourly_report",
        N_("Contacts and promises by hour"),
        N_("Calls, contacts, right-party contacts and promises per hour of the day."),
        "console/hourly_report.html",
        N_("By hour"),
        _hourly,
    ),
    Report(
        "referrals",
        "referrals_report",
        N_("Referral worklists"),
        N_("Accounts sent to field, restructuring, legal and disputes, by state."),
        "console/referrals_report.html",
        N_("Referrals"),
        _referrals,
        default_days=30,
    ),
)


# --- pages and files -------------------------------------------------------------------------


@bp.get("")
@staff_required
def index():
    """The reports there are, each with what it shows."""
    others = []
    if "imports.quality_report" in current_app.view_functions:  # data quality (imports)
        others.append(("imports.quality_report", N_("Data quality")))
    return render_template("console/reports.html", reports=REPORTS, others=others)


def _headers(columns: tuple[Column, ...], *, in_file: bool) -> list[str]:
    # Times are whole seconds in a file (numbers a spreadsheet can add up).
    return [
        gettext(c.header) + (" (s)" if in_file and c.kind == "seconds" else "") for c in columns
    ]


def _page(report: Report):
    def view():
        first, last = range_args(report.default_days)
        built = report.build(first, last)
        return render_template(
            report.template,
            report=report,
            title=gettext(report.title),
            first=first,
            last=last,
            days=day_choices(first, last, back=RANGE_DAYS),
            columns=built.columns,
            headers=_headers(built.columns, in_file=False),
            rows=built.rows,
            total=built.total,
            file_args={"from": first.isoformat(), "to": last.isoformat(), **built.args},
            **built.context,
        )

    view.__doc__ = f"{report.title} over a range of days (?from=&to=, or ?date=)."
    return view


def _file(report: Report):
    def view(kind: str):
        first, last = range_args(report.default_days)
        built = report.build(first, last)
        return table_file(
            kind,
            filename=built.filename,
            sheet=gettext(report.sheet),
            columns=[c.key for c in built.columns],
            headers=_headers(built.columns, in_file=True),
            rows=built.rows,
            amount_columns=[c.key for c in built.columns if c.kind == "amount"],
            rate_columns=[c.key for c in built.columns if c.kind == "rate"],
            guard=[c.key for c in built.columns if c.kind == "text"],
        )

    view.__doc__ = f"{report.title} as CSV (UTF-8 with BOM) or XLSX (numbers as numbers)."
    return view


for _report in REPORTS:
    bp.add_url_rule(
        f"/{_report.slug}", _report.endpoint, staff_required(_page(_report)), methods=["GET"]
    )
    bp.add_url_rule(
        f"/{_report.slug}.<kind>",
        f"{_report.endpoint}_file",
        staff_required(_file(_report)),
        methods=["GET"],
    )
