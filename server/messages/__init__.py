"""Messages to clients about their appointments (booked, reminders, moved, cancelled) composed
in their language with the join link and calendar file, and the admin's view of the outbox and
the case system's webhook. See docs/notifications.md."""
