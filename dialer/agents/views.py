"""Agent desk API: create agents, log in/out, see the current call."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from flask import Blueprint, jsonify, request

from dialer.agents import pauses, presence, reports, service, tokens
from dialer.auth import access
from dialer.campaigns import preview
from dialer.campaigns.errors import CampaignError
from dialer.campaigns.models import CallAttempt
from dialer.http import ApiError, current_runtime, field, json_body, said
from dialer.portfolio.models import Account, Phone
from dialer.privacy import mask_phone

bp = Blueprint("agents", __name__, url_prefix="/api/agents")
bp.before_request(access.require_api(access.EVERYONE))


def _reach(agent_id: int, *, act: bool = False, lead_may_act: bool = False) -> None:
    with current_runtime().db.session() as s:
        access.agent_or_raise(s, agent_id, act=act, lead_may_act=lead_may_act)


@bp.post("")
def create():
    access.require_role(access.Role.ADMIN)
    body = json_body()
    rt = current_runtime()
    try:
        with rt.db.begin() as s:
            agent = service.create_agent(
                s,
                field(body, "username", str, required=True),
                field(body, "name", str, required=True),
                field(body, "endpoint", str),
                field(body, "team", str),
            )
            out = {"id": agent.id, "username": agent.username, "endpoint": agent.endpoint}
    except service.AgentError as exc:
        raise ApiError(str(exc)) from None
    return jsonify(out), 201


@bp.get("/<int:agent_id>")
def show(agent_id: int):
    """The agent's state and, on a call or in wrap-up, the account on screen."""
    rt = current_runtime()
    with rt.db.session() as s:
        agent = access.agent_or_raise(s, agent_id)
        state = presence.get(rt.redis, agent_id)
        out = {"id": agent.id, "username": agent.username, "name": agent.name, **state.as_dict()}
        if state.attempt_id is not None:
            attempt = s.get_one(CallAttempt, state.attempt_id)
            account = s.get_one(Account, attempt.account_id)
            phone = s.get_one(Phone, attempt.phone_id)
            out["call"] = {
                "attempt_id": attempt.id,
                "call_status": attempt.status,
                "ended": attempt.ended_at is not None,
                "action_code": attempt.action_code,
                "account_no": account.account_no,
                "customer_name": account.customer_name,
                "overdue_amount": account.overdue_amount,
                "principal_outstanding": account.principal_outstanding,
                "dpd": account.dpd,
                "product": account.product,
                "phone": mask_phone(phone.number),
                "phone_relation": phone.relation,
            }
    return jsonify(out)


@bp.post("/<int:agent_id>/login")
def login(agent_id: int):
    _reach(agent_id, act=True)
    campaign_id = field(json_body(), "campaign_id", int, required=True)
    try:
        state = service.login(current_runtime(), agent_id, campaign_id)
    except service.AgentError as exc:
        raise ApiError(said(exc), 409) from None
    return jsonify(state.as_dict())


@bp.post("/<int:agent_id>/logout")
def logout(agent_id: int):
    _reach(agent_id, act=True, lead_may_act=True)
    return jsonify(service.logout(current_runtime(), agent_id).as_dict())


@bp.post("/<int:agent_id>/pause")
def pause(agent_id: int):
    """Body {"code": "break"}: away from calls now, or after the call in progress."""
    _reach(agent_id, act=True)
    code = field(json_body(), "code", str, required=True)
    try:
        return jsonify(service.pause(current_runtime(), agent_id, code).as_dict())
    except service.AgentError as exc:
        raise ApiError(said(exc), 409) from None


@bp.post("/<int:agent_id>/resume")
def resume(agent_id: int):
    """Back from a pause (wrap_up_overrun too), or a pending pause called off."""
    _reach(agent_id, act=True)
    try:
        return jsonify(service.resume(current_runtime(), agent_id).as_dict())
    except service.AgentError as exc:
        raise ApiError(said(exc), 409) from None


@bp.get("/<int:agent_id>/token")
def token(agent_id: int):
    """A Twilio Voice access token for the agent's browser softphone."""
    rt = current_runtime()
    with rt.db.session() as s:
        endpoint = access.agent_or_raise(s, agent_id, act=True).endpoint
    try:
        issued = tokens.voice_token(rt.settings, endpoint)
    except tokens.TokenUnavailable as exc:
        raise ApiError(said(exc), 409) from None
    return jsonify({"token": issued.token, "identity": issued.identity, "ttl": issued.ttl})


@bp.get("/pause-codes")
def pause_codes():
    """The pause codes an agent may choose (`?all=1`: every code, the dialer's too)."""
    everything = request.args.get("all") in ("1", "true", "yes")
    with current_runtime().db.session() as s:
        codes = pauses.list_codes(s, include_inactive=everything)
        return jsonify([pauses.as_dict(c) for c in codes if everything or not c.system])


@bp.put("/pause-codes/<code>")
def put_pause_code(code: str):
    access.require_role(access.Role.ADMIN)
    """Create or edit a pause code: {"label_vi", "label_en", "active"}."""
    body = json_body()
    rt = current_runtime()
    try:
        with rt.db.begin() as s:
            row = pauses.save_code(
                s,
                code=code,
                label_vi=field(body, "label_vi", str, required=True),
                label_en=field(body, "label_en", str, required=True),
                active=body.get("active", True),
            )
            out = pauses.as_dict(row)
    except pauses.PauseCodeError as exc:
        raise ApiError(said(exc), 422) from None
    return jsonify(out)


@bp.get("/<int:agent_id>/presence")
def presence_report(agent_id: int):
    """The agent's state changes on a day (?date=YYYY-MM-DD, default today): time in each
    state and pauses by reason."""
    rt = current_runtime()
    day = _day_arg(rt)
    with rt.db.session() as s:
        access.agent_or_raise(s, agent_id)
        report = reports.presence_day(
            s, agent_id=agent_id, day=day, tz=rt.settings.timezone, now=rt.clock.now()
        )
        return jsonify(report)


def _day_arg(rt):
    raw = request.args.get("date")
    if not raw:
        return rt.clock.now().astimezone(ZoneInfo(rt.settings.timezone)).date()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError(f"date must be YYYY-MM-DD, got {raw!r}") from None


@bp.post("/<int:agent_id>/preview")
def preview_take(agent_id: int):
    """Preview mode: the next account for this agent (the same one until dialed/skipped)."""
    return _preview(preview.take, agent_id)


@bp.post("/<int:agent_id>/preview/dial")
def preview_dial(agent_id: int):
    return _preview(preview.dial, agent_id)


@bp.post("/<int:agent_id>/preview/skip")
def preview_skip(agent_id: int):
    return _preview(preview.skip, agent_id)


def _preview(action, agent_id: int):
    _reach(agent_id, act=True)
    try:
        out = action(current_runtime(), agent_id)
    except CampaignError as exc:
        raise ApiError(said(exc), 409) from None
    if out is None:
        return jsonify({"error": "no account left to preview"}), 404
    return jsonify(out)
