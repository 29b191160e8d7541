"""Daily templates: a saved campaign that launches itself every working day.

`next_launch` is pure (the calendar, the weekdays, the holidays); the rest reads and writes
SQL with the session it is given. The RQ jobs that run them are in scheduled.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from sqlalchemy import select
from sqlalchemy.orm import Session

from dialer.campaigns import service
from dialer.campaigns.compliance import is_public_holiday
from dialer.campaigns.errors import CampaignError
from dialer.campaigns.models import Campaign, CampaignTemplate

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LOOKAHEAD_DAYS = 60  # Tết can close a week and more; no template waits longer than this


def next_launch(
    after: datetime,
    launch_time: time,
    tz: str,
    weekdays: Iterable[int],
    is_holiday: Callable[[date], bool],
) -> datetime:
    """The first working day's launch time strictly after `after` (aware, UTC out)."""
    zone = ZoneInfo(tz)
    local = after.astimezone(zone)
    days = set(weekdays)
    for offset in range(LOOKAHEAD_DAYS + 1):
        day = local.date() + timedelta(days=offset)
        at = datetime.combine(day, launch_time, zone)
        if at > local and day.weekday() in days and not is_holiday(day):
            return at.astimezone(ZoneInfo("UTC"))
    raise CampaignError(f"no working day in the next {LOOKAHEAD_DAYS} days")


def parse_weekdays(raw: object) -> list[int]:
    """ "mon-fri", "mon,wed,fri", or a list of 0-6 / day names -> sorted weekday numbers."""
    if isinstance(raw, str):
        parts: list[Any] = []
        for piece in raw.lower().split(","):
            piece = piece.strip()
            if "-" in piece:
                first, last = (_weekday(p.strip()) for p in piece.split("-", 1))
                if first > last:
                    raise CampaignError(f"weekdays: {piece!r} runs backwards")
                parts.extend(range(first, last + 1))
            elif piece:
                parts.append(piece)
        raw = parts
    if not isinstance(raw, list) or not raw:
        raise CampaignError("weekdays must name at least one day (e.g. mon-fri)")
    return sorted({_weekday(d) for d in raw})


def _weekday(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 6:
        return value
    if isinstance(value, str) and value.lower()[:3] in WEEKDAY_NAMES:
        return WEEKDAY_NAMES.index(value.lower()[:3])
    raise CampaignError(f"weekdays: {value!r} is not a day (mon..sun or 0..6)")


def save_template(
    session: Session,
    name: str,
    settings: dict[str, Any],
    *,
    launch_time: str,
    timezone: str,
    weekdays: object = "mon-fri",
    holiday_country: str = "VN",
) -> CampaignTemplate:
    """Validate and save (or replace) a daily template; nothing is saved on a bad field."""
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 150:
        raise CampaignError("a template needs a name of at most 150 characters")
    clean = service.validate_settings(session, settings)
    service.parse_hhmm("launch_time", launch_time)
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise CampaignError(f"unknown time zone {timezone!r}") from None
    country = holiday_country.upper() if isinstance(holiday_country, str) else ""
    if country not in holidays.list_supported_countries():
        raise CampaignError(f"no public-holiday calendar for country {holiday_country!r}")
    template = session.scalar(
        select(CampaignTemplate).where(CampaignTemplate.name == name.strip())
    ) or CampaignTemplate(name=name.strip())
    template.settings = clean
    template.launch_time = launch_time
    template.timezone = timezone
    template.weekdays = parse_weekdays(weekdays)
    template.holiday_country = country
    template.active = True
    session.add(template)
    session.flush()
    return template


def template_next_launch(template: CampaignTemplate, after: datetime) -> datetime:
    return next_launch(
        after,
        service.parse_hhmm("launch_time", template.launch_time),
        template.timezone,
        template.weekdays,
        lambda day: is_public_holiday(template.holiday_country, day),
    )


def window_end(campaign: Campaign, day: date, tz: str) -> datetime:
    """When the campaign's calling window closes on `day`, at the centre's local time."""
    end = service.effective_profile(campaign).window_end
    return datetime.combine(day, end, ZoneInfo(tz)).astimezone(ZoneInfo("UTC"))


def launch_from_template(
    session: Session, template: CampaignTemplate, day: date, now: datetime
) -> Campaign | None:
    """Create and launch the day's campaign (SQL), once per template and day.

    None when the day is not today in the template's zone (a late job, or a person asking
    for another day), it already ran that day or later, the template is inactive, or the
    day is a holiday or not a working day; the caller commits, then starts dialing.
    """
    if day != now.astimezone(ZoneInfo(template.timezone)).date():
        return None
    if not template.active or (
        template.last_launched_on is not None and day <= template.last_launched_on
    ):
        return None
    if day.weekday() not in template.weekdays or is_public_holiday(template.holiday_country, day):
        return None
    campaign = service.create_campaign(
        session, f"{template.name} {day.isoformat()}", template_id=template.id, **template.settings
    )
    service.launch(session, campaign, now, template.timezone)
    template.last_launched_on = day
    session.flush()
    return campaign


def check_run_day(template: CampaignTemplate, day: date, now: datetime) -> None:
    """A person may launch a template's campaign for today only (its zone's date): a past
    day's campaign would call outside its day, a future one would end today's."""
    today = now.astimezone(ZoneInfo(template.timezone)).date()
    if day != today:
        raise CampaignError(
            f"a template launches for today only ({today} in {template.timezone}), not {day}"
        )


def describe(template: CampaignTemplate, now: datetime) -> dict[str, Any]:
    """A template as the CLI and the API show it, with its next launch."""
    try:
        next_at: datetime | None = template_next_launch(template, now)
    except CampaignError:
        next_at = None
    return {
        "id": template.id,
        "name": template.name,
        "active": template.active,
        "launch_time": template.launch_time,
        "timezone": template.timezone,
        "weekdays": [WEEKDAY_NAMES[d] for d in template.weekdays],
        "holiday_country": template.holiday_country,
        "last_launched_on": template.last_launched_on,
        "next_launch": next_at if template.active else None,
        "settings": template.settings,
    }


def describe_all(session: Session, *, team: str | None, now: datetime) -> list[dict[str, Any]]:
    """Every template (of the team, or all when team is None) by name, described."""
    rows = session.scalars(select(CampaignTemplate).order_by(CampaignTemplate.name))
    return [
        describe(t, now) for t in rows if team is None or (t.settings or {}).get("team") == team
    ]
