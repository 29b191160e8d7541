"""Simulated softphones (client:<identity>, sip:<uri>) driven from the control API.

An agent desk or a bot answers, rejects or hangs up a softphone's live calls through
`endpoint_command`, and may change its settings (auto_answer, answer_seconds, digits) in
the same request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dialer.telephony.mock.errors import ScenarioError
from dialer.telephony.mock.population import endpoint_identity

if TYPE_CHECKING:
    from dialer.telephony.mock.simulator import Simulator

ENDPOINT_ACTIONS = ("answer", "reject", "hangup")


def endpoint_command(sim: Simulator, identity: str, data: Any) -> dict[str, Any]:
    """Apply settings and at most one action; answer with the sids it affected."""
    if not isinstance(data, dict):
        raise ScenarioError("the body must be a JSON object")
    actions = {k: data[k] for k in ENDPOINT_ACTIONS if k in data}
    for key, value in actions.items():
        if value is not True:
            raise ScenarioError(f"{key} must be true")
    if len(actions) > 1:
        raise ScenarioError(f"give only one of {', '.join(ENDPOINT_ACTIONS)}")
    config_data = {k: v for k, v in data.items() if k not in ENDPOINT_ACTIONS}
    config = (
        sim.population.configure_endpoint(identity, config_data)
        if config_data
        else sim.population.endpoint(identity)
    )
    affected: list[str] = []
    with sim.lock:
        for call in list(sim.active_calls.values()):
            if endpoint_identity(call.to) != identity or call.ended:
                continue
            if "hangup" in actions and call.status == "in-progress":
                sim.event(call, "hangup", by="endpoint")
                sim.end_locked(call, "completed", "endpoint-hangup")
                affected.append(call.sid)
            elif actions.keys() & {"answer", "reject"} and call.status == "ringing":
                call.endpoint_signal = next(iter(actions))
                sim.notify(call)
                affected.append(call.sid)
        calls = _endpoint_calls_locked(sim, identity)
    action = next(iter(actions), None)
    return {
        "identity": identity,
        "config": {
            "auto_answer": config.auto_answer,
            "answer_seconds": config.answer_seconds,
            "digits": config.digits,
        },
        "action": action,
        "affected": affected,
        "calls": calls,
    }


def _endpoint_calls_locked(sim: Simulator, identity: str) -> list[dict[str, Any]]:
    return [
        {"sid": c.sid, "status": c.status, "from": c.from_}
        for c in sim.active_calls.values()
        if endpoint_identity(c.to) == identity
    ]


def endpoints(sim: Simulator) -> dict[str, Any]:
    """Every configured endpoint and every endpoint with a live call, with those calls."""
    configured = sim.population.endpoints()
    with sim.lock:
        identities = set(configured) | {endpoint_identity(c.to) for c in sim.active_calls.values()}
        identities.discard(None)
        return {
            identity: {
                "config": configured.get(identity),
                "calls": _endpoint_calls_locked(sim, identity),
            }
            for identity in sorted(identities)  # type: ignore[type-var]
        }
