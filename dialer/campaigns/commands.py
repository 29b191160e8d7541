"""`dialer campaign ...` and `dialer pacer`."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from zoneinfo import ZoneInfo

import click
from sqlalchemy import select

from dialer.campaigns import compliance, reports, scheduled, service, templates
from dialer.campaigns import pacer as pacer_loop
from dialer.campaigns.builder import BUILD_STEPS
from dialer.campaigns.jobs import job_lifetime
from dialer.campaigns.models import DIAL_MODES, Campaign, CampaignTemplate
from dialer.runtime import get_runtime
from dialer.terminal import terminal_progress


def _echo_json(data: object) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _load(s, campaign_id: int) -> Campaign:
    campaign = s.get(Campaign, campaign_id)
    if campaign is None:
        raise click.ClickException(f"no campaign {campaign_id}")
    return campaign


@click.group()
def campaign() -> None:
    """Create, launch, stop and watch campaigns."""


def _pairs(option: str, raw: tuple[str, ...], kind: type) -> dict[str, Any]:
    """NAME=VALUE options into a dict, with a clear error for a malformed one."""
    out: dict[str, Any] = {}
    for item in raw:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint=option)
        try:
            out[key.strip()] = kind(value)
        except ValueError:
            raise click.BadParameter(
                f"{value!r} is not a {kind.__name__}", param_hint=option
            ) from None
    return out


def _settings_from_options(o: dict[str, Any]) -> dict[str, Any]:
    """Campaign settings from the create/template options; a --settings file is the base."""
    settings: dict[str, Any] = {}
    if o["settings_file"] is not None:
        try:
            settings = json.load(o["settings_file"])
        except json.JSONDecodeError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="--settings") from None
        if not isinstance(settings, dict):
            raise click.BadParameter("must hold a JSON object", param_hint="--settings")
    filters = dict(settings.get("filters") or {})
    for key in ("dpd_min", "dpd_max", "min_overdue_amount", "account_list"):
        if o[key] is not None:
            filters[key] = o[key]
    for key in ("products", "branches", "buckets"):
        if o[key]:
            filters[key] = list(o[key])
    for key in ("broken_promise", "callbacks_due"):
        if o[key]:
            filters[key] = True
    settings["filters"] = filters
    if o["window"] is not None:
        start, sep, end = o["window"].partition("-")
        if not sep:
            raise click.BadParameter("use HH:MM-HH:MM", param_hint="--window")
        settings["window_start"], settings["window_end"] = start.strip(), end.strip()
    direct = {
        "dial_mode": o["mode"],
        "compliance_profile": o["profile"],
        "max_attempts_per_entry": o["max_attempts"],
        "max_attempts_per_day": o["max_per_day"],
        "skip_public_holidays": o["holidays"],
        "team": o["team"],
        "abandon_target": o["abandon_target"],
        "max_lines_per_agent": o["max_lines"],
        "script": o["script"],
        "on_machine": o["machine"],
        "on_unknown": o["unknown"],
        "record_calls": o["record"],
        "wrap_up_seconds": o["wrap_up"],
        "company_name": o["company"],
        "callback_number": o["callback_number"],
    }
    settings.update({k: v for k, v in direct.items() if v is not None})
    if o["caller_ids"]:
        settings["caller_ids"] = list(o["caller_ids"])
    if o["agent_ids"]:
        settings["agent_ids"] = list(o["agent_ids"])
    if o["retry"]:
        settings["retry_minutes"] = _pairs("--retry", o["retry"], int)
    if o["weights"]:
        settings["ranking"] = _pairs("--weight", o["weights"], float)
    return settings


def settings_options(command):
    """The options that describe a campaign's settings (create, template save)."""
    options = [
        click.option(
            "--settings",
            "settings_file",
            type=click.File(encoding="utf-8"),
            help="JSON object of settings; the options below override it",
        ),
        click.option("--mode", type=click.Choice(DIAL_MODES), help="dial mode [progressive]"),
        click.option("--profile", help="compliance profile [vn-finance]"),
        click.option("--dpd-min", type=click.IntRange(min=0)),
        click.option("--dpd-max", type=click.IntRange(min=0)),
        click.option("--bucket", "buckets", multiple=True, help="B1..B8; repeat for several"),
        click.option("--min-overdue", "min_overdue_amount", type=click.IntRange(min=0)),
        click.option("--product", "products", multiple=True, help="repeat for several"),
        click.option("--branch", "branches", multiple=True, help="repeat for several"),
        click.option(
            "--broken-promise",
            is_flag=True,
            default=None,
            help="only accounts with a broken promise",
        ),
        click.option(
            "--callbacks-due", is_flag=True, default=None, help="only accounts with a callback due"
        ),
        click.option("--account-list", help="only the accounts of this saved list"),
        click.option("--max-attempts", type=click.IntRange(min=1), help="per entry [3]"),
        click.option(
            "--max-per-day",
            type=click.IntRange(min=1),
            help="attempts per account per day (at most the profile's)",
        ),
        click.option("--window", help="calling window HH:MM-HH:MM, inside the profile's"),
        click.option(
            "--holidays/--no-holidays",
            default=None,
            help="skip public holidays (default: the profile's rule)",
        ),
        click.option(
            "--retry",
            multiple=True,
            metavar="RESULT=MINUTES",
            help="retry interval for a call result or action code; repeat",
        ),
        click.option("--caller-id", "caller_ids", multiple=True, help="E.164; repeat to rotate"),
        click.option(
            "--script", help="call script name: talk track and IVR prompts (dialer scripts list)"
        ),
        click.option(
            "--machine",
            type=click.Choice(service.MACHINE_ACTIONS),
            help="an answering machine gets: hangup, or the script's voicemail [hangup]",
        ),
        click.option(
            "--unknown",
            type=click.Choice(service.UNKNOWN_ANSWERS),
            help="AnsweredBy=unknown is taken for a person or a machine [human]",
        ),
        click.option(
            "--record/--no-record", default=None, help="record the customer leg [no-record]"
        ),
        click.option(
            "--wrap-up",
            type=click.IntRange(*service.WRAP_UP_SECONDS),
            help="seconds an agent has to record the call's code [120]",
        ),
        click.option("--company", help="who is calling, in the abandon and voicemail messages"),
        click.option("--callback-number", help="E.164 number to call back, said in those"),
        click.option("--team", help="agents of this team work it"),
        click.option("--agent", "agent_ids", type=int, multiple=True, help="agent id; repeat"),
        click.option(
            "--abandon-target",
            type=click.FloatRange(0, 1),
            help="abandoned / live answers [0.03], never above the profile's cap",
        ),
        click.option("--max-lines", type=click.FloatRange(1), help="calls per agent at most [3]"),
        click.option(
            "--weight",
            "weights",
            multiple=True,
            metavar="NAME=VALUE",
            help="ranking weight override; repeat (see docs/ranking.md)",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@campaign.command("create")
@click.argument("name")
@settings_options
@click.option("--json", "as_json", is_flag=True)
def create(name: str, as_json: bool, **options: Any) -> None:
    """Create a draft campaign over the accounts the filters select."""
    settings = _settings_from_options(options)
    rt = get_runtime()
    try:
        with rt.db.begin() as s:
            c = service.create_campaign(s, name, **settings)
            out = {"id": c.id, "name": c.name, "state": c.state, **service.settings_of(c)}
    except service.CampaignError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        _echo_json(out)
    else:
        click.echo(f"Campaign {out['id']} '{out['name']}' created (draft, {out['dial_mode']}).")


@campaign.command("launch")
@click.argument("campaign_id", type=int)
def launch(campaign_id: int) -> None:
    """Select and rank the accounts, fill the dial queue, start dialing."""
    rt = get_runtime()
    try:
        with (
            rt.db.begin() as s,
            terminal_progress(BUILD_STEPS, "Selecting and ranking accounts") as progress,
        ):
            built = service.launch(
                s, _load(s, campaign_id), rt.clock.now(), rt.settings.timezone, progress=progress
            )
    except service.CampaignError as exc:
        raise click.ClickException(str(exc)) from None
    with (
        rt.db.session() as s,
        terminal_progress(built.entries, "Loading the dial queue") as progress,
    ):
        service.start_dialing(s, rt.redis, _load(s, campaign_id), rt.clock.now(), progress=progress)
    click.echo(f"Campaign {campaign_id} running with {built.entries} accounts queued.")


@campaign.command("rebuild")
@click.argument("campaign_id", type=int)
@click.option("--json", "as_json", is_flag=True)
def rebuild(campaign_id: int, as_json: bool) -> None:
    """Rebuild the campaign's Redis state (queue, retries, calls in flight) from SQL."""
    rt = get_runtime()
    now = rt.clock.now()
    with rt.db.begin() as s:
        campaign = _load(s, campaign_id)
        if campaign.state == "draft":
            raise click.ClickException(f"campaign {campaign_id} is a draft; launch it instead")
        found = service.rebuild_sql(s, campaign, now, job_lifetime(rt.clock))
    with rt.db.session() as s:
        out = service.rebuild_redis(s, rt.redis, _load(s, campaign_id), found, now)
    if as_json:
        _echo_json(out)
        return
    click.echo(
        f"Campaign {campaign_id} rebuilt from SQL: {out['queued']} queued, {out['retry']} "
        f"waiting to retry, {out['in_flight']} calls in flight, "
        f"{out['returned_to_queue']} entries returned from dead workers."
    )


@campaign.command("stop")
@click.argument("campaign_id", type=int)
def stop(campaign_id: int) -> None:
    """Stop dialing; calls in progress finish normally."""
    now = get_runtime().clock.now()
    _change_state(campaign_id, lambda s, r, c: service.stop(s, r, c, now), "stopped")


@campaign.command("pause")
@click.argument("campaign_id", type=int)
def pause(campaign_id: int) -> None:
    """Stop starting calls; the queue is kept for resume."""
    _change_state(campaign_id, service.pause, "paused")


@campaign.command("resume")
@click.argument("campaign_id", type=int)
def resume(campaign_id: int) -> None:
    """Start calling again after a pause (yours, or after repeated carrier errors)."""
    _change_state(campaign_id, service.resume, "running")


def _change_state(campaign_id: int, change, state: str) -> None:
    rt = get_runtime()
    try:
        with rt.db.begin() as s:
            change(s, rt.redis, _load(s, campaign_id))
    except service.CampaignError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Campaign {campaign_id} {state}.")


@campaign.command("status")
@click.argument("campaign_id", type=int)
@click.option("--json", "as_json", is_flag=True)
def status(campaign_id: int, as_json: bool) -> None:
    """Where the campaign is: entries, queue, calls, abandon rate, blocked dials by rule."""
    rt = get_runtime()
    with rt.db.session() as s:
        out = service.status(s, rt.redis, _load(s, campaign_id), rt.clock.now())
    if as_json:
        _echo_json(out)
        return
    paused = f" ({out['paused_reason']})" if out["paused_reason"] else ""
    click.echo(f"Campaign {out['id']} '{out['name']}': {out['state']}{paused}, {out['dial_mode']}")
    click.echo(
        f"  entries {out['entries']}: queued {out['queued']} (waiting to retry "
        f"{out['retry_waiting']}), in progress {out['in_progress']}, done {out['done']}"
    )
    click.echo(
        f"  calls {out['calls_placed']}, live answers {out['answered_human']}, "
        f"connected {out['connected_to_agent']}, abandoned {out['abandoned']} "
        f"({out['abandon_rate']:.1%} of live answers; target {out['abandon_target']:.1%})"
    )
    for rule, n in sorted(out["blocked"].items()):
        click.echo(f"  blocked by {rule}: {n}")
    for rule, n in sorted(out["excluded"].items()):
        click.echo(f"  left out at launch ({rule}): {n}")


def _rule_lines(p: dict[str, Any]) -> Iterator[str]:
    """A described profile's rules, one line each, for `dialer campaign profiles`."""
    yield f"calls {p['window_start']}-{p['window_end']} at the phone's local time"
    if p["skip_public_holidays"]:
        yield f"no calls on {p['country']} public holidays"
    if p["max_attempts_per_account_per_day"] is not None:
        yield f"at most {p['max_attempts_per_account_per_day']} attempts per account per day"
    if p["max_attempts_per_account_in_days"] is not None:
        calls, days = p["max_attempts_per_account_in_days"]
        yield f"at most {calls} attempts per account in any {days} days"
    if p["quiet_days_after_conversation"] is not None:
        yield f"no call within {p['quiet_days_after_conversation']} days after a conversation"
    if p["max_attempts_per_phone_per_day"] is not None:
        yield f"at most {p['max_attempts_per_phone_per_day']} attempts per number per day"
    if p["min_gap_minutes"]:
        yield f"at least {p['min_gap_minutes']} min between attempts on a number"
    if p["obligors_only"]:
        yield "only numbers of people who owe the debt (no references)"
    yield f"ring at least {p['min_ring_seconds']} s"
    yield "never a number on the do-not-call list"
    yield (
        f"abandoned calls at most {p['abandon_cap']:.0%} of live answers over "
        f"{p['abandon_cap_hours']} h (the campaign's target may only be lower)"
    )
    if p["abandon_quiet_hours"] is not None:
        yield (
            f"no redial within {p['abandon_quiet_hours']} h of an abandoned call, unless an "
            "agent is reserved"
        )
    if not p["machine_same_day"]:
        yield "no redial the same day after an answering machine, unless an agent is reserved"


@campaign.command("profiles")
@click.option("--json", "as_json", is_flag=True)
def profiles(as_json: bool) -> None:
    """The compliance profiles a campaign can use, and their rules (docs/compliance.md)."""
    described = [compliance.describe(p) for p in compliance.PROFILES.values()]
    if as_json:
        _echo_json(described)
        return
    for p in described:
        click.echo(f"{p['name']} ({p['country']}):")
        for line in _rule_lines(p):
            click.echo(f"  - {line}")


@contextmanager
def _report_errors() -> Iterator[None]:
    """A report's refusals as the CLI's: unknown subject exit 1, bad argument exit 2."""
    try:
        yield
    except reports.NotFound as exc:
        raise click.ClickException(str(exc)) from None
    except reports.ReportError as exc:
        raise click.UsageError(str(exc)) from None


def _local(iso: str | None) -> str:
    return iso[:16].replace("T", " ") if iso else "-"


def _cut(text: str | None, width: int) -> str:
    text = text or "-"
    return text if len(text) <= width else text[: width - 1] + "…"


@campaign.command("entries")
@click.argument("campaign_id", type=int)
@click.option("--account", "account_no", help="explain this account's score (one entry)")
@click.option("--state", type=click.Choice(reports.ENTRY_STATES))
@click.option(
    "--limit",
    type=click.IntRange(1, reports.MAX_LIMIT),
    default=reports.DEFAULT_LIMIT,
    show_default=True,
)
@click.option("--offset", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def entries(
    campaign_id: int,
    account_no: str | None,
    state: str | None,
    limit: int,
    offset: int,
    as_json: bool,
) -> None:
    """Entries in dial order (score, then rank) with their score components. With
    --account, that entry alone and why each component has its value (docs/ranking.md)."""
    rt = get_runtime()
    tz = rt.settings.timezone
    with rt.db.session() as s, _report_errors():
        c = _load(s, campaign_id)
        if account_no is not None:
            out: Any = reports.explain_entry(s, c, account_no, tz=tz)
        else:
            out = reports.list_entries(s, c.id, tz=tz, state=state, limit=limit, offset=offset)
    if as_json:
        _echo_json(out)
    elif account_no is not None:
        _echo_explanation(out)
    else:
        _echo_entries(out)


def _echo_entries(rows: list[dict[str, Any]]) -> None:
    click.echo(
        f"{'#':>5} {'rank':>5}  {'account':<12} {'customer':<22} {'DPD':>5} {'overdue':>13}  "
        f"{'state':<7} {'att':>3}  {'last result':<16} {'not before':<16} {'score':>9}  "
        "components"
    )
    for e in rows:
        parts = ", ".join(
            f"{name} {reports.signed(value)}" for name, value in e["components"].items() if value
        )
        click.echo(
            f"{e['position']:>5} {e['rank'] or '-':>5}  {_cut(e['account_no'], 12):<12} "
            f"{_cut(e['customer_name'], 22):<22} {e['dpd']:>5} {e['overdue_amount']:>13,}  "
            f"{e['state']:<7} {e['attempts']:>3}  {_cut(e['last_result'], 16):<16} "
            f"{_local(e['not_before']):<16} {e['score']:>9.3f}  {parts or '-'}"
        )
    if not rows:
        click.echo("(no entries)")


def _echo_explanation(e: dict[str, Any]) -> None:
    click.echo(
        f"Account {e['account_no']} ({e['customer_name']}): position {e['position']} in dial "
        f"order, build rank {e['rank'] or '-'}, score {e['score']:.3f}"
    )
    click.echo(
        f"  DPD {e['dpd']}, overdue {e['overdue_amount']:,} VND, {e['state']}, "
        f"{e['attempts']} attempts, last result {e['last_result'] or '-'}, "
        f"not before {_local(e['not_before'])}"
    )
    for line in e["explanation"]:
        click.echo(f"  {line['component']:<9} {reports.signed(line['value']):>10}  {line['text']}")
    overrides = ", ".join(f"{k}={v:g}" for k, v in e["weight_overrides"].items())
    click.echo(f"  weights: defaults{' with ' + overrides if overrides else ''}")


@campaign.command("blocked")
@click.argument("campaign_id", type=int)
@click.option("--rule", help="only this rule (a compliance rule, a hold or a build exclusion)")
@click.option("--since", help="from this local day on (YYYY-MM-DD)")
@click.option(
    "--limit",
    type=click.IntRange(1, reports.MAX_LIMIT),
    default=reports.DEFAULT_LIMIT,
    show_default=True,
    help="latest rows shown (the CSV has them all)",
)
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, writable=True),
    help="write every matching row to this file (UTF-8 with BOM, opens right in Excel)",
)
@click.option("--json", "as_json", is_flag=True)
def blocked(
    campaign_id: int,
    rule: str | None,
    since: str | None,
    limit: int,
    csv_path: str | None,
    as_json: bool,
) -> None:
    """Dials the compliance rules stopped, by rule, and accounts the launch left out."""
    rt = get_runtime()
    tz = rt.settings.timezone
    with rt.db.session() as s, _report_errors():
        c = _load(s, campaign_id)
        since_at = reports.parse_since(since, tz)
        reports.check_rule(rule)  # before a file is created for a report that cannot be
        if csv_path is not None:
            written = _write_csv(
                csv_path, reports.blocked_csv(s, c.id, tz=tz, rule=rule, since=since_at)
            )
            click.echo(f"{written} blocked dials written to {csv_path}.")
            return
        out = reports.blocked_report(s, c, tz=tz, rule=rule, since=since_at, limit=limit)
        name = c.name
    if as_json:
        _echo_json(out)
        return
    scope = (f" by {rule}" if rule else "") + (f" since {since}" if since else "")
    click.echo(f"Campaign {campaign_id} '{name}': blocked dials{scope}")
    for title, counts in (
        ("stopped at dial time", out["by_rule"]),
        ("left out at launch", out["excluded_at_build"]),
    ):
        click.echo(f"  {title}: {sum(counts.values()) or 'none'}")
        for r, n in counts.items():
            click.echo(f"    {r:<22} {n:>7}")
    if out["rows"]:
        click.echo(f"  latest {len(out['rows'])}:")
    for row in out["rows"]:
        click.echo(
            f"    {_local(row['at'])}  {row['account_no']}  {row['customer_name']}  "
            f"{row['phone'] or '-'}  {row['rule']}  {row['detail'] or ''}".rstrip()
        )


def _write_csv(path: str, chunks: Iterator[str]) -> int:
    """Write the report's CSV chunks to path; the number of data rows written."""
    try:
        with open(path, "w", encoding="utf-8", newline="") as f:
            for chunk in chunks:
                f.write(chunk)
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror}") from None
    with open(path, encoding="utf-8-sig", newline="") as f:
        return sum(1 for _ in csv.reader(f)) - 1


