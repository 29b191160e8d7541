"""Call scripts: the saved one (SQL) or the shipped one, cached compiled per process; the
context of a call from an account; saving, deleting, previews.

The one import for other domains: everything public about scripts is here (the checks and
the rendering come from document.py, the variables from variables.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from dialer.campaigns.models import Campaign, CampaignTemplate
from dialer.clock import local_iso
from dialer.db import utcnow
from dialer.outcomes.models import Promise
from dialer.portfolio.models import Account
from dialer.scripts import variables
from dialer.scripts.document import (
    DEFAULT_AGENT_SCRIPT,
    DEFAULT_IVR_SCRIPT,
    NAME_RE,
    Script,
    ScriptConflict,
    ScriptError,
    UnknownScript,
    check_source,
    compile_source,
    shipped,
    shipped_names,
    with_origin,
)
from dialer.scripts.models import CallScript
from dialer.scripts.render import Prompt, render_prompt, render_talk_track
from dialer.scripts.variables import LANGUAGES, PROMPTS, AccountValues, Language, context_from

__all__ = [
    "DEFAULT_AGENT_SCRIPT",
    "DEFAULT_IVR_SCRIPT",
    "Prompt",
    "Script",
    "ScriptConflict",
    "ScriptError",
    "ScriptInfo",
    "UnknownScript",
    "account_context",
    "check_source",
    "delete",
    "exists",
    "general_context",
    "load",
    "load_or_raise",
    "names",
    "preview",
    "render_prompt",
    "render_talk_track",
    "save",
    "script_as_dict",
    "shipped_names",
]

# What a preview says where a campaign's own settings will go at call time.
PREVIEW_COMPANY = "[company]"
PREVIEW_CALLBACK_NUMBER = "[callback number]"
# Campaigns in these states still dial (or will): the script they name must keep existing.
_LIVE_CAMPAIGN_STATES = ("draft", "running", "paused")
MAX_BY_CHARS = 64

# The compiled saved scripts of this process, by name: (row id, version, created_at) and the
# script or the refusal its source now gets. A save bumps the version and a delete and
# re-create gets a new row, so a stale entry is never served; a race between two threads
# compiles twice and keeps one, which is harmless.
_saved: dict[str, tuple[tuple[Any, ...], Script | ScriptError]] = {}


@dataclass(frozen=True)
class ScriptInfo:
    """One line of the script list."""

    name: str
    origin: str  # shipped | saved
    version: int | None  # None for a shipped script
    description: dict[str, str]
    overrides_shipped: bool = False  # a saved script with a shipped one's name
    updated_by: str | None = None
    updated_at: datetime | None = None
    problems: tuple[str, ...] = ()  # a saved source a newer dialer refuses (then unusable)

    def as_dict(self, tz: str) -> dict[str, Any]:
        return {
            "name": self.name,
            "origin": self.origin,
            "version": self.version,
            "description": self.description,
            "overrides_shipped": self.overrides_shipped,
            "updated_by": self.updated_by,
            "updated_at": local_iso(self.updated_at, tz),
            "problems": list(self.problems),
        }


def _key(row: CallScript) -> tuple[Any, ...]:
    return (row.id, row.version, row.created_at)


def _compiled(row: CallScript) -> Script:
    """The row's script from the cache, compiling it on a miss."""
    cached = _saved.get(row.name)
    if cached is None or cached[0] != _key(row):
        try:
            script: Script | ScriptError = with_origin(
                compile_source(row.source, origin="saved"),
                version=row.version,
                updated_by=row.updated_by,
                updated_at=row.updated_at,
            )
        except ScriptError as exc:
            script = ScriptError(
                [
                    f"the saved script {row.name} (version {row.version}) is refused now:",
                    *exc.problems,
                ]
            )
        cached = (_key(row), script)
        _saved[row.name] = cached
    if isinstance(cached[1], ScriptError):
        raise cached[1]
    return cached[1]


def load(session: Session, *, name: str) -> Script | None:
    """The script of that name: the saved one, else the shipped one, else None.

    The hot path (a voice webhook): one indexed query for the row's version; the source is
    read and compiled only when this process has not seen that version yet."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        return None
    head = session.execute(
        select(CallScript.id, CallScript.version, CallScript.created_at).where(
            CallScript.name == name
        )
    ).first()
    if head is None:
        return shipped(name)
    cached = _saved.get(name)
    if cached is not None and cached[0] == tuple(head):
        if isinstance(cached[1], ScriptError):
            raise cached[1]
        return cached[1]
    row = session.scalars(select(CallScript).where(CallScript.name == name)).one_or_none()
    return shipped(name) if row is None else _compiled(row)


def load_or_raise(session: Session, *, name: str) -> Script:
    script = load(session, name=name)
    if script is None:
        raise UnknownScript([f"unknown script {name!r}{_known(session)}"])
    return script


def _known(session: Session) -> str:
    listed = ", ".join(info.name for info in names(session))
    return f" (scripts: {listed})" if listed else ""


def exists(session: Session, *, name: str) -> bool:
    """Whether a campaign may name this script (saved or shipped)."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        return False
    if name in shipped_names():
        return True
    return session.scalar(select(CallScript.id).where(CallScript.name == name)) is not None


