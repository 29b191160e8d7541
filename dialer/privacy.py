"""Personal data in logs: phone numbers and national IDs are masked before they are written."""

from __future__ import annotations

import logging
import re

# International (+84 90 123 4567), national trunk-prefixed (0901234567) or 84-prefixed numbers.
_PHONE_RE = re.compile(
    r"(?<![\w+])(\+\d[\d .\-]{6,}\d|0\d{8,10}|84\d{8,10})(?![\w])"
    # As people write them in notes (0901 234 567, 090.123.4567, 84 90 123 4567), and not
    # part of a longer run of groups (an amount: 1.000.000.000.000).
    r"|(?<![\w+.,\-])(0\d{2,3}[ .\-]\d{3}[ .\-]\d{3,4}|84[ .\-]\d{2,3}[ .\-]\d{3}[ .\-]\d{3,4})"
    r"(?![\w]|[.,\-]\d)"
)
# CMND (9 digits) and CCCD (12 digits) national ID numbers; a CCCD also in four groups of
# three (nine digits in three groups are left alone: 100 000 000 is an amount of đồng).
_NATIONAL_ID_RE = re.compile(r"(?<![\w+])(\d{12}|\d{9})(?![\w])")
# A CCCD in four groups is masked before phone numbers, which its first groups look like.
_GROUPED_CCCD_RE = re.compile(r"(?<![\w+])(\d{3} \d{3} \d{3} \d{3})(?![\w])")


def mask_phone(number: str | None) -> str:
    """Keep the country prefix and the last three digits: +84*******567."""
    if not number:
        return ""
    digits = re.sub(r"\D", "", number)
    if len(digits) <= 4:
        return "*" * len(digits)
    head = "+" + digits[:2] if number.strip().startswith("+") else digits[:1]
    shown_head = len(head.lstrip("+"))
    return head + "*" * (len(digits) - shown_head - 3) + digits[-3:]


def mask_national_id(value: str | None) -> str:
    """Keep only the last three characters of a national ID (CMND/CCCD)."""
    if not value:
        return ""
    value = value.strip().replace(" ", "")
    return "*" * max(0, len(value) - 3) + value[-3:]


def mask_text(text: str) -> str:
    """Mask phone numbers and national ID numbers in free text."""
    text = _GROUPED_CCCD_RE.sub(lambda m: mask_national_id(m.group(1)), text)
    text = _PHONE_RE.sub(lambda m: mask_phone(m.group(1) or m.group(2)), text)
    return _NATIONAL_ID_RE.sub(lambda m: mask_national_id(m.group(1)), text)


class MaskingFilter(logging.Filter):
    """Logging filter that masks phone numbers and IDs in the message and its traceback
    (database errors quote the bound parameters)."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info:
            record.exc_text = mask_text(self._formatter.formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        return True


def configure_logging(level: int = logging.INFO, logfile: str | None = None) -> None:
    """Root logging with masking on every handler; call once per process."""
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if logfile:
        handlers.append(logging.FileHandler(logfile, encoding="utf-8"))
    mask = MaskingFilter()
    for handler in handlers:
        handler.addFilter(mask)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=handlers, force=True)
    # The twilio client logs every request's headers at INFO: noise, and URLs carry numbers.
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
