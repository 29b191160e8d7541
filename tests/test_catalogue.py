"""The pages' one message catalogue: every message the code and the templates use has its
Vietnamese text, and the compiled catalogue the app reads is the one in the .po file."""

from __future__ import annotations

import io
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = ROOT / "dialer" / "web" / "translations" / "vi" / "LC_MESSAGES"
METHODS = [("dialer/**.py", "python"), ("dialer/web/templates/**.html", "jinja2")]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}


def _used_messages() -> set[str]:
    found = extract_from_dir(ROOT, method_map=METHODS, keywords=KEYWORDS)
    return {message for _file, _line, message, _comments, _context in found}


def test_every_message_has_a_vietnamese_text():
    with open(CATALOGUE / "messages.po", "rb") as fh:
        catalogue = read_po(fh)
    translated = {m.id: m.string for m in catalogue if m.id}
    used = _used_messages()
    assert used, "no message found: the extraction is broken"
    missing = sorted(m for m in used if not translated.get(m))
    assert not missing, f"add these to messages.po (docs/desk.md says how): {missing}"


def test_the_compiled_catalogue_is_the_po_file():
    with open(CATALOGUE / "messages.po", "rb") as fh:
        catalogue = read_po(fh)
    compiled = io.BytesIO()
    write_mo(compiled, catalogue)
    with open(CATALOGUE / "messages.mo", "rb") as fh:
        shipped = {m.id: m.string for m in read_mo(fh) if m.id}
    expected = {m.id: m.string for m in read_mo(io.BytesIO(compiled.getvalue())) if m.id}
    assert shipped == expected, "run: pybabel compile -d dialer/web/translations"
