"""The action-code catalogue: plain CodeSpec values, loaded from the table or the defaults."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from dialer.outcomes.models import ActionCode, Disposition

DEFAULTS_FILE = Path(__file__).with_name("default_codes.json")
SETTERS = ("system", "agent", "ivr")
FIELDS = ("promise_amount", "promise_date", "callback_at", "note", "new_phone")
REFERRAL_KINDS = ("field", "restructuring", "legal", "dispute")
FLAGS = ("is_contact", "is_right_party", "is_promise", "is_refusal", "is_final")
CALLBACK_OWNERS = ("any", "same_agent")  # who dials the callback: anyone, or its agent
CODE_RE = re.compile(r"[A-Z][A-Z0-9]{1,7}")
# Every effect a code may have, and the kind of value it takes (see validate_code).
EFFECT_KINDS: dict[str, str] = {
    "retry_after_minutes": "minutes",  # dial the entry again after this long
    "next_phone": "flag",  # another of the account's numbers first, if tried less
    "callback": "owner",  # schedule a callback at callback_at: any | same_agent
    "suppress_days": "days",  # no calls to the account for N days
    "suppress_until_promise": "flag",  # no calls until the promise date + grace_days
    "grace_days": "days0",
    "retire_phone": "flag",
    "dnc": "flag",  # add the number to the do-not-call list
    "close_entry": "flag",  # no more dials of the entry in this campaign
    "refer": "kind",  # open a referral: field | restructuring | legal | dispute
    "escalate_after_refusals": "count",  # this many refusals on the account: refer
    "escalate_to": "kind",
    "alert_team_lead": "flag",
    "stop_account": "flag",  # close the account (deceased...)
    "paid_claim": "flag",  # says already paid: verified against the payments (promises.py)
}
SPEC_KEYS = ("code", "label_vi", "label_en", "setters", "requires", "effects", *FLAGS, "active")

# System results of a call (set by the telephony layer) and the code each one records.
SYSTEM_RESULT_CODES = {
    "no_answer": "NKP",
    "busy": "NKP",
    "machine": "NKP",
    "abandoned": "NKP",
    "canceled": "NKP",
    "failed": "NAB",
    "error": "NKP",  # our side failed (webhook error, carrier error): try again later
    "hung_up": "HUP",  # answered, then hung up before an agent was connected
    "reminded": "RMD",  # agentless (IVR) campaign: a person heard the reminder
    # Our account may not call the number's country: the phone is set aside, try another.
    "geo_blocked": "NKP",
    # An inbound caller who heard their account's details and wanted no agent.
    "informed": "INF",
}


# The system's code for an attempt whose agent let the wrap-up time run out; the agent's own
# code, recorded late, replaces it (as a correction, audited: outcomes.service).
WRAP_UP_OVERRUN_CODE = "NDP"


@dataclass(frozen=True)
class CodeSpec:
    code: str
    label_vi: str
    label_en: str
    setters: tuple[str, ...]
    requires: tuple[str, ...] = ()
    effects: dict[str, Any] = field(default_factory=dict)
    is_contact: bool = False
    is_right_party: bool = False
    is_promise: bool = False
    is_refusal: bool = False
    is_final: bool = False
    active: bool = True

    @classmethod
    def from_row(cls, row: ActionCode) -> CodeSpec:
        return cls(
            code=row.code,
            label_vi=row.label_vi,
            label_en=row.label_en,
            setters=tuple(row.setters),
            requires=tuple(row.requires),
            effects=dict(row.effects),
            is_contact=row.is_contact,
            is_right_party=row.is_right_party,
            is_promise=row.is_promise,
            is_refusal=row.is_refusal,
            is_final=row.is_final,
            active=row.active,
        )


@lru_cache(maxsize=1)
def default_codes() -> tuple[dict[str, Any], ...]:
    """The shipped default catalogue, as plain dicts."""
    data = json.loads(DEFAULTS_FILE.read_text(encoding="utf-8"))
    return tuple(data["codes"])


def seed_default_codes(session: Session) -> int:
    """Insert default codes that are missing; never overwrite an administrator's edits."""
    existing = set(session.scalars(select(ActionCode.code)))
    added = 0
    for spec in default_codes():
        if spec["code"] not in existing:
            session.add(ActionCode(**spec))
            added += 1
    session.flush()
    return added


