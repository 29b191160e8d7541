"""The pages' language (Vietnamese first, English per user) and how they write amounts,
dates and times: one message catalogue (translations/vi/LC_MESSAGES/messages.po, English
message ids), read by Flask-Babel in templates and in Python."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date
from flask import Flask, request
from flask_babel import Babel, get_locale, gettext
from flask_login import current_user

from dialer.auth.views import LOCALE_COOKIE
from dialer.messages import N_, translated
from dialer.scripts.variables import money

LOCALES = ("vi", "en")
TRANSLATIONS = Path(__file__).parent / "translations"


def select_locale() -> str:
    """The signed-in user's language, else the sign-in page's choice (a cookie), else vi."""
    if current_user and current_user.is_authenticated:
        return current_user.locale
    chosen = request.cookies.get(LOCALE_COOKIE)
    return chosen if chosen in LOCALES else "vi"


def vnd(amount: int | None) -> str:
    """Amounts as the centre writes them whatever the page's language: 1.250.000 ₫."""
    return "" if amount is None else money(int(amount), "vi")


def duration(seconds: float | None) -> str:
    """h:mm:ss of a time spent (talk, pause...)."""
    total = int(seconds or 0)
    return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"


def ddmmyyyy(value: date | str | None) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return value.strftime("%d/%m/%Y")


# The names a page shows for the system's own words (states, roles...), in the catalogue.
NAMES = {
    "role_name": {"agent": N_("agent"), "lead": N_("team lead"), "admin": N_("administrator")},
    "state_name": {
        "offline": N_("Off line"),
        "connecting": N_("Connecting"),
        "ready": N_("Ready"),
        "reserved": N_("Reserved"),
        "on_call": N_("On a call"),
        "wrap_up": N_("Wrap-up"),
        "paused": N_("Paused"),
    },
    "mode_name": {
        "progressive": N_("progressive"),
        "predictive": N_("predictive"),
        "preview": N_("preview"),
        "ivr": N_("IVR"),
    },
    "relation_name": {
        "mobile": N_("mobile"),
        "home": N_("home"),
        "work": N_("work"),
        "reference": N_("reference"),
    },
    "setter_name": {"agent": N_("agent"), "ivr": N_("IVR"), "system": N_("system")},
    "result_name": {
        "human": N_("answered"),
        "machine": N_("answering machine"),
        "no_answer": N_("no answer"),
        "busy": N_("busy"),
        "failed": N_("failed"),
        "abandoned": N_("abandoned"),
        "canceled": N_("canceled"),
        "error": N_("error"),
    },
    "rule_name": {
        "dnc": N_("do not call"),
        "obligors_only": N_("references only"),
        "min_ring_time": N_("ring time too short"),
        "public_holiday": N_("public holiday"),
        "calling_window": N_("outside the calling window"),
        "daily_attempt_limit": N_("calls per day"),
        "phone_daily_limit": N_("calls per phone per day"),
        "attempts_in_days": N_("calls in a period"),
        "after_conversation": N_("after a conversation"),
        "abandon_quiet_period": N_("after an abandoned call"),
        "machine_same_day": N_("machine earlier today"),
        "min_gap": N_("too soon after the last call"),
    },
    "machine_action_name": {
        "hangup": N_("hang up"),
        "voicemail": N_("leave the voicemail message"),
    },
    "exclusion_name": {
        "account_closed": N_("account closed"),
        "nothing_overdue": N_("nothing overdue"),
        "suppressed": N_("held (a promise or a hold)"),
        "referred": N_("referred to another team"),
        "no_callable_phone": N_("no phone that may be called"),
        "daily_attempt_limit": N_("called enough today"),
    },
    "campaign_state_name": {
        "draft": N_("draft"),
        "running": N_("running"),
        "paused": N_("paused"),
        "stopped": N_("stopped"),
    },
    "promise_state_name": {
        "pending": N_("pending"),
        "kept": N_("kept"),
        "broken": N_("broken"),
        "cancelled": N_("cancelled"),
    },
    "component_name": {
        "callback": N_("callback"),
        "broken": N_("broken promise"),
        "bucket": N_("bucket"),
        "amount": N_("amount"),
        "recency": N_("recency"),
        "rpc": N_("right party"),
        "attempts": N_("calls today"),
    },
    "entry_state_name": {"queued": N_("queued"), "dialing": N_("dialing"), "done": N_("done")},
    "skip_reason_name": {
        "wrong_time": N_("not a good time for this customer"),
        "known_dispute": N_("dispute known"),
        "handled_elsewhere": N_("handled by another team"),
        "other": N_("other reason"),
    },
}


def names_in_language(kind: str) -> dict[str, str]:
    """One kind of names, translated, for a page's script (the wallboard draws them)."""
    return {value: gettext(message) for value, message in NAMES[kind].items()}


def _namer(names: dict[str, str]):
    def name(value: object) -> str:
        message = names.get(str(value))
        return gettext(message) if message else str(value)

    return name


def weekday_date(value: date) -> str:
    """A day to choose, in the page's language: "Thứ Năm, 03/12/2026"."""
    weekday = format_date(value, "EEEE", locale=str(get_locale() or "vi"))
    return f"{weekday[:1].upper()}{weekday[1:]}, {value.strftime('%d/%m/%Y')}"


def init_app(app: Flask) -> None:
    tz = app.extensions["dialer"].settings.timezone
    zone = ZoneInfo(tz)

    def local_time(value: datetime | None, with_date: bool = True) -> str:
        """A moment in the centre's own time: 14:30 02/12/2026."""
        if value is None:
            return ""
        local = value.astimezone(zone)
        return local.strftime("%H:%M %d/%m/%Y" if with_date else "%H:%M")

    Babel(
        app,
        locale_selector=select_locale,
        default_locale="vi",
        default_timezone=tz,
        default_translation_directories=str(TRANSLATIONS),
    )

    def local_date(value: datetime | None) -> str:
        return "" if value is None else value.astimezone(zone).strftime("%d/%m/%Y")

    app.jinja_env.filters.update(
        vnd=vnd,
        ddmmyyyy=ddmmyyyy,
        local_time=local_time,
        local_date=local_date,
        weekday_date=weekday_date,
        duration=duration,
        # A catalogue Message (dialer.messages) in the reader's language.
        say=lambda message: translated(message, gettext),
    )
    app.jinja_env.filters.update({kind: _namer(names) for kind, names in NAMES.items()})
    app.jinja_env.globals.update(names_in_language=names_in_language)
    app.jinja_env.globals.update(
        locales=LOCALES,
        get_locale=get_locale,
        idle_minutes=app.extensions["dialer"].settings.session_idle_minutes,
    )
