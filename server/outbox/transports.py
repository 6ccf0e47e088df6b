"""The channels the settings name, made once at start-up."""

from __future__ import annotations

from server.outbox.channels import Transport
from server.outbox.govuk_notify import NotifyTransport
from server.outbox.logchannel import LogTransport
from server.outbox.smtp import SmtpTransport
from server.outbox.webhook import WebhookTransport
from server.settings import Settings


def make_transports(settings: Settings) -> dict[str, Transport]:
    """"sms", "email" and "webhook" → the transport that carries each."""
    log = LogTransport()
    notify = NotifyTransport(settings) if "notify" in (settings.sms_channel,
                                                        settings.email_channel) else None
    chosen: dict[str, Transport | None] = {
        "log": log, "smtp": SmtpTransport(settings) if settings.email_channel == "smtp" else None,
        "notify": notify}
    email, sms = chosen[settings.email_channel], chosen[settings.sms_channel]
    assert email is not None and sms is not None  # the settings were validated
    return {"email": email, "sms": sms,
            "webhook": WebhookTransport(settings.webhook_timeout_seconds)}
