"""The action-code catalogue: plain CodeSpec values, loaded from the table or the defaults."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dialer.outcomes.models import ActionCode

DEFAULTS_FILE = Path(__file__).with_name("default_codes.json")
SETTERS = ("system", "agent", "ivr")
FIELDS = ("promise_amount", "promise_date", "callback_at", "note", "new_phone")
REFERRAL_KINDS = ("field", "restructuring", "legal", "dispute")

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
}


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
