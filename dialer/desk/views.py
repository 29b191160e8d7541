"""The agent desk's pages: the desk itself, its server-rendered parts (the call on screen,
the account, my callbacks and payments, preview), and the few actions that are the desk's
own (hang up, the built-in softphone, language). Everything else the desk does goes
through the JSON API (go on line, ready, pause, record a code), as any client would."""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from dialer.agents import pauses, presence
from dialer.agents.models import Agent
from dialer.auth import access, reach
from dialer.callflow import common
from dialer.callflow.screen_pop import agent_codes
from dialer.campaigns import preview
from dialer.campaigns import service as campaigns
from dialer.campaigns.compliance import get_profile
from dialer.campaigns.errors import CampaignError
from dialer.campaigns.models import CallAttempt, Campaign
from dialer.desk import actions, service
from dialer.http import ApiError, current_runtime, json_body, said
from dialer.outcomes.effects import MAX_CALLBACK_DAYS, MAX_PROMISE_DAYS
from dialer.portfolio.models import Account
from dialer.runtime import local_today
from dialer.scripts import service as scripts
from dialer.telephony import softphone
from dialer.telephony.carrier import CarrierError

bp = Blueprint("desk", __name__, url_prefix="/desk")  # templates: dialer/web/templates/desk
SKIP_REASONS = ("wrong_time", "known_dispute", "handled_elsewhere", "other")


def agent_required(view):
    """A signed-in agent (leads and administrators have the console instead)."""

    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if access.has_bearer():
            abort(403)  # the desk is a person's, at their browser; systems use the JSON API
        if current_user.agent_id is None:
            if request.endpoint == "desk.desk":
                return redirect(url_for("web.console"))
            abort(403)
        return view(*args, **kwargs)

    return wrapped


@bp.get("")
@agent_required
def desk():
    rt = current_runtime()
    with rt.db.session() as s:
        agent = s.get_one(Agent, current_user.agent_id)
        campaigns = service.workable_campaigns(s, agent=agent)
        codes = [pauses.as_dict(c) for c in pauses.list_codes(s) if not c.system]
        wrap_up = {c.id: c.wrap_up_seconds for c in campaigns}
        modes = {c.id: c.dial_mode for c in campaigns}
        state = presence.get(rt.redis, agent.id)
        return render_template(
            "desk/desk.html",
            agent=agent,
            campaigns=campaigns,
            pause_codes=codes,
            state=state,
            config={
                "agentId": agent.id,
                "softphone": softphone.kind(rt.settings),
                "wrapUp": wrap_up,
                "modes": modes,
                "inboundWrapUp": rt.settings.inbound_wrap_up_seconds,
                "now": rt.now_ts(),
                "speed": rt.settings.speed,
                "state": state.as_dict(),
            },
        )


def _attempt_on_screen(s, attempt_id: int) -> CallAttempt:
    attempt = s.get(CallAttempt, attempt_id)
    if attempt is None or attempt.account_id is None:
        abort(404)
    principal = access.principal_or_raise()
    if attempt.agent_id != principal.agent_id and not reach.may_see_account(
        s, principal=principal, account_id=attempt.account_id
    ):
        abort(403)
    return attempt


@bp.get("/calls/<int:attempt_id>")
@agent_required
def call(attempt_id: int):
    """The screen pop: the account, its history, the talk track, the disposition form."""
    rt = current_runtime()
    with rt.db.session() as s:
        attempt = _attempt_on_screen(s, attempt_id)
        account = s.get_one(Account, attempt.account_id)
        campaign = s.get(Campaign, attempt.campaign_id) if attempt.campaign_id else None
        view = service.account_view(s, account=account, dialed_phone_id=attempt.phone_id)
        # The talk track is what the borrower hears: in the call's language (Vietnamese),
        # whatever language the agent reads the desk in.
        language = common.LANGUAGE
        caller = common.caller_of(campaign, rt.settings)
        context = scripts.account_context(
            s,
            account=account,
            company=caller.company,
            callback_number=caller.callback_number,
            agent_name=current_user.name,
            language=language,
            timezone=rt.settings.timezone,
        )
        script = common.talk_script_of(s, campaign)
        sections = scripts.render_talk_track(script, context=context, language=language)
        today = local_today(rt)
        profile = (
            campaigns.effective_profile(campaign)
            if campaign
            else get_profile(campaigns.DEFAULT_SETTINGS["compliance_profile"])
        )
        return render_template(
            "desk/call.html",
            attempt=attempt,
            campaign=campaign,
            sections=sections,
            codes=_codes(s),
            today=today,
            promise_days=service.days_from(today, MAX_PROMISE_DAYS),
            # The server takes callbacks up to 30 days from now: the 30th day is partly out.
            callback_days=service.days_from(today, MAX_CALLBACK_DAYS - 1),
            callback_times=service.callback_times(profile.window_start, profile.window_end),
            window=(f"{profile.window_start:%H:%M}", f"{profile.window_end:%H:%M}"),
            **view,
        )


