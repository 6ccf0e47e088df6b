"""The durable outbox: messages and webhook pushes written in the transaction that causes them,
sent by a background worker with retries, and the channels that carry them (log, SMTP, GOV.UK
Notify, signed webhooks). See docs/notifications.md."""