def names(session: Session) -> list[ScriptInfo]:
    """Every script, by name: saved ones (which take precedence) and shipped ones."""
    out: dict[str, ScriptInfo] = {}
    for name in shipped_names():
        script = shipped(name)
        assert script is not None
        out[name] = ScriptInfo(name, "shipped", None, script.description)
    for row in session.scalars(select(CallScript)):
        problems: tuple[str, ...] = ()
        try:
            description = _compiled(row).description
        except ScriptError as exc:
            problems = tuple(exc.problems)
            description = {"vi": row.description or "", "en": ""}
        out[row.name] = ScriptInfo(
            row.name,
            "saved",
            row.version,
            description,
            overrides_shipped=row.name in shipped_names(),
            updated_by=row.updated_by,
            updated_at=row.updated_at,
            problems=problems,
        )
    return [out[name] for name in sorted(out)]


def save(
    session: Session, *, name: str, source: str, by: str | None, now: datetime | None = None
) -> Script:
    """Check the script whole and save it (a new one at version 1, else the version + 1).

    Refused with every problem named and nothing changed. A saved script of a shipped one's
    name takes its place; deleting it brings the shipped one back."""
    problems: list[str] = []
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        problems.append(
            f"{name!r} is not a script name: 2-64 characters, lowercase a-z, 0-9 and '-' inside"
        )
    if by is not None and (not isinstance(by, str) or len(by.strip()) > MAX_BY_CHARS):
        problems.append(f"by must be a name of at most {MAX_BY_CHARS} characters")
    script = None
    try:
        script = check_source(source)
    except ScriptError as exc:
        problems.extend(exc.problems)
    if script is not None and not problems and script.name != name:
        problems.append(f"name: the document says {script.name!r}, it is being saved as {name!r}")
    if problems or script is None:
        raise ScriptError(problems)
    by = (by or "").strip() or None
    row = session.scalars(
        select(CallScript).where(CallScript.name == name).with_for_update()
    ).one_or_none()
    now = now or utcnow()
    if row is None:
        # created_at stays the real time of the insert (not `now`, which a simulated clock
        # may repeat): with the id and version it tells this process's cache a re-created
        # script from the one it compiled before.
        row = CallScript(name=name, version=1)
        session.add(row)
    else:
        row.version += 1
    row.source, row.updated_by, row.updated_at = source, by, now
    row.description = script.description["vi"]
    session.flush()
    return with_origin(script, origin="saved", version=row.version, updated_by=by, updated_at=now)


def _named_by(session: Session, name: str) -> list[str]:
    """The campaigns still dialing (or to be launched) and the templates that name it."""
    users = [
        f"campaign {cid} ({cname}, {state})"
        for cid, cname, state in session.execute(
            select(Campaign.id, Campaign.name, Campaign.state)
            .where(Campaign.script == name, Campaign.state.in_(_LIVE_CAMPAIGN_STATES))
            .order_by(Campaign.id)
        )
    ]
    # Templates keep their settings as JSON; they are few, so read them here.
    for template in session.scalars(select(CampaignTemplate).order_by(CampaignTemplate.name)):
        if (template.settings or {}).get("script") == name:
            users.append(f"daily template {template.name!r}")
    return users


def delete(session: Session, *, name: str) -> Script | None:
    """Delete a saved script; returns the shipped one that answers to the name again, if any.

    A shipped script cannot be deleted; a saved one that live campaigns or templates name
    cannot either, unless a shipped one of the same name takes over."""
    row = None
    if isinstance(name, str) and NAME_RE.fullmatch(name):
        row = session.scalars(
            select(CallScript).where(CallScript.name == name).with_for_update()
        ).one_or_none()
    if row is None:
        if isinstance(name, str) and name in shipped_names():
            raise ScriptConflict(
                [f"{name} is shipped with the dialer and cannot be deleted: save a script of "
                 "the same name to change what it says"]
            )  # fmt: skip
        raise UnknownScript([f"unknown script {name!r}{_known(session)}"])
    if name not in shipped_names():
        users = _named_by(session, name)
        if users:
            raise ScriptConflict(
                [f"{name} is named by {user}: give it another script first" for user in users]
            )
    session.delete(row)
    session.flush()
    return shipped(name)


# --- the context of a call ----------------------------------------------------------------


def _text(value: Any, what: str, problems: list[str], *, required: bool) -> None:
    if value is None and not required:
        return
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        problems.append(f"{what} must be a text of 1 to 200 characters")


def _call_problems(language: Any, company: Any, callback_number: Any) -> list[str]:
    problems: list[str] = []
    if language not in LANGUAGES:
        problems.append(f"unknown language {language!r}: vi or en")
    _text(company, "company", problems, required=True)
    _text(callback_number, "callback_number", problems, required=True)
    return problems


