"""`dialer campaign ...` and `dialer pacer`."""

from __future__ import annotations

import json

import click

from dialer.campaigns import pacer as pacer_loop
from dialer.campaigns import service
from dialer.campaigns.models import Campaign
from dialer.runtime import get_runtime


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


@campaign.command("create")
@click.argument("name")
@click.option("--dpd-min", type=click.IntRange(min=0))
@click.option("--dpd-max", type=click.IntRange(min=0))
@click.option("--min-overdue", "min_overdue_amount", type=click.IntRange(min=0))
@click.option("--product", "products", multiple=True, help="repeat for several")
@click.option("--branch", "branches", multiple=True, help="repeat for several")
@click.option("--max-attempts", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--profile", default="vn-finance", show_default=True, help="compliance profile")
@click.option("--json", "as_json", is_flag=True)
def create(
    name, dpd_min, dpd_max, min_overdue_amount, products, branches, max_attempts, profile, as_json
) -> None:
    """Create a draft progressive campaign over the accounts the filters select."""
    filters = {
        "dpd_min": dpd_min,
        "dpd_max": dpd_max,
        "min_overdue_amount": min_overdue_amount,
        "products": list(products),
        "branches": list(branches),
    }
    rt = get_runtime()
    try:
        with rt.db.begin() as s:
            c = service.create_campaign(
                s,
                name,
                filters={k: v for k, v in filters.items() if v not in (None, [])},
                compliance_profile=profile,
                max_attempts_per_entry=max_attempts,
            )
            out = {"id": c.id, "name": c.name, "state": c.state, "filters": c.filters}
    except service.CampaignError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        _echo_json(out)
    else:
        click.echo(f"Campaign {out['id']} '{out['name']}' created (draft).")


@campaign.command("launch")
@click.argument("campaign_id", type=int)
def launch(campaign_id: int) -> None:
    """Select and rank the accounts, fill the dial queue, start dialing."""
    rt = get_runtime()
    try:
        with rt.db.begin() as s:
            built = service.launch(s, _load(s, campaign_id), rt.clock.now(), rt.settings.timezone)
    except service.CampaignError as exc:
        raise click.ClickException(str(exc)) from None
    with rt.db.session() as s:
        service.start_dialing(s, rt.redis, _load(s, campaign_id))
    click.echo(f"Campaign {campaign_id} running with {built.entries} accounts queued.")


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
    rt = get_runtime()
    with rt.db.session() as s:
        out = service.status(s, rt.redis, _load(s, campaign_id))
    if as_json:
        _echo_json(out)
        return
    click.echo(f"Campaign {out['id']} '{out['name']}': {out['state']}")
    click.echo(f"  entries {out['entries']}, queued {out['queued']}, done {out['done']}")
    click.echo(
        f"  calls {out['calls_placed']}, live answers {out['answered_human']}, "
        f"connected {out['connected_to_agent']}, abandoned {out['abandoned']} "
        f"({out['abandon_rate']:.1%})"
    )
    for rule, n in sorted(out["blocked"].items()):
        click.echo(f"  blocked by {rule}: {n}")


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
