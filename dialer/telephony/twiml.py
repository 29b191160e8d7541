"""What the dialer tells the carrier to do next on a call: verbs as plain data, and TwiML.

The call flow (dialer/callflow) decides in these terms and returns a Reply (a tuple of
verbs); `render` writes it out with the official twilio library. Keeping the decision
apart from the XML lets it be tested without HTTP, and keeps the webhook views to "parse,
call the use case, render".
"""

from __future__ import annotations

from dataclasses import dataclass

from twilio.twiml.voice_response import Dial, VoiceResponse
from twilio.twiml.voice_response import Gather as GatherElement


@dataclass(frozen=True)
class Say:
    text: str
    language: str = "vi-VN"


@dataclass(frozen=True)
class Play:
    url: str


@dataclass(frozen=True)
class Gather:
    """Prompts said while waiting for keys; the keys (or none) go to `action`."""

    action: str
    prompts: tuple[Say | Play, ...]
    num_digits: int | None = 1
    timeout: int = 6  # seconds of silence after the prompts before "no input"
    finish_on_key: str = "#"


@dataclass(frozen=True)
class JoinRoom:
    """Bridge this call into a conference room (an agent's nailed-up room)."""

    room: str
    action: str | None = None  # told when the caller leaves the room
    end_on_exit: bool = False  # the room ends when this call leaves (the agent's own leg)


@dataclass(frozen=True)
class Hangup:
    pass


Verb = Say | Play | Gather | JoinRoom | Hangup
Reply = tuple[Verb, ...]
HANGUP: Reply = (Hangup(),)


def agent_room(agent_id: int) -> str:
    """The agent's own conference, where they wait between calls (nailed-up)."""
    return f"agent-{agent_id}"


def _speak(into: VoiceResponse | GatherElement, verb: Say | Play) -> None:
    if isinstance(verb, Play):
        into.play(verb.url)
    else:
        into.say(verb.text, language=verb.language)


def render(reply: Reply) -> str:
    """The TwiML document for a Reply."""
    response = VoiceResponse()
    for verb in reply:
        if isinstance(verb, Say | Play):
            _speak(response, verb)
        elif isinstance(verb, Gather):
            gather = GatherElement(
                action=verb.action,
                method="POST",
                input="dtmf",
                timeout=verb.timeout,
                finish_on_key=verb.finish_on_key,
                # No keys still goes to the action: "no input" is decided in one place.
                action_on_empty_result=True,
                **({"num_digits": verb.num_digits} if verb.num_digits else {}),
            )
            for prompt in verb.prompts:
                _speak(gather, prompt)
            response.append(gather)
        elif isinstance(verb, JoinRoom):
            dial = Dial(action=verb.action) if verb.action else Dial()
            dial.conference(
                verb.room,
                start_conference_on_enter=True,
                end_conference_on_exit=verb.end_on_exit,
                beep=False,
                # Nothing plays while an agent waits alone in their room.
                **({"wait_url": ""} if verb.end_on_exit else {}),
            )
            response.append(dial)
        elif isinstance(verb, Hangup):
            response.hangup()
        else:  # pragma: no cover - a new verb without its TwiML
            raise TypeError(f"no TwiML for {verb!r}")
    return str(response)


def agent_joins_room(agent_id: int) -> str:
    """The agent's leg: sit in their room; the room ends when the agent leaves."""
    return render((JoinRoom(agent_room(agent_id), end_on_exit=True),))


def customer_joins_agent(agent_id: int, dial_action: str) -> str:
    """Bridge an answered customer into the agent's room; the agent stays when they leave."""
    return render((JoinRoom(agent_room(agent_id), action=dial_action),))


def hangup() -> str:
    return render((Hangup(),))