def load_catalogue(session: Session) -> dict[str, CodeSpec]:
    """Every code in the table, by code."""
    return {row.code: CodeSpec.from_row(row) for row in session.scalars(select(ActionCode))}


def get_code(session: Session, code: str) -> CodeSpec | None:
    row = session.get(ActionCode, code.strip().upper())
    return CodeSpec.from_row(row) if row else None


class CatalogueError(ValueError):
    """An edit of the catalogue was refused; `problems` names each field at fault."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def code_as_dict(row: ActionCode | CodeSpec) -> dict[str, Any]:
    """One code as the CLI and the API show it (and as `codes set --file` takes it)."""
    return {
        "code": row.code,
        "label_vi": row.label_vi,
        "label_en": row.label_en,
        "setters": list(row.setters),
        "requires": list(row.requires),
        "effects": dict(row.effects),
        **{flag: bool(getattr(row, flag)) for flag in FLAGS},
        "active": bool(row.active),
    }


def _check_effect(name: str, value: Any) -> str | None:
    """Why an effect's value is wrong (None: it is right)."""
    kind = EFFECT_KINDS[name]
    if kind == "flag":
        return None if isinstance(value, bool) else f"effects.{name} must be true or false"
    if kind in ("owner", "kind"):
        allowed = CALLBACK_OWNERS if kind == "owner" else REFERRAL_KINDS
        if value not in allowed:
            return f"effects.{name} must be one of {', '.join(allowed)} (got {value!r})"
        return None
    low, high = {"minutes": (0, 60 * 24 * 30), "days": (1, 365), "days0": (0, 30)}.get(
        kind, (1, 100)
    )
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        return f"effects.{name} must be a whole number from {low} to {high} (got {value!r})"
    return None


def validate_code(data: dict[str, Any]) -> list[str]:
    """Every problem with a complete code (as code_as_dict gives it); empty: it may be saved."""
    problems = [f"unknown key {key!r}" for key in data if key not in SPEC_KEYS]
    code = data.get("code")
    if not isinstance(code, str) or not CODE_RE.fullmatch(code):
        problems.append("code must be 2 to 8 capital letters or digits, starting with a letter")
    for name in ("label_vi", "label_en"):
        label = data.get(name)
        if not isinstance(label, str) or not label.strip() or len(label) > 200:
            problems.append(f"{name} must be text of 1 to 200 characters")
    for name in (*FLAGS, "active"):
        if not isinstance(data.get(name), bool):
            problems.append(f"{name} must be true or false")
    setters, requires, effects = data.get("setters"), data.get("requires"), data.get("effects")
    if not isinstance(setters, list) or not setters or not all(x in SETTERS for x in setters):
        problems.append(f"setters must be a non-empty list of {', '.join(SETTERS)}")
        setters = []
    if not isinstance(requires, list) or not all(x in FIELDS for x in requires):
        problems.append(f"requires must be a list of {', '.join(FIELDS)}")
        requires = []
    if not isinstance(effects, dict):
        problems.append("effects must be an object")
        effects = {}
    for name, value in effects.items():
        if name not in EFFECT_KINDS:
            problems.append(
                f"effects.{name} is not an effect (known: {', '.join(sorted(EFFECT_KINDS))})"
            )
        elif (problem := _check_effect(name, value)) is not None:
            problems.append(problem)
    if problems:
        return problems  # the contradictions below assume the types are right
    return _contradictions(data, setters, requires, effects)


