"""Phone number normalisation for imported portfolios: pure, no I/O.

Numbers are stored in E.164 (+84901234567) when they parse. Pre-2018 Vietnamese 11-digit
mobiles (0168 123 4567) are converted to today's 10-digit form (038 123 4567): banks still
hold many of them, and the old form no longer connects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

# The 2018 prefix conversion (Ministry of Information and Communications), as national
# significant numbers without the trunk 0: 168xxxxxxx -> 38xxxxxxx.
LEGACY_MOBILE_PREFIXES: dict[str, str] = {
    # MobiFone
    "120": "70",
    "121": "79",
    "122": "77",
    "126": "76",
    "128": "78",
    # VinaPhone
    "123": "83",
    "124": "84",
    "125": "85",
    "127": "81",
    "129": "82",
    # Viettel
    "162": "32",
    "163": "33",
    "164": "34",
    "165": "35",
    "166": "36",
    "167": "37",
    "168": "38",
    "169": "39",
    # Vietnamobile
    "186": "56",
    "188": "58",
    # Gmobile
    "199": "59",
}

_TYPE_NAMES = {
    value: name.lower() for name, value in vars(PhoneNumberType).items() if name.isupper()
}
# Written extensions ("ext 105", "x105", "máy lẻ 105") are dropped: a dialer cannot key them.
_EXTENSION_RE = re.compile(r"\s*(?:ext\.?|x|máy lẻ|ml|nhánh)\s*[:.]?\s*\d{1,6}\s*$", re.IGNORECASE)
# Only digits and the usual punctuation; letters would otherwise be read as a vanity number
# by phonenumbers ("090 123 ABCD" -> 090 123 2223), and "/" means several numbers in one cell.
_ALLOWED_RE = re.compile(r"\(?\+?[\d .\-()]*", re.ASCII)
_NOT_DIALABLE_TYPES = {PhoneNumberType.PREMIUM_RATE: "premium_rate"}


@dataclass(frozen=True, slots=True)
class PhoneCheck:
    """The outcome of normalising one phone number as written in a bank's file."""

    number: str  # E.164 when valid, else the cleaned raw digits (with a leading + if given)
    raw: str  # as given
    dialable: bool
    reason: str | None = None  # why not dialable: empty, invalid, premium_rate
    warning: str | None = None  # something a supervisor should know; numbers masked
    kind: str | None = None  # phonenumbers type of a valid number: mobile, fixed_line...


def _clean(text: str) -> str:
    digits = re.sub(r"\D", "", text, flags=re.ASCII)
    international = re.match(r"[\s(]*\+", text) is not None
    return ("+" + digits if international else digits)[:32]


def _partly_masked(national: str, keep: int) -> str:
    """Show the first `keep` digits (the carrier prefix) and the last three: 0168****567."""
    hidden = max(0, len(national) - keep - 3)
    return national[:keep] + "*" * hidden + national[-3:]


def _convert_legacy(parsed: phonenumbers.PhoneNumber) -> phonenumbers.PhoneNumber | None:
    """The current-form number for a pre-2018 11-digit VN mobile, None if it is not one."""
    nsn = str(parsed.national_number)
    if parsed.country_code != 84 or len(nsn) != 10:
        return None
    new_prefix = LEGACY_MOBILE_PREFIXES.get(nsn[:3])
    if new_prefix is None:
        return None
    converted = phonenumbers.parse("+84" + new_prefix + nsn[3:])
    # Only trust the table when the result is a real mobile range today.
    if (
        phonenumbers.is_valid_number(converted)
        and phonenumbers.number_type(converted) == PhoneNumberType.MOBILE
    ):
        return converted
    return None


def normalize_phone(raw: str, region: str = "VN") -> PhoneCheck:
    """Parse one number as written (spaces, dots, +84/84/0084/0 prefixes) into a PhoneCheck."""
    # str.split also folds the no-break spaces that spreadsheets put in numbers.
    text = " ".join((raw or "").split())
    if not re.search(r"\d", text, flags=re.ASCII):
        return PhoneCheck(number=_clean(text), raw=raw, dialable=False, reason="empty")
    warning = None
    extension = _EXTENSION_RE.search(text)
    if extension:
        text = text[: extension.start()]
        warning = "extension ignored (dial it by hand after the switchboard answers)"
    cleaned = _clean(text)
    invalid = PhoneCheck(number=cleaned, raw=raw, dialable=False, reason="invalid", warning=warning)
    if not _ALLOWED_RE.fullmatch(text):
        return invalid
    try:
        parsed = phonenumbers.parse(cleaned, region)
    except NumberParseException:
        return invalid
    if not phonenumbers.is_valid_number(parsed):
        converted = _convert_legacy(parsed)
        if converted is None:
            return invalid
        old = "0" + str(parsed.national_number)
        new = "0" + str(converted.national_number)
        warning = (
            f"converted legacy 11-digit mobile {_partly_masked(old, 4)} to {_partly_masked(new, 3)}"
        )
        parsed = converted
    number_type = phonenumbers.number_type(parsed)
    reason = _NOT_DIALABLE_TYPES.get(number_type)
    return PhoneCheck(
        number=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
        raw=raw,
        dialable=reason is None,
        reason=reason,
        warning=warning,
        kind=_TYPE_NAMES.get(number_type),
    )


def phone_timezone(e164: str) -> str | None:
    """The first IANA time zone of a number (for calling-hour rules), None if unknown."""
    from phonenumbers import timezone as number_timezones  # loads its data on first use

    try:
        parsed = phonenumbers.parse(e164, None)
    except NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    zones = number_timezones.time_zones_for_number(parsed)
    if not zones or zones[0] == number_timezones.UNKNOWN_TIMEZONE:
        return None
    return zones[0]
