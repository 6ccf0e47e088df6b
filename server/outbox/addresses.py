"""Phone numbers and email addresses as the channels need them: checked when entered.

Pure functions: a normalised address, or `BadAddress` whose text says what is wrong (it is a
message id, translated where it is shown).
"""

from __future__ import annotations

import re

from server.errors import N_

_SEPARATORS = re.compile(r"[\s\-().]")
_UK_MOBILE = re.compile(r"07\d{9}")
_INTERNATIONAL = re.compile(r"\+[1-9]\d{7,14}")
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")


class BadAddress(ValueError):
    """The address cannot be used; `str(exc)` is the message id to show."""


def phone(raw: str) -> str:
    """A mobile number: UK "07…" (11 digits) or international "+…"; stored as +447… or +…."""
    number = _SEPARATORS.sub("", raw.strip())
    if number.startswith("00"):
        number = "+" + number[2:]
    if number.startswith("+44"):
        number = "0" + number[3:]
    if not number.lstrip("+").isdigit():
        raise BadAddress(N_("A phone number has only digits, spaces and a leading +."))
    if number.startswith("0"):
        if not _UK_MOBILE.fullmatch(number):
            raise BadAddress(N_("Enter a UK mobile number: 11 digits starting 07. Text "
                                "messages cannot reach a landline."))
        return "+44" + number[1:]
    if not _INTERNATIONAL.fullmatch(number):
        raise BadAddress(N_("Enter a mobile number starting 07, or an international number "
                            "starting + and the country code."))
    return number


def email(raw: str) -> str:
    """An email address as typed, trimmed; the domain part in lower case."""
    address = raw.strip()
    local, at, domain = address.rpartition("@")
    if len(address) > 320 or not at or not _EMAIL.fullmatch(address) or ".." in address:
        raise BadAddress(N_("Enter an email address like name@example.com."))
    return f"{local}@{domain.lower()}"