# The codes an agent sets most, first: they get the shortcuts 1-9.
COMMON_FIRST = ("PTP", "CAB", "RTP", "PAID", "WFP", "HUP", "NCP", "LEM", "NAB")


def _codes(s):
    def order(code: dict) -> tuple[int, str]:
        name = code["code"]
        return (COMMON_FIRST.index(name) if name in COMMON_FIRST else len(COMMON_FIRST), name)

    return sorted(agent_codes(s), key=order)


@bp.get("/accounts/<account_no>")
@login_required
def account(account_no: str):
    """An account's page (from a callback or the payment schedule): 403 outside one's reach."""
    rt = current_runtime()
    with rt.db.session() as s:
        row = s.query(Account).filter_by(account_no=account_no).one_or_none()
        if row is None:
            abort(404)
        if not reach.may_see_account(s, principal=access.principal_or_raise(), account_id=row.id):
            abort(403)
        return render_template("desk/account_page.html", **service.account_view(s, account=row))


@bp.get("/lists")
@agent_required
def lists():
    """My callbacks (due, upcoming) and today's payment schedule: refreshed by the desk
    after each code it records, never polled."""
    rt = current_runtime()
    with rt.db.session() as s:
        return render_template(
            "desk/lists.html",
            callbacks=service.my_callbacks(s, agent_id=current_user.agent_id, now=rt.clock.now()),
            schedule=service.my_payment_schedule(
                s, agent_id=current_user.agent_id, today=local_today(rt)
            ),
        )


@bp.post("/preview")
@agent_required
def preview_take():
    rt = current_runtime()
    try:
        leased = preview.take(rt, current_user.agent_id)
    except CampaignError as exc:
        raise ApiError(said(exc), 409) from None
    return render_template("desk/preview.html", leased=leased, skip_reasons=SKIP_REASONS)


@bp.post("/preview/dial")
@agent_required
def preview_dial():
    try:
        return jsonify(preview.dial(current_runtime(), current_user.agent_id))
    except CampaignError as exc:
        raise ApiError(said(exc), 409) from None


@bp.post("/preview/skip")
@agent_required
def preview_skip():
    reason = json_body().get("reason")
    if reason not in SKIP_REASONS:
        raise ApiError(_("Choose why you skip this account."), 400)
    try:
        return jsonify(preview.skip(current_runtime(), current_user.agent_id, reason=reason))
    except CampaignError as exc:
        raise ApiError(said(exc), 409) from None


@bp.post("/calls/<int:attempt_id>/hangup")
@agent_required
def hang_up(attempt_id: int):
    try:
        actions.hang_up(current_runtime(), agent_id=current_user.agent_id, attempt_id=attempt_id)
    except actions.DeskError as exc:
        raise ApiError(str(exc), exc.status) from None
    except CarrierError as exc:
        raise ApiError(_("The carrier did not hang up: %(why)s", why=str(exc)), 502) from None
    return jsonify({"hung_up": True})


@bp.post("/softphone")
@agent_required
def press_softphone():
    """The built-in softphone's buttons (mock carrier only)."""
    action = json_body().get("action")
    try:
        out = actions.press_softphone(
            current_runtime(), agent_id=current_user.agent_id, action=str(action)
        )
    except actions.DeskError as exc:
        raise ApiError(str(exc), exc.status) from None
    except CarrierError as exc:
        raise ApiError(said(exc), 502) from None
    return jsonify(out)
