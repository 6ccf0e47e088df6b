"""Email over SMTP (aiosmtplib): the text, any attachment (the ICS file), a stable Message-ID."""

from __future__ import annotations

import email.utils
import ssl
from email.message import EmailMessage

import aiosmtplib

from server.outbox.channels import Outgoing, Permanent, Temporary
from server.settings import Settings


def build_email(message: Outgoing, sender: str) -> EmailMessage:
    """The MIME message; its Message-ID is the outbox key, so a repeat is recognisable."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = message.to
    mail["Subject"] = message.subject
    mail["Date"] = email.utils.formatdate(localtime=False)
    domain = email.utils.parseaddr(sender)[1].rpartition("@")[2] or "rapport.invalid"
    mail["Message-ID"] = f"<{message.key}@{domain}>"
    mail.set_content(message.text)
    for item in message.attachments:
        maintype, _, rest = item.content_type.partition("/")
        subtype, _, extra = rest.partition(";")
        name, _, value = extra.strip().partition("=")  # e.g. method=REQUEST on text/calendar
        mail.add_attachment(item.data, maintype=maintype, subtype=subtype.strip(),
                            filename=item.filename, params={name: value} if name else {})
    return mail


class SmtpTransport:
    """Sends through the configured SMTP server: 4xx answers are retried, 5xx refuse."""

    name = "smtp"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def send(self, message: Outgoing) -> str | None:
        s = self.settings
        mail = build_email(message, s.email_from)
        try:
            await aiosmtplib.send(
                mail, hostname=s.smtp_host, port=s.smtp_port,
                username=s.smtp_username or None, password=s.smtp_password or None,
                use_tls=s.smtp_security == "tls", start_tls=s.smtp_security == "starttls",
                tls_context=ssl.create_default_context(), timeout=30)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            error = f"SMTP refused the recipient: {codes}"
            raise (Permanent(error) if all(c >= 500 for c in codes) else Temporary(error)) \
                from exc
        except aiosmtplib.SMTPResponseException as exc:
            error = f"SMTP {exc.code}: {exc.message}"
            raise (Permanent(error) if 500 <= exc.code < 600 else Temporary(error)) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise Temporary(f"SMTP server unreachable: {exc}") from exc
        return None  # SMTP gives no id to ask about later; the Message-ID is the key
