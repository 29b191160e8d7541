"""Which accounts, campaigns and teams a principal reaches: an administrator (or an
all-reaching API client) everything; a team lead their team's; an agent their campaigns'
accounts and their own calls'. Read in SQL by the views that show such things."""

from __future__ import annotations

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from dialer.agents.models import Agent
from dialer.agents.service import may_work
from dialer.auth.access import Principal, principal_or_raise
from dialer.auth.models import Role
from dialer.campaigns.models import CallAttempt, Campaign, CampaignEntry
from dialer.http import ApiError


def team_of_principal() -> str | None:
    """None for whoever reaches every team; else the lead's (or agent's) own team."""
    principal = principal_or_raise()
    return None if principal.is_admin else (principal.team or "")


def check_team(team: str | None) -> None:
    """A team's campaign, template, alert...: its lead's, or an administrator's."""
    principal = principal_or_raise()
    if principal.is_admin:
        return
    if principal.role is Role.LEAD and team is not None and team == principal.team:
        return
    raise ApiError("this belongs to another team", 403)


def team_agent_ids(session: Session, team: str) -> set[int]:
    return set(session.scalars(select(Agent.id).where(Agent.team == team)))


def may_see_account(session: Session, *, principal: Principal, account_id: int) -> bool:
    """An agent sees the accounts of the campaigns they may work and of their own calls; a
    team lead those their team may work and those of their agents' calls."""
    if principal.is_admin:
        return True
    if principal.role is Role.AGENT and principal.agent_id is not None:
        caller = CallAttempt.agent_id == principal.agent_id
        agent_id = principal.agent_id
    elif principal.role is Role.LEAD and principal.team is not None:
        caller = CallAttempt.agent_id.in_(select(Agent.id).where(Agent.team == principal.team))
        agent_id = -1  # a lead is no campaign's named agent
    else:
        return False
    if session.scalar(select(exists().where(CallAttempt.account_id == account_id, caller))):
        return True
    campaigns = session.execute(
        select(Campaign.team, Campaign.agent_ids)
        .join(CampaignEntry, CampaignEntry.campaign_id == Campaign.id)
        .where(CampaignEntry.account_id == account_id)  # (no DISTINCT: PostgreSQL's json)
    ).all()
    return any(
        may_work(team, agent_ids or [], principal.team, agent_id) for team, agent_ids in campaigns
    )


def check_account(session: Session, account_id: int) -> None:
    if not may_see_account(session, principal=principal_or_raise(), account_id=account_id):
        raise ApiError("this account belongs to another team", 403)
