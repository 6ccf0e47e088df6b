"""The text chat of a video session (issue #14): part of the contact, kept with its record."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.store.models.base import Base, UTCDateTime


class ChatMessage(Base):
    """One chat message, as its sender wrote it (plain text: shown as text, never as markup).

    Keyed by appointment, like the contact record it belongs to; the sender's name and role
    are copied, so the chat reads the same after the participant rows have gone (retention
    deletes it with the contact, server/privacy/retention.py).
    """

    __tablename__ = "chat_message"
    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointment.id"), index=True)
    participant_id: Mapped[int] = mapped_column(Integer)  # no foreign key: outlives the person
    author_name: Mapped[str] = mapped_column(String(200))
    author_role: Mapped[str] = mapped_column(String(16))  # practitioner | client | interpreter
    body: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())
