"""The outbox's app keys: composers by kind, channels by name (the worker's is beside it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from server.outbox.channels import Transport
    from server.outbox.compose import Compose

# Composers by message kind; features add theirs (server/messages/ adds the reminders').
COMPOSERS: web.AppKey[dict[str, Compose]] = web.AppKey("outbox_composers", dict)
# Transports by channel: "sms", "email", "webhook" (made from the settings).
TRANSPORTS: web.AppKey[dict[str, Transport]] = web.AppKey("outbox_transports", dict)
