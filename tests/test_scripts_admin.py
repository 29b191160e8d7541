"""`dialer scripts ...` and /api/scripts, against the real database."""

from __future__ import annotations

import json
from datetime import date

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from dialer.app import create_app
from dialer.cli import main
from dialer.runtime import Runtime
from dialer.scripts.models import CallScript
from dialer.scripts.service import DEFAULT_AGENT_SCRIPT, DEFAULT_IVR_SCRIPT
from dialer.scripts.variables import PROMPTS
from tests import factories

_doc = factories.script_source

AUTH = {"Authorization": "Bearer test-api-token"}


@pytest.fixture
def account_no(process_env, db):
    with db.begin() as s:
        acc = factories.account(
            s, customer_name="Hoàng Thị Lan", overdue=2_500_000, due_date=date(2026, 11, 2)
        )
        return acc.account_no


@pytest.fixture
def cli(process_env):
    runner = CliRunner()
    return lambda *args: runner.invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def api(process_env, settings):
    return create_app(runtime=Runtime(settings)).test_client()


def _rows(db) -> list[tuple[str, int, str]]:
    with db.session() as s:
        return [(r.name, r.version, r.source) for r in s.scalars(select(CallScript))]


def test_list_show_and_check_from_the_cli(cli, tmp_path):
    listed = json.loads(cli("scripts", "list", "--json").output)
    assert [(r["name"], r["origin"]) for r in listed] == [
        (DEFAULT_IVR_SCRIPT, "shipped"),
        (DEFAULT_AGENT_SCRIPT, "shipped"),
    ]
    assert "Kịch bản nhắc nợ tự động" in cli("scripts", "list").output
    shown = cli("scripts", "show", DEFAULT_IVR_SCRIPT)
    assert shown.exit_code == 0 and "# nhac-no-mac-dinh: shipped with the dialer" in shown.output
    assert "name: nhac-no-mac-dinh" in shown.output
    data = json.loads(cli("scripts", "show", DEFAULT_AGENT_SCRIPT, "--json").output)
    assert (data["origin"], data["talk_track"], data["prompts"]) == ("shipped", True, [])
    assert "no problems" in cli("scripts", "check", DEFAULT_IVR_SCRIPT).output
    good = tmp_path / "good.yaml"
    good.write_text(_doc(), encoding="utf-8")
    assert "script thu-nghiem, no problems" in cli("scripts", "check", "--file", good).output
    bad = tmp_path / "bad.yaml"
    bad.write_text(_doc(prompts={"voicemail": {"vi": "{{ dpd }}", "en": "{{ x"}}), "utf-8")
    checked = cli("scripts", "check", "--file", bad)
    assert checked.exit_code == 1 and f"{bad} has problems" in checked.output
    assert "prompts.voicemail.vi" in checked.output and "prompts.voicemail.en" in checked.output
    assert cli("scripts", "check").exit_code == 2  # NAME or --file
    unknown = cli("scripts", "show", "khong-co")
    assert unknown.exit_code == 1 and "unknown script 'khong-co'" in unknown.output


