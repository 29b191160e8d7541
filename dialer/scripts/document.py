"""A call script: its YAML document checked whole and its templates compiled in a sandbox.
Pure: no database (service.py reads and saves scripts; render.py says them).

Every template is Jinja2 in a SandboxedEnvironment with StrictUndefined: a script cannot
reach Python objects, and a name that is not a script variable is an error. The check goes
further than the sandbox: a template may only use values, filters from a short list and
{% if %}, and it is rendered against a complete sample context (and once more with each
value that may be empty left empty), so a script that would fail or say a blank at call
time is refused when it is saved, not discovered in a borrower's ear.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from jinja2 import (
    StrictUndefined,
    Template,
    TemplateError,
    TemplateSyntaxError,
    Undefined,
    nodes,
)
from jinja2.exceptions import TemplateRuntimeError
from jinja2.sandbox import SandboxedEnvironment

from dialer.scripts.variables import (
    LANGUAGES,
    PAYMENT_CHANNELS_VARIABLES,
    PROMPTS,
    SECTIONS,
    TALK_TRACK_VARIABLES,
    VARIABLES,
    sample_context,
)

DEFAULTS_DIR = Path(__file__).with_name("defaults")
# The shipped scripts every other one falls back to for what it leaves out (docs/scripts.md).
DEFAULT_IVR_SCRIPT = "nhac-no-mac-dinh"  # has every prompt
DEFAULT_AGENT_SCRIPT = "thu-hoi-no-mac-dinh"  # has the talk track

NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}[a-z0-9]")
TOP_LEVEL_KEYS = ("name", "description", "payment_channels", "talk_track", "prompts")
MAX_SOURCE_CHARS = 100_000
MAX_DESCRIPTION_CHARS = 240
MAX_PAYMENT_CHANNELS_CHARS = 600
MAX_SECTION_CHARS = 3_000
# Twilio's <Say> takes 4,096 characters; a prompt of 1,000 is already a minute of speech.
MAX_PROMPT_CHARS = 1_000
MAX_URL_CHARS = 500
_URL_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")

# What a template may contain: values, their fields, filters, tests, {% if %} and literals.
# No calls, loops, assignments, macros, includes or arithmetic: a script needs none, and
# without them a template cannot run long or build a huge text in the web process.
_ALLOWED_NODES = (
    nodes.Template, nodes.Output, nodes.TemplateData, nodes.Name, nodes.Const, nodes.Getattr,
    nodes.Getitem, nodes.Slice, nodes.If, nodes.CondExpr, nodes.Filter, nodes.Test, nodes.Not,
    nodes.And, nodes.Or, nodes.Compare, nodes.Operand, nodes.Concat, nodes.Tuple, nodes.List,
    nodes.Keyword, nodes.Neg, nodes.Pos,
)  # fmt: skip
_NODE_WORDS = {
    "For": "{% for %} loops",
    "Call": "calls such as name(...)",
    "Assign": "{% set %}",
    "AssignBlock": "{% set %}",
    "Macro": "{% macro %}",
    "CallBlock": "{% call %}",
    "FilterBlock": "{% filter %}",
    "Include": "{% include %}",
    "Import": "{% import %}",
    "FromImport": "{% from ... import %}",
    "Extends": "{% extends %}",
    "Block": "{% block %}",
    "With": "{% with %}",
    "Dict": "{...} literals",
}
ALLOWED_FILTERS = (
    "capitalize", "lower", "upper", "title", "trim", "default", "d", "replace", "truncate",
    "length", "first", "last", "string", "int",
)  # fmt: skip
ALLOWED_TESTS = (
    "defined", "none", "number", "string", "true", "false", "even", "odd", "divisibleby",
    "eq", "ne", "lt", "le", "gt", "ge", "in", "==", "!=", "<", "<=", ">", ">=",
)  # fmt: skip


class ScriptError(ValueError):
    """A script (or a request about one) was refused; `problems` names every fault."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


class UnknownScript(ScriptError):
    """No script (saved or shipped) of that name."""


class ScriptConflict(ScriptError):
    """The change would break something: a shipped script, or one a campaign names."""


