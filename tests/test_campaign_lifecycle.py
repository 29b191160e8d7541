"""Campaign settings, lifecycle, rebuild from SQL, calls-per-second bucket, daily templates:
against the real SQL database and Redis (and RQ's own scheduler)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta

import pytest
from rq import SimpleWorker
from rq.registry import ScheduledJobRegistry
from sqlalchemy import func, select

from dialer.campaigns import queue, scheduled, service, templates
from dialer.campaigns.models import CallAttempt, Campaign, CampaignEntry, CampaignTemplate
from dialer.clock import Clock
from dialer.config import load_settings
from dialer.outcomes.catalogue import seed_default_codes
from dialer.portfolio.models import Phone
from dialer.redis import Keys
from dialer.runtime import Runtime, reset_runtime
from dialer.telephony import cps
from tests import factories

VN = "Asia/Ho_Chi_Minh"
NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # Monday 10:00 in Hà Nội


@pytest.fixture
def codes(session):
    seed_default_codes(session)
    session.commit()


# --- settings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"colour": "red"}, "unknown setting"),
        ({"dial_mode": "telepathy"}, "dial mode 'telepathy' unknown"),
        ({"compliance_profile": "mars"}, "unknown compliance profile"),
        ({"window_start": "7am"}, "window_start must be a time as HH:MM"),
        ({"window_start": "06:00"}, "window"),  # wider than vn-finance's 07:00
        ({"max_attempts_per_day": 9}, "attempts"),  # more than vn-finance's 5
        ({"abandon_target": 0.05}, "abandon_target"),
        ({"abandon_target": "low"}, "abandon_target"),
        ({"max_lines_per_agent": 9}, "max_lines_per_agent must be between 1 and 5"),
        ({"caller_ids": ["12345"]}, "is not a valid number"),
        ({"caller_ids": "+842873000000"}, "caller_ids must be a list"),
        ({"retry_minutes": {"sunburn": 5}}, "neither a call result"),
        ({"retry_minutes": {"no_answer": 0}}, "retry_minutes[no_answer]"),
        ({"agent_ids": [4242]}, "no agent(s) 4242"),
        ({"ranking": {"charisma": 3}}, "charisma"),
        ({"filters": {"dpd_min": 90, "dpd_max": 30}}, "dpd_min is above dpd_max"),
        ({"script": "kich-ban-khong-co"}, "no call script 'kich-ban-khong-co'"),
        ({"script": 7}, "script must be the name of a call script"),
        ({"on_machine": "shout"}, "on_machine must be one of hangup, voicemail"),
        ({"on_unknown": "maybe"}, "on_unknown must be one of human, machine"),
        ({"record_calls": "yes"}, "record_calls must be true or false"),
        ({"wrap_up_seconds": 5}, "wrap_up_seconds must be a whole number >= 10"),
        ({"wrap_up_seconds": 7200}, "wrap_up_seconds must be at most 3600"),
        ({"callback_number": "1900"}, "callback number '1900' is not a valid number"),
        ({"compliance_profile": "us-regf"}, "set company_name and callback_number"),
        ({"compliance_profile": "uk-ofcom", "company_name": "A"}, "set callback_number"),
        ({"max_attempts_per_entry": 0}, "max_attempts_per_entry must be a whole number >= 1"),
    ],
)
def test_bad_settings_are_refused_and_change_nothing(session, codes, given, message):
    with pytest.raises(service.CampaignError) as refused:
        service.create_campaign(session, "x", **given)
    assert message in str(refused.value)
    session.rollback()
    assert session.scalar(select(func.count(Campaign.id))) == 0


def test_settings_are_stored_and_read_back(session, codes):
    lan = factories.agent(session, "lan")
    campaign = service.create_campaign(
        session,
        "  B2 chiều  ",
        dial_mode="predictive",
        window_start="08:00",
        window_end="18:30",
        max_attempts_per_day=3,
        retry_minutes={"no_answer": 45, "busy": 10},
        caller_ids=["+842873000001", "+84 28 7300 0001", "+12025550123"],
        script="thu-hoi-no-mac-dinh",
        team="B2",
        agent_ids=[lan.id],
        abandon_target=0.02,
        max_lines_per_agent=2.5,
        ranking={"amount": 20},
        on_machine="voicemail",
        on_unknown="machine",
        record_calls=True,
        wrap_up_seconds=90,
        company_name="  Ngân hàng TMCP Đông Á ",
        callback_number="+84 28 7300 0009",
    )
    assert campaign.name == "B2 chiều"
    settings = service.settings_of(campaign)
    assert settings["caller_ids"] == ["+842873000001", "+12025550123"]  # E.164, once each
    assert settings["retry_minutes"] == {"no_answer": 45, "busy": 10}
    assert settings["agent_ids"] == [lan.id]
    assert (settings["script"], settings["on_machine"], settings["on_unknown"]) == (
        "thu-hoi-no-mac-dinh",
        "voicemail",
        "machine",
    )
    assert (settings["record_calls"], settings["wrap_up_seconds"]) == (True, 90)
    assert (settings["company_name"], settings["callback_number"]) == (
        "Ngân hàng TMCP Đông Á",
        "+842873000009",
    )
    profile = service.effective_profile(campaign)
    assert (profile.window_start, profile.window_end) == (time(8, 0), time(18, 30))
    assert profile.max_attempts_per_account_per_day == 3
    # The same settings make an identical campaign (what a template relies on).
    twin = service.create_campaign(session, "twin", **settings)
    assert service.settings_of(twin) == settings


# --- lifecycle and status -----------------------------------------------------------------


def _running(session, redis_client, n_accounts: int = 3, **settings) -> Campaign:
    for i in range(n_accounts):
        factories.account(session, dpd=30 + i, phones=((f"+8490200{i:04d}", "mobile"),))
    campaign = service.create_campaign(session, "c", **settings)
    service.launch(session, campaign, NOW, VN)
    session.commit()
    service.start_dialing(session, redis_client, campaign, NOW)
    return campaign


def test_status_json_has_the_fields_supervisors_read(session, redis_client, codes):
    campaign = _running(session, redis_client)
    out = service.status(session, redis_client, campaign, NOW)
    for key in (
        "state",
        "entries",
        "queued",
        "in_progress",
        "done",
        "blocked",
        "calls_placed",
        "answered_human",
        "abandoned",
        "abandon_rate",
    ):
        assert key in out
    assert (out["state"], out["entries"], out["queued"], out["in_progress"]) == (
        "running",
        3,
        3,
        0,
    )
    assert out["abandon_target"] == 0.03
    assert out["abandon_rate_window"]["cap"] == 0.03
    service.pause(session, redis_client, campaign, reason="lunch")
    assert service.status(session, redis_client, campaign, NOW)["paused_reason"] == "lunch"
    assert redis_client.hget(Keys.running_campaigns(), campaign.id) is None
    service.resume(session, redis_client, campaign)
    assert campaign.paused_reason is None
    assert redis_client.hget(Keys.running_campaigns(), campaign.id) == b"progressive"
    with pytest.raises(service.CampaignError, match="is running, not paused"):
        service.resume(session, redis_client, campaign)


# --- rebuild from SQL ---------------------------------------------------------------------


def _redis_state(r, campaign_id: int) -> dict[str, object]:
    return {
        "queue": r.zrange(Keys.dial_queue(campaign_id), 0, -1, withscores=True),
        "retry": r.zrange(Keys.retry(campaign_id), 0, -1, withscores=True),
        "retry_scores": r.hgetall(Keys.retry_scores(campaign_id)),
        "dialing": r.zrange(Keys.dialing(campaign_id), 0, -1),
        "running": r.hget(Keys.running_campaigns(), campaign_id),
    }


def test_rebuild_recreates_redis_from_sql_alone(session, redis_client, codes):
    campaign = _running(session, redis_client, n_accounts=5)
    entries = session.scalars(select(CampaignEntry).order_by(CampaignEntry.id)).all()
    later = NOW + timedelta(hours=2)
    # One waits for its retry time, one is stuck dialing (its worker died), one has a call
    # in flight, one is done.
    waiting, stuck, calling, finished, _ = entries
    waiting.not_before = later
    stuck.state = "dialing"
    calling.state = "dialing"
    finished.state = "done"
    session.add(
        CallAttempt(
            campaign_id=campaign.id,
            entry_id=calling.id,
            account_id=calling.account_id,
            phone_id=session.scalar(select(Phone.id).where(Phone.account_id == calling.account_id)),
            call_sid="CA" + "1" * 32,
            status="ringing",
            created_at=NOW,
        )
    )
    session.commit()
    redis_client.flushdb()  # Redis lost everything

    found = service.rebuild_sql(session, campaign, NOW)
    session.commit()
    out = service.rebuild_redis(session, redis_client, campaign, found, NOW)
    assert out == {
        "loaded": 3,
        "queued": 2,
        "retry": 1,
        "in_flight": 1,
        "returned_to_queue": 1,
    }
    queued = {int(m) for m in redis_client.zrange(Keys.dial_queue(campaign.id), 0, -1)}
    assert queued == {stuck.id, entries[4].id}
    assert redis_client.zscore(Keys.retry(campaign.id), waiting.id) == later.timestamp()
    # Queue scores are the rank score with the builder's tie-break folded in.
    retry_score = float(redis_client.hget(Keys.retry_scores(campaign.id), waiting.id))
    assert retry_score == pytest.approx(waiting.score, abs=0.5)
    assert redis_client.zscore(Keys.dial_queue(campaign.id), stuck.id) == pytest.approx(
        stuck.score, abs=0.5
    )
    assert [int(m) for m in redis_client.zrange(Keys.dialing(campaign.id), 0, -1)] == [calling.id]
    assert redis_client.get(Keys.account_lock(calling.account_id)) == (
        queue.lock_owner(campaign.id, calling.id).encode()
    )
    session.expire_all()
    assert session.get(CampaignEntry, stuck.id).state == "queued"
    # Rebuilding again gives the very same state: safe to run any time.
    before = _redis_state(redis_client, campaign.id)
    found = service.rebuild_sql(session, campaign, NOW)
    session.commit()
    service.rebuild_redis(session, redis_client, campaign, found, NOW)
    assert _redis_state(redis_client, campaign.id) == before


# --- calls per second ---------------------------------------------------------------------


def test_cps_bucket_is_shared_and_refills_with_time(settings, redis_client):
    other = Runtime(settings).redis  # another process's connection to the same Redis
    assert cps.take(redis_client, rate=2, now=100.0, n=5) == (2, 0.5)  # a second's worth
    assert cps.take(other, rate=2, now=100.0) == (0, 0.5)
    assert cps.available(redis_client, rate=2, now=100.25) == 0
    assert cps.take(other, rate=2, now=100.5)[0] == 1
    assert cps.available(redis_client, rate=2, now=110.0) == 2  # never more than the burst
    # A clock going backwards (another process's) never mints tokens.
    assert cps.take(redis_client, rate=2, now=50.0, n=5)[0] == 2
    assert cps.take(redis_client, rate=2, now=50.0)[0] == 0
    with pytest.raises(ValueError):
        cps.take(redis_client, rate=0, now=1.0)


def test_cps_acquire_waits_for_a_token_or_gives_up(redis_client):
    clock = Clock(speed=100.0, real_origin=0.0, sim_origin=0.0)
    assert cps.take(redis_client, rate=1, now=clock.time())[0] == 1
    assert cps.acquire(redis_client, rate=1, clock=clock, max_wait=0.1) is False
    assert cps.acquire(redis_client, rate=1, clock=clock, max_wait=5) is True


# --- daily templates ----------------------------------------------------------------------


def _vn_holiday(day: date) -> bool:
    return templates.is_public_holiday("VN", day)


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        # Monday 07:00 local: today's 08:00 launch is still ahead.
        (datetime(2026, 11, 23, 0, 0, tzinfo=UTC), datetime(2026, 11, 23, 1, 0, tzinfo=UTC)),
        # Friday after the launch: Monday (the weekend is skipped).
        (datetime(2026, 11, 27, 2, 0, tzinfo=UTC), datetime(2026, 11, 30, 1, 0, tzinfo=UTC)),
        # Tết 2027 (4-10 February) and its weekend: Thursday 11 February.
        (datetime(2027, 2, 3, 2, 0, tzinfo=UTC), datetime(2027, 2, 11, 1, 0, tzinfo=UTC)),
        # 30 April and 1 May (with 3 May observed): Tuesday 4 May.
        (datetime(2027, 4, 29, 2, 0, tzinfo=UTC), datetime(2027, 5, 4, 1, 0, tzinfo=UTC)),
    ],
)
def test_next_launch_skips_weekends_and_vietnamese_holidays(after, expected):
    got = templates.next_launch(after, time(8, 0), VN, range(5), _vn_holiday)
    assert got == expected


def test_weekdays_parse_and_refuse_nonsense():
    assert templates.parse_weekdays("mon-fri") == [0, 1, 2, 3, 4]
    assert templates.parse_weekdays("sat, mon-wed") == [0, 1, 2, 5]
    assert templates.parse_weekdays([6, "tue"]) == [1, 6]
    for bad in ("fri-mon", "", "funday", [7]):
        with pytest.raises(service.CampaignError):
            templates.parse_weekdays(bad)


def test_template_validation_changes_nothing(session, codes):
    good = {"launch_time": "08:00", "timezone": VN}
    for kwargs, message in (
        ({"launch_time": "8h"}, "launch_time must be a time"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"holiday_country": "XX"}, "no public-holiday calendar"),
        ({"weekdays": "someday"}, "not a day"),
    ):
        with pytest.raises(service.CampaignError, match=message):
            templates.save_template(session, "t", {}, **{**good, **kwargs})
        session.rollback()
    with pytest.raises(service.CampaignError, match="dial mode"):
        templates.save_template(session, "t", {"dial_mode": "x"}, **good)
    session.rollback()
    assert session.scalar(select(func.count(CampaignTemplate.id))) == 0


@pytest.fixture
def rt(process_env, monkeypatch):
    """A runtime whose RQ jobs (run by a real worker here) see the same settings, on a clock
    that starts at a working day's 08:30 in Hà Nội (Tuesday 1 December 2026), so that no
    test depends on the day it runs (a holiday, a weekend)."""
    start = datetime(2026, 12, 1, 8, 30, tzinfo=templates.ZoneInfo(VN))
    for name, value in Clock.started_now(1.0, sim_start=start).env().items():
        monkeypatch.setenv(name, value)
    reset_runtime()
    return Runtime(load_settings())


def test_a_template_launches_once_a_day_and_schedules_itself(rt, session, redis_client, codes):
    factories.account(session, dpd=40)
    session.commit()
    template = templates.save_template(
        session,
        "B1 sáng",
        {"window_end": "17:00"},
        launch_time="08:00",
        timezone=VN,
        weekdays="mon-sun",  # whatever day the tests run on
    )
    session.commit()
    today = rt.clock.now().astimezone(templates.ZoneInfo(VN)).date()
    assert not templates.is_public_holiday("VN", today)

    first = scheduled.run_template(rt, template.id, today)
    assert first.startswith("launched campaign")
    again = scheduled.run_template(rt, template.id, today)
    assert again.startswith("not launched")
    session.expire_all()
    (campaign,) = session.scalars(select(Campaign)).all()
    assert (campaign.name, campaign.state, campaign.template_id) == (
        f"B1 sáng {today.isoformat()}",
        "running",
        template.id,
    )
    assert campaign.window_end == "17:00"
    assert redis_client.zcard(Keys.dial_queue(campaign.id)) == 1

    jobs = set(ScheduledJobRegistry(queue=rt.queue).get_job_ids())
    next_day = templates.template_next_launch(
        session.get_one(CampaignTemplate, template.id),
        datetime.combine(today + timedelta(days=1), time(0), templates.ZoneInfo(VN)),
    )
    assert f"template-{template.id}-{next_day.astimezone(templates.ZoneInfo(VN)).date()}" in jobs
    assert f"campaign-{campaign.id}-window-end" in jobs

    assert scheduled.stop_at_window_end(campaign.id) == "stopped"
    session.expire_all()
    assert session.get_one(Campaign, campaign.id).state == "stopped"
    assert scheduled.stop_at_window_end(campaign.id) == "nothing to stop"


def test_rq_scheduler_runs_a_due_template_launch(rt, session, redis_client, codes):
    factories.account(session, dpd=40)
    session.commit()
    template = templates.save_template(
        session, "B1", {}, launch_time="08:00", timezone=VN, weekdays="mon-sun"
    )
    session.commit()
    now = rt.clock.now()
    day = now.astimezone(templates.ZoneInfo(VN)).date()
    rt.queue.enqueue_at(
        now - timedelta(seconds=1),
        scheduled.launch_template,
        template.id,
        day.isoformat(),
        job_id=f"template-{template.id}-{day}",
    )
    # A real worker with RQ's scheduler, in burst mode: it moves the due job and runs it.
    SimpleWorker([rt.queue], connection=redis_client).work(burst=True, with_scheduler=True)
    session.expire_all()
    assert session.scalar(select(Campaign.template_id)) == template.id
    assert session.get_one(CampaignTemplate, template.id).last_launched_on == day


def test_templates_from_the_cli(rt, codes, session):
    from click.testing import CliRunner

    from dialer.cli import main

    factories.account(session, dpd=40)
    session.commit()
    run = CliRunner().invoke
    created = run(
        main,
        [
            "campaign",
            "create",
            "B2",
            "--mode",
            "predictive",
            "--window",
            "08:00-18:00",
            "--retry",
            "no_answer=30",
            "--weight",
            "amount=12",
            "--bucket",
            "B2",
            "--json",
        ],
    )
    assert created.exit_code == 0, created.output
    body = json.loads(created.output)
    assert (body["dial_mode"], body["window_start"], body["retry_minutes"]) == (
        "predictive",
        "08:00",
        {"no_answer": 30},
    )
    saved = run(
        main,
        [
            "campaign",
            "template",
            "save",
            "B2 daily",
            "--at",
            "07:30",
            "--from-campaign",
            str(body["id"]),
            "--weekdays",
            "mon-sat",
            "--json",
        ],
    )
    assert saved.exit_code == 0, saved.output
    out = json.loads(saved.output)
    assert out["settings"]["dial_mode"] == "predictive"
    assert out["weekdays"] == ["mon", "tue", "wed", "thu", "fri", "sat"]
    assert out["scheduled_for"] is not None
    listed = run(main, ["campaign", "template", "list"])
    assert "B2 daily" in listed.output and "07:30" in listed.output
    bad = run(main, ["campaign", "template", "save", "x", "--at", "25:00"])
    assert bad.exit_code == 1 and "launch_time must be a time as HH:MM" in bad.output
    bad = run(main, ["campaign", "create", "x", "--retry", "no_answer"])
    assert bad.exit_code == 2 and "NAME=VALUE" in bad.output
    assert "disabled" in run(main, ["campaign", "template", "disable", "B2 daily"]).output


# --- the pacer's view -----------------------------------------------------------------------


def test_pacer_snapshot_reads_agents_calls_and_recent_history(rt, session, redis_client, codes):
    from dialer.agents import presence
    from dialer.campaigns import pacer
    from dialer.campaigns.pacing import PacingEstimator

    now_dt = rt.clock.now()
    now = now_dt.timestamp()
    campaign = _running(session, redis_client, n_accounts=3, dial_mode="predictive")
    entries = session.scalars(select(CampaignEntry)).all()
    account = entries[0].account_id
    phone_id = session.scalar(select(Phone.id).where(Phone.account_id == account))
    # History: 8 dials, 4 answered by people (3 s to answer, 100 s talk), 4 not answered.
    for i in range(8):
        human = i % 2 == 0
        start = now_dt - timedelta(minutes=30 - i)
        session.add(
            CallAttempt(
                campaign_id=campaign.id,
                entry_id=entries[0].id,
                account_id=account,
                phone_id=phone_id,
                call_sid=f"CA{i:032d}",
                status="completed" if human else "no-answer",
                result="human" if human else "no_answer",
                created_at=start,
                answered_at=start + timedelta(seconds=3) if human else None,
                connected_at=start + timedelta(seconds=4) if human else None,
                ended_at=start + timedelta(seconds=104 if human else 25),
            )
        )
    session.commit()
    agent_ids = [factories.agent(session).id for _ in range(3)]
    session.commit()
    for agent_id in agent_ids:
        presence.set_connecting(redis_client, agent_id, campaign.id, "CAx", now - 100)
        presence.connected(redis_client, agent_id, now - 90)
    assert presence.claim(redis_client, campaign.id, 77, now - 30, 0) is not None  # talks 30 s
    wrapping = presence.claim(redis_client, campaign.id, 78, now - 60, 0)
    presence.call_ended(redis_client, wrapping, 78, now - 8)  # wraps up for 8 s
    _, older = queue.pop_for_dialing(redis_client, campaign.id, 2, now - 5)
    redis_client.zadd(Keys.dialing(campaign.id), {older: now - 12})

    sizes = queue.sizes(redis_client, campaign.id)
    snap = pacer.snapshot(rt, campaign.id, sizes, now)
    assert snap.agents_ready == 1 and snap.agents_busy == 2
    assert [round(x) for x in snap.talk_elapsed] == [30]
    assert [round(x) for x in snap.wrap_elapsed] == [8]
    assert sorted(round(x) for x in snap.ringing_ages) == [5, 12]
    assert (snap.calls_dialing, snap.queued_entries) == (2, 1)
    assert (snap.abandon_target, snap.max_lines_per_agent) == (0.03, 3.0)
    prior = PacingEstimator.start().estimates()
    # The estimates moved from the priors toward what these calls showed.
    assert snap.estimates.p_human > prior.p_human
    assert snap.estimates.answer_delay_mean < prior.answer_delay_mean
    assert snap.live_answers_today == 4 and snap.abandoned_today == 0
    assert (snap.live_answers_period, snap.abandoned_period) == (4, 0)  # vn-finance: 24 h


def test_a_person_waiting_for_an_agent_is_seen_apart_from_ringing_calls(
    rt, session, redis_client, codes
):
    import threading
    import time

    from dialer.agents import presence
    from dialer.campaigns import pacer

    now = rt.now_ts()
    campaign = _running(session, redis_client, n_accounts=3, dial_mode="predictive")
    answered, ringing = queue.pop_for_dialing(redis_client, campaign.id, 2, now - 5)
    claimed: list[int | None] = []
    # Nobody is ready: the answer webhook's claim waits, and the caller is listed meanwhile.
    waiter = threading.Thread(
        target=lambda: claimed.append(
            presence.claim(redis_client, campaign.id, 91, now, 1.5, entry_id=answered)
        )
    )
    waiter.start()
    deadline = time.monotonic() + 1.0
    while not presence.waiting_callers(redis_client, campaign.id, now - 1):
        assert time.monotonic() < deadline, "the waiting caller was never listed"
        time.sleep(0.01)
    snap = pacer.snapshot(rt, campaign.id, queue.sizes(redis_client, campaign.id), now)
    assert (snap.callers_waiting, snap.calls_dialing, len(snap.ringing_ages)) == (1, 1, 1)
    waiter.join()
    assert claimed == [None]  # abandoned: no agent in time
    assert presence.waiting_callers(redis_client, campaign.id, 0) == set()
    snap = pacer.snapshot(rt, campaign.id, queue.sizes(redis_client, campaign.id), now)
    assert (snap.callers_waiting, snap.calls_dialing) == (0, 2)
    assert ringing in {int(i) for i in redis_client.zrange(Keys.dialing(campaign.id), 0, -1)}
    # A web process that died mid-wait leaves its caller listed: not counted, and pruned.
    redis_client.zadd(Keys.waiting_callers(campaign.id), {ringing: now - 100})
    snap = pacer.snapshot(rt, campaign.id, queue.sizes(redis_client, campaign.id), now)
    assert snap.callers_waiting == 0
    assert redis_client.zcard(Keys.waiting_callers(campaign.id)) == 0


def test_a_late_or_early_template_job_launches_nothing(rt, session, redis_client, codes):
    factories.account(session, dpd=40)
    template = templates.save_template(
        session, "B1", {}, launch_time="08:00", timezone=VN, weekdays="mon-sun"
    )
    session.commit()
    now = rt.clock.now()
    today = now.astimezone(templates.ZoneInfo(VN)).date()
    for other in (today - timedelta(days=1), today + timedelta(days=1)):
        assert templates.launch_from_template(session, template, other, now) is None
        with pytest.raises(service.CampaignError, match="today only"):
            templates.check_run_day(template, other, now)
    assert templates.launch_from_template(session, template, today, now) is not None
    assert session.scalar(select(func.count(Campaign.id))) == 1


def test_a_blank_team_is_no_team(session, codes):
    # Otherwise every agent without a team would be locked out of the campaign.
    assert service.create_campaign(session, "c", team="  ").team is None
    assert service.create_campaign(session, "d", team=" b2-hanoi ").team == "b2-hanoi"


def test_the_abandon_period_spans_a_templates_days(session, codes):
    """Ofcom's 24 h (or Regulation F's 30 days) run across the daily campaigns of one
    template: yesterday evening's abandons count this morning; another campaign's do not."""
    acc = factories.account(session)
    template = templates.save_template(
        session,
        "UK daily",
        {"compliance_profile": "uk-ofcom", **factories.CALLER},
        launch_time="08:00",
        timezone=VN,
    )
    session.flush()
    yesterday, today, other = (
        service.create_campaign(
            session, name, compliance_profile="uk-ofcom", template_id=tid, **factories.CALLER
        )
        for name, tid in (("d1", template.id), ("d2", template.id), ("x", None))
    )
    session.flush()
    phone_id = acc.phones[0].id

    entries: dict[int, CampaignEntry] = {}

    def answered(campaign: Campaign, hours_ago: float, result: str) -> None:
        entry = entries.get(campaign.id)
        if entry is None:
            entry = entries[campaign.id] = CampaignEntry(
                campaign_id=campaign.id, account_id=acc.id, score=1
            )
            session.add(entry)
            session.flush()
        at = NOW - timedelta(hours=hours_ago)
        session.add(
            CallAttempt(
                campaign_id=campaign.id,
                entry_id=entry.id,
                account_id=acc.id,
                phone_id=phone_id,
                call_sid=f"CA{campaign.id}-{hours_ago:g}",
                result=result,
                created_at=at,
                answered_at=at,
            )
        )

    answered(yesterday, 14, "abandoned")  # inside the last 24 h
    answered(yesterday, 15, "human")
    answered(yesterday, 30, "abandoned")  # too old for Ofcom's 24 h
    answered(today, 1, "human")
    answered(other, 2, "abandoned")
    session.commit()
    assert service.abandon_period_counts(session, today, NOW) == (3, 1)
    assert service.abandon_period_counts(session, other, NOW) == (1, 1)
    assert service.abandon_window_counts(session, today.id, NOW - timedelta(hours=24)) == (1, 0)
