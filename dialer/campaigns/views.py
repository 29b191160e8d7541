"""Campaign API for the supervisor console: create, launch, pause, stop, rebuild, status,
entries in dial order, blocked dials, daily templates, the compliance profiles."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, jsonify, request

from dialer.auth import access, reach
from dialer.campaigns import compliance, reports, scheduled, service, templates
from dialer.campaigns.jobs import job_lifetime
from dialer.campaigns.models import Campaign, CampaignTemplate
from dialer.http import ApiError, current_runtime, field, json_body, refused

bp = Blueprint("campaigns", __name__, url_prefix="/api/campaigns")
bp.before_request(access.require_api(access.STAFF))


@bp.before_request
def _within_team() -> None:
    """A team lead reaches their team's campaigns and templates only."""
    args = request.view_args or {}
    if "campaign_id" not in args and "template_id" not in args:
        return
    with current_runtime().db.session() as s:
        if "campaign_id" in args:
            reach.check_team(_get(s, args["campaign_id"]).team)
        else:
            reach.check_team((_template(s, args["template_id"]).settings or {}).get("team"))


def _own_team(settings: dict[str, Any]) -> dict[str, Any]:
    """A lead's new campaign or template is their team's (another team is refused)."""
    team = reach.team_of_principal()
    if team is None:
        return settings
    if settings.get("team") not in (None, team):
        raise ApiError(f"a team lead creates campaigns for their own team ({team})", 403)
    return {**settings, "team": team}


def _get(s, campaign_id: int) -> Campaign:
    campaign = s.get(Campaign, campaign_id)
    if campaign is None:
        raise ApiError(f"no campaign {campaign_id}", 404)
    return campaign


@bp.get("/profiles")
def list_profiles():
    """The compliance profiles a campaign can use and their rules (`campaign profiles`)."""
    return jsonify([compliance.describe(p) for p in compliance.PROFILES.values()])


@bp.post("")
def create():
    """Body: {"name": ..., and any campaign setting (see service.DEFAULT_SETTINGS)}."""
    body = json_body()
    name = field(body, "name", str, required=True)
    settings = _own_team({k: v for k, v in body.items() if k != "name"})
    rt = current_runtime()
    try:
        with rt.db.begin() as s:
            campaign = service.create_campaign(s, name, **settings)
            out = {"id": campaign.id, "state": campaign.state, **service.settings_of(campaign)}
    except service.CampaignError as exc:
        raise refused(exc) from None
    return jsonify(out), 201


@bp.post("/count")
def count():
    """The campaign form's live count. Body: the settings a create would take (name not
    needed); answer {"matching": n, "excluded": {rule: n}}; nothing is written."""
    body = json_body()
    settings = _own_team({k: v for k, v in body.items() if k != "name"})
    rt = current_runtime()
    try:
        with rt.db.session() as s:
            result = service.preview_count(
                s, settings=settings, now=rt.clock.now(), tz=rt.settings.timezone
            )
    except service.CampaignError as exc:
        raise refused(exc) from None
    return jsonify({"matching": result.entries, "excluded": result.excluded})


@bp.post("/<int:campaign_id>/launch")
def launch(campaign_id: int):
    rt = current_runtime()
    try:
        with rt.db.begin() as s:
            campaign = _get(s, campaign_id)
            built = service.launch(s, campaign, rt.clock.now(), rt.settings.timezone)
    except service.CampaignError as exc:
        raise refused(exc, 409) from None
    with rt.db.session() as s:
        service.start_dialing(s, rt.redis, _get(s, campaign_id), rt.clock.now())
    return jsonify({"id": campaign_id, "state": "running", "entries": built.entries})


@bp.post("/<int:campaign_id>/stop")
def stop(campaign_id: int):
    now = current_runtime().clock.now()
    return _change_state(campaign_id, lambda s, r, c: service.stop(s, r, c, now), "stopped")


@bp.post("/<int:campaign_id>/pause")
def pause(campaign_id: int):
    return _change_state(campaign_id, service.pause, "paused")


