"""What the desk costs the web app per request: `python bench/desk.py --requests 200`.

Builds a fresh embedded home (SQLite, embedded Redis), a portfolio with call history (each
account: phones, earlier attempts with codes and notes, promises, payments), one agent
user, and then times, through the real app (Flask's test client, no network):

- sign-in (POST /login: the scrypt check is the point of it, by design slow);
- the desk page (GET /desk);
- the screen pop (GET /desk/calls/<attempt>: account, history, talk track, the form);
- my callbacks and payments (GET /desk/lists);
- a disposition through the JSON API with the session cookie and CSRF (POST).

Figures in milliseconds, median and p95 over --requests requests each (sign-in: 9, under
the burst limit of one user name).
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta

from dialer.app import create_app
from dialer.auth import service as users
from dialer.campaigns.models import CallAttempt, Campaign, CampaignEntry
from dialer.config import load_settings
from dialer.db import get_database, upgrade
from dialer.outcomes.catalogue import seed_default_codes
from dialer.outcomes.models import Disposition, Promise
from dialer.portfolio.models import Account, Payment, Phone
from dialer.redis import stop_embedded
from dialer.runtime import Runtime

PASSWORD = "mat-khau-cho-bench"


def _portfolio(db, accounts: int, agent_id: int) -> list[int]:
    """Accounts with a history worth drawing; the attempts of `agent_id` to pop, one each."""
    now = datetime.now(UTC)
    pops = []
    with db.begin() as s:
        campaign = Campaign(name="bench", team="B2", state="running")
        s.add(campaign)
        s.flush()
        for n in range(accounts):
            account = Account(
                account_no=f"B{n:06d}",
                customer_name=f"Nguyễn Văn {n}",
                national_id=f"0791{n:08d}",
                overdue_amount=1_250_000 + n,
                principal_outstanding=30_000_000,
                dpd=45,
                product="Thẻ tín dụng",
            )
            s.add(account)
            s.flush()
            phones = [
                Phone(account_id=account.id, number=f"+849{n:07d}{k}", raw="x",
                      relation=rel, priority=k)
                for k, rel in enumerate(("mobile", "home", "reference"))
            ]  # fmt: skip
            s.add_all(phones)
            entry = CampaignEntry(campaign_id=campaign.id, account_id=account.id, score=1.0)
            s.add(entry)
            s.flush()
            for k in range(8):  # earlier calls with their codes and notes
                attempt = CallAttempt(
                    campaign_id=campaign.id, entry_id=entry.id, account_id=account.id,
                    phone_id=phones[k % 3].id, agent_id=agent_id, status="completed",
                    result="human", created_at=now - timedelta(days=k + 1),
                    ended_at=now - timedelta(days=k + 1),
                )  # fmt: skip
                s.add(attempt)
                s.flush()
                code = "PTP" if k % 3 == 0 else "CAB" if k % 3 == 1 else "RTP"
                d = Disposition(
                    attempt_id=attempt.id, account_id=account.id, agent_id=agent_id, code=code,
                    set_by="agent", note="Khách hẹn trả, số 0901234567",
                    created_at=attempt.created_at,
                )  # fmt: skip
                s.add(d)
                s.flush()
                if code == "PTP":
                    s.add(Promise(account_id=account.id, disposition_id=d.id, agent_id=agent_id,
                                  amount=1_000_000, due_date=(now - timedelta(days=k)).date(),
                                  state="broken"))  # fmt: skip
            s.add(Payment(account_id=account.id, amount=500_000, paid_on=now.date(),
                          reference=f"FT{n}", channel="chuyen_khoan"))  # fmt: skip
            live = CallAttempt(
                campaign_id=campaign.id, entry_id=entry.id, account_id=account.id,
                phone_id=phones[0].id, agent_id=agent_id, status="in-progress", result="human",
            )  # fmt: skip
            s.add(live)
            s.flush()
            pops.append(live.id)
    return pops


def _timed(n: int, call) -> list[float]:
    out = []
    for i in range(n):
        start = time.perf_counter()
        response = call(i)
        out.append((time.perf_counter() - start) * 1000)
        assert response.status_code < 400, (response.status_code, response.get_data()[:300])
    return out


def _line(name: str, ms: list[float]) -> str:
    p95 = statistics.quantiles(ms, n=20)[-1] if len(ms) >= 20 else max(ms)
    return f"{name:<28} median {statistics.median(ms):7.1f} ms   p95 {p95:7.1f} ms   n={len(ms)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="bench-desk-")
    settings = load_settings({"DIALER_HOME": home, "DIALER_LOGIN_LIMIT_USER": "1000 per minute"})
    try:
        upgrade(settings)
        db = get_database(settings)
        with db.begin() as s:
            seed_default_codes(s)
            user = users.create_user(
                s, username="lan", name="Trần Thị Lan", role="agent", team="B2", password=PASSWORD
            )
            agent_id = user.agent_id
        pops = _portfolio(db, args.requests, agent_id)
        app = create_app(runtime=Runtime(settings))
        client = app.test_client()
        _sign_in(app, client)
        print(_line("sign-in (scrypt)", _timed(9, lambda i: _sign_in(app))))
        csrf = re.search(
            r'csrf-token" content="([^"]+)', client.get("/desk").get_data(as_text=True)
        ).group(1)
        print(_line("desk page", _timed(args.requests, lambda i: client.get("/desk"))))
        print(
            _line(
                "screen pop fragment",
                _timed(args.requests, lambda i: client.get(f"/desk/calls/{pops[i]}")),
            )
        )
        print(
            _line(
                "my callbacks and payments",
                _timed(args.requests, lambda i: client.get("/desk/lists")),
            )
        )
        print(_line("disposition (RTP)", _timed(args.requests, lambda i: client.post(
            f"/api/attempts/{pops[i]}/disposition", json={"code": "RTP"},
            headers={"X-CSRFToken": csrf}))))  # fmt: skip
    finally:
        stop_embedded(settings)


def _sign_in(app, client=None):
    client = client or app.test_client()
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'csrf-token" content="([^"]+)', html).group(1)
    return client.post(
        "/login", data={"username": "lan", "password": PASSWORD, "csrf_token": token}
    )


if __name__ == "__main__":
    main()
