"""`dialer accounts ...`: import the bank's portfolio file, look an account up."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from sqlalchemy import inspect
from sqlalchemy.exc import OperationalError

from dialer.config import get_settings
from dialer.db import Database, get_database
from dialer.terminal import terminal_progress

if TYPE_CHECKING:
    from dialer.portfolio.imports.service import FileOutcome

SHOWN_ISSUES = 20  # lines of rejections/warnings printed before "... and N more"


def _refuse_file(ctx: click.Context, path: Path, exc: Exception, as_json: bool) -> None:
    """A file that cannot be read as a whole: say so (also as JSON) and exit 2."""
    message = f"{path.name} refused, nothing imported: {exc}"
    if as_json:
        _echo_json({"error": message})
    click.echo(f"Error: {message}", err=True)
    ctx.exit(2)


@click.group()
def accounts() -> None:
    """Loan accounts: import the bank's portfolio CSV, show one account, set its timezone."""


def _database(*more_tables: str) -> Database:
    """The configured database, checked to hold the portfolio tables (and `more_tables`)."""
    settings = get_settings()
    db = get_database(settings)
    try:
        tables = set(inspect(db.engine).get_table_names())
    except OperationalError as exc:
        raise click.ClickException(f"cannot open the database: {exc.orig}") from exc
    missing = {"accounts", "phones", *more_tables} - tables
    if missing:
        names = ", ".join(sorted(missing))
        raise click.ClickException(
            f"the database has no {names} table(s): run `dialer db upgrade` first"
        )
    return db


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False))


def _echo_issues(title: str, issues: list[Any]) -> None:
    if not issues:
        return
    click.echo(f"{title} ({len(issues)}):")
    for issue in issues[:SHOWN_ISSUES]:
        click.echo(f"  line {issue.line}: {issue.reason}")
    if len(issues) > SHOWN_ISSUES:
        click.echo(f"  ... and {len(issues) - SHOWN_ISSUES} more")


@accounts.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def import_command(ctx: click.Context, path: Path, as_json: bool) -> None:
    """Import (or re-import) accounts and phones from the bank's CSV export at PATH.

    Accounts are matched by account_no: known ones are updated. Bad rows are reported and
    skipped; a file that cannot be read as a portfolio is refused and nothing is written.
    An optional timezone column (IANA names such as Asia/Ho_Chi_Minh) sets each account's
    timezone override for the calling-hour rules; a blank cell leaves it as it was.
    """
    from dialer.portfolio.service import ImportResult

    outcome = _import_file(ctx, path, "portfolio", as_json, "Importing accounts")
    result = outcome.result
    assert isinstance(result, ImportResult)
    if as_json:
        _echo_json(result.to_dict())
        return
    click.echo(
        f"{path.name}: {result.imported} new accounts, {result.updated} updated, "
        f"{len(result.rejected)} rows rejected, {len(result.warnings)} warnings."
    )
    if outcome.ignored_columns:
        click.echo(f"Ignored columns: {', '.join(outcome.ignored_columns)}")
    _echo_issues("Rejected rows", result.rejected)
    _echo_issues("Warnings", result.warnings)


def _import_file(
    ctx: click.Context, path: Path, kind: str, as_json: bool, label: str
) -> FileOutcome:
    """Import the file at PATH as a recorded run (source cli), with the use case the
    console's job runs (imports.service.import_file): one transaction for the whole file,
    so a file refused half-way writes nothing, not even its run. A progress bar on a
    terminal."""
    from dialer.portfolio.importer import ImportFileError
    from dialer.portfolio.imports import service
    from dialer.portfolio.imports.models import ImportState
    from dialer.runtime import Runtime, local_today

    rt = Runtime(get_settings())
    db = _database("import_runs")
    data = path.read_bytes()
    today, region = local_today(rt), rt.settings.default_region
    try:
        check = service.check_file(kind, data, region=region, today=today)
        with (
            db.begin() as session,
            terminal_progress(check.total_lines, label, quiet=as_json) as progress,
        ):
            now = rt.clock.now()
            run = service.create_run(
                session,
                kind=kind,
                file_name=path.name,
                data=data,
                check=check,
                who=f"{_os_user()} (command line)",
                now=now,
                source="cli",
                keep_file=False,
            )
            run.state, run.started_at = ImportState.RUNNING, now
            outcome = service.import_file(
                session, run, data, region=region, today=today, now=now, progress=progress
            )
            service.finish(session, run, now=rt.clock.now())
    except ImportFileError as exc:
        _refuse_file(ctx, path, exc, as_json)
    return outcome


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown user"


def _vnd(amount: int | None) -> str:
    return "-" if amount is None else f"{amount:,}".replace(",", ".") + " ₫"


