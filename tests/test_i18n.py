"""Every user-facing string goes through the translation layer, and Welsh is wired in."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).parent.parent
TRANSLATIONS = ROOT / "web" / "translations"


def _ids(path: Path) -> set[str]:
    with path.open("rb") as fh:
        return {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(fh) if m.id}


def test_template_catalogue_is_up_to_date(tmp_path):
    """A new string without `pybabel extract` (see docs/translations.md) fails here."""
    fresh = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract",
                    "-F", "babel.cfg", "-k", "N_", "-o", str(fresh), "."],
                   cwd=ROOT, check=True, capture_output=True)
    missing = _ids(fresh) - _ids(TRANSLATIONS / "messages.pot")
    assert not missing, f"run pybabel extract/update; not in messages.pot: {sorted(missing)}"


def test_welsh_catalogue_has_every_message():
    missing = _ids(TRANSLATIONS / "messages.pot") - _ids(
        TRANSLATIONS / "cy" / "LC_MESSAGES" / "messages.po")
    assert not missing, f"run pybabel update; missing from cy: {sorted(missing)}"


async def test_welsh_by_choice_is_remembered(client):
    response = await client.get("/login?lang=cy")
    assert response.headers["Content-Language"] == "cy"
    body = await response.text()
    assert '<html lang="cy"' in body and "Mewngofnodi" in body
    assert response.cookies["rapport_lang"].value == "cy"
    again = await client.get("/login")
    assert "Mewngofnodi" in await again.text()


async def test_browser_language_is_used_when_nothing_chosen(client):
    response = await client.get("/login", headers={"Accept-Language": "cy-GB,cy;q=0.9,en;q=0.5"})
    assert response.headers["Content-Language"] == "cy"
    plain = await client.get("/login", headers={"Accept-Language": "fr, de;q=0.5"})
    assert plain.headers["Content-Language"] == "en"


async def test_unknown_language_choice_is_ignored(client):
    response = await client.get("/login?lang=xx")
    assert response.headers["Content-Language"] == "en"
    assert "rapport_lang" not in response.cookies


async def test_error_details_are_translated_too(client):
    response = await client.get("/join/nothing-here?lang=cy")
    assert "Nid yw'r ddolen hon yn gweithio" in await response.text()
