"""The campaign form's live count: what a launch with these settings would select now,
checked against SQL and against the entries a real launch then writes; nothing written."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from dialer.app import create_app
from dialer.campaigns.models import CampaignEntry
from dialer.outcomes.catalogue import seed_default_codes
from dialer.portfolio.models import Account
from dialer.runtime import Runtime
from tests import factories

AUTH = {"Authorization": "Bearer test-api-token"}


@pytest.fixture
def api(process_env, db, redis_client):
    with db.begin() as s:
        seed_default_codes(s)
        for dpd in (5, 20, 35, 50, 70, 95, 200):
            factories.account(s, dpd=dpd, product="card" if dpd % 2 else "loan")
        factories.account(s, dpd=40, status="closed")  # left out: closed
        factories.account(s, dpd=45, phones=())  # left out: no phone to call
    return create_app(runtime=Runtime(process_env)).test_client()


def test_the_count_is_what_sql_holds_and_what_a_launch_then_writes(api, db):
    body = {"filters": {"dpd_min": 31, "dpd_max": 90}}
    counted = api.post("/api/campaigns/count", json=body, headers=AUTH)
    assert counted.status_code == 200, counted.get_json()
    figures = counted.get_json()
    with db.session() as s:
        in_range = select(func.count()).where(Account.dpd.between(31, 90))
        active_with_phone = s.scalar(
            in_range.where(Account.status == "active", Account.phones.any())
        )
        assert s.scalar(select(func.count()).select_from(CampaignEntry)) == 0  # nothing written
    assert figures["matching"] == active_with_phone == 3
    assert figures["excluded"] == {"account_closed": 1, "no_callable_phone": 1}
    made = api.post("/api/campaigns", json={"name": "B2", **body}, headers=AUTH).get_json()
    launched = api.post(f"/api/campaigns/{made['id']}/launch", headers=AUTH).get_json()
    assert launched["entries"] == figures["matching"]


def test_the_count_follows_the_filters_and_refuses_what_create_refuses(api):
    def matching(filters):
        return api.post("/api/campaigns/count", json={"filters": filters}, headers=AUTH)

    assert matching({"products": ["card"]}).get_json()["matching"] == 3  # dpd 5, 35, 95
    assert matching({"buckets": ["B1"]}).get_json()["matching"] == 2  # dpd 5, 20
    refused = matching({"dpd_min": 90, "dpd_max": 30})
    assert refused.status_code == 400 and "dpd_min is above dpd_max" in refused.get_json()["error"]
    unknown = api.post("/api/campaigns/count", json={"filtres": {}}, headers=AUTH)
    assert unknown.status_code == 400 and "unknown setting" in unknown.get_json()["error"]