@accounts.command("show")
@click.argument("account_no")
@click.option("--json", "as_json", is_flag=True, help="Print the account as JSON.")
@click.pass_context
def show_command(ctx: click.Context, account_no: str, as_json: bool) -> None:
    """Show one account and its phones."""
    from dialer.portfolio.service import account_to_dict, get_account

    db = _database()
    with db.session() as session:
        account = get_account(session, account_no)
        data = account_to_dict(account) if account is not None else None
    if data is None:
        click.echo(f"Error: no account {account_no!r}", err=True)
        ctx.exit(1)
    if as_json:
        _echo_json(data)
        return
    click.echo(f"Account {data['account_no']}: {data['customer_name']}")
    rows = [
        ("National ID", data["national_id"] or "-"),
        ("Product", data["product"] or "-"),
        ("Branch", data["branch"] or "-"),
        ("Overdue", _vnd(data["overdue_amount"])),
        ("Principal", _vnd(data["principal_outstanding"])),
        ("DPD", str(data["dpd"])),
        ("Due date", data["due_date"] or "-"),
        ("Status", data["status"]),
        ("Timezone", data["timezone"] or "- (each phone number's own)"),
    ]
    for label, value in rows:
        click.echo(f"  {label + ':':<13}{value}")
    click.echo("  Phones:")
    if not data["phones"]:
        click.echo("    (none)")
    for phone in data["phones"]:
        relation = phone["relation"]
        if phone["reference_relation"]:
            relation += f" ({phone['reference_relation']})"
        state = "dialable" if phone["dialable"] else f"not dialable: {phone['reason']}"
        click.echo(f"    {phone['number']:<16} {relation:<22} {state}")


@accounts.command("list-save")
@click.argument("name")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--description", help="What the list is for (at most 500 characters).")
@click.option("--replace", is_flag=True, help="Overwrite a list of the same name.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def list_save_command(
    ctx: click.Context, name: str, path: Path, description: str | None, replace: bool, as_json: bool
) -> None:
    """Save the accounts numbered in PATH as list NAME, for a campaign's account_list filter.

    PATH is a text file with one account number per line, or a CSV whose account_no column
    (or else first column) holds them. A number not in the portfolio is reported and
    nothing is saved.
    """
    from dialer.portfolio.service import AccountListError, read_account_numbers, save_account_list

    db = _database()
    try:
        numbers = read_account_numbers(path.read_bytes())
    except UnicodeDecodeError:
        raise click.ClickException(f"{path.name} is not UTF-8 text") from None
    try:
        with db.begin() as session:
            result = save_account_list(
                session, name, numbers, description=description, replace=replace
            )
    except AccountListError as exc:
        if as_json:
            _echo_json({"name": name, "accounts": 0, "unknown": [], "error": str(exc)})
        click.echo(f"Error: {exc}", err=True)
        ctx.exit(1)
    if as_json:
        _echo_json(result.to_dict())
    if result.unknown:
        if not as_json:
            click.echo(
                f"Error: {len(result.unknown)} account number(s) not in the portfolio, "
                f"list {result.name!r} not saved:",
                err=True,
            )
            for number in result.unknown[:SHOWN_ISSUES]:
                click.echo(f"  {number}", err=True)
            if len(result.unknown) > SHOWN_ISSUES:
                click.echo(f"  ... and {len(result.unknown) - SHOWN_ISSUES} more", err=True)
        ctx.exit(1)
    if not as_json:
        click.echo(f"List {result.name!r} saved with {result.accounts} accounts.")


@accounts.command("set-timezone")
@click.argument("account_no")
@click.argument("zone", required=False)
@click.option(
    "--clear", is_flag=True, help="Remove the override: each phone number's own zone applies."
)
@click.pass_context
def set_timezone_command(
    ctx: click.Context, account_no: str, zone: str | None, clear: bool
) -> None:
    """Set the time zone the calling-hour rules use for ACCOUNT_NO's phones to ZONE.

    ZONE is an IANA name (Asia/Ho_Chi_Minh, America/New_York, Europe/London). Without an
    override a number's zone comes from its country and area code; set one when the
    borrower is known to live elsewhere. An unknown account or zone changes nothing.
    """
    from dialer.portfolio.service import AccountError, set_account_timezone

    if clear == (zone is not None):
        raise click.UsageError("give a ZONE or --clear (not both)")
    db = _database()
    try:
        with db.begin() as session:
            before, after = set_account_timezone(session, account_no, zone)
    except AccountError as exc:
        click.echo(f"Error: {exc}", err=True)
        ctx.exit(1)
    was = before or "none"
    if after is None:
        click.echo(f"Account {account_no.strip()}: timezone override cleared (was {was}).")
    else:
        click.echo(f"Account {account_no.strip()}: timezone {after} (was {was}).")


@click.group()
def payments() -> None:
    """Payments the bank received: import its CSV (POST /api/payments takes them one by one)."""


@payments.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def payments_import_command(ctx: click.Context, path: Path, as_json: bool) -> None:
    """Import payments from the bank's CSV at PATH, matched to accounts by account_no.

    Columns: account_no, amount (whole đồng), paid_on (dd/mm/yyyy or yyyy-mm-dd, not after
    today), reference (the bank's transaction reference), optional channel and note. A
    reference already recorded (or earlier in the file) with the same account, amount and
    date is a duplicate and is skipped; with other content the line is rejected. A line
    whose account_no is not in the portfolio is counted as unmatched AND listed among the
    rejected lines (reason "unmatched: ..."), so it can be fixed and imported again. A file
    missing a required column is refused and nothing is written; otherwise the file is one
    transaction. --json prints {"imported", "duplicates", "unmatched", "rejected": [{"line",
    "reason"}]}.
    """
    from dialer.portfolio.payments import PaymentImport

    result = _import_file(ctx, path, "payments", as_json, "Importing payments").result
    assert isinstance(result, PaymentImport)
    if as_json:
        _echo_json(result.to_dict())
        return
    others = len(result.rejected) - result.unmatched
    click.echo(
        f"{path.name}: {result.imported} payments imported, {result.duplicates} duplicates "
        f"skipped, {result.unmatched} unmatched (no such account), {others} lines rejected."
    )
    _echo_issues("Not imported", result.rejected)
