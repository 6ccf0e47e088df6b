"""Sending invitation links to people: a pluggable notifier with a log-only default.

A real SMS or email gateway implements `Notifier.send`; the default writes one log line
without the link itself, so nothing secret reaches the logs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal, Protocol

Channel = Literal["sms", "email"]
log = logging.getLogger("rapport.notify")


@dataclass(frozen=True, slots=True)
class Outgoing:
    channel: Channel
    to: str
    text: str
    link: str


class Notifier(Protocol):
    async def send(self, message: Outgoing) -> None: ...


class LogNotifier:
    """Logs that a message would be sent (recipient masked, link left out)."""

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []

    async def send(self, message: Outgoing) -> None:
        self.sent.append(message)
        masked = message.to[:2] + "…" + message.to[-2:] if len(message.to) > 4 else "…"
        log.info("invitation link ready to send", extra={
            "channel": message.channel, "to": masked, "characters": len(message.text)})