@campaign.group("template")
def template() -> None:
    """Daily templates: a campaign that launches itself every working day."""


@template.command("save")
@click.argument("name")
@click.option("--at", "launch_time", required=True, help="launch time HH:MM, local")
@click.option("--from-campaign", type=int, help="copy this campaign's settings")
@click.option("--weekdays", default="mon-fri", show_default=True, help="e.g. mon-sat")
@click.option("--country", default="VN", show_default=True, help="public holidays skipped")
@click.option("--timezone", help="local time zone [DIALER_TIMEZONE]")
@settings_options
@click.option("--json", "as_json", is_flag=True)
def template_save(
    name: str,
    launch_time: str,
    from_campaign: int | None,
    weekdays: str,
    country: str,
    timezone: str | None,
    as_json: bool,
    **options: Any,
) -> None:
    """Save a daily template (replacing one of the same name) and schedule its next launch."""
    rt = get_runtime()
    try:
        with rt.db.begin() as s:
            settings = _settings_from_options(options)
            if from_campaign is not None:
                settings = {**service.settings_of(_load(s, from_campaign)), **_given(settings)}
            saved = templates.save_template(
                s,
                name,
                settings,
                launch_time=launch_time,
                timezone=timezone or rt.settings.timezone,
                weekdays=weekdays,
                holiday_country=country,
            )
            template_id = saved.id
    except service.CampaignError as exc:
        raise click.ClickException(str(exc)) from None
    planned = scheduled.schedule_templates(rt)
    with rt.db.session() as s:
        out = templates.describe(s.get_one(CampaignTemplate, template_id), rt.clock.now())
    out["scheduled_for"] = planned.get(template_id)
    if as_json:
        _echo_json(out)
    else:
        click.echo(f"Template '{out['name']}' saved; next launch {out['scheduled_for']}.")


