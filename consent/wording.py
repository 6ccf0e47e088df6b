"""The consent wording for recording: versioned, translated where shown, hashed as shown.

The ledger stores the version, the language and the SHA-256 of the exact paragraphs a person
saw (retention filled in), so what they agreed to can be reproduced and proved later. Change
`VERSION` whenever a sentence changes; old versions' hashes then no longer match new prompts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass


def N_(message: str) -> str:
    """Mark an English message id for gettext extraction (Babel keyword `N_`); returns it."""
    return message


VERSION = "recording.2026-11"
# The same wording with one sentence more, shown where the policy keeps what was recorded
# before a withdrawal (`[recording] on_withdrawal = "keep"`): people are told before agreeing.
KEEP_VERSION = "recording.2026-12-keep"

TITLE = N_("May we record this session?")
PARAGRAPHS = (
    N_("What is recorded: the sound and video of everyone in this call, from when everyone "
       "has said yes until anyone stops it or the call ends."),
    N_("Why: so that what was said can be checked later, for your supervision record."),
    N_("Who can see it: only the probation officer holding this session and their "
       "supervisor. Every time it is watched or downloaded, this is logged."),
    N_("How long it is kept: %(days)d days. Then it is deleted automatically."),
    N_("You can say no. Saying no changes nothing else about your supervision. You can stop "
       "the recording at any time with the Stop recording button."),
)
KEPT_AFTER_STOP = N_("If anyone stops the recording, what was recorded until then is kept "
                     "for %(days)d days, not deleted at once.")
QUESTION = N_("Do you agree to this session being recorded?")


def version(keep_on_withdrawal: bool) -> str:
    """The wording's version under a policy that keeps, or discards, on withdrawal."""
    return KEEP_VERSION if keep_on_withdrawal else VERSION


@dataclass(frozen=True, slots=True)
class ShownWording:
    version: str
    language: str
    title: str
    paragraphs: tuple[str, ...]
    question: str
    sha256: str


def render(language: str, retention_days: int, translate: Callable[[str], str],
           keep_on_withdrawal: bool = False) -> ShownWording:
    """The wording in one language, with its hash; `translate` is that language's gettext."""
    title = translate(TITLE)
    shown = (*PARAGRAPHS, KEPT_AFTER_STOP) if keep_on_withdrawal else PARAGRAPHS
    paragraphs = tuple(translate(p) % {"days": retention_days} if "%(days)d" in p
                       else translate(p) for p in shown)
    question = translate(QUESTION)
    number = version(keep_on_withdrawal)
    canonical = json.dumps({"version": number, "language": language, "title": title,
                            "paragraphs": paragraphs, "question": question},
                           ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return ShownWording(number, language, title, paragraphs, question, digest)
