"""Saying a script: the agent's talk track and the IVR's prompts, for one call's context.

Prompts a script leaves out are the shipped default IVR script's, and a script without a
talk track shows the shipped agent script's, both with the script's own values (its
payment channels included): a script may be as small as the one prompt it changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from jinja2 import Template, TemplateError
from twilio.twiml.voice_response import VoiceResponse

from dialer.scripts.document import (
    DEFAULT_AGENT_SCRIPT,
    DEFAULT_IVR_SCRIPT,
    Script,
    ScriptError,
    fallback,
    run_template,
    suggest,
)
from dialer.scripts.variables import LANGUAGES, PROMPTS, SECTIONS, VOICES


@dataclass(frozen=True)
class Prompt:
    """One prompt ready to be spoken: text for <Say>, or a recording for <Play>."""

    kind: Literal["say", "play"]
    text: str | None
    url: str | None
    language: Literal["vi-VN", "en-US"]

    def add_to(self, response: VoiceResponse) -> None:
        """Append it to a TwiML response (the twilio library escapes the text)."""
        if self.kind == "play":
            response.play(self.url)
        else:
            response.say(self.text, language=self.language)


def _checked_language(language: str, context: dict[str, Any]) -> str:
    if language not in LANGUAGES:
        raise ScriptError([f"unknown language {language!r}: vi or en"])
    if context.get("language") != language:
        raise ScriptError(
            [f"the context was built for {context.get('language')!r}: build it with "
             f"language={language!r} (amounts and dates are written per language)"]
        )  # fmt: skip
    return language


def _render(
    script: Script, template: Template, context: dict[str, Any], what: str, collapse: bool
) -> str:
    try:
        return run_template(template, context, collapse)
    except TemplateError as exc:
        raise ScriptError(
            [f"script {script.name}: {what} cannot be rendered: {exc.message}"]
        ) from None


def _with_channels(script: Script, context: dict[str, Any], language: str) -> dict[str, Any]:
    if "payment_channels" in context:
        return context
    channels = _render(script, script.payment_channels[language], context, "payment_channels", True)
    return {**context, "payment_channels": channels}


def render_talk_track(
    script: Script, *, context: dict[str, Any], language: str
) -> list[dict[str, str]]:
    """The agent's talk track, section by section: [{"section", "title", "text"}].

    A script without one shows the shipped agent script's, with this script's values."""
    lang = _checked_language(language, context)
    track = script.talk_track or fallback(DEFAULT_AGENT_SCRIPT).talk_track or {}
    ctx = _with_channels(script, context, lang)
    return [
        {
            "section": section,
            "title": SECTIONS[section][lang],
            "text": _render(script, track[section][lang], ctx, f"talk_track.{section}", False),
        }
        for section in SECTIONS
    ]


def render_prompt(script: Script, *, name: str, context: dict[str, Any], language: str) -> Prompt:
    """One prompt in one language. A prompt the script leaves out is the shipped default
    IVR script's (nhac-no-mac-dinh), rendered with this script's values."""
    lang = _checked_language(language, context)
    if name not in PROMPTS:
        raise ScriptError([f"unknown prompt {name!r}{suggest(name, PROMPTS)}"])
    spoken = (script.prompts.get(name) or fallback(DEFAULT_IVR_SCRIPT).prompts[name])[lang]
    voice = VOICES[lang]
    if spoken.kind == "play":
        return Prompt("play", None, spoken.url, voice)  # type: ignore[arg-type]
    ctx = _with_channels(script, context, lang) if spoken.uses_payment_channels else context
    text = _render(script, spoken.template, ctx, f"prompts.{name}.{lang}", True)
    return Prompt("say", text, None, voice)  # type: ignore[arg-type]
