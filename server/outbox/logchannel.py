"""The default channel: one log line per message, recipient masked, body and links left out."""

from __future__ import annotations

import logging

from server.outbox.channels import Outgoing

log = logging.getLogger("rapport.outbox")


def mask(to: str) -> str:
    """Enough of an address to tell two apart in a log, not enough to use it."""
    return to[:2] + "…" + to[-2:] if len(to) > 6 else "…"


class LogTransport:
    """Sends nothing: logs that a message would go (the demo, and tests that look at `sent`)."""

    name = "log"

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []

    async def send(self, message: Outgoing) -> str | None:
        self.sent.append(message)
        log.info("message ready to send", extra={
            "channel": message.channel, "to": mask(message.to), "key": message.key,
            "characters": len(message.text)})
        return None
