"""`dialer scripts ...`: call scripts for an administrator (list, show, check, render, save)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select

from dialer.portfolio.models import Account
from dialer.runtime import get_runtime
from dialer.scripts import service
from dialer.scripts.service import PREVIEW_CALLBACK_NUMBER, PREVIEW_COMPANY, ScriptError


def _fail(problems: list[str], what: str) -> click.ClickException:
    return click.ClickException(what + ":\n  " + "\n  ".join(problems))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read {path}: {exc}") from None


def _where(data: dict[str, Any]) -> str:
    if data["origin"] == "shipped":
        return "shipped with the dialer"
    by = f" by {data['updated_by']}" if data.get("updated_by") else ""
    return f"saved, version {data['version']}{by}, {data['updated_at']}"


@click.group()
def scripts() -> None:
    """Call scripts: what agents read and what the IVR says (docs/scripts.md)."""


@scripts.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_scripts(as_json: bool) -> None:
    """Every script: saved ones (they take precedence) and shipped ones."""
    rt = get_runtime()
    with rt.db.session() as s:
        rows = [info.as_dict(rt.settings.timezone) for info in service.names(s)]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        over = "  (overrides the shipped one)" if row["overrides_shipped"] else ""
        click.echo(f"{row['name']:<28} {_where(row)}{over}")
        click.echo(f"{'':<28} {row['description']['vi']} / {row['description']['en']}")
        for problem in row["problems"]:
            click.echo(f"{'':<28} ! {problem}")


def _load(session, name: str) -> service.Script:
    try:
        return service.load_or_raise(session, name=name)
    except ScriptError as exc:
        raise _fail(exc.problems, f"script {name} cannot be used") from None


@scripts.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
def show(name: str, as_json: bool) -> None:
    """A script's YAML source and where it comes from."""
    rt = get_runtime()
    with rt.db.session() as s:
        data = service.script_as_dict(_load(s, name), rt.settings.timezone)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo(f"# {data['name']}: {_where(data)}")
    click.echo(f"# {data['description']['vi']} / {data['description']['en']}")
    click.echo(data["source"].rstrip("\n"))


@scripts.command("check")
@click.argument("name", required=False)
@click.option("--file", "path", type=click.Path(dir_okay=False, path_type=Path), help="a YAML file")
def check(name: str | None, path: Path | None) -> None:
    """Check a script (saved or shipped) or a file; every problem is listed (exit code 1)."""
    if (name is None) == (path is None):
        raise click.UsageError("give a script NAME or --file PATH")
    if path is not None:
        try:
            script = service.check_source(_read(path))
        except ScriptError as exc:
            raise _fail(exc.problems, f"{path} has problems") from None
        click.echo(f"{path}: script {script.name}, no problems.")
        return
    rt = get_runtime()
    with rt.db.session() as s:
        script = _load(s, name)
    where = _where(service.script_as_dict(script, rt.settings.timezone))
    click.echo(f"{script.name} ({where}): no problems.")


@scripts.command("render")
@click.argument("name")
@click.option("--account", "account_no", required=True, help="the account (contract) number")
@click.option(
    "--lang", "language", type=click.Choice(["vi", "en"]), default="vi", show_default=True
)
@click.option("--company", default=PREVIEW_COMPANY, show_default=True)
@click.option("--callback-number", default=PREVIEW_CALLBACK_NUMBER, show_default=True)
@click.option("--agent-name")
@click.option("--json", "as_json", is_flag=True)
def render(name: str, account_no: str, language: str, company: str, callback_number: str,
           agent_name: str | None, as_json: bool) -> None:  # fmt: skip
    """The talk track and every prompt rendered for one account, as the call would say them."""
    from dialer.runtime import local_today

    rt = get_runtime()
    with rt.db.session() as s:
        script = _load(s, name)
        account = s.scalars(select(Account).where(Account.account_no == account_no)).first()
        if account is None:
            raise click.ClickException(f"no account {account_no!r}")
        try:
            out = service.preview(
                s,
                script=script,
                account=account,
                company=company,
                callback_number=callback_number,
                agent_name=agent_name,
                language=language,  # type: ignore[arg-type]
                today=local_today(rt),
                timezone=rt.settings.timezone,
            )
        except ScriptError as exc:
            raise _fail(exc.problems, f"script {name} cannot be rendered") from None
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    click.echo(f"Script {out['script']} for account {out['account_no']}, in {language}")
    click.echo(f"\nTalk track (from {out['talk_track_from']})")
    for section in out["talk_track"]:
        click.echo(f"\n== {section['title']} ({section['section']})\n{section['text']}")
    click.echo("\nPrompts")
    for prompt_name, prompt in out["prompts"].items():
        origin = "" if prompt["from"] == out["script"] else f", from {prompt['from']}"
        said = prompt["text"] if prompt["kind"] == "say" else prompt["url"]
        click.echo(f"\n-- {prompt_name} ({prompt['kind']} {prompt['language']}{origin})\n{said}")


@scripts.command("save")
@click.argument("name")
@click.option("--file", "path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--by", "by", help="who saves it (kept on the script)")
def save(name: str, path: Path, by: str | None) -> None:
    """Check a script whole and save it (a new version); nothing changes on a problem."""
    source = _read(path)
    rt = get_runtime()
    try:
        with rt.db.begin() as s:
            script = service.save(s, name=name, source=source, by=by, now=rt.clock.now())
    except ScriptError as exc:
        raise _fail(exc.problems, f"script {name} was not saved") from None
    over = " (it takes the place of the shipped one)" if name in service.shipped_names() else ""
    click.echo(f"Saved {script.name}, version {script.version}{over}.")


@scripts.command("delete")
@click.argument("name")
def delete(name: str) -> None:
    """Delete a saved script (a shipped one cannot be; one a live campaign names neither)."""
    try:
        with get_runtime().db.begin() as s:
            back = service.delete(s, name=name)
    except ScriptError as exc:
        raise _fail(exc.problems, f"script {name} was not deleted") from None
    again = " The shipped script of that name is used again." if back else ""
    click.echo(f"Deleted the saved script {name}.{again}")
