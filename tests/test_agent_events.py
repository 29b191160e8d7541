"""The desk's server-sent events: an agent's stream delivers their state, then the screen
pop the moment they are claimed for a call, then wrap-up and ready, in order, resumable
with Last-Event-ID; the supervisors' stream sees every agent; a process serves a bounded
number of streams."""

from __future__ import annotations

from dialer.app import create_app
from dialer.runtime import Runtime
from tests import factories
from tests.mock_support import wait_until
from tests.stack_support import Stack, attempts_of, campaign_with_agents, open_events

NUMBER = "+84901600100"


def _kinds(events: list) -> list[str]:
    return [f"{e}:{d.get('state')}" for _, e, d in events]


def test_the_agents_stream_delivers_the_screen_pop_in_order(stack: Stack):
    with stack.rt.db.begin() as s:
        account = factories.account(s, phones=((NUMBER, "mobile"),), product="cash loan")
        account_no = account.account_no
    stack.override(NUMBER, answer="human", ring_seconds=3, talk_seconds=5)
    cid, (agent_id,) = campaign_with_agents(stack, 1)
    desk = open_events(f"{stack.web}/api/agents/{agent_id}/events")
    supervisor = open_events(f"{stack.web}/api/agents/events")
    desk.wait_for(lambda ev: ev, what="the first state")
    assert (
        desk.events[0][1:] == ("state", desk.events[0][2]) and desk.events[0][2]["state"] == "ready"
    )

    stack.dial_round()
    pop = desk.wait_for(
        lambda ev: next((d for _, e, d in ev if e == "screen-pop"), None), what="the screen pop"
    )
    (attempt,) = attempts_of(stack)
    assert pop["attempt_id"] == attempt.id and pop["state"] == "on_call"
    assert pop["account"]["account_no"] == account_no
    assert pop["account"]["overdue_amount"] == 5_000_000
    assert "5.000.000" in pop["account"]["overdue_amount_text"]
    assert pop["phone"]["relation"] == "mobile" and "9016001" not in pop["phone"]["number"]
    sections = [s["section"] for s in pop["script"]["sections"]]
    assert sections == ["opening", "identity_check", "purpose", "negotiation", "closing"]
    assert account.customer_name in " ".join(s["text"] for s in pop["script"]["sections"])
    codes = {c["code"]: c for c in pop["action_codes"]}
    assert "PTP" in codes and "NKP" not in codes  # only what an agent may set
    assert [r["field"] for r in codes["PTP"]["requires"]] == ["promise_amount", "promise_date"]
    assert codes["PTP"]["requires"][0]["label"]["vi"]

    desk.wait_for(lambda ev: any(d.get("state") == "wrap_up" for _, _, d in ev), what="wrap-up")
    stack.api(
        "POST", f"/api/attempts/{attempt.id}/disposition", 201,
        json={"agent_id": agent_id, "code": "LEM"},
    )  # fmt: skip
    desk.wait_for(lambda ev: _kinds(ev)[-1] == "state:ready", what="ready again")
    assert _kinds(desk.events) == [
        "state:ready",
        "screen-pop:on_call",
        "state:wrap_up",
        "state:ready",
    ]
    ids = [i for i, _, _ in desk.events[1:]]
    assert ids == sorted(ids) and all(ids)  # in order, each resumable

    # A desk that reconnects with the last id it saw misses nothing and repeats nothing.
    resumed = open_events(
        f"{stack.web}/api/agents/{agent_id}/events", headers={"Last-Event-ID": ids[0]}
    )
    resumed.wait_for(lambda ev: len(ev) >= 2, what="the replay")
    assert _kinds(resumed.events) == ["state:wrap_up", "state:ready"]

    # The supervisors see every agent's changes (no screen pops there).
    seen = supervisor.wait_for(
        lambda ev: (
            [d["state"] for _, _, d in ev if d["agent_id"] == agent_id][-1:] == ["ready"]
            and len(ev) >= 3
        ),
        what="the supervisor's stream",
    )
    assert seen and all(e == "state" for _, e, _ in supervisor.events)
    for reader in (desk, supervisor, resumed):
        reader.close()
    del cid


def test_a_preview_reservation_pops_the_screen_too(stack: Stack):
    with stack.rt.db.begin() as s:
        factories.account(s, phones=((NUMBER, "mobile"),))
    stack.override(NUMBER, answer="human", ring_seconds=3, talk_seconds=5)
    cid = stack.api("POST", "/api/campaigns", 201, json={"name": "p", "dial_mode": "preview"})["id"]
    agent_id = stack.api("POST", "/api/agents", 201, json={"username": "vy", "name": "Vy"})["id"]
    stack.api("POST", f"/api/campaigns/{cid}/launch")
    stack.api("POST", f"/api/agents/{agent_id}/login", json={"campaign_id": cid})
    wait_until(lambda: stack.agent_state(agent_id)["state"] == "ready", what="ready")
    desk = open_events(f"{stack.web}/api/agents/{agent_id}/events")
    stack.api("POST", f"/api/agents/{agent_id}/preview")
    stack.api("POST", f"/api/agents/{agent_id}/preview/dial")
    stack.dial_round()
    pop = desk.wait_for(
        lambda ev: next((d for _, e, d in ev if e == "screen-pop"), None), what="the pop"
    )
    assert pop["state"] == "reserved" and pop["account"]["overdue_amount"] == 5_000_000
    # Answered and bridged: a state change, not a second pop.
    desk.wait_for(lambda ev: any(d.get("state") == "on_call" for _, _, d in ev), what="bridged")
    assert [e for _, e, _ in desk.events].count("screen-pop") == 1
    desk.close()


def test_an_unknown_agent_has_no_stream(stack: Stack):
    assert stack.api("GET", "/api/agents/999/events", 404)["error"] == "no agent 999"


def test_the_process_serves_a_bounded_number_of_streams(settings, db, redis_client):
    """Each stream holds a server thread; past the limit a desk is told to come back."""
    app = create_app(runtime=Runtime(settings.with_overrides(event_streams=1)))
    client = app.test_client()
    auth = {"Authorization": "Bearer test-api-token"}
    first = client.get("/api/agents/events", headers=auth, buffered=False)
    assert first.status_code == 200 and first.mimetype == "text/event-stream"
    second = client.get("/api/agents/events", headers=auth)
    assert second.status_code == 503 and second.headers["Retry-After"] == "5"
    assert "event streams are open already" in second.get_json()["error"]
    first.close()  # the stream ends: its slot is free again
    third = client.get("/api/agents/events", headers=auth, buffered=False)
    assert third.status_code == 200
    third.close()


def test_a_quiet_stream_outlasts_the_usual_redis_socket_timeout(settings, db, redis_client):
    """The stream blocks longer than a normal command may take (5 s) and keeps going."""
    from dialer.agents import events
    from dialer.redis import SOCKET_TIMEOUT

    rt = Runtime(settings)
    stream = events.all_agents_stream(rt, None, keepalive=SOCKET_TIMEOUT + 1)
    assert next(stream).startswith("retry:")
    assert next(stream) == ": keepalive\n\n"  # not a socket timeout
    stream.close()
