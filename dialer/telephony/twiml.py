"""TwiML documents the dialer returns, built with the official twilio library."""

from __future__ import annotations

from twilio.twiml.voice_response import Dial, VoiceResponse

# Said when a live answer finds no free agent within the limit (the "safe harbour" message).
ABANDON_MESSAGE_VI = (
    "Xin chào, đây là cuộc gọi từ bộ phận thu hồi nợ của ngân hàng. Hiện tất cả nhân viên "
    "đều đang bận, chúng tôi sẽ gọi lại cho quý khách sau. Xin cảm ơn."
)


def agent_room(agent_id: int) -> str:
    """The agent's own conference, where they wait between calls (nailed-up)."""
    return f"agent-{agent_id}"


def agent_joins_room(agent_id: int) -> str:
    """The agent's leg: sit in their room; the room ends when the agent leaves."""
    response = VoiceResponse()
    dial = Dial()
    dial.conference(
        agent_room(agent_id),
        start_conference_on_enter=True,
        end_conference_on_exit=True,
        beep=False,
        wait_url="",
    )
    response.append(dial)
    return str(response)


def customer_joins_agent(agent_id: int, dial_action: str) -> str:
    """Bridge an answered customer into the agent's room; the agent stays when they leave."""
    response = VoiceResponse()
    dial = Dial(action=dial_action)
    dial.conference(
        agent_room(agent_id),
        start_conference_on_enter=True,
        end_conference_on_exit=False,
        beep=False,
    )
    response.append(dial)
    return str(response)


def abandon(message: str = ABANDON_MESSAGE_VI) -> str:
    response = VoiceResponse()
    response.say(message, language="vi-VN")
    response.hangup()
    return str(response)


# Agentless campaigns without a script of their own say this.
REMINDER_MESSAGE_VI = (
    "Xin chào, ngân hàng xin nhắc quý khách khoản vay của quý khách đã đến hạn thanh toán. "
    "Quý khách vui lòng thanh toán sớm hoặc gọi lại tổng đài để được hỗ trợ. Xin cảm ơn."
)


def reminder(message: str | None = None) -> str:
    """An agentless campaign's answered call: say the reminder, then hang up."""
    response = VoiceResponse()
    response.say(message or REMINDER_MESSAGE_VI, language="vi-VN")
    response.hangup()
    return str(response)


def hangup() -> str:
    response = VoiceResponse()
    response.hangup()
    return str(response)