@bp.post("/<int:campaign_id>/resume")
def resume(campaign_id: int):
    return _change_state(campaign_id, service.resume, "running")


def _change_state(campaign_id: int, change, state: str):
    rt = current_runtime()
    try:
        with rt.db.begin() as s:
            change(s, rt.redis, _get(s, campaign_id))
    except service.CampaignError as exc:
        raise refused(exc, 409) from None
    return jsonify({"id": campaign_id, "state": state})


@bp.post("/<int:campaign_id>/rebuild")
def rebuild(campaign_id: int):
    """Rebuild the campaign's Redis state from SQL."""
    rt = current_runtime()
    now = rt.clock.now()
    with rt.db.begin() as s:
        campaign = _get(s, campaign_id)
        if campaign.state == "draft":
            raise ApiError(f"campaign {campaign_id} is a draft; launch it instead", 409)
        found = service.rebuild_sql(s, campaign, now, job_lifetime(rt.clock))
    with rt.db.session() as s:
        return jsonify(service.rebuild_redis(s, rt.redis, _get(s, campaign_id), found, now))


@bp.get("/<int:campaign_id>")
def show(campaign_id: int):
    rt = current_runtime()
    with rt.db.session() as s:
        return jsonify(service.status(s, rt.redis, _get(s, campaign_id), rt.clock.now()))


@contextmanager
def _report_errors() -> Iterator[None]:
    """A report's refusals as HTTP: an unknown subject is 404, a bad argument 400."""
    try:
        yield
    except reports.NotFound as exc:
        raise ApiError(str(exc), 404) from None
    except reports.ReportError as exc:
        raise refused(exc) from None


def _query(*known: str) -> dict[str, str]:
    """The request's query parameters (empty ones dropped); an unknown one is a 400."""
    unknown = sorted(set(request.args) - set(known))
    if unknown:
        raise ApiError(
            f"unknown query parameter(s) {', '.join(unknown)}; known: {', '.join(known)}"
        )
    return {k: v for k, v in request.args.items() if v != ""}


def _whole(args: dict[str, str], name: str, default: int) -> int:
    raw = args.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"-?\d{1,12}", raw):
        raise ApiError(f"{name} must be a whole number, got {raw!r}")
    return int(raw)


@bp.get("/<int:campaign_id>/entries")
def entries(campaign_id: int):
    """Entries in dial order: ?state=&limit=&offset= or &after=CURSOR (a list; each entry's
    `cursor` starts the page after it), or ?account=ACCOUNT_NO for that one entry with a
    line explaining each score component (an object)."""
    args = _query("account", "state", "limit", "offset", "after")
    rt = current_runtime()
    tz = rt.settings.timezone
    with rt.db.session() as s, _report_errors():
        campaign = _get(s, campaign_id)
        if "account" in args:
            return jsonify(reports.explain_entry(s, campaign, args["account"], tz=tz))
        out = reports.list_entries(
            s,
            campaign.id,
            tz=tz,
            state=args.get("state"),
            limit=_whole(args, "limit", reports.DEFAULT_LIMIT),
            offset=_whole(args, "offset", 0),
            after=args.get("after"),
        )
        return jsonify(out)


@bp.get("/<int:campaign_id>/blocked")
def blocked(campaign_id: int):
    """{"by_rule", "excluded_at_build", "rows"}: ?rule=&since=YYYY-MM-DD&limit=."""
    args = _query("rule", "since", "limit")
    rt = current_runtime()
    tz = rt.settings.timezone
    with rt.db.session() as s, _report_errors():
        out = reports.blocked_report(
            s,
            _get(s, campaign_id),
            tz=tz,
            rule=args.get("rule"),
            since=reports.parse_since(args.get("since"), tz),
            limit=_whole(args, "limit", reports.DEFAULT_LIMIT),
        )
        return jsonify(out)


