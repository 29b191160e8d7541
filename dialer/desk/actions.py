"""What the agent does from the desk besides the JSON API's own actions (go on line, pause,
record a code): hang up the customer, press the built-in softphone's buttons."""

from __future__ import annotations

import logging
from typing import Any

from dialer.agents.models import Agent
from dialer.campaigns.models import CallAttempt
from dialer.runtime import Runtime
from dialer.telephony import softphone

log = logging.getLogger(__name__)


class DeskError(ValueError):
    """A desk action refused; the message says why (status: the HTTP status to answer)."""

    def __init__(self, message: str, status: int = 409):
        super().__init__(message)
        self.status = status


def hang_up(rt: Runtime, *, agent_id: int, attempt_id: int) -> None:
    """End the customer's leg of the agent's call (the agent stays in their room, ready
    for the next call once the code is in)."""
    with rt.db.session() as s:
        attempt = s.get(CallAttempt, attempt_id)
        if attempt is None:
            raise DeskError(f"no call attempt {attempt_id}", 404)
        if attempt.agent_id != agent_id:
            raise DeskError("this call is not yours", 403)
        if attempt.ended_at is not None or not attempt.call_sid:
            return  # over already: nothing to hang up
        sid = attempt.call_sid
    rt.carrier.hangup(sid)
    log.info("agent %s hung up attempt %s", agent_id, attempt_id)


def press_softphone(rt: Runtime, *, agent_id: int, action: str) -> dict[str, Any]:
    """The built-in softphone (mock carrier): register, answer, reject, hang up."""
    with rt.db.session() as s:
        agent = s.get(Agent, agent_id)
        if agent is None:
            raise DeskError(f"no agent {agent_id}", 404)
        endpoint = agent.endpoint
    try:
        return softphone.command(rt.settings, endpoint=endpoint, action=action)
    except ValueError as exc:
        raise DeskError(str(exc), 400) from None
