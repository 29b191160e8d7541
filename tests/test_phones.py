"""Phone normalisation: pure, no database."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialer.portfolio.phones import PhoneCheck, normalize_phone, phone_timezone

# The 2018 conversion, written out again here (not imported) so a typo in the code's table
# fails a test.
LEGACY = {
    "0120": "070", "0121": "079", "0122": "077", "0126": "076", "0128": "078",
    "0123": "083", "0124": "084", "0125": "085", "0127": "081", "0129": "082",
    "0162": "032", "0163": "033", "0164": "034", "0165": "035", "0166": "036",
    "0167": "037", "0168": "038", "0169": "039", "0186": "056", "0188": "058",
    "0199": "059",
}  # fmt: skip


@pytest.mark.parametrize(("old", "new"), sorted(LEGACY.items()))
def test_legacy_national_form_is_converted(old, new):
    check = normalize_phone(f"{old}4567890")
    assert check.number == "+84" + new[1:] + "4567890"
    assert check.dialable and check.reason is None and check.kind == "mobile"
    assert check.warning == f"converted legacy 11-digit mobile {old}****890 to {new}****890"
    assert check.raw == f"{old}4567890"


@pytest.mark.parametrize(("old", "new"), sorted(LEGACY.items()))
def test_legacy_international_form_is_converted(old, new):
    check = normalize_phone(f"+84{old[1:]}4567890")
    assert check.number == "+84" + new[1:] + "4567890"
    assert check.dialable
    assert "4567890" not in check.warning and old in check.warning


@pytest.mark.parametrize(
    "raw",
    [
        "0168 123 4567",
        "0168.123.4567",
        "0168-123-4567",
        "(0168) 123 4567",
        "+84 168 123 4567",
        "(+84) 168.123.4567",
        "84 168 123 4567",
        "0084 168 123 4567",
        "\u00a00168\u00a0123\u00a04567 ",  # no-break spaces from a spreadsheet
    ],
)
def test_legacy_number_in_written_formats(raw):
    check = normalize_phone(raw)
    assert check.number == "+84381234567"
    assert check.warning == "converted legacy 11-digit mobile 0168****567 to 038****567"


@pytest.mark.parametrize(
    "raw",
    ["0901234567", "090 123 4567", "090.123.4567", "+84 90 123 4567", "84901234567",
     "0084901234567", "(+84) 901-234-567", "901234567"],
)  # fmt: skip
def test_current_mobile_is_unchanged(raw):
    check = normalize_phone(raw)
    assert check == PhoneCheck(
        number="+84901234567", raw=raw, dialable=True, reason=None, warning=None, kind="mobile"
    )


@pytest.mark.parametrize(
    ("raw", "number"),
    [("1900 1234", "+8419001234"), ("1900 54 54 54", "+841900545454"), ("19006600", "+8419006600")],
)
def test_premium_rate_is_stored_not_dialable(raw, number):
    check = normalize_phone(raw)
    assert (check.number, check.dialable, check.reason) == (number, False, "premium_rate")


def test_toll_free_is_dialable():
    check = normalize_phone("1800 1090")
    assert (check.number, check.dialable, check.kind) == ("+8418001090", True, "toll_free")


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("12345", "12345"),
        ("0901 234", "0901234"),
        ("+84 12", "+8412"),
        ("0912 345 678 999", "0912345678999"),
        ("090 123 ABCD", "090123"),  # letters are not read as a vanity number
        ("0901234567 / 0912345678", "09012345670912345678"),
        ("0241234567", "0241234567"),  # Hà Nội landlines have 11 digits since 2017
    ],
)
def test_invalid_numbers_are_kept_cleaned_and_not_dialable(raw, cleaned):
    check = normalize_phone(raw)
    assert (check.number, check.dialable, check.reason, check.kind) == (
        cleaned,
        False,
        "invalid",
        None,
    )


@pytest.mark.parametrize("raw", ["", "   ", "N/A", "không có", "-"])
def test_no_digits_is_empty(raw):
    check = normalize_phone(raw)
    assert (check.number, check.dialable, check.reason) == ("", False, "empty")


@pytest.mark.parametrize(
    ("raw", "number"),
    [
        ("028 3822 1234", "+842838221234"),
        ("(028) 3822-1234", "+842838221234"),
        ("024 3825 1234", "+842438251234"),
        ("0236 382 2123", "+842363822123"),
    ],
)
def test_landlines_are_valid_and_dialable(raw, number):
    check = normalize_phone(raw)
    assert (check.number, check.dialable, check.reason, check.warning, check.kind) == (
        number,
        True,
        None,
        None,
        "fixed_line",
    )


def test_written_extension_is_dropped_with_a_warning():
    check = normalize_phone("028 3822 1234 ext 105")
    assert check.number == "+842838221234" and check.dialable
    assert check.warning.startswith("extension ignored")


def test_other_region_default():
    check = normalize_phone("(650) 253-0000", region="US")
    assert (check.number, check.dialable) == ("+16502530000", True)


def test_phone_timezone():
    assert phone_timezone("+84901234567") == "Asia/Ho_Chi_Minh"
    assert phone_timezone("+16502530000") == "America/Los_Angeles"
    assert phone_timezone("+8412") is None
    assert phone_timezone("not a number") is None


CURRENT_PREFIXES = ["32", "33", "34", "35", "36", "37", "38", "39", "56", "58", "59", "70",
                    "76", "77", "78", "79", "81", "82", "83", "84", "85", "86", "88", "90",
                    "91", "93", "94", "96", "97", "98"]  # fmt: skip


@given(
    prefix=st.sampled_from(CURRENT_PREFIXES),
    subscriber=st.integers(min_value=0, max_value=9_999_999),
    style=st.sampled_from(["0{p}{s}", "+84{p}{s}", "84{p}{s}", "0084{p}{s}", "0{p} {s3} {s4}"]),
)
def test_normalizing_is_idempotent(prefix, subscriber, style):
    digits = f"{subscriber:07d}"
    raw = style.format(p=prefix, s=digits, s3=digits[:3], s4=digits[3:])
    first = normalize_phone(raw)
    assert first.number == f"+84{prefix}{digits}"
    assert first.dialable and first.warning is None
    again = normalize_phone(first.number)
    assert (again.number, again.dialable, again.warning) == (first.number, True, None)


@given(st.text(alphabet="0123456789 +-.()", max_size=20))
def test_a_valid_result_normalizes_to_itself(raw):
    first = normalize_phone(raw)
    if first.reason not in ("invalid", "empty"):
        again = normalize_phone(first.number)
        assert (again.number, again.dialable, again.reason) == (
            first.number,
            first.dialable,
            first.reason,
        )