@bp.get("/<int:campaign_id>/blocked.csv")
def blocked_csv(campaign_id: int):
    """Every matching blocked dial as CSV (UTF-8 with BOM, for Excel): ?rule=&since=."""
    args = _query("rule", "since")
    rt = current_runtime()
    tz = rt.settings.timezone
    with rt.db.session() as s, _report_errors():  # refuse before the first byte is sent
        _get(s, campaign_id)
        rule = reports.check_rule(args.get("rule"))
        since = reports.parse_since(args.get("since"), tz)

    def stream() -> Iterator[bytes]:
        with rt.db.session() as s:
            for chunk in reports.blocked_csv(s, campaign_id, tz=tz, rule=rule, since=since):
                yield chunk.encode("utf-8")

    return Response(
        stream(),
        content_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="campaign-{campaign_id}-blocked.csv"'
        },
    )


@bp.get("/templates")
def list_templates():
    rt = current_runtime()
    with rt.db.session() as s:
        return jsonify(
            templates.describe_all(s, team=reach.team_of_principal(), now=rt.clock.now())
        )


@bp.post("/templates")
def save_template():
    """Body: {"name", "launch_time": "HH:MM", "timezone"?, "weekdays"?, "holiday_country"?,
    "settings": {...} or "from_campaign": id}."""
    body = json_body()
    rt = current_runtime()
    try:
        with rt.db.begin() as s:
            source = field(body, "from_campaign", int)
            if source is not None:
                reach.check_team(_get(s, source).team)
            settings = _own_team(
                service.settings_of(_get(s, source))
                if source is not None
                else field(body, "settings", dict, {})
            )
            template = templates.save_template(
                s,
                field(body, "name", str, required=True),
                settings,
                launch_time=field(body, "launch_time", str, required=True),
                timezone=field(body, "timezone", str, rt.settings.timezone),
                weekdays=body.get("weekdays", "mon-fri"),
                holiday_country=field(body, "holiday_country", str, "VN"),
            )
            template_id = template.id
    except service.CampaignError as exc:
        raise refused(exc) from None
    planned = scheduled.schedule_templates(rt)
    with rt.db.session() as s:
        out = templates.describe(s.get_one(CampaignTemplate, template_id), rt.clock.now())
    out["scheduled_for"] = planned.get(template_id)
    return jsonify(out), 201


def _template(s, template_id: int) -> CampaignTemplate:
    template = s.get(CampaignTemplate, template_id)
    if template is None:
        raise ApiError(f"no template {template_id}", 404)
    return template


def _optional_body() -> dict[str, Any]:
    """The JSON object body, or {} when the request has none."""
    return json_body() if request.get_data() else {}


@bp.post("/templates/<int:template_id>/run")
def run_template(template_id: int):
    """Launch the template's campaign for a day now, once per day, as the schedule would
    (`dialer campaign template run`). Body, optional: {"date": "YYYY-MM-DD"} [today]."""
    day_text = field(_optional_body(), "date", str)
    rt = current_runtime()
    now = rt.clock.now()
    with rt.db.session() as s:
        template = _template(s, template_id)
        with _report_errors():
            day = (
                reports.parse_day("date", day_text)
                if day_text is not None
                else now.astimezone(ZoneInfo(template.timezone)).date()
            )
        try:
            templates.check_run_day(template, day, now)
        except service.CampaignError as exc:
            raise refused(exc, 409) from None
    try:
        result = scheduled.run_template(rt, template_id, day)
    except service.CampaignError as exc:
        raise refused(exc, 409) from None
    return jsonify(
        {
            "id": template_id,
            "date": day.isoformat(),
            "launched": result.startswith("launched"),
            "result": result,
        }
    )


@bp.post("/templates/<int:template_id>/disable")
def disable_template(template_id: int):
    """Stop launching the template (`dialer campaign template disable`); its scheduled
    launch then does nothing."""
    rt = current_runtime()
    with rt.db.begin() as s:
        template = _template(s, template_id)
        template.active = False
        s.flush()
        return jsonify(templates.describe(template, rt.clock.now()))
