"""Messages a person may read: the English sentence the API, the CLI and the logs have
always carried, plus what it takes to say it in the reader's language (a template from the
one catalogue, dialer/web/translations, and its values). A `Message` is a `str`, so
everything that handled the sentence still does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from babel.numbers import format_currency

AMOUNT_PARAMS = ("amount", "outstanding")  # whole đồng, written the reader's way
# Values under these names are our own words (translated too), not the customer's.
WORD_PARAMS = ("what", "reason")


def N_(template: str) -> str:
    """Marks a message for the catalogue; translated where it is shown."""
    return template


class Message(str):
    field: str | None  # the form field(s) it is about, comma-separated
    template: str
    params: dict[str, Any]

    def __new__(cls, template: str, /, about: str | None = None, **params: Any) -> Message:
        shown = {k: f"{v:,}" if k in AMOUNT_PARAMS else v for k, v in params.items()}
        message = super().__new__(cls, template.format(**shown))
        message.field, message.template, message.params = about, template, params
        return message


def translated(message: str, gettext: Callable[[str], str]) -> str:
    """The message in the reader's language (amounts as the centre writes them: 1.250.000 ₫);
    a plain string, which has no template, as it is."""
    if not isinstance(message, Message):
        return message
    values = {}
    for name, value in message.params.items():
        if name in AMOUNT_PARAMS:
            value = format_currency(value, "VND", locale="vi_VN")
        elif name in WORD_PARAMS and isinstance(value, str):
            value = gettext(value)
        values[name] = value
    return gettext(message.template).format(**values)
