"""Campaign lifecycle: settings, create, launch (build + queue), pause, stop, rebuild, status."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

import phonenumbers
import redis
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from dialer.agents.models import Agent
from dialer.campaigns import builder, queue
from dialer.campaigns.compliance import Profile, get_profile, may_call_relation, narrow
from dialer.campaigns.errors import CampaignError
from dialer.campaigns.models import (
    DIAL_MODES,
    BlockedDial,
    CallAttempt,
    Campaign,
    CampaignEntry,
)
from dialer.campaigns.ranking import weights_from
from dialer.messages import N_, Message
from dialer.outcomes.catalogue import SYSTEM_RESULT_CODES, WRAP_UP_OVERRUN_CODE
from dialer.outcomes.models import ActionCode, Disposition
from dialer.portfolio.models import Account, Phone
from dialer.redis import Keys
from dialer.scripts import service as scripts

__all__ = ["CampaignError"]  # re-exported: callers catch service.CampaignError

BuildResult = builder.BuildResult

# Every setting a campaign (or a template) takes besides its name, with its default.
DEFAULT_SETTINGS: dict[str, Any] = {
    "filters": {},
    "dial_mode": "progressive",
    "compliance_profile": "vn-finance",
    "max_attempts_per_entry": 3,
    "window_start": None,
    "window_end": None,
    "max_attempts_per_day": None,
    "skip_public_holidays": None,
    "retry_minutes": {},
    "caller_ids": [],
    "script": None,
    "team": None,
    "agent_ids": [],
    "abandon_target": 0.03,
    "max_lines_per_agent": 3.0,
    "ranking": {},
    "on_machine": "hangup",
    "on_unknown": "human",
    "record_calls": False,
    "wrap_up_seconds": 120,
    "company_name": None,
    "callback_number": None,
}
MACHINE_ACTIONS = ("hangup", "voicemail")  # what a machine answer gets
UNKNOWN_ANSWERS = ("human", "machine")  # what AnsweredBy=unknown is taken for
WRAP_UP_SECONDS = (10, 3600)  # the shortest and longest wrap-up limit a campaign may set
MAX_LINES_PER_AGENT = 5.0  # beyond this a predictive dialer only makes abandons
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def attempts_per_phone(session: Session, entry_id: int) -> dict[int, int]:
    """How many calls each of the entry's phones has had in this campaign."""
    rows = session.execute(
        select(CallAttempt.phone_id, func.count(CallAttempt.id))
        .where(CallAttempt.entry_id == entry_id)
        .group_by(CallAttempt.phone_id)
    )
    return {phone_id: n for phone_id, n in rows}


def callable_phones(account: Account, profile: Profile) -> list[Phone]:
    """The account's numbers that are dialable and that the profile lets us call."""
    return [p for p in account.phones if p.dialable and may_call_relation(profile, p.relation)]


