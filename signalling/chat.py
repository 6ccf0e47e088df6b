"""The waiting-room note and the text chat (issue #14), over signalling.

`running-late`: the practitioner's one-tap "running late, about 5 / 10 / 15 minutes" goes to
everyone waiting now, and (for half an hour, through the bus's shared memory so every process
knows it) to whoever arrives in the waiting room later. Each page words it in its own language.

`chat`: an admitted person's message (the connection already refuses it, `not_admitted`,
from someone waiting). Stored first (`chat_message`, part of the contact record), then sent to
everyone admitted, the sender too; at most a few at once, then one a second (`rate_limited`).
Text is stored and sent as it was typed; pages show it as text, never as markup. A person
let in (or back in) asks for the chat so far (`chat-history`).
"""

from __future__ import annotations

import json
import unicodedata
import weakref
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import select

from server import keys
from server.clock import now
from server.joining.members import Member
from server.store.models import ChatMessage, Participant, ParticipantRole, ParticipantState
from signalling.chat_protocol import ChatAsk, ChatSend, RunningLate
from signalling.keys import BUS
from signalling.limits import Bucket
from signalling.protocol import ErrorCode, ProtocolError
from signalling.sessions import iso

KINDS = frozenset({"running-late", "chat", "chat-history"})
LATE_FRESH = timedelta(minutes=30)
CHAT_BURST, CHAT_RATE = 5, 1.0  # a few at once, then one a second
HISTORY_LIMIT = 200
Send = Callable[[dict[str, Any]], Awaitable[None]]

# Each connection's chat allowance (a page that reconnects starts afresh, as with every limit).
_buckets: weakref.WeakKeyDictionary[Any, Bucket] = weakref.WeakKeyDictionary()


def _late_key(appointment_id: int) -> str:
    return f"running-late:{appointment_id}"


async def handle(connection: Any, member: Member, message: Any) -> None:
    """A message of KINDS from `connection` (signalling/connection.py: its request, peers and
    send)."""
    app: web.Application = connection.request.app
    if isinstance(message, RunningLate):
        await running_late(app, member, message.minutes, connection.send)
    elif isinstance(message, ChatSend):
        bucket = _buckets.get(connection)
        if bucket is None:
            bucket = _buckets[connection] = Bucket(CHAT_BURST, CHAT_RATE)
        await chat(app, member, connection.peers, message.text, bucket)
    elif isinstance(message, ChatAsk):
        await connection.send(await history(app, member.appointment_id))


async def running_late(app: web.Application, member: Member, minutes: int, send: Send) -> None:
    if member.role is not ParticipantRole.PRACTITIONER:
        raise ProtocolError(ErrorCode.NOT_ALLOWED, "only the practitioner may send running-late",
                            ref="running-late")
    note = {"type": "running-late", "minutes": minutes, "at": iso(now())}
    bus = app[BUS]
    await bus.remember(_late_key(member.appointment_id), json.dumps(note))
    async with app[keys.DB]() as db:
        waiting = list(await db.scalars(select(Participant.id).where(
            Participant.appointment_id == member.appointment_id,
            Participant.state == ParticipantState.WAITING,
            Participant.role != ParticipantRole.PRACTITIONER)))
    await bus.send_many(member.appointment_id, waiting, note)
    await send({**note, "waiting": len(waiting)})


async def on_waiting(app: web.Application, member: Member, send: Send) -> None:
    """Someone arrived in the waiting room: the practitioner's note, if it is still fresh."""
    text = await app[BUS].recall(_late_key(member.appointment_id))
    if not text:
        return
    note = json.loads(text)
    sent = datetime.strptime(note["at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    if now() - sent <= LATE_FRESH:
        await send(note)


def clean(text: str) -> str:
    """The text as typed, less control characters (new lines kept) and outer blank space."""
    kept = "".join(c for c in text if c in "\n\t" or unicodedata.category(c)[0] != "C")
    return kept.strip()


def _out(row: ChatMessage) -> dict[str, Any]:
    return {"type": "chat", "id": row.id, "from": row.participant_id, "name": row.author_name,
            "role": row.author_role, "text": row.body, "at": iso(row.sent_at)}


async def chat(app: web.Application, member: Member, peers: set[int], text: str,
               bucket: Bucket) -> None:
    body = clean(text)
    if not body:
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "the chat message is empty", ref="chat",
                            errors=[{"field": "text", "problem": "empty"}])
    if not bucket.take():
        raise ProtocolError(ErrorCode.RATE_LIMITED, "chat: at most one message a second",
                            ref="chat")
    async with app[keys.DB].begin() as db:
        row = ChatMessage(appointment_id=member.appointment_id,
                          participant_id=member.participant_id, author_name=member.name,
                          author_role=member.role.value, body=body, sent_at=now())
        db.add(row)
        await db.flush()
        out = _out(row)
    await app[BUS].send_many(member.appointment_id, {*peers, member.participant_id}, out)


async def history(app: web.Application, appointment_id: int) -> dict[str, Any]:
    """The chat so far (the newest HISTORY_LIMIT messages, oldest first)."""
    async with app[keys.DB]() as db:
        rows = list(await db.scalars(select(ChatMessage)
                                     .where(ChatMessage.appointment_id == appointment_id)
                                     .order_by(ChatMessage.id.desc()).limit(HISTORY_LIMIT)))
    return {"type": "chat-history", "messages": [_out(r) for r in reversed(rows)]}
