"""The console's pages: the live wallboard (its figures by server-sent events every
WALLBOARD_SECONDS, no page reloads). Team leads see their team, administrators all."""

from __future__ import annotations

import time
from collections.abc import Iterator

from flask import Blueprint, abort, render_template, request
from flask_babel import get_locale, gettext

from dialer.agents import pauses
from dialer.agents import service as agent_service
from dialer.agents.events import STREAM_LIFETIME_SECONDS, sse
from dialer.auth import reach
from dialer.callflow.views import event_stream
from dialer.campaigns import reports as entry_reports
from dialer.campaigns import service as campaigns
from dialer.campaigns import templates
from dialer.campaigns.compliance import PROFILES
from dialer.campaigns.models import DIAL_MODES, Campaign
from dialer.campaigns.ranking import BUCKETS, COMPONENTS
from dialer.console import wallboard
from dialer.console.access import staff_required, table_file
from dialer.http import current_runtime
from dialer.messages import N_
from dialer.scripts import service as scripts
from dialer.web.i18n import names_in_language

bp = Blueprint("console", __name__, url_prefix="/console")
WALLBOARD_SECONDS = 2.0  # real seconds between two pictures of the floor


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
            templates=templates.describe_all(s, team=team, now=rt.clock.now()),
            team=team,
            modes=DIAL_MODES,
            profiles=sorted(PROFILES),
            buckets=[name for name, _, _ in BUCKETS],
            scripts=[i.name for i in scripts.names(s)],
            machine_actions=campaigns.MACHINE_ACTIONS,
            retry_results=RETRY_RESULTS,
            agents=agent_service.list_agents(s, team=team),
            defaults=campaigns.DEFAULT_SETTINGS,
        )


ENTRY_PAGE = 50
# The call results a campaign's form offers a retry delay for (others: the engine's own).
RETRY_RESULTS = ("no_answer", "busy", "machine")  # entries a page of the dial order shows


@bp.get("/campaigns/<int:campaign_id>")
@staff_required
def campaign_page(campaign_id: int):
    """One campaign: its counts and controls, the dials the rules blocked (by rule, then
    the latest), and its entries in dial order, a page at a time (?after=CURSOR, key-set:
    as quick on the millionth entry as on the first), ?state= to show one state, and
    ?account= for one account's place with each score component explained."""
    rt = current_runtime()
    tz = rt.settings.timezone
    state = request.args.get("state") or None
    after = request.args.get("after") or None
    account_no = (request.args.get("account") or "").strip() or None
    with rt.db.session() as s:
        campaign = _campaign_or_404(s, campaign_id)
        explained, not_found = None, None
        try:
            entries = entry_reports.list_entries(
                s, campaign.id, tz=tz, state=state, limit=ENTRY_PAGE, after=after
            )
            if account_no is not None:
                try:
                    explained = entry_reports.explain_entry(s, campaign, account_no, tz=tz)
                except entry_reports.NotFound as exc:
                    not_found = str(exc)
        except entry_reports.ReportError:
            abort(400)
        return render_template(
            "console/campaign.html",
            campaign=campaigns.status(s, rt.redis, campaign, rt.clock.now()),
            blocked=entry_reports.blocked_report(s, campaign, tz=tz, limit=20),
            entries=entries,
            page_size=ENTRY_PAGE,
            state=state,
            after=after,
            account_no=account_no,
            explained=explained,
            not_found=not_found,
            components=COMPONENTS,
            entry_states=entry_reports.ENTRY_STATES,
        )


# The entries file's columns (the page's, with one per score component) and headers.
ENTRY_FILE_COLUMNS = {
    "position": N_("Place"),
    "account_no": N_("Account"),
    "customer_name": N_("Customer"),
    "dpd": "DPD",
    "overdue_amount": N_("Overdue (VND)"),
    "state": N_("State"),
    "attempts": N_("Calls"),
    "last_result": N_("Last result"),
    "not_before": N_("Not before"),
    "score": N_("Score"),
    **{f"score_{name}": name for name in COMPONENTS},
}
BLOCKED_FILE_COLUMNS = {
    "at": N_("Time"),
    "account_no": N_("Account"),
    "customer_name": N_("Customer"),
    "phone": N_("Phone"),
    "rule": N_("Rule"),
    "detail": N_("Detail"),
}


def _campaign_or_404(s, campaign_id: int) -> Campaign:
    campaign = s.get(Campaign, campaign_id)
    if campaign is None:
        abort(404)
    reach.check_team(campaign.team)
    return campaign


def _headers(columns: dict[str, str]) -> list[str]:
    components = names_in_language("component_name")
    return [
        components.get(key.removeprefix("score_"), key)
        if key.startswith("score_")
        else gettext(label)
        for key, label in columns.items()
    ]


@bp.get("/campaigns/<int:campaign_id>/entries.<kind>")
@staff_required
def campaign_entries_file(campaign_id: int, kind: str):
    """Every entry in dial order (?state= for one state) as CSV, streamed as it is read,
    or XLSX: with the place, the score and each of its components."""
    rt = current_runtime()
    tz = rt.settings.timezone
    state = request.args.get("state") or None
    if state is not None and state not in entry_reports.ENTRY_STATES:
        abort(400)
    with rt.db.session() as s:
        _campaign_or_404(s, campaign_id)

    def rows():
        with rt.db.session() as s:
            states = names_in_language("entry_state_name")
            for entry in entry_reports.iter_entries(s, campaign_id, tz=tz, state=state):
                row = entry_reports.entry_row(entry)
                yield {**row, "state": states.get(row["state"], row["state"])}

    return table_file(
        kind,
        filename=f"campaign-{campaign_id}-entries",
        sheet=gettext("Entries in dial order"),
        columns=list(ENTRY_FILE_COLUMNS),
        headers=_headers(ENTRY_FILE_COLUMNS),
        rows=rows(),
        amount_columns=["overdue_amount"],
        guard=["account_no", "customer_name", "last_result"],
    )


@bp.get("/campaigns/<int:campaign_id>/blocked.<kind>")
@staff_required
def campaign_blocked_file(campaign_id: int, kind: str):
    """Every dial the rules stopped, newest first, as CSV or XLSX (phones masked)."""
    rt = current_runtime()
    tz = rt.settings.timezone
    with rt.db.session() as s:
        _campaign_or_404(s, campaign_id)

    def rows():
        with rt.db.session() as s:
            rules = names_in_language("rule_name")
            for row in entry_reports.blocked_rows(s, campaign_id, tz=tz):
                yield {**row, "rule": rules.get(row["rule"], row["rule"])}

    return table_file(
        kind,
        filename=f"campaign-{campaign_id}-blocked",
        sheet=gettext("Dials the rules stopped"),
        columns=list(BLOCKED_FILE_COLUMNS),
        headers=_headers(BLOCKED_FILE_COLUMNS),
        rows=rows(),
        guard=["account_no", "customer_name", "detail"],
    )


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
