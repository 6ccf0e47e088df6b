"""The client's journey is whole in Welsh and in Arabic (right to left): no string falls back to
English.

The set of journey strings is derived, not listed: every message in the journey's templates
(the pages a client can reach, and everything they extend or include), plus the Python modules
whose text reaches the client (error titles and details, signalling messages, checklist
wording, and the join handlers). Text that anyone adds to those later fails here until it is
translated in `web/translations/{cy,ar}`.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from jinja2 import Environment, FileSystemLoader, meta
from jinja2.ext import babel_extract

from server.settings import Settings
from tests.calls import remote_call
from tests.conftest import World

ROOT = Path(__file__).parent.parent
TEMPLATES = ROOT / "web" / "templates"
TRANSLATIONS = ROOT / "web" / "translations"
JOURNEY_LANGUAGES = ("cy", "ar")

# The pages a client (or interpreter) can be shown: the link, the identity check, the call page
# (checklist, waiting room, call, final states) and the error pages.
JOURNEY_PAGES = ("join_start.html", "join_invalid.html", "call.html", "error.html",
                 "device_test.html")
# Python whose text reaches the client: whole modules, and single functions of shared modules.
JOURNEY_MODULES = ("server/messages/wording.py",  # the client's SMS and emails
                   "server/errors.py", "server/middleware.py", "server/joining/participants.py",
                   "server/joining/device_test.py",
                   "server/joining/precall.py", "policies/wording.py", "signalling/handler.py",
                   "signalling/rooms.py", "signalling/protocol.py", "signalling/recording.py",
                   "consent/wording.py")
JOURNEY_FUNCTIONS = {"server/joining/pages.py": ("join", "join_submit", "join_room",
                                                "_join_invalid")}
PLACEHOLDER = re.compile(r"\{[a-z_]+\}|%\([a-z_]+\)[sd]")


def journey_templates() -> set[str]:
    """The journey pages and every template they extend or include, followed transitively."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), extensions=["jinja2.ext.i18n"],
                      autoescape=True)
    seen: set[str] = set()
    todo = list(JOURNEY_PAGES)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        source = (TEMPLATES / name).read_text(encoding="utf-8")
        todo.extend(t for t in meta.find_referenced_templates(env.parse(source)) if t)
    return seen


def _messages_of(node: ast.AST) -> set[str]:
    """String arguments of `_()`, `gettext()`, `N_()` and `ngettext()` calls under an AST node
    (the singular of a plural message)."""
    found = set()
    for call in ast.walk(node):
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) \
                and call.func.id in {"_", "N_", "gettext", "ngettext"} and call.args \
                and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
            found.add(call.args[0].value)
    return found


def journey_messages() -> set[str]:
    ids: set[str] = set()
    for name in journey_templates():
        with (TEMPLATES / name).open("rb") as fh:
            found = list(babel_extract(fh, ("_", "gettext"), (), {}))
        for _line, _fn, message, _comments in found:
            first = message if isinstance(message, str) else next(iter(message), None)
            if isinstance(first, str) and first:
                ids.add(first)
    for module in JOURNEY_MODULES:
        ids |= _messages_of(ast.parse((ROOT / module).read_text(encoding="utf-8")))
    for module, functions in JOURNEY_FUNCTIONS.items():
        tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef) and node.name in functions:
                ids |= _messages_of(node)
    return ids


def _catalogue(lang: str) -> dict[str, tuple[str, bool]]:
    with (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        # A plural message counts as translated only when every form is.
        return {(m.id if isinstance(m.id, str) else m.id[0]):
                (m.string if isinstance(m.string, str) else
                 ("" if not all(m.string) else m.string[0]), m.fuzzy)
                for m in read_po(fh, locale=lang) if m.id}


def test_the_journey_is_found() -> None:
    """The derivation really reaches the includes and the Python side (guards the test itself)."""
    assert {"base.html", "_language.html", "_help.html", "_errors.html"} <= journey_templates()
    ids = journey_messages()
    assert "Your date of birth" in ids  # a template
    assert "Are you driving?" in ids  # checklist wording
    assert "That date of birth does not match our records. You can try {left} more time." in ids
    assert "Record a contact" not in ids  # practitioner-only text is not the journey


@pytest.mark.parametrize("lang", JOURNEY_LANGUAGES)
def test_every_journey_string_is_translated(lang: str) -> None:
    """Fails on any journey string that is missing, empty or fuzzy in the language."""
    catalogue = _catalogue(lang)
    untranslated = sorted(i for i in journey_messages()
                          if not catalogue.get(i, ("", False))[0] or catalogue[i][1])
    assert not untranslated, (
        f"{len(untranslated)} journey string(s) not translated in {lang}: run "
        f"scripts/translations, then translate them in "
        f"web/translations/{lang}/LC_MESSAGES/messages.po "
        f"(see docs/translations.md): {untranslated}")


@pytest.mark.parametrize("lang", JOURNEY_LANGUAGES)
def test_translations_keep_their_placeholders(lang: str) -> None:
    """A translation that drops or renames `{name}` would break the page when formatted."""
    wrong = [(i, s) for i, (s, _fuzzy) in _catalogue(lang).items()
             if s and sorted(PLACEHOLDER.findall(i)) != sorted(PLACEHOLDER.findall(s))]
    assert not wrong, f"{lang}: placeholders differ: {wrong}"


# --- the pages themselves, served -------------------------------------------------------

async def test_the_first_page_offers_every_language(client, world: World, settings: Settings,
                                                    db) -> None:
    call = await remote_call(db, settings, world.users["alice"], world.clients["a1"])
    body = await (await client.get(f"/join/{call.client_token}")).text()
    assert 'aria-label="Choose your language"' in body
    for code, name in (("cy", "Cymraeg"), ("ar", "العربية")):
        assert f'href="?lang={code}" lang="{code}" hreflang="{code}">{name}</a>' in body
    assert 'aria-current="true">English</span>' in body


async def test_arabic_journey_is_right_to_left(client, world: World, settings: Settings,
                                               db) -> None:
    call = await remote_call(db, settings, world.users["alice"], world.clients["a1"])
    response = await client.get(f"/join/{call.client_token}?lang=ar")
    body = await response.text()
    assert '<html lang="ar" dir="rtl">' in body
    assert "تاريخ ميلادك" in body and "Your date of birth" not in body
    assert response.cookies["rapport_lang"].value == "ar"
    # The choice is kept for the rest of the journey (the call page reads the cookie).
    invalid = await (await client.get("/join/not-a-link")).text()
    assert '<html lang="ar" dir="rtl">' in invalid and "هذا الرابط لا يعمل" in invalid


async def test_welsh_journey_and_help_number(client, world: World, settings: Settings,
                                             db) -> None:
    call = await remote_call(db, settings, world.users["alice"], world.clients["a1"])
    body = await (await client.get(f"/join/{call.client_token}?lang=cy")).text()
    assert '<html lang="cy" dir="ltr">' in body and "Eich dyddiad geni" in body
    assert f'href="tel:{settings.help_phone.replace(" ", "")}"' in body
    assert "Ffoniwch ni ar" in body
