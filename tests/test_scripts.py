"""Call scripts: the check, the sandbox, rendering for real accounts, saving and the cache."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from jinja2.exceptions import SecurityError
from sqlalchemy import event, select
from twilio.twiml.voice_response import VoiceResponse

from dialer.scripts import service
from dialer.scripts.document import DEFAULTS_DIR, ENV, shipped
from dialer.scripts.models import CallScript
from dialer.scripts.service import (
    DEFAULT_AGENT_SCRIPT,
    DEFAULT_IVR_SCRIPT,
    Prompt,
    ScriptConflict,
    ScriptError,
    UnknownScript,
    account_context,
    check_source,
    render_prompt,
    render_talk_track,
)
from dialer.scripts.variables import PROMPTS, SECTIONS, VARIABLES, day, moment, money
from tests import factories

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
COMPANY, HOTLINE = "Ngân hàng TMCP Phương Nam", "1900 5555"


_doc = factories.script_source


def _problems(source: str) -> list[str]:
    with pytest.raises(ScriptError) as err:
        check_source(source)
    return err.value.problems


def _context(session, acc, language="vi", **extras):
    return account_context(
        session, account=acc, company=COMPANY, callback_number=HOTLINE, language=language, **extras
    )


# --- the shipped scripts ------------------------------------------------------------------


def test_the_shipped_scripts_pass_the_check_and_the_ivr_default_has_every_prompt():
    assert service.shipped_names() == (DEFAULT_IVR_SCRIPT, DEFAULT_AGENT_SCRIPT)
    for path in sorted(DEFAULTS_DIR.glob("*.yaml")):
        script = check_source(path.read_text(encoding="utf-8"))
        assert script.name == path.stem
    ivr, agent = shipped(DEFAULT_IVR_SCRIPT), shipped(DEFAULT_AGENT_SCRIPT)
    assert set(ivr.prompts) == set(PROMPTS)
    assert all(set(by_language) == {"vi", "en"} for by_language in ivr.prompts.values())
    assert agent.talk_track is not None and list(agent.talk_track) == list(SECTIONS)
    assert ivr.origin == "shipped" and ivr.version is None


def test_the_docs_name_every_variable_prompt_and_section():
    text = (Path(__file__).parents[1] / "docs" / "scripts.md").read_text(encoding="utf-8")
    for name in [*VARIABLES, *PROMPTS, *SECTIONS]:
        assert f"`{name}`" in text, name


# --- values -------------------------------------------------------------------------------


def test_amounts_and_dates_are_written_as_each_language_reads_them():
    assert money(1_250_000, "vi") == "1.250.000\xa0₫"  # Babel keeps the symbol on the line
    assert money(1_250_000, "en") == "₫1,250,000"
    assert money(0, "vi") == "0\xa0₫"
    assert day(date(2026, 12, 1), "vi") == "01/12/2026"
    assert day(date(2026, 12, 1), "en") == "December 1, 2026"
    at = datetime(2026, 12, 2, 7, 30, tzinfo=UTC)
    assert moment(at, "vi", "Asia/Ho_Chi_Minh") == "14:30 ngày 02/12/2026"
    assert moment(at, "en", "Asia/Ho_Chi_Minh").replace("\u202f", " ") == (
        "2:30 PM, December 2, 2026"
    )


def _plain(value) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return value is None or (isinstance(value, str | int) and not isinstance(value, bool))


def test_the_context_of_a_real_account(session):
    acc = factories.account(
        session,
        customer_name="  Lê Văn   Bình ",
        overdue=1_250_000,
        principal=30_000_000,
        dpd=45,
        due_date=date(2026, 10, 17),
        product="credit card",
    )
    ctx = _context(session, acc, agent_name="Lan")
    assert _plain(ctx)
    assert {k: ctx[k] for k in ("customer_name", "given_name", "honorific", "Honorific")} == {
        "customer_name": "Lê Văn Bình",
        "given_name": "Bình",
        "honorific": "quý khách",
        "Honorific": "Quý khách",
    }
    assert (ctx["overdue_amount"], ctx["overdue_amount_value"]) == ("1.250.000\xa0₫", 1_250_000)
    assert (ctx["outstanding"], ctx["outstanding_value"]) == ("30.000.000\xa0₫", 30_000_000)
    assert (ctx["due_date"], ctx["due_date_iso"], ctx["dpd"]) == ("17/10/2026", "2026-10-17", 45)
    assert (ctx["product"], ctx["product_code"]) == ("thẻ tín dụng", "credit card")
    assert (ctx["company"], ctx["callback_number"], ctx["agent_name"]) == (COMPANY, HOTLINE, "Lan")
    assert ctx["account_no"] == acc.account_no and ctx["last_promise"] is None
    assert "promise_amount" not in ctx and "callback_time" not in ctx  # not given: not there
    english = _context(session, acc, "en")
    assert (english["overdue_amount"], english["due_date"]) == ("₫1,250,000", "October 17, 2026")
    assert (english["honorific"], english["product"]) == ("you", "credit card")


def test_the_latest_promise_and_the_step_values(session):
    acc = factories.account(session, product=None, due_date=None)
    factories.promise(
        session, acc, amount=2_000_000, due_date=date(2026, 11, 20), state="broken",
        created_at=datetime(2026, 11, 18, tzinfo=UTC),
    )  # fmt: skip
    factories.promise(
        session, acc, amount=3_500_000, due_date=date(2026, 12, 3),
        created_at=datetime(2026, 11, 30, tzinfo=UTC),
    )  # fmt: skip
    acc.timezone = "America/New_York"  # a borrower abroad hears their own time
    ctx = _context(
        session, acc, promise_amount=4_000_000, promise_date=date(2026, 12, 4),
        callback_time=datetime(2026, 12, 2, 15, 0, tzinfo=UTC),
    )  # fmt: skip
    assert ctx["last_promise"] == {
        "amount": "3.500.000\xa0₫",
        "amount_value": 3_500_000,
        "date": "03/12/2026",
        "date_iso": "2026-12-03",
        "state": "pending",
        "state_text": "đang chờ thanh toán",
    }
    assert (ctx["promise_amount"], ctx["promise_amount_value"]) == ("4.000.000\xa0₫", 4_000_000)
    assert (ctx["promise_date"], ctx["promise_date_iso"]) == ("04/12/2026", "2026-12-04")
    assert ctx["callback_time"] == "10:00 ngày 02/12/2026"
    assert (ctx["product"], ctx["due_date"]) == (None, None)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"language": "fr"}, "unknown language 'fr'"),
        ({"company": " "}, "company must be a text"),
        ({"callback_number": None}, "callback_number must be a text"),
        ({"promise_amount": -5}, "promise_amount must be a whole number of VND above 0"),
        ({"promise_amount": True}, "promise_amount must be a whole number"),
        ({"promise_date": "2026-12-01"}, "promise_date must be a date"),
        ({"callback_time": datetime(2026, 12, 2, 10)}, "callback_time must be a time with its"),
    ],
)
def test_a_bad_context_request_is_a_clear_error(session, changes, message):
    acc = factories.account(session)
    given = {"company": COMPANY, "callback_number": HOTLINE, **changes}
    with pytest.raises(ScriptError) as err:
        account_context(session, account=acc, **given)
    assert any(message in p for p in err.value.problems), err.value.problems


# --- rendering ----------------------------------------------------------------------------


def test_the_ivr_greeting_and_a_confirmation_for_a_real_account(session):
    acc = factories.account(
        session, customer_name="Phạm Thị Mai", overdue=1_250_000, due_date=date(2026, 11, 1)
    )
    ivr = service.load_or_raise(session, name=DEFAULT_IVR_SCRIPT)
    greeting = render_prompt(ivr, name="greeting", context=_context(session, acc), language="vi")
    assert greeting.kind == "say" and greeting.language == "vi-VN" and greeting.url is None
    assert greeting.text.startswith("Xin chào quý khách Phạm Thị Mai, đây là cuộc gọi tự động")
    assert "1.250.000\xa0₫" in greeting.text and "01/11/2026" in greeting.text
    ctx = _context(session, acc, "en", promise_amount=1_250_000, promise_date=date(2026, 12, 3))
    confirmed = render_prompt(ivr, name="promise_confirmed", context=ctx, language="en")
    assert confirmed.language == "en-US"
    assert "promise to pay ₫1,250,000 by December 3, 2026" in confirmed.text
    assert f"quoting contract number {acc.account_no}" in confirmed.text  # payment_channels
    no_due_date = factories.account(session, due_date=None)
    text = render_prompt(
        ivr, name="greeting", context=_context(session, no_due_date), language="vi"
    ).text
    assert "đến hạn" not in text and "  " not in text


def test_private_prompts_carry_no_debt_details(session):
    acc = factories.account(session, customer_name="Đỗ Văn Hùng", overdue=7_777_000)
    ivr = service.load_or_raise(session, name=DEFAULT_IVR_SCRIPT)
    for language in ("vi", "en"):
        ctx = _context(session, acc, language)
        for name in ("voicemail", "abandon", "wrong_party", "agent_dropped"):
            text = render_prompt(ivr, name=name, context=ctx, language=language).text
            assert "Hùng" not in text and "7" not in text and acc.account_no not in text
        voicemail = render_prompt(ivr, name="voicemail", context=ctx, language=language).text
        assert COMPANY in voicemail and HOTLINE in voicemail


def test_the_talk_track_for_a_real_account(session):
    acc = factories.account(session, customer_name="Vũ Thị Hoa", dpd=62, product="cash loan")
    factories.promise(session, acc, amount=2_000_000, due_date=date(2026, 11, 20), state="broken")
    agent = service.load_or_raise(session, name=DEFAULT_AGENT_SCRIPT)
    ctx = account_context(
        session, account=acc, company=COMPANY, callback_number=HOTLINE, agent_name="Trần Lan"
    )
    track = render_talk_track(agent, context=ctx, language="vi")
    assert [s["section"] for s in track] == list(SECTIONS)
    assert [s["title"] for s in track][:2] == ["Mở đầu", "Xác minh danh tính"]
    assert track[0]["text"].startswith("Dạ, em chào anh/chị ạ. Em là Trần Lan, nhân viên của")
    assert "Vũ Thị Hoa" in track[0]["text"] and "quá hạn" not in track[0]["text"]
    purpose = track[2]["text"]
    assert "khoản vay tiền mặt" in purpose and "quá hạn 62 ngày" in purpose
    assert "2.000.000\xa0₫ vào ngày 20/11/2026" in purpose  # the broken promise
    assert "Chuyển khoản" not in purpose and "ứng dụng ngân hàng số" in track[3]["text"]
    english = render_talk_track(
        agent, context=_context(session, acc, "en"), language="en"
    )  # no agent name: the script says so
    assert english[0]["title"] == "Opening" and "(your name)" in english[0]["text"]


def test_a_script_without_a_prompt_or_talk_track_falls_back_to_the_shipped_ones(session):
    source = _doc(
        payment_channels={"vi": "Nộp tại quầy số 7.", "en": "Pay at desk 7."},
        prompts={
            "greeting": {"vi": "Chào {{ given_name }}.", "en": "Hi {{ given_name }}."},
            "menu": {"vi": {"play": "https://cdn.example.vn/menu-vi.mp3"}, "en": "Press 1."},
        },
    )
    script = service.save(session, name="thu-nghiem", source=source, by="Mai", now=NOW)
    acc = factories.account(session, customer_name="Ngô Minh Tuấn")
    ctx = _context(session, acc, promise_amount=500_000, promise_date=date(2026, 12, 2))
    assert render_prompt(script, name="greeting", context=ctx, language="vi").text == "Chào Tuấn."
    played = render_prompt(script, name="menu", context=ctx, language="vi")
    assert played == Prompt("play", None, "https://cdn.example.vn/menu-vi.mp3", "vi-VN")
    default = render_prompt(script, name="promise_confirmed", context=ctx, language="vi")
    assert "500.000\xa0₫" in default.text and default.text.endswith("Nộp tại quầy số 7.")
    track = render_talk_track(script, context=ctx, language="vi")
    assert "Ngô Minh Tuấn" in track[0]["text"] and "Nộp tại quầy số 7." in track[3]["text"]


def test_rendering_refuses_what_it_cannot_say(session):
    acc = factories.account(session)
    ivr = service.load_or_raise(session, name=DEFAULT_IVR_SCRIPT)
    vi = _context(session, acc)
    with pytest.raises(ScriptError, match="the context was built for 'vi'"):
        render_prompt(ivr, name="greeting", context=vi, language="en")
    with pytest.raises(ScriptError, match="unknown prompt 'greting' \\(did you mean greeting"):
        render_prompt(ivr, name="greting", context=vi, language="vi")
    # The IVR step forgot the promise: an error, never "None" or a blank in the call.
    with pytest.raises(ScriptError, match="promise_amount' is undefined"):
        render_prompt(ivr, name="promise_confirmed", context=vi, language="vi")


def test_an_inbound_caller_before_the_account_is_known(session):
    ivr = service.load_or_raise(session, name=DEFAULT_IVR_SCRIPT)
    ctx = service.general_context(company=COMPANY, callback_number=HOTLINE, language="en")
    welcome = render_prompt(ivr, name="inbound_welcome", context=ctx, language="en")
    assert welcome.text.startswith(f"Thank you for calling {COMPANY}.")
    for name in PROMPTS:  # every general prompt renders without an account
        if PROMPTS[name].restricted:
            assert render_prompt(ivr, name=name, context=ctx, language="en").text
    with pytest.raises(ScriptError, match="'account_no' is undefined"):
        render_prompt(ivr, name="inbound_account", context=ctx, language="en")
    with pytest.raises(ScriptError, match="unknown language 'de'"):
        service.general_context(company=COMPANY, callback_number=HOTLINE, language="de")


def test_twiml_escapes_what_the_templates_leave_alone(session):
    acc = factories.account(session, customer_name="Lý <Thị> & Hà")
    ivr = service.load_or_raise(session, name=DEFAULT_IVR_SCRIPT)
    ctx = account_context(session, account=acc, company="A & B", callback_number=HOTLINE)
    prompt = render_prompt(ivr, name="greeting", context=ctx, language="vi")
    assert "Lý <Thị> & Hà" in prompt.text  # autoescape off: the text as written
    response = VoiceResponse()
    prompt.add_to(response)
    Prompt("play", None, "https://cdn.example.vn/a.mp3?x=1&y=2", "vi-VN").add_to(response)
    xml = str(response)
    assert '<Say language="vi-VN">Xin chào quý khách Lý &lt;Thị&gt; &amp; Hà' in xml
    assert "<Play>https://cdn.example.vn/a.mp3?x=1&amp;y=2</Play>" in xml


# --- the sandbox and the check ------------------------------------------------------------


def test_the_sandbox_keeps_python_out_of_reach():
    problems = _problems(
        _doc(prompts={"greeting": {"vi": "{{ ''.__class__.__mro__ }}", "en": "x"}})
    )
    assert any("'__class__' is not a script value" in p for p in problems), problems
    # Below the check, the sandbox itself refuses (a template compiled by hand).
    with pytest.raises(SecurityError, match="__class__"):
        ENV.from_string("{{ x.__class__.__mro__ }}").render(x="")
    with pytest.raises(SecurityError):
        ENV.from_string("{{ x.__init__.__globals__ }}").render(x=check_source)
    assert ENV.globals == {}  # no range(), lipsum(), dict()...
    problems = _problems(_doc(prompts={"greeting": {"vi": "{{ customer_name.upper }}", "en": "x"}}))
    assert any("printed a builtin_function_or_method" in p for p in problems), problems


LONG = "Xin chào " * 150


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("name: a\n  b: [1\n", "YAML syntax error at line 2, column 4"),
        ("name: ab\nname: cd\n", "'name' is given twice"),
        ("- a list\n", "a script must be a YAML mapping"),
        ("name: ab\nx: &a {b: 1}\ny: *a\n", "line 2: anchors and aliases (&name, *name) are not"),
        (_doc(colour="red"), "colour (line 12): unknown key 'colour'"),
        (_doc(name="Bad_Name"), "name (line 1): must be 2-64 characters"),
        (_doc(payment_channels=None), "payment_channels is missing"),
        (_doc(prompts=None), "a script needs a talk_track, prompts, or both"),
        (_doc(description={"vi": "chỉ tiếng Việt"}), "description (line 2): the English text"),
        (_doc(payment_channels={"vi": "x", "fr": "y", "en": "z"}), "unknown language 'fr'"),
        (_doc(talk_track={"opening": {"vi": "a", "en": "b"}}), "the section purpose is missing"),
        (
            _doc(talk_track={**{s: {"vi": "a", "en": "b"} for s in SECTIONS}, "smalltalk": {}}),
            "talk_track.smalltalk (line 28): unknown section 'smalltalk'",
        ),
        (_doc(prompts={"greting": {"vi": "a", "en": "b"}}), "unknown prompt 'greting' (did you"),
        (_doc(prompts={"menu": {"vi": "Bấm 1"}}), "prompts.menu (line 9): the English text"),
        (_doc(prompts={"menu": {"vi": "{{ dpd ", "en": "x"}}), "template syntax error on its line"),
        (_doc(prompts={"menu": {"vi": "{{ so_tien }}", "en": "x"}}), "so_tien }} is not a script"),
        (
            _doc(prompts={"voicemail": {"vi": "Nợ {{ overdue_amount }}", "en": "x"}}),
            "{{ overdue_amount }} cannot be used here: anyone may listen to a voicemail",
        ),
        (
            _doc(prompts={"abandon": {"vi": "{{ company }}", "en": "{{ customer_name }}"}}),
            "prompts.abandon.en (line 11): {{ customer_name }} cannot be used here: it may reach",
        ),
        (
            _doc(prompts={"menu": {"vi": "{{ promise_date }}", "en": "x"}}),
            "only the prompt promise_confirmed gets it",
        ),
        (
            _doc(prompts={"menu": {"vi": "Hạn {{ due_date }}", "en": "x"}}),
            "{{ due_date }} is empty for some accounts or calls: put it inside {% if due_date %}",
        ),
        (
            _doc(prompts={"menu": {"vi": "{{ last_promise.amount }}", "en": "x"}}),
            "{{ last_promise }} is empty for some accounts",
        ),
        (
            _doc(prompts={"menu": {"vi": "{{ last_promise.colour }}", "en": "x"}}),
            "cannot be rendered: 'dict object' has no attribute 'colour'",
        ),
        (
            _doc(prompts={"menu": {"vi": {"play": "ftp://cdn/menu.mp3"}, "en": "x"}}),
            "play: must be an http(s) URL",
        ),
        (
            _doc(prompts={"menu": {"vi": {"play": "https://cdn/thực đơn.mp3"}, "en": "x"}}),
            "is not a valid URL",
        ),
        (_doc(prompts={"menu": {"vi": {"url": "https://x/y"}, "en": "x"}}), "or {play: URL}"),
        (_doc(prompts={"menu": {"vi": LONG, "en": "x"}}), "is too long: 1349 characters rendered"),
        (_doc(prompts={"menu": {"vi": "", "en": "x"}}), "prompts.menu.vi (line 10): must be a"),
        (_doc(prompts={"menu": {"vi": 12, "en": "x"}}), "must be a text (not empty)"),
        (_doc(prompts={"menu": {"vi": "{% if dpd > 999 %}x{% endif %}", "en": "x"}}), "renders to"),
        (_doc(prompts={"menu": {"vi": "{% for c in 'ab' %}{% endfor %}", "en": "x"}}), "{% for %}"),
        (_doc(prompts={"menu": {"vi": "{% set a = 1 %}", "en": "x"}}), "{% set %} cannot be used"),
        (_doc(prompts={"menu": {"vi": "{{ range(9) }}", "en": "x"}}), "calls such as name(...)"),
        (_doc(prompts={"menu": {"vi": "{{ 'x' * 9 }}", "en": "x"}}), "arithmetic cannot be used"),
        (
            _doc(prompts={"menu": {"vi": "{{ dpd|center(99) }}", "en": "x"}}),
            "the filter 'center' is not allowed",
        ),
        (_doc(prompts={"menu": {"vi": "{% include 'x' %}", "en": "x"}}), "{% include %} cannot"),
        (
            _doc(prompts={"menu": {"vi": "{{ dpd > 30 }}", "en": "x"}}),
            "printed a bool, not a text or a number",
        ),
        (
            _doc(payment_channels={"vi": "{{ payment_channels }}", "en": "x"}),
            "{{ payment_channels }} cannot be used here",
        ),
        ("x" * 100_001, "the script is too long"),
    ],
)
def test_the_check_names_each_kind_of_problem(source, message):
    problems = _problems(source)
    assert any(message in p for p in problems), problems


def test_the_check_names_every_problem_at_once():
    problems = _problems(
        _doc(
            name="x",
            prompts={
                "greeting": {"vi": "{{ ten }}", "en": "{{ dpd "},
                "voicemail": {"vi": "{{ dpd }}", "en": {"play": "nope"}},
            },
        )
    )
    assert len(problems) == 5, problems


# --- saving, loading, the cache -----------------------------------------------------------


def _row(session, name):
    return session.scalars(select(CallScript).where(CallScript.name == name)).one_or_none()


def test_save_checks_whole_and_a_refusal_changes_nothing(session):
    saved = service.save(session, name="thu-nghiem", source=_doc(), by="Mai", now=NOW)
    session.commit()
    assert (saved.origin, saved.version, saved.updated_by) == ("saved", 1, "Mai")
    before = (_row(session, "thu-nghiem").version, _row(session, "thu-nghiem").source)
    bad = _doc(prompts={"greeting": {"vi": "{{ khong_co }}", "en": "x"}})
    with pytest.raises(ScriptError) as err:
        service.save(session, name="thu-nghiem", source=bad, by="Mai", now=NOW)
    assert "{{ khong_co }} is not a script variable" in err.value.problems[0]
    with pytest.raises(ScriptError, match="the document says 'thu-nghiem', it is being saved as"):
        service.save(session, name="khac", source=_doc(), by="Mai", now=NOW)
    with pytest.raises(ScriptError, match="not a script name"):
        service.save(session, name="Khác", source=_doc(name="Khác"), by=None, now=NOW)
    with pytest.raises(ScriptError, match="by must be a name of at most 64"):
        service.save(session, name="thu-nghiem", source=_doc(), by="x" * 65, now=NOW)
    assert not session.new and not session.dirty  # refused before any write
    session.rollback()
    row = _row(session, "thu-nghiem")
    assert (row.version, row.source) == before and _row(session, "khac") is None
    again = service.save(session, name="thu-nghiem", source=_doc(), by=" ", now=NOW)
    assert (again.version, again.updated_by, _row(session, "thu-nghiem").version) == (2, None, 2)
    assert _row(session, "thu-nghiem").description == "Kịch bản thử"


def test_a_saved_script_takes_the_place_of_the_shipped_one_and_the_cache_notices(db):
    shipped_text = shipped(DEFAULT_IVR_SCRIPT).source
    mine = shipped_text.replace("đây là cuộc gọi tự động từ", "đây là lời nhắc từ")
    with db.begin() as s:
        assert service.load(s, name=DEFAULT_IVR_SCRIPT).origin == "shipped"
        service.save(s, name=DEFAULT_IVR_SCRIPT, source=mine, by="Mai", now=NOW)
    with db.begin() as s:
        acc = factories.account(s)
        first = service.load(s, name=DEFAULT_IVR_SCRIPT)
        assert (first.origin, first.version) == ("saved", 1)
        assert service.load(s, name=DEFAULT_IVR_SCRIPT) is first  # compiled once
        ctx = _context(s, acc)
        greeting = render_prompt(first, name="greeting", context=ctx, language="vi")
        assert "lời nhắc từ" in greeting.text
        service.save(s, name=DEFAULT_IVR_SCRIPT, source=mine.replace("lời nhắc", "thư"), by=None)
    with db.begin() as s:
        second = service.load(s, name=DEFAULT_IVR_SCRIPT)
        assert second.version == 2 and second is not first
        assert "thư từ" in render_prompt(second, name="greeting", context=ctx, language="vi").text
        info = {i.name: i for i in service.names(s)}[DEFAULT_IVR_SCRIPT]
        assert (info.origin, info.version, info.overrides_shipped) == ("saved", 2, True)
        assert service.delete(s, name=DEFAULT_IVR_SCRIPT) is shipped(DEFAULT_IVR_SCRIPT)
    with db.begin() as s:
        assert service.load(s, name=DEFAULT_IVR_SCRIPT) is shipped(DEFAULT_IVR_SCRIPT)
        # Deleted and saved again: version 1 once more, and still not the old compiled copy.
        service.save(s, name=DEFAULT_IVR_SCRIPT, source=shipped_text, by=None, now=NOW)
    with db.begin() as s:
        third = service.load(s, name=DEFAULT_IVR_SCRIPT)
        assert (third.version, third.source) == (1, shipped_text)


def test_loading_a_known_version_is_one_query(db):
    with db.begin() as s:
        service.save(s, name="thu-nghiem", source=_doc(), by=None, now=NOW)
    with db.session() as s:
        service.load(s, name="thu-nghiem")  # compiles
        statements: list[str] = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            for _ in range(5):
                service.load(s, name="thu-nghiem")
            service.load(s, name=DEFAULT_IVR_SCRIPT)  # shipped: one look for a saved one
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
    assert len(statements) == 6, statements
    assert all("source" not in sql for sql in statements)  # the big column is not read


def test_a_saved_source_a_newer_dialer_refuses_is_reported_not_served(session):
    session.add(CallScript(name="cu", version=3, source="name: cu\n", description="cũ"))
    session.commit()
    with pytest.raises(ScriptError) as err:
        service.load(session, name="cu")
    assert err.value.problems[0] == "the saved script cu (version 3) is refused now:"
    info = {i.name: i for i in service.names(session)}["cu"]
    assert info.problems and info.description == {"vi": "cũ", "en": ""}


def test_unknown_names_exists_and_the_list(session):
    assert service.load(session, name="khong-co") is None
    assert service.load(session, name="../etc/passwd") is None
    with pytest.raises(UnknownScript, match="unknown script 'khong-co' \\(scripts: nhac-no"):
        service.load_or_raise(session, name="khong-co")
    assert service.exists(session, name=DEFAULT_AGENT_SCRIPT)
    assert not service.exists(session, name="thu-nghiem")
    service.save(session, name="thu-nghiem", source=_doc(), by="Mai", now=NOW)
    assert service.exists(session, name="thu-nghiem") and not service.exists(session, name="X")
    listed = [(i.name, i.origin, i.version) for i in service.names(session)]
    assert listed == [
        (DEFAULT_IVR_SCRIPT, "shipped", None),
        (DEFAULT_AGENT_SCRIPT, "shipped", None),
        ("thu-nghiem", "saved", 1),
    ]


def test_what_cannot_be_deleted(session):
    from dialer.campaigns.models import CampaignTemplate

    with pytest.raises(ScriptConflict, match="shipped with the dialer and cannot be deleted"):
        service.delete(session, name=DEFAULT_IVR_SCRIPT)
    with pytest.raises(UnknownScript):
        service.delete(session, name="khong-co")
    service.save(session, name="thu-nghiem", source=_doc(), by=None, now=NOW)
    factories.campaign(session, name="B2 sáng", script="thu-nghiem", state="running")
    factories.campaign(session, name="cũ", script="thu-nghiem", state="completed")
    session.add(CampaignTemplate(
        name="B2 hằng ngày", settings={"script": "thu-nghiem"}, launch_time="07:45",
        timezone="Asia/Ho_Chi_Minh",
    ))  # fmt: skip
    session.flush()
    with pytest.raises(ScriptConflict) as err:
        service.delete(session, name="thu-nghiem")
    assert len(err.value.problems) == 2  # the completed campaign does not hold it
    assert "(B2 sáng, running): give it another script first" in err.value.problems[0]
    assert "daily template 'B2 hằng ngày'" in err.value.problems[1]
    assert _row(session, "thu-nghiem") is not None
    # A saved script over a shipped one may go: the campaigns get the shipped one back.
    service.save(session, name=DEFAULT_AGENT_SCRIPT, source=_doc(name=DEFAULT_AGENT_SCRIPT),
                 by=None, now=NOW)  # fmt: skip
    factories.campaign(session, script=DEFAULT_AGENT_SCRIPT, state="draft")
    assert service.delete(session, name=DEFAULT_AGENT_SCRIPT) is shipped(DEFAULT_AGENT_SCRIPT)
    assert service.load(session, name=DEFAULT_AGENT_SCRIPT).origin == "shipped"


def test_callback_time_is_said_in_the_centres_zone_by_default(session):
    acc = factories.account(session)
    at = datetime(2026, 12, 2, 10, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
    ivr = service.load_or_raise(session, name=DEFAULT_IVR_SCRIPT)
    ctx = _context(session, acc, callback_time=at)
    text = render_prompt(ivr, name="callback_scheduled", context=ctx, language="vi").text
    assert "vào lúc 10:00 ngày 02/12/2026" in text
