"""What a channel is given to send, what it answers, and how it says it failed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str  # e.g. "text/calendar; method=REQUEST"
    data: bytes


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One composed message. `key` is the same on every attempt (the idempotency key)."""

    channel: str  # sms | email | webhook
    to: str  # a phone number, an email address, or the webhook's URL
    text: str  # the SMS or email body; for a webhook, the JSON body
    key: str
    subject: str = ""
    attachments: tuple[Attachment, ...] = ()
    secret: str = ""  # webhooks only: the key of the signature


class Temporary(Exception):  # noqa: N818 - reads as "raise Temporary(...)"
    """The channel could not take it now (down, timed out, 429, 5xx): try again later."""


class Permanent(Exception):  # noqa: N818
    """The channel refused it for good (a bad address, a 4xx): do not try again."""


class Transport(Protocol):
    """A channel: sends a message and returns the provider's id for it, if it gives one."""

    name: str

    async def send(self, message: Outgoing) -> str | None: ...


class Findable(Protocol):
    """A channel that can say whether a message with this key was already accepted."""

    async def find(self, key: str) -> str | None: ...


class Tracked(Protocol):
    """A channel that reports delivery: delivered, bounced, failed, or None (not yet)."""

    async def status(self, provider_id: str) -> str | None: ...
