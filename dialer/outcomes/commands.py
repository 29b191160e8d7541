"""`dialer promises ...`: evaluate promises to pay, today's payment schedule."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import click

from dialer.runtime import get_runtime


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False))


def _day(value: str | None, today: date, *, allow_future: bool) -> date:
    if value is None:
        return today
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date as YYYY-MM-DD", param_hint="--date"
        ) from None
    if day > today and not allow_future:
        raise click.BadParameter(
            f"{day} is after today ({today}): a promise cannot be settled before its day",
            param_hint="--date",
        )
    return day


@click.group()
def promises() -> None:
    """Promises to pay: evaluate them against payments, the payment schedule."""


@promises.command("evaluate")
@click.option("--date", "day", help="evaluate as of this day, YYYY-MM-DD (default today)")
@click.option(
    "--json", "as_json", is_flag=True, help='print {"kept": n, "broken": n, "pending": n}'
)
def evaluate_command(day: str | None, as_json: bool) -> None:
    """Mark pending promises kept or broken as of a day (what the daily job does).

    A promise is kept when the account's payments dated from the day it was made through
    its date plus DIALER_PROMISE_GRACE_DAYS reach DIALER_PROMISE_KEPT_SHARE of the amount
    (early payment counts); broken when the day is after its date plus grace without that;
    pending otherwise. The counts are of the promises this run looked at: those pending
    when it started and made on or before the day, by their state after it. A second run
    changes nothing and counts the ones still pending. A broken promise makes the account
    callable again and ranks it up in the next campaign; a kept one whose payments cover
    the overdue amount closes the account's collection cycle (status cured).
    """
    from dialer.outcomes.scheduled import local_today, run_evaluation

    rt = get_runtime()
    when = _day(day, local_today(rt), allow_future=False)
    result = run_evaluation(rt, when)
    if as_json:
        _echo_json(result.to_dict())
        return
    click.echo(
        f"Promises as of {when}: {result.kept} kept, {result.broken} broken, "
        f"{result.pending} still pending."
    )
    if result.cured_accounts:
        click.echo(f"{result.cured_accounts} account(s) paid up: collection cycle closed (cured).")
    if result.unsuppressed_accounts:
        click.echo(
            f"{result.unsuppressed_accounts} account(s) callable again after a broken promise."
        )


@promises.command("schedule")
@click.option("--date", "day", help="first day, YYYY-MM-DD (default today); the next day too")
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, writable=True),
    help="write the rows to this file (UTF-8 with BOM, opens right in Excel)",
)
@click.option("--json", "as_json", is_flag=True, help="print the schedule as JSON")
def schedule_command(day: str | None, csv_path: str | None, as_json: bool) -> None:
    """The payments due today and tomorrow: pending promises (by the promise's agent and
    team) and installments of active accounts. Phone numbers are masked."""
    from dialer.outcomes.promises import payment_schedule, schedule_csv, schedule_summary
    from dialer.outcomes.scheduled import local_today

    rt = get_runtime()
    when = _day(day, local_today(rt), allow_future=True)
    with rt.db.session() as s:
        rows = payment_schedule(s, when, tz=rt.settings.timezone)
    if csv_path is not None:
        try:
            with open(csv_path, "w", encoding="utf-8", newline="") as f:
                for chunk in schedule_csv(rows):
                    f.write(chunk)
        except OSError as exc:
            raise click.ClickException(f"cannot write {csv_path}: {exc.strerror}") from None
        click.echo(f"{len(rows)} payments due written to {csv_path}.")
        return
    summary = schedule_summary(rows, when)
    if as_json:
        _echo_json(summary)
        return
    click.echo(f"Payments due {summary['date']} and {summary['through']}: {len(rows)}")
    for group in summary["by_agent"]:
        who = f"{group['team'] or 'no team'} / {group['agent'] or 'unassigned'}"
        click.echo(
            f"  {who}: {group['promises']} promises ({_vnd(group['promised_amount'])}), "
            f"{group['installments']} installments ({_vnd(group['installment_amount'])})"
        )
    for row in rows:
        click.echo(
            f"    {row.due_date}  {row.kind:<11} {row.account_no:<14} {row.customer_name:<28} "
            f"{row.phone:<14} {_vnd(row.amount)}  {row.agent or '-'}"
        )


def _vnd(amount: int) -> str:
    return f"{amount:,}".replace(",", ".") + " ₫"
