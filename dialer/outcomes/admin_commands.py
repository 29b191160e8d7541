"""`dialer codes ...`: the action-code catalogue for an administrator, and corrections."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from dialer.campaigns.models import CallAttempt
from dialer.outcomes.catalogue import (
    FLAGS,
    CatalogueError,
    code_as_dict,
    delete_code,
    disable_code,
    load_catalogue,
    set_code,
)
from dialer.outcomes.effects import DispositionError
from dialer.outcomes.models import ActionCode
from dialer.runtime import get_runtime, local_today


def _fail(problems: list[str], what: str) -> click.ClickException:
    return click.ClickException(what + ":\n  " + "\n  ".join(problems))


def _describe(c: dict[str, Any]) -> str:
    flags = [f.removeprefix("is_") for f in FLAGS if c[f]]
    state = "" if c["active"] else "  (disabled)"
    return (
        f"{c['code']:<6} {c['label_vi']} / {c['label_en']}{state}\n"
        f"       set by {', '.join(c['setters'])}; requires {', '.join(c['requires']) or '-'}; "
        f"flags {', '.join(flags) or '-'}\n"
        f"       effects {json.dumps(c['effects'], ensure_ascii=False, sort_keys=True)}"
    )


@click.group()
def codes() -> None:
    """The action-code catalogue (seeded by `dialer db upgrade`, then edited here)."""


@codes.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_codes(as_json: bool) -> None:
    """Every code, disabled ones included."""
    with get_runtime().db.session() as s:
        rows = [code_as_dict(c) for c in sorted(load_catalogue(s).values(), key=lambda c: c.code)]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        click.echo(_describe(row))


@codes.command("show")
@click.argument("code")
@click.option("--json", "as_json", is_flag=True)
def show(code: str, as_json: bool) -> None:
    with get_runtime().db.session() as s:
        row = s.get(ActionCode, code.strip().upper())
        if row is None:
            raise click.ClickException(f"unknown action code {code!r}")
        data = code_as_dict(row)
    click.echo(json.dumps(data, ensure_ascii=False, indent=2) if as_json else _describe(data))


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


@codes.command("set")
@click.argument("code")
@click.option(
    "--file",
    "path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="a JSON object of the keys to change (as `codes show --json` prints)",
)
@click.option("--label-vi")
@click.option("--label-en")
@click.option("--setters", help="comma-separated: system, agent, ivr")
@click.option("--requires", help="comma-separated fields ('' for none)")
@click.option("--effects", "effects_json", help="the effects as a JSON object (replaces all)")
@click.option(
    "--flag",
    "flags",
    multiple=True,
    metavar="NAME=true|false",
    help="is_contact, is_right_party, is_promise, is_refusal, is_final",
)
@click.option("--enable", is_flag=True, help="take a disabled code back into use")
def set_(code: str, path: Path | None, label_vi: str | None, label_en: str | None,
         setters: str | None, requires: str | None, effects_json: str | None,
         flags: tuple[str, ...], enable: bool) -> None:  # fmt: skip
    """Create or edit a code; the whole code is checked and nothing changes on error."""
    changes: dict[str, Any] = {}
    problems = []
    if path is not None:
        try:
            loaded = json.loads(path.read_text(encoding="utf-8-sig"))
        except (OSError, ValueError) as exc:
            raise click.ClickException(f"cannot read {path}: {exc}") from None
        if not isinstance(loaded, dict):
            raise click.ClickException(f"{path} must hold one JSON object (one code)")
        changes.update(loaded)
    for key, value in (("label_vi", label_vi), ("label_en", label_en)):
        if value is not None:
            changes[key] = value
    if setters is not None:
        changes["setters"] = _csv(setters)
    if requires is not None:
        changes["requires"] = _csv(requires)
    if effects_json is not None:
        try:
            changes["effects"] = json.loads(effects_json)
        except ValueError:
            problems.append("--effects must be a JSON object")
    for item in flags:
        name, _, value = item.partition("=")
        if value.lower() not in ("true", "false"):
            problems.append(f"--flag {item}: write NAME=true or NAME=false")
        changes[name.strip()] = value.lower() == "true"
    if enable:
        changes["active"] = True
    if problems:
        raise _fail(problems, f"action code {code.upper()} was not saved")
    rt = get_runtime()
    try:
        with rt.db.begin() as s:
            data = code_as_dict(set_code(s, code, changes, rt.clock.now()))
    except CatalogueError as exc:
        raise _fail(exc.problems, f"action code {code.upper()} was not saved") from None
    click.echo(f"Saved.\n{_describe(data)}")


@codes.command("disable")
@click.argument("code")
def disable(code: str) -> None:
    """Take a code out of use; calls already coded keep it."""
    rt = get_runtime()
    try:
        with rt.db.begin() as s:
            row = disable_code(s, code, rt.clock.now())
            name = row.code
    except CatalogueError as exc:
        raise _fail(exc.problems, f"action code {code.upper()} was not disabled") from None
    click.echo(f"{name} disabled: it can no longer be set (`codes set {name} --enable`).")


@codes.command("delete")
@click.argument("code")
def delete(code: str) -> None:
    """Delete a code never used (one in use can only be disabled)."""
    try:
        with get_runtime().db.begin() as s:
            delete_code(s, code)
    except CatalogueError as exc:
        raise _fail(exc.problems, f"action code {code.upper()} was not deleted") from None
    click.echo(f"{code.upper()} deleted.")


@codes.command("correct")
@click.argument("attempt_id", type=int)
@click.option("--code", required=True)
@click.option("--promise-amount", type=int)
@click.option("--promise-date", help="YYYY-MM-DD")
@click.option("--callback-at", help="YYYY-MM-DDTHH:MM (local time)")
@click.option("--note")
@click.option("--new-phone")
@click.option("--by", "supervisor", required=True, help="the supervisor's name (audit log)")
@click.option("--json", "as_json", is_flag=True)
def correct(attempt_id: int, code: str, promise_amount: int | None, promise_date: str | None,
            callback_at: str | None, note: str | None, new_phone: str | None,
            supervisor: str, as_json: bool) -> None:  # fmt: skip
    """A supervisor corrects an attempt's action code within the correction window."""
    from dialer.outcomes.service import after_correction, correct_disposition
    from dialer.outcomes.views import parse_disposition

    rt = get_runtime()
    body = {
        "code": code,
        "promise_amount": promise_amount,
        "promise_date": promise_date,
        "callback_at": callback_at,
        "note": note,
        "new_phone": new_phone,
    }
    try:
        given = parse_disposition(body, rt.settings.timezone)
        with rt.db.begin() as s:
            attempt = s.get(CallAttempt, attempt_id)
            if attempt is None:
                raise click.ClickException(f"no call attempt {attempt_id}")
            recorded = correct_disposition(
                s,
                attempt,
                given,
                actor="supervisor",
                agent_id=None,
                now=rt.clock.now(),
                today=local_today(rt),
                window_minutes=rt.settings.correction_minutes,
                supervisor=supervisor,
            )
    except DispositionError as exc:
        raise _fail(exc.problems, "the correction was refused") from None
    after_correction(rt.redis, recorded, rt.clock.now())
    if as_json:
        click.echo(json.dumps({"code": recorded.code, "entry_state": recorded.entry_state}))
    else:
        click.echo(f"Attempt {attempt_id} corrected to {recorded.code}.")


@codes.command("audit")
@click.argument("attempt_id", type=int)
@click.option("--json", "as_json", is_flag=True)
def audit(attempt_id: int, as_json: bool) -> None:
    """Every change of an attempt's action code: who, when, before, after."""
    from dialer.outcomes.service import audit_trail

    with get_runtime().db.session() as s:
        if s.get(CallAttempt, attempt_id) is None:
            raise click.ClickException(f"no call attempt {attempt_id}")
        trail = audit_trail(s, attempt_id)
    if as_json:
        click.echo(json.dumps(trail, ensure_ascii=False, indent=2))
        return
    for change in trail:
        before = json.dumps(change["before"], ensure_ascii=False) if change["before"] else "-"
        after = json.dumps(change["after"], ensure_ascii=False)
        click.echo(f"{change['when']}  {change['who']:<12} {before} -> {after}")
