"""The words of every message to a client, in their language (translated like the pages).

One function per part, so each sentence is one catalogue entry a translator can read whole.
Text messages must stay short: no part repeats another, and times are written once.
"""

from __future__ import annotations

from dataclasses import dataclass

from server.i18n import gettext as _


@dataclass(frozen=True, slots=True)
class Facts:
    """What a message says, already written out in the client's language and time zone."""

    when: str  # "Thursday 3 December, 14:30"
    was: str = ""  # the old time, for a move
    opens: str = ""  # when the link starts working, "14:00"
    link: str = ""  # the join link, when this message carries one
    have_link: bool = False  # a link was sent before and still works
    not_allowed: bool = False  # the policy does not allow the video session as things stand
    phone: str = ""  # the number to phone if nothing works
    device_test: str = ""  # the public page where anyone can try their camera and microphone


def subject(kind: str) -> str:
    return {
        "booked": _("Your probation appointment by video"),
        "reminder": _("Reminder: your probation appointment by video"),
        "moved": _("Your probation appointment has moved"),
        "cancelled": _("Your probation appointment is cancelled"),
    }[kind]


def _prepare(f: Facts) -> str:
    ready = _("Before it starts, find a private place where nobody can overhear you, and "
              "charge your phone or plug it in.")
    if not f.device_test:
        return ready
    return ready + " " + _("Check your camera and microphone before the appointment: "
                           "{link}").format(link=f.device_test)


def _join(f: Facts) -> str:
    if f.not_allowed:
        return _("Your probation officer will tell you how this appointment will go ahead.")
    if f.link:
        return _("To join, open this link from {opens}: {link}").format(opens=f.opens,
                                                                         link=f.link)
    if f.have_link:
        return _("To join, use the link we sent you before.")
    return _("We will send you the link to join shortly before the appointment.")


def _help(f: Facts) -> str:
    return _("If you cannot join, phone {phone}.").format(phone=f.phone)


def body(kind: str, f: Facts) -> str:
    """The whole message: what happened, when, what to prepare, how to join, where to get help."""
    if kind == "cancelled":
        return "\n\n".join([
            _("Your probation appointment by video on {when} is cancelled. Your probation "
              "officer will contact you about a new time.").format(when=f.when), _help(f)])
    opening = {
        "booked": _("Your probation appointment by video is on {when}."),
        "reminder": _("Reminder: your probation appointment by video is on {when}."),
        "moved": _("Your probation appointment by video has moved from {was} to {when}."),
    }[kind].format(when=f.when, was=f.was)
    return "\n\n".join([opening, _prepare(f), _join(f), _help(f)])


def calendar_title() -> str:
    return _("Probation appointment by video")
