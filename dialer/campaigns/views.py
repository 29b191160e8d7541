"""Campaign API for the supervisor console: create, launch, stop, status."""

from __future__ import annotations

from flask import Blueprint, jsonify

from dialer.campaigns import service
from dialer.campaigns.models import Campaign
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
    body = json_body()
    rt = current_runtime()
    try:
        with rt.db.begin() as s:
            campaign = service.create_campaign(
                s,
                field(body, "name", str, required=True),
                filters=field(body, "filters", dict, {}),
                dial_mode=field(body, "dial_mode", str, "progressive"),
                compliance_profile=field(body, "compliance_profile", str, "vn-finance"),
                max_attempts_per_entry=field(body, "max_attempts_per_entry", int, 3),
                caller_id=field(body, "caller_id", str),
            )
            out = {"id": campaign.id, "state": campaign.state}
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
        service.start_dialing(s, rt.redis, _get(s, campaign_id))
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


@bp.get("/<int:campaign_id>")
def show(campaign_id: int):
    rt = current_runtime()
    with rt.db.session() as s:
        return jsonify(service.status(s, rt.redis, _get(s, campaign_id)))
