"""Pushing contact records to a case system: a signed JSON POST; 2xx accepted."""

from __future__ import annotations

import time

import aiohttp

from server.outbox.channels import Outgoing, Permanent, Temporary
from server.outbox.signing import HEADER, signature

# Answers worth trying again: timeouts, throttling, the receiver's own trouble.
RETRY = frozenset({408, 425, 429})


class WebhookTransport:
    """POSTs the body with its signature and a delivery id the receiver can deduplicate by."""

    name = "webhook"

    def __init__(self, timeout_seconds: int) -> None:
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)

    async def send(self, message: Outgoing) -> str | None:
        body = message.text.encode("utf-8")
        headers = {"Content-Type": "application/json", "User-Agent": "Rapport-Webhook/1",
                   "Rapport-Delivery": message.key,
                   HEADER: signature(message.secret, int(time.time()), body)}
        try:
            async with aiohttp.ClientSession(timeout=self.timeout) as http, \
                    http.post(message.to, data=body, headers=headers,
                              allow_redirects=False) as answer:
                status = answer.status
        except TimeoutError as exc:
            raise Temporary("the webhook did not answer in time") from exc
        except aiohttp.ClientError as exc:
            raise Temporary(f"the webhook is unreachable: {exc}") from exc
        if 200 <= status < 300:
            return None
        error = f"the webhook answered {status}"
        raise Temporary(error) if status >= 500 or status in RETRY else Permanent(error)
