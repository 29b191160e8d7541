"""What a demo prints at the end: read from SQL afterwards, with the mock carrier's own
call log and measurements as the independent witness."""

from __future__ import annotations

from typing import Any

import requests
from sqlalchemy import func, select

from dialer.clock import Clock
from dialer.config import load_settings


def summary(env: dict[str, str], cid: int) -> dict[str, Any]:
    """The campaign's figures from SQL (a fresh connection: the demo's children wrote)."""
    from dialer.campaigns.models import CallAttempt, Campaign
    from dialer.campaigns.service import status
    from dialer.db import Database
    from dialer.outcomes.callbacks import due_counts as callback_counts
    from dialer.outcomes.models import Disposition, Promise
    from dialer.outcomes.referrals import counts_by_kind as referral_counts
    from dialer.portfolio.models import Account
    from dialer.redis import get_redis

    s_settings = load_settings(env)
    db = Database(s_settings)
    now = Clock.from_settings(s_settings).now()
    with db.session() as s:
        st = status(s, get_redis(s_settings), s.get_one(Campaign, cid), now)
        promises, promised = s.execute(
            select(func.count(Promise.id), func.coalesce(func.sum(Promise.amount), 0)).where(
                Promise.kind == "promise"
            )
        ).one()
        codes = dict(
            s.execute(select(Disposition.code, func.count()).group_by(Disposition.code)).all()
        )
        referrals = referral_counts(s)
        callbacks = callback_counts(s, now)
        # Consistency: every connected call has an attempt with a SID, every promise an
        # agent took a connected call (the IVR's promises are the borrower's key presses).
        connected_without_sid = s.scalar(
            select(func.count()).where(
                CallAttempt.connected_at.is_not(None), CallAttempt.call_sid.is_(None)
            )
        )
        promises_without_connected_call = s.scalar(
            select(func.count(Promise.id))
            .join(Disposition, Disposition.id == Promise.disposition_id)
            .join(CallAttempt, CallAttempt.id == Disposition.attempt_id)
            .where(CallAttempt.connected_at.is_(None), Disposition.set_by == "agent")
        )
        agent_requests = s.scalar(
            select(func.count(CallAttempt.id)).where(
                CallAttempt.campaign_id == cid, CallAttempt.ivr_path.like("3%")
            )
        )
        out = {
            "campaign_id": cid,
            "accounts": s.scalar(select(func.count(Account.id))),
            "calls_placed": st["calls_placed"],
            "answered_human": st["answered_human"],
            "answered_machine": st["answered_machine"],
            "no_answer": st["no_answer"],
            "busy": st["busy"],
            "failed": st["failed"],
            "errors": st["errors"],
            "connected_to_agent": st["connected_to_agent"],
            "abandoned": st["abandoned"],
            "hung_up_before_agent": st["hung_up_before_agent"],
            "abandon_rate": st["abandon_rate"],
            "abandon_delay_ms_max": st["abandon_delay_ms_max"],
            "voicemails_left": st["voicemails_left"],
            "wrap_up_overruns": st["wrap_up_overruns"],
            "promises": promises,
            "promised_amount": int(promised),
            "callbacks": callbacks,
            "referrals": referrals,
            "action_codes": codes,
            "entries": st["entries"],
            "entries_done": st["done"],
            "blocked": st["blocked"],
            "consistency": {
                "connected_without_call_sid": connected_without_sid,
                "promises_without_connected_call": promises_without_connected_call,
            },
        }
        if st["dial_mode"] == "ivr":
            ivr = st["ivr_codes"]
            out.update(
                ivr_promises=ivr.get("PTP", 0),
                ivr_paid_claims=ivr.get("PAID", 0),
                ivr_agent_requests=agent_requests,
                ivr_wrong_party=ivr.get("NCI", 0),
                ivr_no_input=ivr.get("NRS", 0),
            )
    db.engine.dispose()
    return out


def carrier_calls(mock_url: str) -> int | None:
    """How many customer calls (not agent legs) the mock carrier saw."""
    try:
        calls = requests.get(f"{mock_url}/_mock/calls?limit=100000", timeout=10).json()["calls"]
    except (requests.RequestException, ValueError, KeyError):
        return None
    return sum(
        1 for c in calls if str(c.get("to", "")).startswith("+") and c.get("direction") != "inbound"
    )


def latencies(mock_url: str) -> dict[str, float | None]:
    """From the mock's own measurements (real milliseconds): the voice webhook's answer
    time, and a live answer to the customer joining the agent's conference."""
    try:
        stats = requests.get(f"{mock_url}/_mock/stats", timeout=10).json()
    except (requests.RequestException, ValueError):
        return {}
    voice = stats.get("webhooks", {}).get("voice", {})
    bridge = stats.get("bridge", {})
    return {
        "bridge_ms_p50": bridge.get("p50_ms"),
        "bridge_ms_p99": bridge.get("p99_ms"),
        "bridges": bridge.get("count", 0),
        "webhook_ms_p50": voice.get("p50_ms"),
        "webhook_ms_p99": voice.get("p99_ms"),
        "voice_webhooks": voice.get("count", 0),
    }
