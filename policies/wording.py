"""Translatable wording that lives in policy files, marked here so it reaches the catalogue.

Babel extracts only Python and templates; the checklist wording in `default.toml` is repeated
here with `N_` so `scripts/translations` picks it up. A test fails when the shipped policy has
wording missing from this list. An organisation's own wording is shown in English until it is
added here (or to the catalogue) and translated.
"""

from __future__ import annotations


def N_(message: str) -> str:
    """Mark an English message id for gettext extraction (Babel keyword `N_`); returns it."""
    return message


CHECKLIST_WORDING = frozenset({
    N_("Are you somewhere private, where nobody can overhear you?"),
    N_("Can you speak freely?"),
    N_("Are you driving?"),
    N_("Is anyone with you who could be at risk, or cause risk?"),
    N_("Does your phone or computer have enough battery and data for the session?"),
    N_("Are you in a private room where nobody can overhear the session?"),
    N_("Have you checked the case for domestic abuse and child safeguarding concerns?"),
    N_("Can anyone at home overhear the session or see your screen?"),
    N_("Are you using a work device?"),
    N_("Is your background neutral, showing nothing personal?"),
    N_("Are you somewhere private, where nobody can overhear the session?"),
    N_("Will you keep everything said in this session confidential?"),
    # 2026.1: worded so that "yes" is always the safe answer (the three above that asked for
    # "no" stay for policies saved before, and for the records of answers given to them).
    N_("You are not driving. Is that right?"),
    N_("Nobody with you is at risk, or could cause harm. Is that right?"),
    N_("Nobody at home can overhear the session or see your screen. Is that right?"),
})
