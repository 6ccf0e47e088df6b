"""HTML form input: the fields a page posted, and local times read in the organisation's zone."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from server import keys
from server.errors import N_, Invalid
from server.i18n import gettext

# How a form's error summary names a field: the words of its label, not its name.
FIELD_LABELS = {
    "starts_at": N_("Date and time"), "happened_at": N_("When"),
    "duration_minutes": N_("Length in minutes"), "kind": N_("Kind of contact"),
    "outcome": N_("Outcome"), "notes": N_("Notes"), "email": N_("Email address"),
    "name": N_("Name"), "password": N_("Password"), "team_id": N_("Team"),
    "day": N_("Day"), "month": N_("Month"), "year": N_("Year"),
}
# Rapport's own field messages, translated where shown (pydantic's are English).
FIELD_MESSAGES = (N_("in the past"), N_("in the future"), N_("not a date and time"))


def field_label(field: str) -> str:
    """A field's label in the current language (its name in words if it has none)."""
    label = FIELD_LABELS.get(field)
    return gettext(label) if label else field.replace("_", " ").capitalize()


def field_message(message: str) -> str:
    """A field error's message in the current language."""
    return gettext(message) if message in FIELD_MESSAGES else message


def zone(request: web.Request) -> ZoneInfo:
    """The organisation's time zone (`RAPPORT_TIMEZONE`)."""
    return ZoneInfo(request.app[keys.SETTINGS].timezone)


async def form_data(request: web.Request) -> dict[str, Any]:
    """The posted text fields, without the CSRF token."""
    form = await request.post()
    return {k: v for k, v in form.items() if k != "csrf_token" and isinstance(v, str)}


def local_to_aware(request: web.Request, form: dict[str, Any], field: str) -> None:
    """Form times come without a zone (datetime-local): read them in the organisation's."""
    raw = form.get(field)
    if not raw:
        return
    try:
        value = datetime.fromisoformat(str(raw))
    except ValueError:
        raise Invalid(N_("'{raw}' is not a date and time. Use the date picker, or write it "
                         "as 2026-11-22T14:30."), raw=str(raw)[:40],
                      errors=[{"field": field, "message": "not a date and time"}]) from None
    # An explicit offset (never sent by a browser's picker) is honoured, not overwritten.
    form[field] = value if value.tzinfo is not None else value.replace(tzinfo=zone(request))