def _e164_number(raw: object, what: str = N_("caller ID"), field: str = "caller_ids") -> str:
    """A caller ID (or callback number) must be a real number in E.164: regulators require
    a callable one."""
    number = None
    if isinstance(raw, str):
        try:
            number = phonenumbers.parse(raw, None)
        except phonenumbers.NumberParseException:
            number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise CampaignError(
            Message(
                N_("{what} {number} is not a valid number in +E.164 form"),
                about=field,
                what=what,
                number=repr(raw),
            )
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _whole(name: str, value: object, low: int, high: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise CampaignError(
            Message(
                N_("{name} must be a whole number >= {low}, got {value}"),
                about=name,
                name=name,
                low=low,
                value=repr(value),
            )
        )
    if high is not None and value > high:
        raise CampaignError(
            Message(
                N_("{name} must be at most {high}, got {value}"),
                about=name,
                name=name,
                high=high,
                value=value,
            )
        )
    return value


def _number(name: str, value: object, low: float, high: float, field: str | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise CampaignError(
            Message(
                N_("{name} must be a number, got {value}"), about=name, name=name, value=repr(value)
            )
        )
    if not low <= value <= high:
        raise CampaignError(
            Message(
                N_("{name} must be between {low} and {high}, got {value}"),
                about=field or name,
                name=name,
                low=f"{low:g}",
                high=f"{high:g}",
                value=f"{value:g}",
            )
        )
    return float(value)


def parse_hhmm(name: str, value: object) -> time:
    """A local time of day given as "HH:MM", or a CampaignError naming the field."""
    if not isinstance(value, str) or not _HHMM.match(value):
        raise CampaignError(
            Message(
                N_("{name} must be a time as HH:MM, got {value}"),
                about=name,
                name=name,
                value=repr(value),
            )
        )
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def _window(campaign_or_settings: Campaign | dict[str, Any], key: str) -> time | None:
    value = (
        campaign_or_settings.get(key)
        if isinstance(campaign_or_settings, dict)
        else getattr(campaign_or_settings, key)
    )
    return parse_hhmm(key, value) if value else None


def effective_profile(campaign: Campaign) -> Profile:
    """The campaign's compliance profile, narrowed by its own window and limits."""
    return _narrowed(campaign.compliance_profile, settings_of(campaign))


def _narrowed(profile_name: str, settings: dict[str, Any]) -> Profile:
    try:  # a campaign may narrow its profile, never widen it
        return narrow(
            get_profile(profile_name),
            window_start=_window(settings, "window_start"),
            window_end=_window(settings, "window_end"),
            max_attempts_per_account_per_day=settings["max_attempts_per_day"],
            skip_public_holidays=settings["skip_public_holidays"],
        )
    except ValueError as exc:
        # The calling window (or a limit) would widen the profile: shown at that field.
        text = str(exc)
        about = (
            "window_start,window_end"
            if "window" in text
            else "max_attempts_per_day"
            if "attempts per day" in text
            else None
        )
        raise CampaignError(Message(N_("{reason}"), about=about, reason=str(exc))) from None


def validate_settings(session: Session, raw: dict[str, Any]) -> dict[str, Any]:
    """Check a campaign's settings (API body, CLI, template); returns them complete and
    cleaned, or raises CampaignError naming the first bad field. Changes nothing."""
    unknown = set(raw) - set(DEFAULT_SETTINGS)
    if unknown:
        raise CampaignError(
            f"unknown setting(s) {', '.join(sorted(unknown))}; known: {', '.join(DEFAULT_SETTINGS)}"
        )
    given = {k: v for k, v in raw.items() if v is not None}
    out = {**DEFAULT_SETTINGS, **given}
    if not isinstance(out["filters"], dict):
        raise CampaignError("filters must be an object")
    out["filters"] = builder.validate_filters(out["filters"], session=session)
    if out["dial_mode"] not in DIAL_MODES:
        raise CampaignError(
            Message(
                N_("dial mode {mode} unknown; known: {known}"),
                about="dial_mode",
                mode=repr(out["dial_mode"]),
                known=", ".join(DIAL_MODES),
            )
        )
    if not isinstance(out["compliance_profile"], str):
        raise CampaignError("compliance_profile must be a profile name")
    try:
        profile = get_profile(out["compliance_profile"])
    except ValueError as exc:
        raise CampaignError(str(exc)) from None
    out["max_attempts_per_entry"] = _whole(
        "max_attempts_per_entry", out["max_attempts_per_entry"], 1, 100
    )
    for key in ("window_start", "window_end"):
        _window(out, key)
    if out["max_attempts_per_day"] is not None:
        out["max_attempts_per_day"] = _whole("max_attempts_per_day", out["max_attempts_per_day"], 1)
    if out["skip_public_holidays"] is not None and not isinstance(
        out["skip_public_holidays"], bool
    ):
        raise CampaignError("skip_public_holidays must be true or false")
    narrowed = _narrowed(profile.name, out)
    retry = out["retry_minutes"]
    if not isinstance(retry, dict):
        raise CampaignError("retry_minutes must be an object of result -> minutes")
    known_keys = set(SYSTEM_RESULT_CODES) | set(session.scalars(select(ActionCode.code)))
    strangers = sorted(str(k) for k in retry if k not in known_keys)
    if strangers:
        raise CampaignError(
            f"retry_minutes: {', '.join(strangers)} is neither a call result "
            f"({', '.join(SYSTEM_RESULT_CODES)}) nor an action code"
        )
    out["retry_minutes"] = {
        k: _whole(f"retry_minutes[{k}]", v, 1, 7 * 24 * 60) for k, v in retry.items()
    }
    if not isinstance(out["caller_ids"], list):
        raise CampaignError("caller_ids must be a list of numbers")
    out["caller_ids"] = list(dict.fromkeys(_e164_number(n) for n in out["caller_ids"]))
    _check_script(session, out)
    _check_call_handling(out, profile)
    if isinstance(out["team"], str):
        out["team"] = out["team"].strip() or None  # a blank team is no team
    if out["team"] is not None and (not isinstance(out["team"], str) or len(out["team"]) > 64):
        raise CampaignError(
            Message(N_("team must be a team name (at most 64 characters)"), about="team")
        )
    agent_ids = out["agent_ids"]
    if not isinstance(agent_ids, list):
        raise CampaignError("agent_ids must be a list of agent ids")
    agent_ids = sorted({_whole("agent id", a, 1) for a in agent_ids})
    if agent_ids:
        known = set(session.scalars(select(Agent.id).where(Agent.id.in_(agent_ids))))
        missing = [a for a in agent_ids if a not in known]
        if missing:
            raise CampaignError(
                Message(
                    N_("no agent(s) {agents}"),
                    about="agent_ids",
                    agents=", ".join(map(str, missing)),
                )
            )
    out["agent_ids"] = agent_ids
    out["abandon_target"] = _number(
        f"abandon_target (the {profile.name} cap is {narrowed.abandon_cap:.1%})",
        out["abandon_target"],
        0.0,
        narrowed.abandon_cap,
        field="abandon_target",
    )
    out["max_lines_per_agent"] = _number(
        "max_lines_per_agent", out["max_lines_per_agent"], 1.0, MAX_LINES_PER_AGENT
    )
    if not isinstance(out["ranking"], dict):
        raise CampaignError("ranking must be an object of weight overrides")
    try:
        weights_from(out["ranking"])
    except ValueError as exc:
        raise CampaignError(str(exc)) from None
    return out


def _check_script(session: Session, out: dict[str, Any]) -> None:
    """A campaign names its call script (dialer/scripts): an unknown name is refused."""
    name = out["script"]
    if name is None:
        return
    if not isinstance(name, str) or not name.strip():
        raise CampaignError("script must be the name of a call script (dialer scripts list)")
    out["script"] = name = name.strip()
    if not scripts.exists(session, name=name):
        known = ", ".join(info.name for info in scripts.names(session))
        raise CampaignError(
            Message(
                N_("no call script {script}; known: {known}"),
                about="script",
                script=repr(name),
                known=known,
            )
        )


def _check_call_handling(out: dict[str, Any], profile: Profile) -> None:
    """Machines, unknown answers, recording, the wrap-up limit, and who the abandon and
    voicemail messages say is calling (the profile may require both)."""
    for key, allowed in (("on_machine", MACHINE_ACTIONS), ("on_unknown", UNKNOWN_ANSWERS)):
        if out[key] not in allowed:
            raise CampaignError(
                Message(
                    N_("{key} must be one of {allowed}, got {value}"),
                    about=key,
                    key=key,
                    allowed=", ".join(allowed),
                    value=repr(out[key]),
                )
            )
    if not isinstance(out["record_calls"], bool):
        raise CampaignError("record_calls must be true or false")
    out["wrap_up_seconds"] = _whole("wrap_up_seconds", out["wrap_up_seconds"], *WRAP_UP_SECONDS)
    company = out["company_name"]
    if company is not None:
        if not isinstance(company, str) or len(company.strip()) > 200:
            raise CampaignError(
                Message(
                    N_("company_name must be text of at most 200 characters"), about="company_name"
                )
            )
        out["company_name"] = company.strip() or None
    if out["callback_number"] is not None:
        out["callback_number"] = _e164_number(
            out["callback_number"], N_("callback number"), "callback_number"
        )
    missing = [k for k in ("company_name", "callback_number") if out[k] is None]
    if profile.abandon_message_identifies and missing:
        raise CampaignError(
            Message(
                N_(
                    "{profile} requires the abandon message to name the company and a number "
                    "to call back: set {missing}"
                ),
                about=",".join(missing),
                profile=profile.name,
                missing=" and ".join(missing),
            )
        )


def preview_count(
    session: Session, *, settings: dict[str, Any], now: datetime, tz: str
) -> BuildResult:
    """How many accounts a campaign with these settings would dial if launched now, and how
    many each rule leaves out; the settings are checked as create_campaign checks them."""
    clean = validate_settings(session, settings)
    return builder.count_matching(
        session,
        filters=clean["filters"],
        ranking=clean["ranking"],
        profile=_narrowed(clean["compliance_profile"], clean),
        now=now,
        tz=tz,
    )


def create_campaign(session: Session, name: str, **settings: Any) -> Campaign:
    """A draft campaign from validated settings (see DEFAULT_SETTINGS)."""
    if not isinstance(name, str) or not name.strip():
        raise CampaignError(Message(N_("a campaign needs a name"), about="name"))
    if len(name.strip()) > 200:
        raise CampaignError(Message(N_("a campaign name is at most 200 characters"), about="name"))
    template_id = settings.pop("template_id", None)
    campaign = Campaign(
        name=name.strip(), template_id=template_id, **validate_settings(session, settings)
    )
    session.add(campaign)
    session.flush()
    return campaign


def settings_of(campaign: Campaign) -> dict[str, Any]:
    """The campaign's settings, as create_campaign takes them (to save as a template)."""
    return {key: getattr(campaign, key) for key in DEFAULT_SETTINGS}


def launch(
    session: Session,
    campaign: Campaign,
    now: datetime,
    tz: str,
    *,
    progress: Callable[[int], None] | None = None,
) -> BuildResult:
    """Build a draft campaign's entries (SQL) and mark it running; `progress` hears the
    build's steps done (of builder.BUILD_STEPS)."""
    if campaign.state != "draft":
        raise CampaignError(f"campaign {campaign.id} is {campaign.state}; only a draft launches")
    result = builder.build_entries(session, campaign, now, tz, progress=progress)
    campaign.state = "running"
    campaign.launched_at = now
    session.flush()
    # Redis follows SQL: the caller commits first, then calls start_dialing().
    return result


def start_dialing(
    session: Session,
    r: redis.Redis,
    campaign: Campaign,
    now: datetime,
    *,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Load the queue and tell the pacers (after the launch is committed); `progress`
    hears how many entries are loaded so far."""
    queue.clear(r, campaign.id)
    loaded = builder.load_queue(session, r, campaign.id, now, progress=progress)
    if campaign.state == "running":
        r.hset(Keys.running_campaigns(), campaign.id, campaign.dial_mode)
    return loaded


@dataclass(frozen=True)
class Rebuild:
    """What the SQL half of a rebuild found, for its Redis half."""

    returned_to_queue: int  # entries left dialing by a dead worker, queued again
    calls_in_flight: dict[int, int]  # entry id -> account id of calls not ended yet


def rebuild_sql(
    session: Session, campaign: Campaign, now: datetime, job_lifetime: timedelta = timedelta(0)
) -> Rebuild:
    """Repair the entries in SQL before Redis is rebuilt from them: an entry its dial job
    claimed `job_lifetime` ago or more, with no call started since (the job died), is
    queued again. One waiting for its agent's disposition has a call and stays."""
    from dialer.campaigns.attempts import lost_claims, requeue_lost  # attempts imports us

    in_flight = dict(
        session.execute(
            select(CallAttempt.entry_id, CallAttempt.account_id).where(
                CallAttempt.campaign_id == campaign.id, CallAttempt.ended_at.is_(None)
            )
        ).all()
    )
    stuck_ids = list(session.scalars(lost_claims(campaign.id, now - job_lifetime)))
    requeue_lost(session, stuck_ids, now)
    session.flush()
    return Rebuild(len(stuck_ids), in_flight)


def rebuild_redis(
    session: Session, r: redis.Redis, campaign: Campaign, found: Rebuild, now: datetime
) -> dict[str, int]:
    """Recreate the campaign's Redis state from SQL alone (after rebuild_sql is committed):
    the dial queue and retry set, calls in flight and their account locks."""
    loaded = start_dialing(session, r, campaign, now)
    with r.pipeline(transaction=False) as pipe:
        for entry_id, account_id in found.calls_in_flight.items():
            pipe.zadd(Keys.dialing(campaign.id), {entry_id: now.timestamp()})
            pipe.set(
                Keys.account_lock(account_id),
                queue.lock_owner(campaign.id, entry_id),
                nx=True,
                ex=queue.LOCK_SECONDS,
            )
        pipe.execute()
    sizes = queue.sizes(r, campaign.id)
    return {
        "loaded": loaded,
        "queued": sizes["queued"],
        "retry": sizes["retry"],
        "in_flight": len(found.calls_in_flight),
        "returned_to_queue": found.returned_to_queue,
    }


def _move(
    session: Session,
    r: redis.Redis,
    campaign: Campaign,
    from_states: tuple[str, ...],
    to_state: str,
    ended_at: datetime | None = None,
) -> None:
    """Change a campaign's state and tell the pacers whether to dial it."""
    if campaign.state not in from_states:
        raise CampaignError(
            f"campaign {campaign.id} is {campaign.state}, not {' or '.join(from_states)}"
        )
    campaign.state = to_state
    if ended_at is not None:
        campaign.ended_at = ended_at
    session.flush()
    if to_state == "running":
        r.hset(Keys.running_campaigns(), campaign.id, campaign.dial_mode)
    else:
        r.hdel(Keys.running_campaigns(), campaign.id)


def stop(session: Session, r: redis.Redis, campaign: Campaign, now: datetime) -> None:
    """Stop dialing: pacers drop it; calls in flight finish on their own."""
    _move(session, r, campaign, ("running", "paused"), "stopped", ended_at=now)


def pause(session: Session, r: redis.Redis, campaign: Campaign, reason: str = "supervisor") -> None:
    """Stop starting calls; the queue stays as it is for resume."""
    _move(session, r, campaign, ("running",), "paused")
    campaign.paused_reason = reason[:200]


def resume(session: Session, r: redis.Redis, campaign: Campaign) -> None:
    _move(session, r, campaign, ("paused",), "running")
    campaign.paused_reason = None


def requeue(
    r: redis.Redis,
    campaign_id: int,
    entry_id: int,
    score: float,
    retry_at: datetime | None,
    now: datetime,
) -> None:
    """Put an entry back for another dial, now or at retry_at."""
    if retry_at is None or retry_at <= now:
        queue.push(r, campaign_id, {entry_id: score})
    else:
        queue.schedule_retry(r, campaign_id, entry_id, score, retry_at.timestamp())


def status(session: Session, r: redis.Redis, campaign: Campaign, now: datetime) -> dict[str, Any]:
    """Counts a supervisor watches: entries by state, calls by result, blocks by rule."""
    entries = dict(
        session.execute(
            select(CampaignEntry.state, func.count())
            .where(CampaignEntry.campaign_id == campaign.id)
            .group_by(CampaignEntry.state)
        ).all()
    )
    results = dict(
        session.execute(
            select(CallAttempt.result, func.count())
            .where(CallAttempt.campaign_id == campaign.id, CallAttempt.call_sid.is_not(None))
            .group_by(CallAttempt.result)
        ).all()
    )
    connected = session.scalar(
        select(func.count()).where(
            CallAttempt.campaign_id == campaign.id, CallAttempt.connected_at.is_not(None)
        )
    )
    blocked = dict(
        session.execute(
            select(BlockedDial.rule, func.count())
            .where(BlockedDial.campaign_id == campaign.id)
            .group_by(BlockedDial.rule)
        ).all()
    )
    call_handling = session.execute(
        select(
            func.count(CallAttempt.agent_dropped_at),
            func.count(CallAttempt.voicemail_at),
            func.max(CallAttempt.abandon_delay_ms),
        ).where(CallAttempt.campaign_id == campaign.id)
    ).one()
    by_setter = dict(
        session.execute(
            select(Disposition.code, func.count())
            .join(CallAttempt, CallAttempt.id == Disposition.attempt_id)
            .where(CallAttempt.campaign_id == campaign.id, Disposition.set_by == "ivr")
            .group_by(Disposition.code)
        ).all()
    )
    overruns = session.scalar(
        select(func.count(Disposition.id))
        .join(CallAttempt, CallAttempt.id == Disposition.attempt_id)
        .where(CallAttempt.campaign_id == campaign.id, Disposition.code == WRAP_UP_OVERRUN_CODE)
    )
    profile = effective_profile(campaign)
    sizes = queue.sizes(r, campaign.id)
    live, abandoned = live_and_abandoned(results)
    window_live, window_abandoned = abandon_period_counts(session, campaign, now)
    return {
        "id": campaign.id,
        "name": campaign.name,
        "state": campaign.state,
        "paused_reason": campaign.paused_reason,
        "dial_mode": campaign.dial_mode,
        "compliance_profile": campaign.compliance_profile,
        "entries": sum(entries.values()),
        # Waiting to be dialed: in the dial queue now, or for their retry time.
        "queued": sizes["queued"] + sizes["retry"],
        "retry_waiting": sizes["retry"],
        "in_progress": entries.get("dialing", 0),
        "done": entries.get("done", 0),
        "blocked": blocked,
        "excluded": dict(campaign.build_summary.get("excluded", {})),
        "calls_placed": sum(results.values()),
        "answered_human": live,
        "connected_to_agent": connected,
        "answered_machine": results.get("machine", 0),
        "no_answer": results.get("no_answer", 0),
        "busy": results.get("busy", 0),
        "failed": results.get("failed", 0),
        # Our side failed (webhook error) or the call was canceled before it rang.
        "errors": results.get("error", 0) + results.get("canceled", 0),
        "abandoned": abandoned,
        "hung_up_before_agent": results.get("hung_up", 0),
        "abandon_rate": round(abandoned / live, 4) if live else 0.0,
        # The longest a person waited for the abandon message (the rules say 2 s).
        "abandon_delay_ms_max": call_handling[2],
        "voicemails_left": call_handling[1],
        # Wrap-ups that ran out (the system's NDP), and agents' lines dropped mid-call.
        "wrap_up_overruns": overruns,
        "agent_drops": call_handling[0],
        # Agentless campaigns: the codes the IVR menu landed, by code.
        "ivr_codes": by_setter,
        "abandon_target": campaign.abandon_target,
        # The profile's own measure (e.g. Ofcom: any 24 hours), across its window.
        "abandon_rate_window": {
            "hours": profile.abandon_cap_hours,
            "cap": profile.abandon_cap,
            "rate": round(window_abandoned / window_live, 4) if window_live else 0.0,
        },
    }


def statuses(
    session: Session, r: redis.Redis, *, team: str | None, now: datetime, limit: int = 50
) -> list[dict[str, Any]]:
    """The newest campaigns' status (a team's only, unless team is None), newest first."""
    query = select(Campaign).order_by(Campaign.id.desc()).limit(limit)
    if team is not None:
        query = query.where(Campaign.team == team)
    return [status(session, r, c, now) for c in session.scalars(query)]


def live_and_abandoned(results: dict[str | None, int]) -> tuple[int, int]:
    """Live answers (bridged, abandoned, or hung up before either) and abandoned calls,
    from call counts by result."""
    live = results.get("human", 0) + results.get("abandoned", 0) + results.get("hung_up", 0)
    return live, results.get("abandoned", 0)


def abandon_window_counts(session: Session, campaign_id: int, since: datetime) -> tuple[int, int]:
    """Live answers and abandoned calls of the campaign answered since `since`."""
    return _abandon_counts(session, CallAttempt.campaign_id == campaign_id, since)


def abandon_period_counts(session: Session, campaign: Campaign, now: datetime) -> tuple[int, int]:
    """Live answers and abandoned calls over the compliance profile's own period (Ofcom
    24 h, Regulation F 30 days) of the campaign as the regulator sees it: a daily campaign
    launched from a template is one campaign from day to day, so its earlier days count."""
    since = now - timedelta(hours=effective_profile(campaign).abandon_cap_hours)
    if campaign.template_id is None:
        return abandon_window_counts(session, campaign.id, since)
    same = select(Campaign.id).where(Campaign.template_id == campaign.template_id)
    return _abandon_counts(session, CallAttempt.campaign_id.in_(same.scalar_subquery()), since)


def _abandon_counts(
    session: Session, which: ColumnElement[bool], since: datetime
) -> tuple[int, int]:
    results = dict(
        session.execute(
            select(CallAttempt.result, func.count())
            .where(which, CallAttempt.answered_at >= since)
            .group_by(CallAttempt.result)
        ).all()
    )
    return live_and_abandoned(results)
