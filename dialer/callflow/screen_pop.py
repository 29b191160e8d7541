"""The screen pop: what an agent's desk shows the moment they are taken for a call
(outbound, inbound, preview): the account, the phone dialed, the rendered talk track, the
attempt, and the action codes they may record with the fields each requires."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dialer.agents.models import Agent
from dialer.callflow import common
from dialer.campaigns.models import CallAttempt, Campaign
from dialer.config import Settings
from dialer.outcomes.catalogue import load_catalogue
from dialer.outcomes.models import Promise
from dialer.portfolio.models import Account, Phone
from dialer.privacy import mask_phone
from dialer.scripts import service as scripts

# What each field a code may require asks the agent for (Vietnamese first).
FIELD_LABELS = {
    "promise_amount": {"vi": "Số tiền hứa trả (đồng)", "en": "Amount promised (VND)"},
    "promise_date": {"vi": "Ngày hứa trả", "en": "Promise date"},
    "callback_at": {"vi": "Giờ gọi lại", "en": "Call back at"},
    "note": {"vi": "Ghi chú", "en": "Note"},
    "new_phone": {"vi": "Số điện thoại mới", "en": "New phone number"},
}


def agent_codes(session: Session) -> list[dict[str, Any]]:
    """The action codes an agent may record now, with their required fields."""
    catalogue = load_catalogue(session)
    return [
        {
            "code": spec.code,
            "label_vi": spec.label_vi,
            "label_en": spec.label_en,
            "requires": [{"field": f, "label": FIELD_LABELS.get(f, {})} for f in spec.requires],
        }
        for spec in sorted(catalogue.values(), key=lambda c: c.code)
        if spec.active and "agent" in spec.setters
    ]


def screen_pop(session: Session, settings: Settings, attempt_id: int) -> dict[str, Any] | None:
    """The desk's view of an attempt's call (None when it has no account yet)."""
    attempt = session.get(CallAttempt, attempt_id)
    if attempt is None or attempt.account_id is None:
        return None
    account = session.get_one(Account, attempt.account_id)
    phone = session.get(Phone, attempt.phone_id) if attempt.phone_id else None
    campaign = session.get(Campaign, attempt.campaign_id) if attempt.campaign_id else None
    agent = session.get(Agent, attempt.agent_id) if attempt.agent_id else None
    caller = common.caller_of(campaign, settings)
    context = common.account_context(
        session, account, caller, settings, agent_name=agent.name if agent else None
    )
    script = common.talk_script_of(session, campaign)
    promise = session.scalar(
        select(Promise)
        .where(Promise.account_id == account.id, Promise.kind == "promise")
        .order_by(Promise.id.desc())
        .limit(1)
    )
    number = phone.number if phone else attempt.caller_number
    return {
        "attempt_id": attempt.id,
        "direction": attempt.direction,
        "campaign": {"id": campaign.id, "name": campaign.name} if campaign else None,
        "account": {
            "account_no": account.account_no,
            "customer_name": account.customer_name,
            "product": account.product,
            "branch": account.branch,
            "dpd": account.dpd,
            "due_date": account.due_date.isoformat() if account.due_date else None,
            "overdue_amount": account.overdue_amount,
            "principal_outstanding": account.principal_outstanding,
            "overdue_amount_text": context.get("overdue_amount"),
            "outstanding_text": context.get("outstanding"),
            "last_promise": None
            if promise is None
            else {
                "amount": promise.amount,
                "due_date": promise.due_date.isoformat(),
                "state": promise.state,
            },
        },
        "phone": {
            "number": mask_phone(number) if number else None,
            "relation": phone.relation if phone else None,
        },
        "script": {
            "name": script.name,
            "sections": scripts.render_talk_track(
                script, context=context, language=common.LANGUAGE
            ),
        },
        "action_codes": agent_codes(session),
    }