def _finalize(value: Any) -> Any:
    """What {{ ... }} may print: text and numbers. None would be a blank, True a 'True' and a
    dict or a method its Python repr, none of which a borrower should hear."""
    if isinstance(value, Undefined):
        return value  # printing it raises the UndefinedError that names the variable
    if value is None:
        raise TemplateRuntimeError("a value printed here is empty")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TemplateRuntimeError(
            f"{{{{ ... }}}} printed a {type(value).__name__}, not a text or a number"
        )
    return value


def _environment() -> SandboxedEnvironment:
    # Autoescape off: the twilio library escapes TwiML, the HTML desk escapes on its own.
    env = SandboxedEnvironment(
        undefined=StrictUndefined,
        autoescape=False,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.clear()  # range, lipsum, dict...: nothing a script needs
    env.filters = {name: env.filters[name] for name in ALLOWED_FILTERS}
    env.tests = {name: env.tests[name] for name in ALLOWED_TESTS}
    return env


# One environment per process; compiled templates render from many threads safely.
ENV = _environment()


@dataclass(frozen=True)
class Spoken:
    """One language of one prompt, compiled."""

    kind: Literal["say", "play"]
    template: Template | None = None
    url: str | None = None
    uses_payment_channels: bool = False


@dataclass(frozen=True)
class Script:
    """A checked, compiled script. `source` is its YAML text; `origin` where it lives."""

    name: str
    origin: Literal["shipped", "saved", "draft"]
    version: int | None  # bumped on every save; None for shipped and unsaved ones
    source: str
    description: dict[str, str]
    payment_channels: dict[str, Template]
    talk_track: dict[str, dict[str, Template]] | None
    prompts: dict[str, dict[str, Spoken]]
    updated_by: str | None = None
    updated_at: datetime | None = None


# --- reading the YAML ---------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """safe_load's loader, refusing a key given twice (YAML would keep the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"{key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _lines(text: str) -> dict[str, int]:
    """The line (1-based) of every key path in the document: "prompts.greeting.vi" -> 12."""
    out: dict[str, int] = {}

    def walk(node: yaml.Node, path: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    child = f"{path}.{key.value}" if path else str(key.value)
                    out[child] = key.start_mark.line + 1
                    walk(value, child)

    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:
        return out
    if root is not None:
        walk(root, "")
    return out


class _Problems:
    """Problems named by their place in the document, with its line when known."""

    def __init__(self, lines: dict[str, int]):
        self.lines, self.items = lines, []

    def add(self, path: str, message: str) -> None:
        line = self.lines.get(path)
        where = f"{path} (line {line})" if line else path
        self.items.append(f"{where}: {message}" if path else message)


def suggest(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""


# --- checking one template ----------------------------------------------------------------


@dataclass
class _Place:
    """Where a template sits and what it may use there."""

    path: str
    variables: frozenset[str]
    max_chars: int
    restricted: str | None = None  # why `variables` is narrow (prompt catalogue)
    collapse: bool = False  # spoken: whitespace runs become one space


def _names(ast: nodes.Template) -> set[str]:
    # Every name a template reads comes from the context: with no {% set %} or loops
    # allowed, it can define none of its own.
    return {node.name for node in ast.find_all(nodes.Name) if node.ctx == "load"}


def _why_not(name: str, place: _Place) -> str:
    if place.restricted:
        allowed = ", ".join(sorted(place.variables, key=str.lower))
        return f"{place.restricted}; it may use {allowed}"
    where = [prompt for prompt, spec in PROMPTS.items() if name in spec.variables]
    if len(where) == 1:
        return f"only the prompt {where[0]} gets it"
    return f"only the prompts {', '.join(where)} get it"


def _structure_problems(ast: nodes.Template, place: _Place) -> list[str]:
    found: list[str] = []
    for node in ast.find_all(nodes.Node):
        if not isinstance(node, _ALLOWED_NODES):
            kind = type(node).__name__
            words = _NODE_WORDS.get(kind, "arithmetic" if isinstance(node, nodes.BinExpr) else kind)
            found.append(f"{words} cannot be used in a script (values, filters and {{% if %}})")
        elif isinstance(node, nodes.Filter) and node.name not in ALLOWED_FILTERS:
            found.append(
                f"the filter {node.name!r} is not allowed; use one of {', '.join(ALLOWED_FILTERS)}"
            )
        elif isinstance(node, nodes.Test) and node.name not in ALLOWED_TESTS:
            found.append(f"the test {node.name!r} is not allowed")
        elif isinstance(node, nodes.Getattr | nodes.Getitem):
            attr = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", "")
            if isinstance(attr, str) and attr.startswith("_"):
                found.append(f"{attr!r} is not a script value (the sandbox refuses names with _)")
    for name in sorted(_names(ast)):
        if name not in VARIABLES:
            found.append(f"{{{{ {name} }}}} is not a script variable{suggest(name, VARIABLES)}")
        elif name not in place.variables:
            found.append(f"{{{{ {name} }}}} cannot be used here: {_why_not(name, place)}")
    return list(dict.fromkeys(found))


# Runs of ASCII white space only: Babel's no-break spaces (1.250.000\xa0₫) stay.
_SPACES = re.compile(r"[ \t\r\n]+")


def _spoken_text(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def _paragraphs(text: str) -> str:
    """Paragraphs apart by a blank line, each on one line: authors wrap lines as they like."""
    paragraphs = (_spoken_text(p) for p in re.split(r"\n[ \t\r]*\n", text))
    return "\n\n".join(p for p in paragraphs if p)


def run_template(template: Template, context: dict[str, Any], collapse: bool) -> str:
    text = template.render(context)
    return _spoken_text(text) if collapse else _paragraphs(text)


def _empty_groups(used: set[str]) -> list[tuple[str, ...]]:
    # Values that are empty together (no due date: neither form); each group tried alone.
    groups = [("product", "product_code"), ("due_date", "due_date_iso")]
    groups += [("last_promise",), ("agent_name",)]
    return [g for g in groups if used & set(g)]


def _compile_template(
    raw: Any, place: _Place, problems: _Problems, channels: dict[str, str], language: str
) -> tuple[Template, set[str]] | None:
    """The template compiled, and the variables it names; None (problems added) if refused."""
    if not isinstance(raw, str) or not raw.strip():
        problems.add(place.path, "must be a text (not empty)")
        return None
    if len(raw) > 4 * place.max_chars:
        problems.add(
            place.path,
            f"is too long: {len(raw)} characters of template (at most {4 * place.max_chars})",
        )
        return None
    try:
        ast = ENV.parse(raw)
    except TemplateSyntaxError as exc:
        problems.add(place.path, f"template syntax error on its line {exc.lineno}: {exc.message}")
        return None
    found = _structure_problems(ast, place)
    for message in found:
        problems.add(place.path, message)
    if found:
        return None
    try:
        template = ENV.from_string(raw)
    except TemplateError as exc:
        problems.add(place.path, f"template error: {exc.message}")
        return None

    def sample(empty: tuple[str, ...] = ()) -> dict[str, Any]:
        ctx = sample_context(language)  # type: ignore[arg-type]
        ctx["payment_channels"] = channels.get(language, "...")
        ctx.update(dict.fromkeys(empty))
        return ctx

    try:
        text = run_template(template, sample(), place.collapse)
    except TemplateError as exc:  # SecurityError and UndefinedError are TemplateErrors
        problems.add(place.path, f"cannot be rendered: {exc.message}")
        return None
    if not text:
        problems.add(place.path, "renders to nothing")
    elif len(text) > place.max_chars:
        problems.add(
            place.path,
            f"is too long: {len(text)} characters rendered for a sample account "
            f"(at most {place.max_chars})",
        )
    used = _names(ast)
    for group in _empty_groups(used):
        try:
            run_template(template, sample(group), place.collapse)
        except TemplateError:
            name = next(n for n in group if n in used)
            problems.add(
                place.path,
                f"{{{{ {name} }}}} is empty for some accounts or calls: put it inside "
                f"{{% if {name} %}}...{{% endif %}}",
            )
    return template, used


# --- checking the document ----------------------------------------------------------------


def _bilingual(value: Any, path: str, problems: _Problems) -> dict[str, Any]:
    """The texts by language; a language missing is a problem, the others are still checked."""
    if not isinstance(value, dict):
        problems.add(path, "must give a Vietnamese and an English text (vi: ..., en: ...)")
        return {}
    for key in value:
        if key not in LANGUAGES:
            problems.add(path, f"unknown language {key!r} (vi and en)")
    for lang in LANGUAGES:
        if lang not in value:
            words = "Vietnamese" if lang == "vi" else "English"
            problems.add(path, f"the {words} text ({lang}) is missing")
    return {lang: value[lang] for lang in LANGUAGES if lang in value}


def _play_url(raw: Any, path: str, problems: _Problems) -> str | None:
    if not isinstance(raw, dict) or set(raw) != {"play"}:
        problems.add(path, "must be a text, or {play: URL} for a recording")
        return None
    url = raw["play"]
    if not isinstance(url, str) or not re.match(r"https?://[^/?#\s]+", url):
        problems.add(path, "play: must be an http(s) URL of a recording (https://host/file.mp3)")
        return None
    if len(url) > MAX_URL_CHARS or not _URL_CHARS.fullmatch(url):
        problems.add(
            path,
            f"play: {url[:80]!r} is not a valid URL (at most {MAX_URL_CHARS} characters; "
            "spaces and accented letters percent-encoded)",
        )
        return None
    return url


def _compile_prompts(
    raw: Any, problems: _Problems, channels: dict[str, str]
) -> dict[str, dict[str, Spoken]]:
    if not isinstance(raw, dict):
        problems.add("prompts", "must map prompt names to their texts")
        return {}
    out: dict[str, dict[str, Spoken]] = {}
    for name, value in raw.items():
        path = f"prompts.{name}"
        spec = PROMPTS.get(name) if isinstance(name, str) else None
        if spec is None:
            problems.add(path, f"unknown prompt {name!r}{suggest(str(name), PROMPTS)}")
            continue
        by_language = _bilingual(value, path, problems)
        compiled: dict[str, Spoken] = {}
        for lang, text in by_language.items():
            where = f"{path}.{lang}"
            if isinstance(text, dict):
                url = _play_url(text, where, problems)
                if url:
                    compiled[lang] = Spoken("play", url=url)
                continue
            place = _Place(where, spec.variables, MAX_PROMPT_CHARS, spec.restricted, True)
            done = _compile_template(text, place, problems, channels, lang)
            if done is not None:
                template, used = done
                compiled[lang] = Spoken("say", template, None, "payment_channels" in used)
        out[name] = compiled
    return out


def _compile_talk_track(
    raw: Any, problems: _Problems, channels: dict[str, str]
) -> dict[str, dict[str, Template]] | None:
    if not isinstance(raw, dict):
        problems.add("talk_track", f"must give the sections {', '.join(SECTIONS)}")
        return None
    for key in raw:
        if key not in SECTIONS:
            problems.add(
                f"talk_track.{key}", f"unknown section {key!r}{suggest(str(key), SECTIONS)}"
            )
    out: dict[str, dict[str, Template]] = {}
    for section in SECTIONS:
        if section not in raw:
            problems.add("talk_track", f"the section {section} is missing")
            continue
        by_language = _bilingual(raw[section], f"talk_track.{section}", problems)
        for lang, text in by_language.items():
            place = _Place(f"talk_track.{section}.{lang}", TALK_TRACK_VARIABLES, MAX_SECTION_CHARS)
            done = _compile_template(text, place, problems, channels, lang)
            if done is not None:
                out.setdefault(section, {})[lang] = done[0]
    return out


def _parse(text: Any) -> tuple[dict[str, Any] | None, _Problems]:
    problems = _Problems({})
    if not isinstance(text, str):
        problems.add("", "a script must be a YAML text")
        return None, problems
    if len(text) > MAX_SOURCE_CHARS:
        problems.add("", f"the script is too long: at most {MAX_SOURCE_CHARS} characters")
        return None, problems
    try:
        # No anchors or aliases: a script needs none, and nested aliases would let a small
        # document stand for an enormous (or endless) one.
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                problems.add(
                    "",
                    f"line {event.start_mark.line + 1}: anchors and aliases (&name, *name) "
                    "are not allowed in a script; write each text out",
                )
                return None, problems
        data = yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader: plain data only
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problems.add("", f"YAML syntax error{where}: {exc.problem or exc.context}")
        return None, problems
    except yaml.YAMLError as exc:
        problems.add("", f"YAML syntax error: {exc}")
        return None, problems
    if not isinstance(data, dict):
        problems.add("", "a script must be a YAML mapping (name:, description:, ...)")
        return None, problems
    return data, _Problems(_lines(text))


def compile_source(text: Any, *, origin: Literal["shipped", "saved", "draft"] = "draft") -> Script:
    """The script in `text`, checked whole and compiled; ScriptError names every problem."""
    data, problems = _parse(text)
    if data is None:
        raise ScriptError(problems.items)
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            problems.add(str(key), f"unknown key {key!r}{suggest(str(key), TOP_LEVEL_KEYS)}")
    for key in ("name", "description", "payment_channels"):
        if key not in data:
            problems.add("", f"{key} is missing")
    if not data.get("talk_track") and not data.get("prompts"):
        problems.add("", "a script needs a talk_track, prompts, or both")
    name = data.get("name")
    if "name" in data and (not isinstance(name, str) or not NAME_RE.fullmatch(name)):
        problems.add("name", "must be 2-64 characters: lowercase a-z, 0-9 and '-' inside")
    description: dict[str, str] = {}
    described = (
        _bilingual(data["description"], "description", problems) if "description" in data else {}
    )
    for lang, value in described.items():
        if not isinstance(value, str) or not value.strip():
            problems.add(f"description.{lang}", "must be a text (not empty)")
        elif len(value.strip()) > MAX_DESCRIPTION_CHARS:
            problems.add(f"description.{lang}", f"is too long (at most {MAX_DESCRIPTION_CHARS})")
        else:
            description[lang] = " ".join(value.split())
    channels: dict[str, Template] = {}
    rendered_channels: dict[str, str] = {}
    if "payment_channels" in data:
        raw = _bilingual(data["payment_channels"], "payment_channels", problems)
        for lang, value in raw.items():
            path = f"payment_channels.{lang}"
            place = _Place(path, PAYMENT_CHANNELS_VARIABLES, MAX_PAYMENT_CHANNELS_CHARS, None, True)
            done = _compile_template(value, place, problems, {}, lang)
            if done is not None:
                channels[lang] = done[0]
                rendered_channels[lang] = run_template(done[0], sample_context(lang), True)
    talk_track = None
    if "talk_track" in data:
        talk_track = _compile_talk_track(data["talk_track"], problems, rendered_channels)
    prompts = (
        _compile_prompts(data["prompts"], problems, rendered_channels) if "prompts" in data else {}
    )
    if problems.items:
        raise ScriptError(problems.items)
    return Script(
        name=name,
        origin=origin,
        version=None,
        source=text,
        description=description,
        payment_channels=channels,
        talk_track=talk_track,
        prompts=prompts,
    )


def check_source(text: str) -> Script:
    """Check a script's YAML text whole; ScriptError(problems) names every problem found."""
    return compile_source(text)


# --- shipped scripts ----------------------------------------------------------------------


@lru_cache(maxsize=1)
def shipped_names() -> tuple[str, ...]:
    return tuple(sorted(path.stem for path in DEFAULTS_DIR.glob("*.yaml")))


@cache
def shipped(name: str) -> Script | None:
    """A script shipped in the package (read and compiled once per process), or None."""
    if name not in shipped_names():
        return None
    script = compile_source(
        (DEFAULTS_DIR / f"{name}.yaml").read_text(encoding="utf-8"), origin="shipped"
    )
    if script.name != name:
        raise ScriptError([f"defaults/{name}.yaml names itself {script.name!r}"])
    return script


def fallback(name: str) -> Script:
    script = shipped(name)
    if script is None:
        raise ScriptError([f"the shipped script {name} is missing from the package"])
    return script


def with_origin(script: Script, **changes: Any) -> Script:
    """The same compiled script, with where it lives (saved: version, by whom, when)."""
    return replace(script, **changes)
