"""Agent desk API: create agents, log in/out, see the current call."""

from __future__ import annotations

from flask import Blueprint, jsonify

from dialer.agents import presence, service
from dialer.agents.models import Agent
from dialer.campaigns import preview
from dialer.campaigns.errors import CampaignError
from dialer.campaigns.models import CallAttempt
from dialer.http import ApiError, current_runtime, field, json_body, require_token
from dialer.portfolio.models import Account, Phone
from dialer.privacy import mask_phone

bp = Blueprint("agents", __name__, url_prefix="/api/agents")
bp.before_request(require_token)


@bp.post("")
def create():
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
    state = presence.get(rt.redis, agent_id)
    with rt.db.session() as s:
        agent = s.get(Agent, agent_id)
        if agent is None:
            raise ApiError(f"no agent {agent_id}", 404)
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
    campaign_id = field(json_body(), "campaign_id", int, required=True)
    try:
        state = service.login(current_runtime(), agent_id, campaign_id)
    except service.AgentError as exc:
        raise ApiError(str(exc), 409) from None
    return jsonify(state.as_dict())


@bp.post("/<int:agent_id>/logout")
def logout(agent_id: int):
    return jsonify(service.logout(current_runtime(), agent_id).as_dict())


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
    try:
        out = action(current_runtime(), agent_id)
    except CampaignError as exc:
        raise ApiError(str(exc), 409) from None
    if out is None:
        return jsonify({"error": "no account left to preview"}), 404
    return jsonify(out)
