"""Call scripts over the JSON API: list, show, save (checked whole), delete, render."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from sqlalchemy import select

from dialer.auth import access, reach
from dialer.http import ApiError, current_runtime, field, json_body
from dialer.portfolio.models import Account
from dialer.runtime import local_today
from dialer.scripts import service
from dialer.scripts.service import (
    PREVIEW_CALLBACK_NUMBER,
    PREVIEW_COMPANY,
    ScriptConflict,
    ScriptError,
    UnknownScript,
)

bp = Blueprint("scripts", __name__, url_prefix="/api/scripts")
bp.before_request(access.require_api(access.STAFF))

PUT_KEYS = {"source", "by"}
RENDER_ARGS = {"account", "lang", "company", "callback_number", "agent_name"}


def _refused(exc: ScriptError, message: str, status: int = 422) -> ApiError:
    if isinstance(exc, UnknownScript):
        status = 404
    elif isinstance(exc, ScriptConflict):
        status = 409
    return ApiError(message, status, exc.problems)


def _load(session, name: str) -> service.Script:
    try:
        return service.load_or_raise(session, name=name)
    except ScriptError as exc:
        # A saved source a newer dialer refuses: the script exists but cannot be used.
        raise _refused(exc, f"script {name} cannot be used", 422) from None


@bp.get("")
def list_scripts():
    rt = current_runtime()
    with rt.db.session() as s:
        return jsonify([info.as_dict(rt.settings.timezone) for info in service.names(s)])


@bp.get("/<name>")
def show(name: str):
    rt = current_runtime()
    with rt.db.session() as s:
        return jsonify(service.script_as_dict(_load(s, name), rt.settings.timezone))


@bp.put("/<name>")
def put(name: str):
    """Save a script: {"source": "<the YAML text>", "by": "who"}; 201 new, 200 a new version.
    Administrators only: a script is what every team's agents and IVR calls say."""
    principal = access.require_role(access.Role.ADMIN)
    body = json_body()
    unknown = set(body) - PUT_KEYS
    if unknown:
        raise ApiError(f"unknown field(s): {', '.join(sorted(unknown))}; known: source, by")
    source = field(body, "source", str, required=True)
    # A signed-in administrator is who saved it; an API client names who did.
    by = field(body, "by", str) if principal.user_id is None else principal.name
    rt = current_runtime()
    try:
        with rt.db.begin() as s:
            script = service.save(s, name=name, source=source, by=by, now=rt.clock.now())
            out = service.script_as_dict(script, rt.settings.timezone)
    except ScriptError as exc:
        raise _refused(exc, f"script {name} was not saved") from None
    return jsonify(out), 201 if script.version == 1 else 200


@bp.delete("/<name>")
def delete(name: str):
    """Delete a saved script (409 for a shipped one, or one a live campaign names)."""
    access.require_role(access.Role.ADMIN)
    try:
        with current_runtime().db.begin() as s:
            service.delete(s, name=name)
    except ScriptError as exc:
        raise _refused(exc, f"script {name} was not deleted") from None
    return "", 204


@bp.get("/<name>/render")
def render(name: str):
    """?account=ACC&lang=vi|en[&company=...&callback_number=...&agent_name=...]"""
    unknown = set(request.args) - RENDER_ARGS
    if unknown:
        raise ApiError(
            f"unknown parameter(s): {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(RENDER_ARGS))}"
        )
    account_no = request.args.get("account", "").strip()
    if not account_no:
        raise ApiError("account (the account number) is required")
    language = request.args.get("lang", "vi")
    if language not in ("vi", "en"):
        raise ApiError(f"lang must be vi or en, not {language!r}")
    rt = current_runtime()
    with rt.db.session() as s:
        script = _load(s, name)
        account = s.scalars(select(Account).where(Account.account_no == account_no)).first()
        if account is None:
            raise ApiError(f"no account {account_no!r}", 404)
        reach.check_account(s, account.id)
        try:
            out = service.preview(
                s,
                script=script,
                account=account,
                company=request.args.get("company") or PREVIEW_COMPANY,
                callback_number=request.args.get("callback_number") or PREVIEW_CALLBACK_NUMBER,
                agent_name=request.args.get("agent_name") or None,
                language=language,  # type: ignore[arg-type]
                today=local_today(rt),
                timezone=rt.settings.timezone,
            )
        except ScriptError as exc:
            raise _refused(exc, f"script {name} cannot be rendered", 400) from None
    return jsonify(out)