def _given(settings: dict[str, Any]) -> dict[str, Any]:
    """Only the settings an option really set (empty filters do not replace a campaign's)."""
    return {k: v for k, v in settings.items() if v not in ({}, [], None)}


@template.command("list")
@click.option("--json", "as_json", is_flag=True)
def template_list(as_json: bool) -> None:
    """Templates with their next launch."""
    rt = get_runtime()
    with rt.db.session() as s:
        rows = [
            templates.describe(t, rt.clock.now())
            for t in s.scalars(select(CampaignTemplate).order_by(CampaignTemplate.name))
        ]
    if as_json:
        _echo_json(rows)
        return
    for row in rows:
        state = "active" if row["active"] else "disabled"
        click.echo(
            f"{row['id']:>4}  {row['name']}  {row['launch_time']} {','.join(row['weekdays'])} "
            f"({row['timezone']}, {row['holiday_country']} holidays skipped)  {state}  "
            f"next {row['next_launch'] or '-'}  last {row['last_launched_on'] or '-'}"
        )


@template.command("run")
@click.argument("name")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), help="[today]")
def template_run(name: str, day) -> None:
    """Launch today's campaign from the template now (once a day, as the schedule would)."""
    rt = get_runtime()
    now = rt.clock.now()
    with rt.db.session() as s:
        found = s.scalar(select(CampaignTemplate).where(CampaignTemplate.name == name))
        if found is None:
            raise click.ClickException(f"no template {name!r}")
        template_id = found.id
        when = day.date() if day else now.astimezone(ZoneInfo(found.timezone)).date()
        try:
            templates.check_run_day(found, when, now)
        except service.CampaignError as exc:
            raise click.ClickException(str(exc)) from None
    try:
        click.echo(scheduled.run_template(rt, template_id, when))
    except service.CampaignError as exc:
        raise click.ClickException(str(exc)) from None


@template.command("disable")
@click.argument("name")
def template_disable(name: str) -> None:
    """Stop launching this template (its scheduled launch then does nothing)."""
    rt = get_runtime()
    with rt.db.begin() as s:
        found = s.scalar(select(CampaignTemplate).where(CampaignTemplate.name == name))
        if found is None:
            raise click.ClickException(f"no template {name!r}")
        found.active = False
    click.echo(f"Template '{name}' disabled.")


@click.command("pacer")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.01),
    default=0.1,
    show_default=True,
    help="seconds between pacing rounds",
)
def pacer(interval: float) -> None:
    """Run the pacer: start calls for every running campaign."""
    from dialer.privacy import configure_logging

    configure_logging()
    pacer_loop.run(get_runtime(), interval)
