"""Imports every domain's models so the metadata (and Alembic) sees all tables."""

from dialer.agents.models import Agent, PauseCode, PresenceChange
from dialer.auth.models import ApiClient, User
from dialer.campaigns.models import (
    BlockedDial,
    CallAttempt,
    Campaign,
    CampaignEntry,
    DncNumber,
)
from dialer.outcomes.models import ActionCode, Callback, Disposition, Promise, Referral
from dialer.portfolio.imports.models import ImportRun, ImportRunFile, ImportRunLine
from dialer.portfolio.models import Account, Payment, Phone
from dialer.scripts.models import CallScript

__all__ = [
    "Account",
    "ActionCode",
    "Agent",
    "ApiClient",
    "BlockedDial",
    "CallAttempt",
    "CallScript",
    "Callback",
    "Campaign",
    "CampaignEntry",
    "Disposition",
    "DncNumber",
    "ImportRun",
    "ImportRunFile",
    "ImportRunLine",
    "PauseCode",
    "Payment",
    "Phone",
    "PresenceChange",
    "Promise",
    "Referral",
    "User",
]