def test_save_render_and_delete_from_the_cli(cli, db, account_no, tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(_doc(), encoding="utf-8")
    saved = cli("scripts", "save", "thu-nghiem", "--file", path, "--by", "Mai")
    assert saved.exit_code == 0 and "Saved thu-nghiem, version 1." in saved.output
    assert "version 2" in cli("scripts", "save", "thu-nghiem", "--file", path).output
    before = _rows(db)
    path.write_text(_doc(prompts={"greeting": {"vi": "{{ tien }}", "en": "x"}}), "utf-8")
    refused = cli("scripts", "save", "thu-nghiem", "--file", path)
    assert refused.exit_code == 1 and "script thu-nghiem was not saved" in refused.output
    assert "{{ tien }} is not a script variable" in refused.output
    assert _rows(db) == before  # nothing changed
    missing = cli("scripts", "save", "thu-nghiem", "--file", tmp_path / "none.yaml")
    assert missing.exit_code != 0

    rendered = json.loads(
        cli("scripts", "render", "thu-nghiem", "--account", account_no, "--json").output
    )
    assert rendered["prompts"]["greeting"] == {
        "kind": "say",
        "text": "Xin chào quý khách Hoàng Thị Lan, quá hạn 2.500.000\xa0₫.",
        "url": None,
        "language": "vi-VN",
        "from": "thu-nghiem",
    }
    assert set(rendered["prompts"]) == set(PROMPTS)
    assert rendered["prompts"]["menu"]["from"] == DEFAULT_IVR_SCRIPT
    assert rendered["talk_track_from"] == DEFAULT_AGENT_SCRIPT
    assert "[company]" in rendered["prompts"]["voicemail"]["text"]
    english = cli(
        "scripts", "render", DEFAULT_AGENT_SCRIPT, "--account", account_no, "--lang", "en",
        "--company", "Ngân hàng Phương Nam", "--agent-name", "Tú",
    )  # fmt: skip
    assert english.exit_code == 0, english.output
    assert "== Opening (opening)\nGood morning / good afternoon. My name is Tú" in english.output
    assert "-- greeting (say en-US, from nhac-no-mac-dinh)\nHello Hoàng Thị Lan" in english.output
    assert "₫2,500,000" in english.output
    no_account = cli("scripts", "render", DEFAULT_IVR_SCRIPT, "--account", "NONE")
    assert no_account.exit_code == 1 and "no account 'NONE'" in no_account.output
    no_script = cli("scripts", "render", "khong-co", "--account", account_no)
    assert no_script.exit_code == 1 and "unknown script" in no_script.output
    bad_lang = cli("scripts", "render", DEFAULT_IVR_SCRIPT, "--account", account_no, "--lang", "fr")
    assert bad_lang.exit_code == 2

    shipped = cli("scripts", "delete", DEFAULT_IVR_SCRIPT)
    assert shipped.exit_code == 1 and "cannot be deleted" in shipped.output
    assert "Deleted the saved script thu-nghiem." in cli("scripts", "delete", "thu-nghiem").output
    assert _rows(db) == []
    assert cli("scripts", "delete", "thu-nghiem").exit_code == 1


def test_the_scripts_api(api, db, account_no):
    assert api.get("/api/scripts").status_code == 401
    listed = api.get("/api/scripts", headers=AUTH).json
    assert [r["name"] for r in listed] == [DEFAULT_IVR_SCRIPT, DEFAULT_AGENT_SCRIPT]
    one = api.get(f"/api/scripts/{DEFAULT_IVR_SCRIPT}", headers=AUTH).json
    assert one["origin"] == "shipped" and one["source"].startswith("# The default IVR")
    assert api.get("/api/scripts/khong-co", headers=AUTH).status_code == 404

    url = "/api/scripts/thu-nghiem"
    created = api.put(url, json={"source": _doc(), "by": "Mai"}, headers=AUTH)
    assert created.status_code == 201, created.json
    assert (created.json["version"], created.json["updated_by"]) == (1, "Mai")
    assert api.put(url, json={"source": _doc()}, headers=AUTH).status_code == 200
    before = _rows(db)
    bad = _doc(prompts={"abandon": {"vi": "{{ overdue_amount }}", "en": "x"}})
    refused = api.put(url, json={"source": bad}, headers=AUTH)
    assert refused.status_code == 422 and refused.json["error"] == "script thu-nghiem was not saved"
    assert "{{ overdue_amount }} cannot be used here" in refused.json["problems"][0]
    renamed = api.put("/api/scripts/khac", json={"source": _doc()}, headers=AUTH)
    assert (
        renamed.status_code == 422 and "it is being saved as 'khac'" in renamed.json["problems"][0]
    )
    for body, message in [
        ({"by": "Mai"}, "source is required"),
        ({"source": 12}, "source must be text"),
        ({"source": _doc(), "colour": 1}, "unknown field(s): colour"),
    ]:
        answer = api.put(url, json=body, headers=AUTH)
        assert answer.status_code == 400 and message in answer.json["error"], answer.json
    assert api.put(url, data="x", headers=AUTH).status_code == 400
    assert _rows(db) == before

    rendered = api.get(f"{url}/render?account={account_no}&lang=en", headers=AUTH)
    assert rendered.status_code == 200
    assert rendered.json["prompts"]["greeting"]["text"] == (
        "Hello Hoàng Thị Lan, ₫2,500,000 is overdue."
    )
    assert rendered.json["talk_track"][0]["title"] == "Opening"
    assert api.get(f"{url}/render?account=NONE", headers=AUTH).status_code == 404
    assert api.get(f"{url}/render", headers=AUTH).status_code == 400
    assert api.get(f"{url}/render?account={account_no}&lang=fr", headers=AUTH).status_code == 400
    assert api.get(f"{url}/render?account={account_no}&x=1", headers=AUTH).status_code == 400
    long_company = "x" * 300
    too_long = api.get(f"{url}/render?account={account_no}&company={long_company}", headers=AUTH)
    assert too_long.status_code == 400 and "company must be" in too_long.json["problems"][0]

    with db.begin() as s:
        factories.campaign(s, name="IVR sáng", script="thu-nghiem", state="paused")
    held = api.delete(url, headers=AUTH)
    assert held.status_code == 409 and "IVR sáng" in held.json["problems"][0]
    assert api.delete(f"/api/scripts/{DEFAULT_IVR_SCRIPT}", headers=AUTH).status_code == 409
    assert api.delete("/api/scripts/khong-co", headers=AUTH).status_code == 404
    with db.begin() as s:
        s.scalars(select(factories.Campaign)).one().state = "stopped"
    assert api.delete(url, headers=AUTH).status_code == 204
    assert _rows(db) == []