def _contradictions(
    data: dict[str, Any], setters: list[str], requires: list[str], fx: dict[str, Any]
) -> list[str]:
    problems = []
    promise_fields = {"promise_amount", "promise_date"}
    if data["is_promise"] and not promise_fields <= set(requires):
        problems.append("is_promise: a promise code must require promise_amount and promise_date")
    if not data["is_promise"] and promise_fields & set(requires):
        problems.append("requires: promise fields belong to a promise code (is_promise)")
    if not data["is_promise"] and (fx.get("suppress_until_promise") or "grace_days" in fx):
        problems.append("effects.suppress_until_promise/grace_days need is_promise")
    if fx.get("suppress_until_promise") and fx.get("suppress_days"):
        problems.append("effects: suppress_days and suppress_until_promise exclude each other")
    if data["is_promise"] and data["is_refusal"]:
        problems.append("is_refusal: a code cannot be both a promise and a refusal")
    if data["is_right_party"] and not data["is_contact"]:
        problems.append("is_right_party: a right-party contact is a contact (is_contact)")
    if bool(fx.get("callback")) != ("callback_at" in requires):
        problems.append("effects.callback and requires callback_at go together")
    if fx.get("callback") and fx.get("close_entry"):
        problems.append("effects: a callback needs the entry open; remove close_entry")
    if fx.get("close_entry") and "retry_after_minutes" in fx:
        problems.append("effects: retry_after_minutes has no use with close_entry")
    if fx.get("stop_account") and not fx.get("close_entry"):
        problems.append("effects.stop_account needs close_entry")
    if ("escalate_after_refusals" in fx or "escalate_to" in fx) and not data["is_refusal"]:
        problems.append("effects.escalate_after_refusals needs is_refusal")
    if "escalate_to" in fx and "escalate_after_refusals" not in fx:
        problems.append("effects.escalate_to needs escalate_after_refusals")
    if "system" in setters and requires:
        problems.append(
            "requires: the system sets codes without fields; a system code cannot require "
            + ", ".join(requires)
        )
    if "ivr" in setters and "note" in requires:
        problems.append("requires: an IVR cannot give a note; remove ivr or the note")
    if len(set(requires)) != len(requires) or len(set(setters)) != len(setters):
        problems.append("setters and requires must not repeat an item")
    code = data["code"]
    if code in SYSTEM_RESULT_CODES.values() and ("system" not in setters or not data["active"]):
        problems.append(
            f"{code} records the telephony layer's results: it must stay active and settable "
            "by system"
        )
    return problems


def _new_code(code: str) -> dict[str, Any]:
    return {
        "code": code,
        "setters": [],
        "requires": [],
        "effects": {},
        **dict.fromkeys(FLAGS, False),
        "active": True,
    }


def set_code(session: Session, code: str, changes: dict[str, Any], now: datetime) -> ActionCode:
    """Create or edit a code: `changes` over its current values, validated as a whole.

    Keys not given keep their value; `effects` and `requires`, when given, replace the old
    ones whole. Raises CatalogueError and changes nothing when anything is wrong.
    """
    code = code.strip().upper()
    if "code" in changes and changes["code"] != code:
        raise CatalogueError([f"code: the body says {changes['code']!r}, the address {code!r}"])
    row = session.get(ActionCode, code)
    data = code_as_dict(row) if row is not None else _new_code(code)
    data.update(changes)
    problems = validate_code(data)
    if problems:
        raise CatalogueError(problems)
    if row is None:
        row = ActionCode(code=code)
        session.add(row)
    for key, value in data.items():
        if key != "code":
            setattr(row, key, value)
    row.updated_at = now
    session.flush()
    return row


def disable_code(session: Session, code: str, now: datetime) -> ActionCode:
    """Take a code out of use (it stays on the dispositions that used it)."""
    row = session.get(ActionCode, code.strip().upper())
    if row is None:
        raise CatalogueError([f"unknown action code {code!r}"])
    set_code(session, row.code, {"active": False}, now)
    return row


def delete_code(session: Session, code: str) -> None:
    """Delete a code nobody ever used and that is not a shipped default."""
    row = session.get(ActionCode, code.strip().upper())
    if row is None:
        raise CatalogueError([f"unknown action code {code!r}"])
    if row.code in {spec["code"] for spec in default_codes()}:
        raise CatalogueError(
            [f"{row.code} is a default code (db upgrade would add it again): disable it instead"]
        )
    from dialer.campaigns.models import CallAttempt

    used = session.scalar(
        select(
            exists().where(Disposition.code == row.code)
            | exists().where(CallAttempt.action_code == row.code)
        )
    )
    if used:
        raise CatalogueError([f"{row.code} is in use by recorded calls: disable it instead"])
    session.delete(row)
    session.flush()
