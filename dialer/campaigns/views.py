"""Campaign API for the supervisor console: create, launch, pause, stop, rebuild, status,
daily templates."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import select

from dialer.campaigns import scheduled, service, templates
from dialer.campaigns.models import Campaign, CampaignTemplate
from dialer.http import ApiError, current_runtime, field, json_body, require_token

bp = Blueprint("campaigns", __name__, url_prefix="/api/campaigns")
bp.before_request(require_token)


def _get(s, campaign_id: int) -> Campaign:
    campaign = s.get(Campaign, campaign_id)
    if campaign is None:
        raise ApiError(f"no campaign {campaign_id}", 404)
    return campaign


@bp.post("")
def create():
    """Body: {"name": ..., and any campaign setting (see service.DEFAULT_SETTINGS)}."""
    body = json_body()
    name = field(body, "name", str, required=True)
    settings = {k: v for k, v in body.items() if k != "name"}
    rt = current_runtime()
    try:
        with rt.db.begin() as s:
            campaign = service.create_campaign(s, name, **settings)
            out = {"id": campaign.id, "state": campaign.state, **service.settings_of(campaign)}
    except service.CampaignError as exc:
        raise ApiError(str(exc)) from None
    return jsonify(out), 201


@bp.post("/<int:campaign_id>/launch")
def launch(campaign_id: int):
    rt = current_runtime()
    try:
        with rt.db.begin() as s:
            campaign = _get(s, campaign_id)
            built = service.launch(s, campaign, rt.clock.now(), rt.settings.timezone)
    except service.CampaignError as exc:
        raise ApiError(str(exc), 409) from None
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
        raise ApiError(str(exc), 409) from None
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
        found = service.rebuild_sql(s, campaign, now)
    with rt.db.session() as s:
        return jsonify(service.rebuild_redis(s, rt.redis, _get(s, campaign_id), found, now))


@bp.get("/<int:campaign_id>")
def show(campaign_id: int):
    rt = current_runtime()
    with rt.db.session() as s:
        return jsonify(service.status(s, rt.redis, _get(s, campaign_id), rt.clock.now()))


@bp.get("/templates")
def list_templates():
    rt = current_runtime()
    with rt.db.session() as s:
        rows = s.scalars(select(CampaignTemplate).order_by(CampaignTemplate.name)).all()
        return jsonify([templates.describe(t, rt.clock.now()) for t in rows])


@bp.post("/templates")
def save_template():
    """Body: {"name", "launch_time": "HH:MM", "timezone"?, "weekdays"?, "holiday_country"?,
    "settings": {...} or "from_campaign": id}."""
    body = json_body()
    rt = current_runtime()
    try:
        with rt.db.begin() as s:
            source = field(body, "from_campaign", int)
            settings = (
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
        raise ApiError(str(exc)) from None
    planned = scheduled.schedule_templates(rt)
    with rt.db.session() as s:
        out = templates.describe(s.get_one(CampaignTemplate, template_id), rt.clock.now())
    out["scheduled_for"] = planned.get(template_id)
    return jsonify(out), 201
