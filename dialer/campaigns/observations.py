"""What the pacer learns from: the campaign's recent calls, read from SQL as plain numbers,
folded into the same online estimator the simulator in bench/pacing.py drives.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from dialer.campaigns.models import CallAttempt, Campaign
from dialer.campaigns.pacing import PacingEstimates, PacingEstimator
from dialer.campaigns.service import abandon_period_counts, abandon_window_counts
from dialer.outcomes.models import Disposition
from dialer.redis import Keys

RECENT_CALLS = 1000  # enough for stable estimates, recent enough to follow the day
# System result -> the estimator's outcome (what held the line, and for how long).
OUTCOME_OF = {
    "human": "human",
    "abandoned": "human",
    "hung_up": "human",
    "machine": "machine",
    "no_answer": "no_answer",
    "busy": "busy",
    "failed": "busy",
}


@dataclass
class Observations:
    """A campaign's recent ended dials (oldest first) and the day's abandon counters."""

    dials: list[tuple[str, float]] = field(default_factory=list)  # (outcome, seconds)
    talk_times: list[float] = field(default_factory=list)  # bridged calls, seconds
    wrap_times: list[float] = field(default_factory=list)  # call end -> agent's code
    live_today: int = 0
    abandoned_today: int = 0


@dataclass(frozen=True)
class PacingInputs:
    """What the pacer reads from SQL: estimates, the abandons of the campaign day and of
    the profile's own period (24 h for Ofcom, 30 days for Regulation F), the limits."""

    estimates: PacingEstimates
    live_today: int
    abandoned_today: int
    abandon_target: float
    max_lines_per_agent: float
    live_period: int = 0
    abandoned_period: int = 0


def _seconds(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    later = later if later.tzinfo else later.replace(tzinfo=UTC)
    earlier = earlier if earlier.tzinfo else earlier.replace(tzinfo=UTC)
    return max(0.0, (later - earlier).total_seconds())


def read(session: Session, campaign_id: int, day_start: datetime) -> Observations:
    """The campaign's last RECENT_CALLS ended dials, and live/abandoned counts since
    day_start (the campaign day the abandon target is measured over)."""
    rows = session.execute(
        select(
            CallAttempt.result,
            CallAttempt.created_at,
            CallAttempt.answered_at,
            CallAttempt.connected_at,
            CallAttempt.ended_at,
            Disposition.created_at,
            Disposition.set_by,
        )
        .outerjoin(Disposition, Disposition.attempt_id == CallAttempt.id)
        .where(
            CallAttempt.campaign_id == campaign_id,
            CallAttempt.ended_at.is_not(None),
            CallAttempt.call_sid.is_not(None),
        )
        .order_by(CallAttempt.id.desc())
        .limit(RECENT_CALLS)
    ).all()
    out = Observations()
    for result, created, answered, connected, ended, disposed, set_by in reversed(rows):
        outcome = OUTCOME_OF.get(result or "")
        if outcome is None:
            continue  # error, canceled: our side or nobody's, says nothing of borrowers
        # A person: placed -> answered. Anything else: placed -> line released.
        held = _seconds(answered if outcome == "human" else ended, created)
        if held is not None:
            out.dials.append((outcome, held))
        talk = _seconds(ended, connected)
        if talk is not None:
            out.talk_times.append(talk)
        wrap = _seconds(disposed, ended) if set_by == "agent" else None
        if wrap is not None:
            out.wrap_times.append(wrap)
    out.live_today, out.abandoned_today = abandon_window_counts(session, campaign_id, day_start)
    return out


def pacing_inputs(
    session: Session, campaign_id: int, day_start: datetime, now: datetime
) -> PacingInputs:
    obs = read(session, campaign_id, day_start)
    est = PacingEstimator.start().observe_all(obs.dials, obs.talk_times, obs.wrap_times)
    campaign = session.get_one(Campaign, campaign_id)
    live_period, abandoned_period = abandon_period_counts(session, campaign, now)
    return PacingInputs(
        est.estimates(),
        obs.live_today,
        obs.abandoned_today,
        campaign.abandon_target,
        campaign.max_lines_per_agent,
        live_period,
        abandoned_period,
    )


def cached(
    r: redis.Redis,
    session_factory: Any,
    campaign_id: int,
    day_start: datetime,
    now: datetime,
    ttl_ms: int,
) -> PacingInputs:
    """pacing_inputs(), shared by every pacer through Redis for ttl_ms."""
    key = Keys.pacing_inputs(campaign_id)
    raw = r.get(key)
    if raw is not None:
        data = json.loads(raw)
        return PacingInputs(**{**data, "estimates": PacingEstimates(**data["estimates"])})
    with session_factory() as s:
        inputs = pacing_inputs(s, campaign_id, day_start, now)
    r.set(key, json.dumps(asdict(inputs)), px=max(1, ttl_ms))
    return inputs
