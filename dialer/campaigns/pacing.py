"""Pacing: how many calls to start now. Pure functions from a snapshot to a number.

The same code runs in the live pacer (dialer/campaigns/pacer.py) and, later, in the
discrete-event simulator in bench/.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PacingSnapshot:
    agents_ready: int  # logged in, waiting for a call
    agents_busy: int = 0  # talking or wrapping up
    calls_dialing: int = 0  # placed, not yet answered or ended
    queued_entries: int = 0  # entries waiting in the dial queue


def progressive(s: PacingSnapshot) -> int:
    """One call per ready agent: never more calls ringing than agents waiting."""
    return max(0, min(s.agents_ready - s.calls_dialing, s.queued_entries))


POLICIES = {"progressive": progressive}


def calls_to_start(mode: str, s: PacingSnapshot) -> int:
    """Dispatch on the campaign's dial mode."""
    try:
        policy = POLICIES[mode]
    except KeyError:
        raise ValueError(f"no pacing policy for dial mode {mode!r}") from None
    return policy(s)