def general_context(
    *, company: str, callback_number: str, language: Language = "vi"
) -> dict[str, Any]:
    """The context of a call whose account is not known (yet): an inbound caller before the
    contract number is keyed in. Enough for the general prompts (docs/scripts.md)."""
    problems = _call_problems(language, company, callback_number)
    if problems:
        raise ScriptError(problems)
    return variables.general_context(
        company=company.strip(), callback_number=callback_number.strip(), language=language
    )


def account_context(
    session: Session,
    *,
    account: Account,
    company: str,
    callback_number: str,
    agent_name: str | None = None,
    language: Language = "vi",
    promise_amount: int | None = None,
    promise_date: date | None = None,
    callback_time: datetime | None = None,
    timezone: str = "Asia/Ho_Chi_Minh",
) -> dict[str, Any]:
    """Everything a script may say about this account, as plain values in `language`.

    `company` and `callback_number` come from the campaign's settings. The step values
    (promise_*, callback_time) are given by the IVR step that needs them. callback_time is
    said in the account's own zone when it has one, else in `timezone` (the centre's)."""
    problems = _call_problems(language, company, callback_number)
    _text(agent_name, "agent_name", problems, required=False)
    if promise_amount is not None and (
        not isinstance(promise_amount, int)
        or isinstance(promise_amount, bool)
        or promise_amount <= 0
    ):
        problems.append("promise_amount must be a whole number of VND above 0")
    if promise_date is not None and (
        not isinstance(promise_date, date) or isinstance(promise_date, datetime)
    ):
        problems.append("promise_date must be a date")
    if callback_time is not None and (
        not isinstance(callback_time, datetime) or callback_time.tzinfo is None
    ):
        problems.append("callback_time must be a time with its zone")
    if problems:
        raise ScriptError(problems)
    latest = session.scalars(
        select(Promise)
        .where(Promise.account_id == account.id)
        .order_by(Promise.created_at.desc(), Promise.id.desc())
        .limit(1)
    ).first()
    values = AccountValues(
        customer_name=account.customer_name,
        account_no=account.account_no,
        product=account.product,
        dpd=account.dpd,
        overdue_amount=account.overdue_amount,
        outstanding=account.principal_outstanding or 0,
        due_date=account.due_date,
        timezone=account.timezone or timezone,
        promise_amount=latest.amount if latest else None,
        promise_date=latest.due_date if latest else None,
        promise_state=latest.state if latest else None,
    )
    return context_from(
        values,
        company=company.strip(),
        callback_number=callback_number.strip(),
        language=language,
        agent_name=agent_name.strip() if agent_name else None,
        promise_amount=promise_amount,
        promise_date=promise_date,
        callback_time=callback_time,
    )


def preview(
    session: Session,
    *,
    script: Script,
    account: Account,
    company: str,
    callback_number: str,
    language: Language = "vi",
    agent_name: str | None = None,
    today: date,
    timezone: str = "Asia/Ho_Chi_Minh",
) -> dict[str, Any]:
    """The talk track and every prompt rendered for an account (`scripts render`, the API).

    The IVR step values are examples: the overdue amount (or 1,000,000 ₫ when nothing is
    overdue) promised for today, a call back tomorrow at 10:00. Each prompt says which
    script it came from (the shipped default for those the script leaves out)."""
    context = account_context(
        session,
        account=account,
        company=company,
        callback_number=callback_number,
        agent_name=agent_name,
        language=language,
        promise_amount=max(account.overdue_amount, 0) or 1_000_000,
        promise_date=today,
        callback_time=datetime.combine(today + timedelta(days=1), time(10), ZoneInfo(timezone)),
        timezone=timezone,
    )
    prompts = {}
    for name in PROMPTS:
        prompt = render_prompt(script, name=name, context=context, language=language)
        prompts[name] = {
            "kind": prompt.kind,
            "text": prompt.text,
            "url": prompt.url,
            "language": prompt.language,
            "from": script.name if name in script.prompts else DEFAULT_IVR_SCRIPT,
        }
    return {
        "script": script.name,
        "origin": script.origin,
        "version": script.version,
        "account_no": account.account_no,
        "language": language,
        "talk_track_from": script.name if script.talk_track else DEFAULT_AGENT_SCRIPT,
        "talk_track": render_talk_track(script, context=context, language=language),
        "prompts": prompts,
    }


def script_as_dict(script: Script, tz: str) -> dict[str, Any]:
    """A script as `scripts show --json` and GET /api/scripts/<name> give it."""
    return {
        "name": script.name,
        "origin": script.origin,
        "version": script.version,
        "description": script.description,
        "updated_by": script.updated_by,
        "updated_at": local_iso(script.updated_at, tz),
        "talk_track": script.talk_track is not None,
        "prompts": sorted(script.prompts),
        "source": script.source,
    }
