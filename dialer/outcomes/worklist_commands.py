"""`dialer referrals ...` (the worklists of field, restructuring, legal and dispute
referrals) and `dialer alerts list` (team-lead alerts)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from dialer.outcomes import alerts as alert_service
from dialer.outcomes import referrals as referral_service
from dialer.outcomes.catalogue import REFERRAL_KINDS
from dialer.runtime import get_runtime


def _echo_json(data: object) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


@click.group()
def referrals() -> None:
    """Referral worklists: field collection, restructuring, legal/fraud, disputes."""


def _line(r: dict[str, Any]) -> str:
    by = r["referred_by"] or "system"
    return (
        f"#{r['id']:<5} {r['kind']:<13} {r['state']:<9} {r['account_no']:<14} "
        f"{r['customer_name']}  (by {by}, {r['created_at']}): {r['reason'] or ''}"
    )


@referrals.command("list")
@click.option("--kind", type=click.Choice(REFERRAL_KINDS))
@click.option("--state", type=click.Choice(referral_service.STATES))
@click.option("--json", "as_json", is_flag=True)
def list_referrals(kind: str | None, state: str | None, as_json: bool) -> None:
    """Referrals oldest first, of one kind and state if given."""
    rt = get_runtime()
    with rt.db.session() as s:
        rows = referral_service.worklist(s, kind=kind, state=state, tz=rt.settings.timezone)
    if as_json:
        _echo_json(rows)
        return
    if not rows:
        click.echo("No referrals.")
        return
    for row in rows:
        click.echo(_line(row))
    click.echo(f"{len(rows)} referral(s).")


@referrals.command("show")
@click.argument("referral_id", type=int)
@click.option("--json", "as_json", is_flag=True)
def show(referral_id: int, as_json: bool) -> None:
    """One referral with its history."""
    rt = get_runtime()
    with rt.db.session() as s:
        try:
            row = referral_service.get(s, referral_id, rt.settings.timezone)
        except LookupError as exc:
            raise click.ClickException(str(exc)) from None
    if as_json:
        _echo_json(row)
        return
    click.echo(_line(row))
    for step in ("accepted", "returned", "closed"):
        if row[f"{step}_at"]:
            click.echo(f"  {step} at {row[f'{step}_at']}")
    if row["handled_by"] or row["handler_note"]:
        click.echo(f"  handled by {row['handled_by'] or '?'}: {row['handler_note'] or ''}")


def _action(action: str):
    past = {"accept": "accepted", "return": "returned", "close": "closed"}[action]

    @click.argument("referral_id", type=int)
    @click.option("--note", help="what the receiving team says")
    @click.option("--by", "by", help="who in the receiving team")
    @click.option("--json", "as_json", is_flag=True)
    def command(referral_id: int, note: str | None, by: str | None, as_json: bool) -> None:
        rt = get_runtime()
        try:
            with rt.db.begin() as s:
                changed = referral_service.transition(
                    s, referral_id, action, now=rt.clock.now(), by=by, note=note
                )
        except (LookupError, referral_service.ReferralError) as exc:
            raise click.ClickException(str(exc).strip("'\"")) from None
        if as_json:
            _echo_json(
                {"id": changed.referral_id, "before": changed.before, "state": changed.after}
            )
            return
        tail = ""
        if not referral_service.holds_account(changed.after):
            tail = "; the account may be dialed again from the next campaign build"
        click.echo(f"Referral {changed.referral_id} {past} (was {changed.before}){tail}.")

    command.__doc__ = f"Mark a referral {past}."
    return referrals.command(action)(command)


for _name in referral_service.TRANSITIONS:
    _action(_name)


@referrals.command("export")
@click.option("--kind", type=click.Choice(REFERRAL_KINDS), required=True)
@click.option("--state", type=click.Choice(referral_service.STATES))
@click.option("--csv", "path", type=click.Path(dir_okay=False, path_type=Path), required=True)
def export(kind: str, state: str | None, path: Path) -> None:
    """The worklist of one kind as CSV (UTF-8 with BOM: Excel reads Vietnamese right)."""
    rt = get_runtime()
    if not path.parent.exists():
        raise click.ClickException(f"folder {path.parent} does not exist")
    with rt.db.session() as s:
        rows = len(referral_service.worklist(s, kind=kind, state=state, tz=rt.settings.timezone))
        # Written next to the target and moved into place: a failure leaves no half file.
        partial = path.with_name(path.name + ".partial")
        with partial.open("w", encoding="utf-8", newline="") as fh:
            for chunk in referral_service.worklist_csv(
                s, kind=kind, state=state, tz=rt.settings.timezone
            ):
                fh.write(chunk)
        partial.replace(path)
    click.echo(f"Wrote {rows} {kind} referral(s) to {path}.")


@click.group()
def alerts() -> None:
    """Team-lead alerts (fraud suspected)."""


@alerts.command("list")
@click.option("--all", "everything", is_flag=True, help="acknowledged ones too")
@click.option("--json", "as_json", is_flag=True)
def list_alerts(everything: bool, as_json: bool) -> None:
    """Alerts newest first; only those not acknowledged yet unless --all."""
    rt = get_runtime()
    with rt.db.session() as s:
        rows = alert_service.list_alerts(s, open_only=not everything, tz=rt.settings.timezone)
    if as_json:
        _echo_json(rows)
        return
    if not rows:
        click.echo("No alerts." if everything else "No open alerts.")
        return
    for a in rows:
        ack = f" acknowledged by {a['acknowledged_by']}" if a["acknowledged_at"] else ""
        click.echo(
            f"#{a['id']:<5} {a['created_at']} {a['kind']} {a['label']}: account "
            f"{a['account_no']}, agent {a['agent'] or '?'} (team {a['team'] or '-'}), "
            f"webhook {a['webhook']}{ack}"
        )
    click.echo(f"{len(rows)} alert(s).")
