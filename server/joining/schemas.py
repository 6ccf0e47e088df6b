"""What the invitation endpoints accept and return."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from server.schemas import Input, Output
from server.store.models import (
    InvitationRole,
)


class InvitationOut(Output):
    id: int
    role: InvitationRole
    valid_from: datetime
    valid_until: datetime


class SendIn(Input):
    channel: Literal["sms", "email"]
    to: str = Field(min_length=3, max_length=254,
                    description="A mobile number for SMS, an email address for email.")


class InvitationIn(Input):
    role: InvitationRole
    send: SendIn | None = Field(default=None, description="Also send the link at once.")


class InvitationCreated(InvitationOut):
    link: str = Field(description="Shown once; only the token's hash is kept.")
    sent: bool = False
