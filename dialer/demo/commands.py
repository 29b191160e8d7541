"""`dialer demo`."""

from __future__ import annotations

import json
import sys
import threading

import click

from dialer.config import get_settings
from dialer.demo.runner import DemoError, DemoOptions, run_demo


def _vnd(amount: int) -> str:
    return f"{amount:,}".replace(",", ".") + " ₫"


def print_summary(s: dict) -> None:
    live = s["answered_human"]
    click.echo("")
    click.echo(
        f"Demo summary (campaign {s['campaign_id']}, {s['agents']} agents, "
        f"{s['sim_minutes']} simulated minutes in {s['wall_seconds']} s)"
    )
    rows = [
        ("Accounts in portfolio", s["accounts"]),
        ("Calls placed", s["calls_placed"]),
        ("  answered by a person", live),
        ("    connected to an agent", s["connected_to_agent"]),
        ("    abandoned (no agent in time)", s["abandoned"]),
        ("  answering machine", s["answered_machine"]),
        ("  no answer", s["no_answer"]),
        ("  busy", s["busy"]),
        ("  failed", s["failed"]),
        ("Abandon rate", f"{s['abandon_rate']:.1%}"),
        ("Promises to pay", s["promises"]),
        ("Amount promised", _vnd(s["promised_amount"])),
        (
            "Callbacks scheduled",
            f"{s['callbacks']['scheduled']} ({s['callbacks']['done']} kept, "
            f"{s['callbacks']['due']} due, {s['callbacks']['later']} later)",
        ),
        ("Referrals", ", ".join(f"{k} {v}" for k, v in s["referrals"].items() if v) or "0"),
    ]
    width = max(len(r[0]) for r in rows)
    for label, value in rows:
        click.echo(f"  {label:<{width}}  {value}")
    if "ivr_promises" in s:
        click.echo(
            f"  IVR: {s['ivr_promises']} promises, {s['ivr_paid_claims']} say paid, "
            f"{s['ivr_agent_requests']} asked for an agent, {s['ivr_wrong_party']} not the "
            f"customer, {s['ivr_no_input']} no key"
        )
    if s.get("webhook_ms_p50") is not None:
        click.echo(
            f"  Voice webhook {s['webhook_ms_p50']:.1f} ms median, {s['webhook_ms_p99']:.1f} ms "
            "p99 (the mock carrier's measure)"
        )
    if s.get("bridge_ms_p50") is not None:
        click.echo(
            f"  Live answer to agent: {s['bridge_ms_p50']:.0f} ms median, "
            f"{s['bridge_ms_p99']:.0f} ms p99"
        )
    codes = ", ".join(f"{k} {v}" for k, v in sorted(s["action_codes"].items()))
    click.echo(f"  Action codes: {codes}")
    if s.get("carrier_calls") is not None:
        click.echo(f"  The mock carrier saw {s['carrier_calls']} customer calls.")


def _wait_for_enter(until: threading.Event) -> None:
    click.echo("Calls run in real time. Press Enter to stop calling and see the summary.")

    def wait() -> None:
        sys.stdin.readline()
        until.set()

    threading.Thread(target=wait, daemon=True, name="enter").start()


@click.command("demo")
@click.option("--accounts", type=click.IntRange(1, 100_000), default=200, show_default=True)
@click.option(
    "--agents",
    type=click.IntRange(0, 200),
    help="simulated agents [5; 0 in ivr mode, where they take the callers who press 3]",
)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option(
    "--minutes",
    type=click.FloatRange(min=1),
    help="simulated minutes of calling at most [60; with a person at the desk: until Enter]",
)
@click.option("--max-calls", type=click.IntRange(min=1), help="stop after this many calls")
@click.option(
    "--speed",
    type=click.FloatRange(1, 1000),
    help="simulated seconds per real second [90; 1 with a person at the desk]",
)
@click.option(
    "--mode",
    type=click.Choice(("progressive", "predictive", "ivr")),
    default="progressive",
    show_default=True,
    help="the campaign's dial mode",
)
@click.option("--headless", is_flag=True, help="do not wait for a person at the end")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object on stdout")
def demo(accounts, agents, seed, minutes, max_calls, speed, mode, headless, as_json) -> None:
    """Run the whole dialer on embedded defaults against the mock carrier."""
    if agents is None:
        agents = 0 if mode == "ivr" else 5
    if agents == 0 and mode != "ivr":
        raise click.BadParameter("a campaign with agents needs at least one", param_hint="--agents")
    # Not headless: a person may take calls at the desk. At a terminal the demo then runs
    # in real time (a person answers within the carrier's ring time and wraps up within
    # the campaign's limit) until they press Enter.
    person = not headless and not as_json
    interactive = person and sys.stdin.isatty()
    until = threading.Event() if interactive and minutes is None else None
    options = DemoOptions(
        accounts=accounts,
        agents=agents,
        seed=seed,
        minutes=minutes or (10**6 if until else 60),
        max_calls=max_calls,
        speed=speed or (1.0 if interactive else 90.0),
        mode=mode,
        headless=headless,
        as_json=as_json,
        person=person,
        until=until,
        on_desk=(lambda _signins: _wait_for_enter(until)) if until else None,
    )

    def finish(summary: dict, console: str) -> None:
        if as_json:
            click.echo(json.dumps(summary, ensure_ascii=False))
            return
        print_summary(summary)
        if interactive and until is None:
            click.echo(f"\nThe console is still up at {console}/ . Press Enter to stop the demo.")
            sys.stdin.readline()

    try:
        run_demo(options, get_settings(), before_shutdown=finish)
    except DemoError as exc:
        raise click.ClickException(str(exc)) from None
