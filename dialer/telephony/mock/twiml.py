"""TwiML documents: parse, check against the verbs the mock knows, and estimate durations.

A document is parsed and checked whole before anything is executed: unparsable XML is
Twilio error 12100 (document parse failure), an unknown verb, a noun in the wrong place or
a malformed attribute is 12200 (schema validation). Either way the call plays nothing and
hangs up, as Twilio does. The interpreter itself lives in verbs.py.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from dialer.telephony.mock.errors import DOCUMENT_PARSE_FAILURE, SCHEMA_VALIDATION

SPEECH_WORDS_PER_SECOND = 2.5
PLAY_SECONDS = 5.0  # the mock does not download audio: every <Play> lasts this long
INFINITE_LOOP_SECONDS = 10_000_000.0  # loop="0": until something else ends it

# verb -> (integer attributes, boolean attributes, allowed child elements)
_SPEAKING = ("Say", "Play", "Pause")
VERBS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...] | None]] = {
    "Say": (("loop",), (), None),  # None: any children (SSML), text is what is said
    "Play": (("loop",), (), ()),
    "Pause": (("length",), (), ()),
    "Hangup": ((), (), ()),
    "Reject": ((), (), ()),
    "Redirect": ((), (), ()),
    "Gather": (("numDigits",), ("actionOnEmptyResult",), _SPEAKING),
    "Dial": (
        ("timeout", "timeLimit"),
        ("answerOnBridge",),
        ("Number", "Client", "Sip", "Conference"),
    ),
    "Enqueue": ((), (), ("Task",)),
    "Record": (("timeout", "maxLength"), ("playBeep",), ()),
    "Leave": ((), (), ()),
}
# Real Twilio verbs the mock does not simulate: skipped with a note in the call's log.
SKIPPED_VERBS = frozenset(
    {"Start", "Stop", "Connect", "Echo", "Refer", "Pay", "Prompt", "Message", "Sms", "Siprec"}
)
DIAL_NOUNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Number": ((), ()),
    "Client": ((), ()),
    "Sip": ((), ()),
    "Conference": (
        ("maxParticipants",),
        ("startConferenceOnEnter", "endConferenceOnExit", "muted"),
    ),
}


class TwimlError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Node:
    name: str
    attrs: dict[str, str] = field(default_factory=dict)
    text: str = ""
    children: list[Node] = field(default_factory=list)

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.attrs.get(name, default)

    def int_attr(self, name: str, default: int) -> int:
        raw = self.attrs.get(name)
        if raw is None or raw.strip() == "":
            return default
        return int(raw.strip())

    def bool_attr(self, name: str, default: bool) -> bool:
        raw = self.attrs.get(name)
        if raw is None:
            return default
        return raw.strip().lower() == "true"

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"verb": self.name}
        if self.attrs:
            out["attrs"] = dict(self.attrs)
        if self.text:
            out["text"] = self.text
        if self.children:
            out["children"] = [c.to_dict() for c in self.children]
        return out


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _node(element: ET.Element, with_children: bool = True) -> Node:
    text = (element.text or "").strip()
    node = Node(_local(element.tag), dict(element.attrib), text)
    if with_children:
        node.children = [_node(child) for child in element]
    return node


def _check_int(node: Node, name: str) -> None:
    raw = node.attrs.get(name)
    if raw is None or raw.strip() == "":
        return
    try:
        int(raw.strip())
    except ValueError:
        raise TwimlError(
            SCHEMA_VALIDATION, f"<{node.name}> attribute {name}={raw!r} is not a whole number"
        ) from None


def _check_bool(node: Node, name: str) -> None:
    raw = node.attrs.get(name)
    if raw is not None and raw.strip().lower() not in ("true", "false"):
        raise TwimlError(
            SCHEMA_VALIDATION, f"<{node.name}> attribute {name}={raw!r} is not true/false"
        )


def parse(document: str | bytes) -> list[Node]:
    """The verbs of a <Response> document, checked; raises TwimlError."""
    if isinstance(document, bytes):
        try:
            document = document.decode("utf-8")
        except UnicodeDecodeError:
            raise TwimlError(DOCUMENT_PARSE_FAILURE, "document is not UTF-8") from None
    if not document or not document.strip():
        raise TwimlError(DOCUMENT_PARSE_FAILURE, "empty document")
    if "<!DOCTYPE" in document or "<!ENTITY" in document:
        raise TwimlError(DOCUMENT_PARSE_FAILURE, "DTDs and entities are not allowed in TwiML")
    try:
        root = ET.fromstring(document.strip())
    except ET.ParseError as exc:
        raise TwimlError(DOCUMENT_PARSE_FAILURE, f"XML parse error: {exc}") from None
    if _local(root.tag) != "Response":
        raise TwimlError(
            SCHEMA_VALIDATION, f"root element must be <Response>, got <{_local(root.tag)}>"
        )
    verbs: list[Node] = []
    for element in root:
        name = _local(element.tag)
        if name in SKIPPED_VERBS:
            verbs.append(_node(element, with_children=False))
            continue
        if name not in VERBS:
            raise TwimlError(SCHEMA_VALIDATION, f"<{name}> is not a valid TwiML verb")
        verb = _node(element, with_children=name != "Say")
        if name == "Say":
            verb.text = " ".join("".join(element.itertext()).split())
        _check_verb(verb)
        verbs.append(verb)
    return verbs


def _check_verb(verb: Node) -> None:
    ints, bools, allowed = VERBS[verb.name]
    for name in ints:
        _check_int(verb, name)
    for name in bools:
        _check_bool(verb, name)
    if verb.name == "Gather":
        timeout = verb.attrs.get("timeout")
        if timeout is not None and timeout.strip() != "auto":
            _check_int(verb, "timeout")
    if verb.name == "Redirect" and not verb.text:
        raise TwimlError(SCHEMA_VALIDATION, "<Redirect> needs a URL")
    if allowed is None:
        return
    for child in verb.children:
        if child.name not in allowed:
            raise TwimlError(
                SCHEMA_VALIDATION, f"<{child.name}> is not allowed inside <{verb.name}>"
            )
        if child.name in VERBS:
            _check_verb(child)
        elif child.name in DIAL_NOUNS:
            nouns_ints, noun_bools = DIAL_NOUNS[child.name]
            for name in nouns_ints:
                _check_int(child, name)
            for name in noun_bools:
                _check_bool(child, name)
            if child.name == "Client" and not child.text:
                identity = next((c.text for c in child.children if c.name == "Identity"), "")
                child.text = identity
            if not child.text:
                raise TwimlError(SCHEMA_VALIDATION, f"<{child.name}> needs a value")
    if verb.name == "Dial" and not verb.children and not verb.text:
        raise TwimlError(SCHEMA_VALIDATION, "<Dial> needs a number or a noun")


def loops(node: Node) -> int:
    """loop="0" means (practically) forever; returns 0 for that."""
    try:
        return max(0, node.int_attr("loop", 1))
    except ValueError:
        return 1


def speaking_seconds(node: Node, play_seconds: float = PLAY_SECONDS) -> float:
    """How long a <Say>, <Play> or <Pause> lasts, in simulated seconds."""
    if node.name == "Pause":
        return float(max(0, node.int_attr("length", 1)))
    if node.name == "Say":
        once = max(1.0, len(node.text.split()) / SPEECH_WORDS_PER_SECOND)
    elif node.name == "Play":
        digits = node.get("digits")
        once = 0.5 * len(digits) if digits and not node.text else play_seconds
    else:
        return 0.0
    n = loops(node)
    return INFINITE_LOOP_SECONDS if n == 0 else once * n


def heard(node: Node) -> dict[str, object]:
    """What the far end hears of a <Say>, <Play> or <Pause>, for the call's `heard` list."""
    if node.name == "Say":
        out: dict[str, object] = {"say": node.text, "language": node.get("language") or "en-US"}
    elif node.name == "Play":
        out = {"play": node.text}
        if node.get("digits"):
            out["digits"] = node.get("digits")
    else:
        return {"pause": max(0, node.int_attr("length", 1))}
    if node.get("loop") not in (None, "1"):
        out["loop"] = loops(node)
    return out


def total_speaking_seconds(nodes: list[Node], play_seconds: float = PLAY_SECONDS) -> float:
    total = sum(speaking_seconds(n, play_seconds) for n in nodes)
    return min(total, INFINITE_LOOP_SECONDS)


def is_infinite(seconds: float) -> bool:
    return seconds >= INFINITE_LOOP_SECONDS or math.isinf(seconds)
