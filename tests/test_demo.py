"""The main job, as a user runs it: `dialer demo --headless --json` in a subprocess."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

INT_KEYS = (
    "accounts", "calls_placed", "answered_human", "answered_machine", "no_answer", "busy",
    "failed", "connected_to_agent", "abandoned", "promises", "promised_amount",
)  # fmt: skip


def test_demo_headless_json(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIALER_", "TWILIO_"))}
    env["DIALER_HOME"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "dialer.cli", "demo", "--headless", "--json", "--accounts", "60",
         "--agents", "3", "--minutes", "30", "--speed", "90", "--seed", "3"],
        env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)  # stdout is exactly one JSON object
    for key in INT_KEYS:
        assert isinstance(summary[key], int), key
    assert isinstance(summary["abandon_rate"], float)
    assert summary["accounts"] == 60
    assert summary["calls_placed"] > 0 and summary["connected_to_agent"] > 0
    assert summary["promises"] > 0 and summary["promised_amount"] > 0
    outcomes = ("answered_machine", "no_answer", "busy", "failed")
    assert (
        summary["calls_placed"]
        == summary["answered_human"] + sum(summary[k] for k in outcomes) + summary["errors"]
    )
    assert (
        summary["connected_to_agent"] + summary["abandoned"] + summary["hung_up_before_agent"]
        == summary["answered_human"]
    )
    assert summary["consistency"] == {
        "connected_without_call_sid": 0,
        "promises_without_connected_call": 0,
    }
    # Callbacks by where they stand, referrals by kind (every kind, zeros included).
    callbacks = summary["callbacks"]
    assert set(callbacks) == {"scheduled", "due", "later", "done", "cancelled"}
    assert callbacks["scheduled"] == sum(v for k, v in callbacks.items() if k != "scheduled")
    assert set(summary["referrals"]) == {"field", "restructuring", "legal", "dispute"}
    assert all(isinstance(v, int) for v in summary["referrals"].values())
    # The mock carrier's own measure of our voice webhook and of answer-to-agent.
    for key in ("bridge_ms_p50", "bridge_ms_p99", "webhook_ms_p50", "webhook_ms_p99"):
        assert isinstance(summary[key], float) and summary[key] > 0, key
    # Measured from when every agent was seated: the first calls may come before it.
    assert 0 < summary["bridges"] <= summary["connected_to_agent"]
    # The mock carrier, an independent witness, saw every call the dialer recorded.
    assert summary["carrier_calls"] == summary["calls_placed"]
    # Every process was stopped and the embedded Redis shut down.
    assert not (tmp_path / "demo" / "redis" / "redis.sock").exists() or not _redis_answers(
        tmp_path / "demo" / "redis" / "redis.sock"
    )


def _redis_answers(sock) -> bool:
    import redis

    try:
        return bool(redis.Redis(unix_socket_path=str(sock), socket_timeout=1).ping())
    except redis.RedisError:
        return False


def test_demo_ivr_mode_lands_every_branch(tmp_path):
    """`dialer demo --mode ivr`: an agentless campaign whose borrowers press keys; each
    branch of the menu lands its code at least once on the default population."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIALER_", "TWILIO_"))}
    env["DIALER_HOME"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "dialer.cli", "demo", "--headless", "--json", "--mode", "ivr",
         "--accounts", "200", "--minutes", "45", "--speed", "90", "--seed", "7"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    counts = ("ivr_promises", "ivr_paid_claims", "ivr_agent_requests", "ivr_wrong_party")
    for key in (*counts, "ivr_no_input"):
        assert isinstance(summary[key], int) and summary[key] > 0, (key, summary)
    assert summary["agents"] == 0 and summary["connected_to_agent"] == 0
    assert summary["promises"] >= summary["ivr_promises"]
    assert summary["voicemails_left"] > 0  # machines got the voicemail
    assert summary["callbacks"]["scheduled"] == summary["ivr_agent_requests"]  # nobody free
    assert isinstance(summary["webhook_ms_p50"], float)
    assert summary["consistency"]["promises_without_connected_call"] == 0


def test_demo_not_headless_says_where_the_desk_is_and_how_to_sign_in(tmp_path):
    """Not headless, the demo makes a desk sign-in for a person (tests/browser/ takes a call
    with it); without a terminal it runs timed, like headless."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIALER_", "TWILIO_"))}
    env["DIALER_HOME"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "dialer.cli", "demo", "--accounts", "30", "--agents", "2",
         "--minutes", "5", "--seed", "4"],
        env=env, capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert re.search(r"Agent desk: http://127\.0\.0\.1:\d+/desk  sign in as demo / \w{12}", out)
    assert re.search(r"Console: +http://127\.0\.0\.1:\d+/  sign in as giamsat / \w{12}", out)
    assert "Demo summary" in out
