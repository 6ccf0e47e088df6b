"""SMS and email through GOV.UK Notify with its official client (synchronous: run in a thread).

The wording is Rapport's: each Notify template holds only ((subject)) and ((body)). The outbox
key is sent as Notify's `reference`, so after a crash the worker asks Notify whether it already
has the message before sending it again.
"""

from __future__ import annotations

import asyncio
from typing import Any

from notifications_python_client.errors import APIError
from notifications_python_client.notifications import NotificationsAPIClient

from server.outbox.channels import Outgoing, Permanent, Temporary
from server.settings import Settings

# Notify's statuses (https://docs.notifications.service.gov.uk/python.html#status) → ours.
STATUSES = {
    "delivered": "delivered", "received": "delivered",
    "permanent-failure": "bounced",
    "temporary-failure": "failed", "technical-failure": "failed", "validation-failed": "failed",
}


def _error(exc: APIError) -> Exception:
    code = exc.status_code
    text = f"GOV.UK Notify {code}: {exc.message}"
    if code == 429 or code >= 500:  # rate limit, Notify down (the client reports 503 then)
        return Temporary(text)
    return Permanent(text)


class NotifyTransport:
    """Sends through the Notify API; 429 and 5xx are retried, other 4xx refuse."""

    name = "notify"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = NotificationsAPIClient(  # type: ignore[no-untyped-call]
            settings.notify_api_key, base_url=settings.notify_base_url, timeout=30)

    async def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(method, *args, **kwargs)
        except APIError as exc:
            raise _error(exc) from exc
        except OSError as exc:
            raise Temporary(f"GOV.UK Notify unreachable: {exc}") from exc

    async def send(self, message: Outgoing) -> str | None:
        s = self.settings
        if message.channel == "sms":
            answer = await self._call(
                self.client.send_sms_notification, phone_number=message.to,
                template_id=s.notify_sms_template_id, personalisation={"body": message.text},
                reference=message.key, sms_sender_id=s.notify_sms_sender_id or None)
        else:
            answer = await self._call(
                self.client.send_email_notification, email_address=message.to,
                template_id=s.notify_email_template_id,
                personalisation={"subject": message.subject, "body": message.text},
                reference=message.key)
        return str(answer["id"])

    async def find(self, key: str) -> str | None:
        """The id of a notification Notify already has with this reference, if any."""
        answer = await self._call(self.client.get_all_notifications, reference=key)
        found = answer.get("notifications") or []
        return str(found[0]["id"]) if found else None

    async def status(self, provider_id: str) -> str | None:
        answer = await self._call(self.client.get_notification_by_id, provider_id)
        return STATUSES.get(str(answer.get("status")))
