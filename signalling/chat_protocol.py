"""The messages of the waiting-room note and of the text chat (issue #14), both directions.

`signalling/protocol.py` takes the inbound ones into its union, `signalling/outbound.py` the
outbound ones; `signalling/chat.py` acts on them. docs/signalling.md describes them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

CHAT_MAX_CHARS = 1000  # one chat message: a few sentences, an address, a spelling
LATE_MINUTES = (5, 10, 15)


class RunningLate(BaseModel):
    """The practitioner's one-tap note to everyone waiting: "running late, about N minutes"."""

    model_config = ConfigDict(extra="forbid", strict=True)
    type: Literal["running-late"]
    minutes: Literal[5, 10, 15]


class ChatSend(BaseModel):
    """A chat message from an admitted person; plain text (markup is kept and shown as text)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    type: Literal["chat"]
    text: str = Field(min_length=1, max_length=CHAT_MAX_CHARS)


class ChatAsk(BaseModel):
    """An admitted page asks for the chat so far (on being let in, or back in)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    type: Literal["chat-history"]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunningLateOut(_Out):
    """To the waiting people (and on arrival, while fresh); to the practitioner with
    `waiting`, how many were told."""

    type: Literal["running-late"]
    minutes: int
    at: str = Field(description="ISO 8601 UTC: when the practitioner sent it.")
    waiting: int | None = None


class ChatOut(_Out):
    """A stored chat message, to every admitted person (the sender too)."""

    type: Literal["chat"]
    id: int
    from_: int = Field(alias="from")
    name: str
    role: Literal["practitioner", "client", "interpreter"]
    text: str
    at: str = Field(description="ISO 8601 UTC: when the server stored it.")


class ChatHistory(_Out):
    """The chat so far, to a person when they are admitted (or come back admitted)."""

    type: Literal["chat-history"]
    messages: list[ChatOut]
