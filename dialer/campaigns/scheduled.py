"""Scheduled work of the campaign engine, run by RQ's scheduler (`dialer worker` starts
workers with it): daily templates launch on working days and stop at the window's end.

Each job is idempotent: a template launches at most once a day (SQL remembers the day) and
scheduled jobs have fixed ids, so scheduling twice leaves one job.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from rq import Queue
from sqlalchemy import select

from dialer.campaigns import service, templates
from dialer.campaigns.models import Campaign, CampaignTemplate
from dialer.runtime import Runtime, get_runtime

log = logging.getLogger(__name__)


def launch_template(template_id: int, day: str) -> str:
    """RQ job: launch a template's campaign for `day` (YYYY-MM-DD), then schedule the next."""
    return run_template(get_runtime(), template_id, date.fromisoformat(day))


def stop_at_window_end(campaign_id: int) -> str:
    """RQ job: the calling window is over; stop the day's campaign if it still runs."""
    rt = get_runtime()
    with rt.db.begin() as s:
        campaign = s.get(Campaign, campaign_id)
        if campaign is None or campaign.state not in ("running", "paused"):
            return "nothing to stop"
        service.stop(s, rt.redis, campaign, rt.clock.now())
    log.info("campaign %s stopped at the end of its calling window", campaign_id)
    return "stopped"


def _enqueue_at(rt: Runtime, at: datetime, job_id: str, func, *args: object) -> None:
    queue: Queue = rt.queue
    queue.enqueue_at(
        rt.clock.wall_datetime(at), func, *args, job_id=job_id, description=job_id, result_ttl=86400
    )


def schedule_launch(rt: Runtime, template: CampaignTemplate, at: datetime) -> None:
    day = at.astimezone(ZoneInfo(template.timezone)).date().isoformat()
    _enqueue_at(rt, at, f"template-{template.id}-{day}", launch_template, template.id, day)


def run_template(rt: Runtime, template_id: int, day: date) -> str:
    """Launch the day's campaign from the template (once), start dialing, schedule its stop
    at the window's end and the template's next launch."""
    now = rt.clock.now()
    with rt.db.begin() as s:
        template = s.get(CampaignTemplate, template_id)
        if template is None or not template.active:
            return "template gone or inactive"
        # An earlier day's campaign should have stopped at its window's end; make sure.
        day_start = datetime.combine(day, datetime.min.time(), ZoneInfo(template.timezone))
        for old in s.scalars(
            select(Campaign).where(
                Campaign.template_id == template_id,
                Campaign.state.in_(("running", "paused")),
                Campaign.launched_at < day_start,
            )
        ):
            service.stop(s, rt.redis, old, now)
        campaign = templates.launch_from_template(s, template, day, now)
        next_at = templates.template_next_launch(template, max(now, _day_end(template, day)))
        campaign_id = campaign.id if campaign else None
        ends_at = templates.window_end(campaign, day, template.timezone) if campaign else None
    schedule_launch(rt, template, next_at)
    if campaign_id is None:
        return f"not launched on {day} (not today, already ran, or not a working day)"
    with rt.db.session() as s:
        loaded = service.start_dialing(s, rt.redis, s.get_one(Campaign, campaign_id), now)
    assert ends_at is not None
    _enqueue_at(rt, ends_at, f"campaign-{campaign_id}-window-end", stop_at_window_end, campaign_id)
    log.info("template %s launched campaign %s with %s entries", template_id, campaign_id, loaded)
    return f"launched campaign {campaign_id}"


def _day_end(template: CampaignTemplate, day: date) -> datetime:
    zone = ZoneInfo(template.timezone)
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), zone) - timedelta(
        seconds=1
    )


def schedule_templates(rt: Runtime) -> dict[int, datetime]:
    """Make sure every active template has its next launch scheduled (idempotent). A
    template whose launch time passed today while nothing ran launches now, if its
    window is still open."""
    now = rt.clock.now()
    planned: dict[int, datetime] = {}
    with rt.db.session() as s:
        for template in s.scalars(select(CampaignTemplate).where(CampaignTemplate.active)):
            today = now.astimezone(ZoneInfo(template.timezone)).date()
            start_of_today = datetime.combine(
                today, datetime.min.time(), ZoneInfo(template.timezone)
            )
            first = templates.template_next_launch(template, start_of_today)
            if (
                first <= now
                and template.last_launched_on != today
                and _window_open(template, today, now)
            ):
                at = now  # missed this morning's launch: catch up
            else:
                at = templates.template_next_launch(template, now)
            schedule_launch(rt, template, at)
            planned[template.id] = at
    return planned


def _window_open(template: CampaignTemplate, day: date, now: datetime) -> bool:
    probe = Campaign(**template.settings)
    return now < templates.window_end(probe, day, template.timezone)
