"""What a script may say: its sections, its prompts, the variables each may use, and the
values those variables hold (formatted with Babel, one function for real calls and samples).

Pure: no database. `service.account_context` reads the account and its latest promise, then
builds the context here, so a real call and the sample a script is checked against have the
same variables, formatted the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from babel.numbers import format_currency

Language = Literal["vi", "en"]
LANGUAGES: tuple[Language, ...] = ("vi", "en")  # Vietnamese first
VOICES = {"vi": "vi-VN", "en": "en-US"}  # <Say language=...>
LOCALES = {"vi": "vi_VN", "en": "en_US"}

# The agent's talk track, in the order the desk shows it; titles in both languages.
SECTIONS: dict[str, dict[str, str]] = {
    "opening": {"vi": "Mở đầu", "en": "Opening"},
    "identity_check": {"vi": "Xác minh danh tính", "en": "Identity check"},
    "purpose": {"vi": "Mục đích cuộc gọi", "en": "Purpose of the call"},
    "negotiation": {"vi": "Thương lượng", "en": "Negotiation"},
    "closing": {"vi": "Kết thúc cuộc gọi", "en": "Closing"},
}

# Every variable a template may name, with what it holds (docs/scripts.md lists the same).
VARIABLES: dict[str, str] = {
    "language": "the language being rendered: vi or en",
    "honorific": "the polite 'you' for the borrower: quý khách / you (accounts have no gender)",
    "Honorific": "the same at the start of a sentence: Quý khách / You",
    "company": "the bank or company name the call is made for (campaign settings)",
    "callback_number": "the number the borrower can call back (campaign settings)",
    "customer_name": "the borrower's full name as the bank's file has it",
    "given_name": "the last word of the name (Vietnamese given name: An in Nguyễn Văn An)",
    "account_no": "the contract (account) number",
    "product": "the product in words (vay tiền mặt / cash loan); may be empty",
    "product_code": "the product as the bank's file names it; may be empty",
    "dpd": "days past due (a number)",
    "overdue_amount": "the overdue amount in VND (1.250.000 ₫ / ₫1,250,000)",
    "overdue_amount_value": "the overdue amount as a whole number of đồng",
    "outstanding": "the principal outstanding in VND",
    "outstanding_value": "the principal outstanding as a whole number of đồng",
    "due_date": "the due date (01/12/2026 / December 1, 2026); may be empty",
    "due_date_iso": "the due date as YYYY-MM-DD; may be empty",
    "last_promise": (
        "the account's latest promise to pay, or empty: .amount, .amount_value, .date, "
        ".date_iso, .state (pending, kept, broken), .state_text (in words)"
    ),
    "agent_name": "the agent's name (agent desk); may be empty",
    "payment_channels": "the script's payment_channels text, rendered",
    "promise_amount": "the amount just promised, in VND (promise_confirmed only)",
    "promise_amount_value": "the amount just promised, whole đồng (promise_confirmed only)",
    "promise_date": "the date just promised (promise_confirmed only)",
    "promise_date_iso": "the date just promised as YYYY-MM-DD (promise_confirmed only)",
    "callback_time": "the time of the call back, borrower's local time (callback_scheduled only)",
}
# Variables that are empty for some accounts or calls: a template must guard them with
# {% if name %} (the check renders with each of them empty to be sure).
MAY_BE_EMPTY = ("product", "product_code", "due_date", "due_date_iso", "last_promise", "agent_name")

GENERAL = frozenset({"language", "honorific", "Honorific", "company", "callback_number"})
ACCOUNT = GENERAL | {
    "customer_name",
    "given_name",
    "account_no",
    "product",
    "product_code",
    "dpd",
    "overdue_amount",
    "overdue_amount_value",
    "outstanding",
    "outstanding_value",
    "due_date",
    "due_date_iso",
    "last_promise",
    "agent_name",
}
PROMISE_EXTRAS = frozenset(
    {"promise_amount", "promise_amount_value", "promise_date", "promise_date_iso"}
)
CALLBACK_EXTRAS = frozenset({"callback_time"})
# The payment_channels text itself may use the account's values, not itself.
PAYMENT_CHANNELS_VARIABLES = ACCOUNT
TALK_TRACK_VARIABLES = ACCOUNT | {"payment_channels"}

_PRIVATE = (
    "it may reach someone who owes nothing, and no debt information may go to third "
    "parties (Circular 18/2019)"
)
_NO_ACCOUNT = "it may be said before the caller's account is known"


@dataclass(frozen=True)
class PromptSpec:
    purpose: str  # where the call flow says it (docs and `scripts show`)
    variables: frozenset[str]
    restricted: str | None = None  # why the variables are limited, for the error message


PROMPTS: dict[str, PromptSpec] = {
    "greeting": PromptSpec(
        "outbound IVR, a person answered: name, overdue amount, due date",
        ACCOUNT | {"payment_channels"},
    ),
    "menu": PromptSpec(
        "after the greeting: 1 promise to pay, 2 already paid, 3 agent, 9 not the customer",
        ACCOUNT | {"payment_channels"},
    ),
    "promise_menu": PromptSpec(
        "after 1 in the menu: 1 pay today, 2 pay within 3 days", ACCOUNT | {"payment_channels"}
    ),
    "promise_confirmed": PromptSpec(
        "the promise is recorded: amount, date and how to pay",
        ACCOUNT | {"payment_channels"} | PROMISE_EXTRAS,
    ),
    "paid_noted": PromptSpec(
        "after 2 in the menu: the payment will be checked", ACCOUNT | {"payment_channels"}
    ),
    "connecting": PromptSpec("before the transfer to an agent", GENERAL, _NO_ACCOUNT),
    "callback_scheduled": PromptSpec(
        "a call back is booked: its time", ACCOUNT | {"payment_channels"} | CALLBACK_EXTRAS
    ),
    "wrong_party": PromptSpec(
        "after 9 in the menu: an apology, no debt details", GENERAL, _PRIVATE
    ),
    "invalid_choice": PromptSpec("a key that is not in the menu", GENERAL, _NO_ACCOUNT),
    "no_input": PromptSpec("no key pressed in time", GENERAL, _NO_ACCOUNT),
    "goodbye": PromptSpec("the end of an IVR call", GENERAL, _NO_ACCOUNT),
    "voicemail": PromptSpec(
        "left on an answering machine: company and callback number only",
        GENERAL,
        "anyone may listen to a voicemail",
    ),
    "abandon": PromptSpec(
        "a person answered and no agent is free: company and callback number only",
        GENERAL,
        _PRIVATE,
    ),
    "agent_dropped": PromptSpec("the agent's line dropped mid-call", GENERAL, _PRIVATE),
    "inbound_welcome": PromptSpec("a borrower calls in", GENERAL, _NO_ACCOUNT),
    "inbound_ask_account": PromptSpec(
        "inbound: key in the contract number, then #", GENERAL, _NO_ACCOUNT
    ),
    "inbound_ask_id": PromptSpec(
        "inbound, a keyed contract: the last 4 digits of the borrower's national ID",
        GENERAL,
        _NO_ACCOUNT,
    ),
    "inbound_not_found": PromptSpec(
        "inbound: no contract with that number (or the ID digits did not match)",
        GENERAL,
        _NO_ACCOUNT,
    ),
    "inbound_account": PromptSpec(
        "inbound: amount due, due date and how to pay", ACCOUNT | {"payment_channels"}
    ),
    "inbound_menu": PromptSpec(
        "inbound, after the account: 1 agent, 2 hear it again", GENERAL, _NO_ACCOUNT
    ),
    "inbound_callback": PromptSpec(
        "inbound, no agent free: we will call you back", GENERAL, _NO_ACCOUNT
    ),
}

# The bank's product names in words a borrower hears; other products are said as filed.
PRODUCT_LABELS: dict[str, dict[str, str]] = {
    "cash loan": {"vi": "vay tiền mặt", "en": "cash loan"},
    "consumer durable loan": {"vi": "vay mua hàng trả góp", "en": "consumer durable loan"},
    "credit card": {"vi": "thẻ tín dụng", "en": "credit card"},
    "motorbike loan": {"vi": "vay mua xe máy", "en": "motorbike loan"},
}
PROMISE_STATES: dict[str, dict[str, str]] = {
    "pending": {"vi": "đang chờ thanh toán", "en": "pending"},
    "kept": {"vi": "đã thực hiện", "en": "kept"},
    "broken": {"vi": "chưa thực hiện", "en": "broken"},
}
# No gender on accounts, so no anh/chị/ông/bà guess: the borrower is "quý khách", the
# respectful form a bank's recorded voice uses for anyone (agents choose anh/chị live).
HONORIFICS = {"vi": ("quý khách", "Quý khách"), "en": ("you", "You")}


def money(amount: int, language: Language) -> str:
    """Whole đồng as the language writes VND: 1.250.000 ₫ / ₫1,250,000."""
    return format_currency(amount, "VND", locale=LOCALES[language])


def day(value: date, language: Language) -> str:
    """dd/mm/yyyy in Vietnamese; the month in words in English (01/12 reads both ways)."""
    if language == "vi":
        return format_date(value, "dd/MM/yyyy", locale=LOCALES["vi"])
    return format_date(value, "long", locale=LOCALES["en"])


def moment(value: datetime, language: Language, tz: str) -> str:
    """A time the borrower hears, in their zone: 14:30 ngày 02/12/2026 / 2:30 PM, December 2."""
    local = value.astimezone(ZoneInfo(tz))
    if language == "vi":
        return f"{format_time(local, 'HH:mm', locale=LOCALES['vi'])} ngày {day(local.date(), 'vi')}"
    return f"{format_time(local, 'short', locale=LOCALES['en'])}, {day(local.date(), 'en')}"


def general_context(*, company: str, callback_number: str, language: Language) -> dict[str, Any]:
    """The values every prompt may use, account or not (an inbound call before the
    contract number is keyed in)."""
    lower, upper = HONORIFICS[language]
    return {
        "language": language,
        "honorific": lower,
        "Honorific": upper,
        "company": company,
        "callback_number": callback_number,
    }


@dataclass(frozen=True)
class AccountValues:
    """What a script may know of an account, as plain values (read by service.py)."""

    customer_name: str
    account_no: str
    product: str | None
    dpd: int
    overdue_amount: int
    outstanding: int
    due_date: date | None
    timezone: str  # the borrower's zone, for the time of a call back
    promise_amount: int | None = None  # the latest promise, if any
    promise_date: date | None = None
    promise_state: str | None = None


def context_from(
    values: AccountValues,
    *,
    company: str,
    callback_number: str,
    language: Language,
    agent_name: str | None = None,
    promise_amount: int | None = None,
    promise_date: date | None = None,
    callback_time: datetime | None = None,
) -> dict[str, Any]:
    """The whole context of one call, plain values only (str, int, None, dicts of those)."""
    out = general_context(company=company, callback_number=callback_number, language=language)
    product = PRODUCT_LABELS.get((values.product or "").strip().lower(), {}).get(language)
    last_promise = None
    if values.promise_amount is not None and values.promise_date is not None:
        state = values.promise_state or "pending"
        last_promise = {
            "amount": money(values.promise_amount, language),
            "amount_value": values.promise_amount,
            "date": day(values.promise_date, language),
            "date_iso": values.promise_date.isoformat(),
            "state": state,
            "state_text": PROMISE_STATES.get(state, {}).get(language, state),
        }
    name = " ".join(values.customer_name.split())
    out.update(
        customer_name=name,
        given_name=name.rsplit(" ", 1)[-1],
        account_no=values.account_no,
        product=product or values.product or None,
        product_code=values.product or None,
        dpd=values.dpd,
        overdue_amount=money(values.overdue_amount, language),
        overdue_amount_value=values.overdue_amount,
        outstanding=money(values.outstanding, language),
        outstanding_value=values.outstanding,
        due_date=day(values.due_date, language) if values.due_date else None,
        due_date_iso=values.due_date.isoformat() if values.due_date else None,
        last_promise=last_promise,
        agent_name=agent_name or None,
    )
    # Step values exist only when given: a prompt that needs one and is rendered without
    # it is an error (StrictUndefined), never a blank in the borrower's ear.
    if promise_amount is not None:
        out["promise_amount"] = money(promise_amount, language)
        out["promise_amount_value"] = promise_amount
    if promise_date is not None:
        out["promise_date"] = day(promise_date, language)
        out["promise_date_iso"] = promise_date.isoformat()
    if callback_time is not None:
        out["callback_time"] = moment(callback_time, language, values.timezone)
    return out


# A realistic account for checking scripts (long enough values to catch text too long).
SAMPLE_TODAY = date(2026, 12, 1)
SAMPLE_ACCOUNT = AccountValues(
    customer_name="Nguyễn Thị Thanh Hương",
    account_no="CL123456789",
    product="cash loan",
    dpd=45,
    overdue_amount=12_750_000,
    outstanding=48_500_000,
    due_date=SAMPLE_TODAY - timedelta(days=45),
    timezone="Asia/Ho_Chi_Minh",
    promise_amount=5_000_000,
    promise_date=SAMPLE_TODAY - timedelta(days=10),
    promise_state="broken",
)
SAMPLE_COMPANY = "Ngân hàng TMCP Ví Dụ Việt Nam"
SAMPLE_CALLBACK_NUMBER = "1900 6060"


def sample_context(language: Language, *, empty: str | None = None) -> dict[str, Any]:
    """Every variable set, in `language`; with `empty`, that variable has no value (as for an
    account without a due date), to find templates that would say a blank."""
    ctx = context_from(
        SAMPLE_ACCOUNT,
        company=SAMPLE_COMPANY,
        callback_number=SAMPLE_CALLBACK_NUMBER,
        language=language,
        agent_name="Trần Thị Lan",
        promise_amount=12_750_000,
        promise_date=SAMPLE_TODAY + timedelta(days=3),
        callback_time=datetime.combine(
            SAMPLE_TODAY + timedelta(days=1), time(14, 30), ZoneInfo("Asia/Ho_Chi_Minh")
        ),
    )
    ctx["payment_channels"] = "..."  # replaced by the script's own, rendered
    if empty is not None:
        ctx[empty] = None
    return ctx
