"""Pause codes: why an agent is away from calls. Data (table pause_codes), seeded with the
defaults below and edited by a team lead; `system` codes are set by the dialer only (an
agent cannot choose "wrap-up overrun", and cannot be refused a way out of it)."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from dialer.agents.models import PauseCode
from dialer.agents.presence import WRAP_UP_OVERRUN

# (code, Vietnamese, English, set by the dialer only)
DEFAULT_PAUSE_CODES = (
    ("break", "Giải lao", "Break", False),
    ("lunch", "Nghỉ trưa", "Lunch", False),
    ("training", "Đào tạo", "Training", False),
    ("meeting", "Họp", "Meeting", False),
    ("coaching", "Kèm cặp với trưởng nhóm", "Coaching with the team lead", False),
    ("paperwork", "Xử lý hồ sơ", "Paperwork", False),
    ("technical", "Sự cố kỹ thuật", "Technical problem", False),
    (WRAP_UP_OVERRUN, "Quá thời gian hoàn tất cuộc gọi", "Wrap-up time ran out", True),
)
_CODE = re.compile(r"^[a-z][a-z0-9_]{1,31}$")


class PauseCodeError(ValueError):
    """A pause code request that cannot be carried out; the message says why."""


def seed_default_pause_codes(session: Session) -> int:
    """Insert the default pause codes that are missing; never overwrite an edit."""
    existing = set(session.scalars(select(PauseCode.code)))
    added = 0
    for order, (code, label_vi, label_en, system) in enumerate(DEFAULT_PAUSE_CODES):
        if code not in existing:
            session.add(
                PauseCode(
                    code=code,
                    label_vi=label_vi,
                    label_en=label_en,
                    system=system,
                    active=True,
                    sort_order=order * 10,
                )
            )
            added += 1
    session.flush()
    return added


def list_codes(session: Session, *, include_inactive: bool = False) -> list[PauseCode]:
    query = select(PauseCode).order_by(PauseCode.sort_order, PauseCode.code)
    if not include_inactive:
        query = query.where(PauseCode.active.is_(True))
    return list(session.scalars(query))


def as_dict(code: PauseCode) -> dict[str, object]:
    return {
        "code": code.code,
        "label_vi": code.label_vi,
        "label_en": code.label_en,
        "system": code.system,
        "active": code.active,
    }


def chosen_or_raise(session: Session, *, code: str) -> PauseCode:
    """A pause code an agent may choose: known, in use, not one the dialer sets."""
    row = session.get(PauseCode, (code or "").strip().lower())
    choices = ", ".join(c.code for c in list_codes(session) if not c.system)
    if row is None or not row.active:
        raise PauseCodeError(f"no pause code {code!r} in use; choose one of: {choices}")
    if row.system:
        raise PauseCodeError(
            f"pause code {row.code} is set by the dialer; choose one of: {choices}"
        )
    return row


def save_code(
    session: Session, *, code: str, label_vi: str, label_en: str, active: bool = True
) -> PauseCode:
    """Create or edit a pause code a team lead chose (never a system one)."""
    code = (code or "").strip().lower()
    if not _CODE.match(code):
        raise PauseCodeError("a pause code is 2-32 characters: a-z, 0-9 and _, starting a-z")
    for name, label in (("label_vi", label_vi), ("label_en", label_en)):
        if not isinstance(label, str) or not label.strip() or len(label.strip()) > 100:
            raise PauseCodeError(f"{name} must be text of 1 to 100 characters")
    if not isinstance(active, bool):
        raise PauseCodeError("active must be true or false")
    row = session.get(PauseCode, code)
    if row is not None and row.system:
        raise PauseCodeError(f"pause code {code} is the dialer's own and cannot be edited")
    if row is None:
        last = session.scalar(select(PauseCode.sort_order).order_by(PauseCode.sort_order.desc()))
        row = PauseCode(code=code, system=False, sort_order=(last or 0) + 10)
        session.add(row)
    row.label_vi, row.label_en, row.active = label_vi.strip(), label_en.strip(), active
    session.flush()
    return row
