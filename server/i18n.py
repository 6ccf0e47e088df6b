"""The translation layer: gettext catalogues (Babel), chosen per request.

Catalogues are compiled from the `.po` files in memory at start-up, so no build step is
needed and a missing `.mo` can never make a page fall back silently.
"""

from __future__ import annotations

import contextvars
import io
from dataclasses import dataclass
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

TRANSLATIONS = Path(__file__).parent.parent / "web" / "translations"
LANGUAGE_NAMES = {"en": "English", "cy": "Cymraeg", "ar": "العربية"}
# Languages written right to left: pages in them get `dir="rtl"` (the CSS uses logical
# properties, so the layout mirrors by itself).
RTL_LANGUAGES = frozenset({"ar", "fa", "he", "ur"})

_current: contextvars.ContextVar[NullTranslations | None] = contextvars.ContextVar(
    "translations", default=None
)
_SOURCE = NullTranslations()  # English, the source language
_current_lang: contextvars.ContextVar[str] = contextvars.ContextVar("lang", default="en")


@dataclass(frozen=True)
class Catalogues:
    languages: tuple[str, ...]
    by_language: dict[str, NullTranslations]

    def get(self, lang: str) -> NullTranslations:
        return self.by_language.get(lang) or self.by_language[self.languages[0]]


def load_catalogues(languages: tuple[str, ...]) -> Catalogues:
    """Compile each language's `.po` file; English (the source language) needs none."""
    loaded: dict[str, NullTranslations] = {}
    for lang in languages:
        po = TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"
        if not po.exists():
            if lang == "en":
                loaded[lang] = NullTranslations()
                continue
            raise FileNotFoundError(f"RAPPORT_LANGUAGES names {lang!r} but {po} does not exist")
        loaded[lang] = Translations(fp=io.BytesIO(_compiled(po, lang)))
    return Catalogues(languages, loaded)


_COMPILED: dict[tuple[Path, int, int], bytes] = {}


def _compiled(po: Path, lang: str) -> bytes:
    """The `.po` file compiled (the `.mo` bytes), once per version of the file in a process:
    reading a catalogue with Babel takes a noticeable fraction of a second, and every app
    built in the process (the tests build hundreds) would pay it again."""
    stat = po.stat()
    key = (po, stat.st_mtime_ns, stat.st_size)
    if key not in _COMPILED:
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=lang)
        buf = io.BytesIO()
        write_mo(buf, catalog)
        _COMPILED[key] = buf.getvalue()
    return _COMPILED[key]


def negotiate(accept_language: str, cookie: str | None, available: tuple[str, ...]) -> str:
    """The language for a request: the person's explicit choice, else their browser's."""
    if cookie in available:
        return cookie
    ranked = []
    for part in accept_language.split(","):
        code, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            continue
        ranked.append((weight, code.split("-")[0].lower()))
    for _weight, code in sorted(ranked, reverse=True):
        if code in available:
            return code
    return available[0]


def activate(translations: NullTranslations, lang: str) -> None:
    """Use these translations for the rest of the current task (one request)."""
    _current.set(translations)
    _current_lang.set(lang)


def current_language() -> str:
    return _current_lang.get()


def _translations() -> NullTranslations:
    return _current.get() or _SOURCE


def gettext(message: str) -> str:
    return _translations().ugettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _translations().ungettext(singular, plural, n)


_ = gettext
