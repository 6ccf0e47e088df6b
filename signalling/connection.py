"""One browser's signalling WebSocket: hello, reading, dispatching, writing.

A connection waits for `hello`, registers with the room bus, then reads messages one at a
time: validate, check the sender's state and role, act through `Rooms`, answer errors to the
sender only. Offers, answers and candidates take a fast path (`signalling/wire.py`). Writes go
straight to the socket, or through a queue and a writer task when the browser reads slowly
(`signalling/writing.py`), so a slow browser never blocks anyone else. The process's one
heartbeat pings it and closes it when silent (`signalling/heartbeat.py`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import WSMsgType, web

from media.turn import ice_servers, ice_transport_policy
from server import keys
from server.clock import now
from server.errors import Forbidden, NotFound
from server.i18n import current_language
from server.joining.members import Member, member_for_staff
from server.store.models import ParticipantRole, ParticipantState
from signalling import chat, desks, protocol, quality, wire
from signalling.heartbeat import PING_EVERY
from signalling.keys import BUS, CLEANUPS, DESK, HEARTBEAT, ROOMS
from signalling.limits import LEG_BURST, LEG_RATE, Bucket
from signalling.protocol import Close, ErrorCode, ProtocolError
from signalling.sessions import FINAL, iso
from signalling.writing import Writer

log = logging.getLogger("rapport.signalling")

HELLO_TIMEOUT = 10.0
DROP_LIMIT = 2000

PRACTITIONER_ONLY = {"admit", "deny", "remove", "end", "record", "repair"}
RECORDING_KINDS = {"record", "consent", "withdraw", "recorder-offer"}
WHILE_WAITING = {"hello", "checklist", "leave", "ping"}
RELAYED = {"offer", "answer", "candidate"}
FINAL_NOTICES = {"denied": Close.GONE, "removed": Close.GONE, "ended": Close.GONE,
                 "replaced": Close.REPLACED}


class Connection:
    """One browser's WebSocket."""

    __slots__ = ("beats", "bucket", "bus", "close_code", "done", "dropped", "id", "last_heard",
                 "last_rate_error", "legs", "max_bytes", "member", "metrics", "out", "over",
                 "peers", "request", "roster_version", "rooms", "state", "stats_at", "ws",
                 "__weakref__")  # signalling/chat.py keeps a rate bucket per connection

    def __init__(self, request: web.Request, ws: web.WebSocketResponse) -> None:
        self.request = request
        self.ws = ws
        self.rooms = request.app[ROOMS]
        self.bus = request.app[BUS]
        self.metrics = request.app[keys.METRICS]
        self.id = self.bus.connection_id()  # names this process (signalling/liveness.py)
        self.member: Member | None = None
        self.state: ParticipantState | None = None
        self.peers: set[int] = set()  # admitted others, from the last roster
        self.roster_version = 0
        self.out = Writer(request, ws)
        settings = request.app[keys.SETTINGS]
        self.bucket = Bucket(settings.signal_burst, settings.signal_rate)
        self.max_bytes: int = settings.signal_max_message_bytes
        self.dropped = 0
        self.last_rate_error = 0.0
        self.last_heard = time.monotonic()
        self.beats = 0  # signalling/heartbeat.py
        self.close_code: int | None = None
        self.stats_at = 0.0  # when call-quality statistics were last stored
        self.legs = Bucket(LEG_BURST, LEG_RATE)  # leg reports and repairs (issue #13)
        # Closed and its disconnection recorded; a future only once drain waits for it.
        self.over = False
        self.done: asyncio.Future[None] | None = None

    async def finished(self) -> None:
        if self.over:
            return
        if self.done is None:
            self.done = asyncio.get_running_loop().create_future()
        await asyncio.shield(self.done)  # a waiter cancelled leaves it for any other

    def close_after_writes(self, code: int) -> None:
        self.close_code = code
        self.out.finish(code)

    # --- writing --------------------------------------------------------------------------

    async def deliver(self, message: dict[str, Any]) -> None:
        """Called by the bus (from any task): keep local state, queue for the writer."""
        kind = message.get("type")
        follow: dict[str, Any] | None = None
        if kind == "roster":
            if message["version"] < self.roster_version:
                return  # an older snapshot overtaken by a newer one (or older than us)
            self.roster_version = message["version"]
            follow = self._admitted_by(message)
        elif kind == "admitted":
            if self.state is ParticipantState.ADMITTED:
                return  # already told, with the roster that showed it
            self.state = ParticipantState.ADMITTED
        elif kind in ("denied", "removed", "ended"):
            self.state = ParticipantState(kind)
        for item in (message, follow):
            if item is None:
                continue
            if not await self.out.put(item):  # a browser that does not read: let it reconnect
                self.close_code = Close.HEARTBEAT
                await self.ws.close(code=Close.HEARTBEAT, message=b"too slow")
                return
        if kind in FINAL_NOTICES:
            self.close_code = FINAL_NOTICES[kind]
            self.out.finish(self.close_code)

    def _admitted_by(self, roster: dict[str, Any]) -> dict[str, Any] | None:
        """Take the peers, and this person's admission, from a roster (docs/signalling.md:
        the page acts on the roster at once, so the connection counts as admitted from it,
        not only from the admission's later `admitted`, issue #13). Returns the `admitted`
        to send right after the roster that first says so."""
        me = self.member.participant_id if self.member else None
        self.peers = {p["id"] for p in roster["participants"]
                      if p["state"] == "admitted" and p["id"] != me}
        mine = next((p for p in roster["participants"] if p["id"] == me), None)
        if (mine is None or mine["state"] != ParticipantState.ADMITTED.value
                or self.state is not ParticipantState.WAITING):
            return None
        self.state = ParticipantState.ADMITTED
        return {"type": "admitted"}

    async def send(self, message: dict[str, Any]) -> None:
        await self.deliver(message)

    # --- reading --------------------------------------------------------------------------

    async def run(self, participant: Member | None) -> None:
        heart = self.request.app[HEARTBEAT]
        heart.add(self)
        try:
            hello = await self._hello(participant)
            if hello is None:
                return
            await self._read()
        finally:
            heart.discard(self)
            # aiohttp cancels a handler whose peer went away: finish the bookkeeping in a
            # task of its own, so the disconnection is always recorded.
            cleanup = asyncio.ensure_future(self._cleanup())
            pending = self.request.app[CLEANUPS]
            pending.add(cleanup)
            cleanup.add_done_callback(pending.discard)
            await asyncio.shield(cleanup)

    async def _cleanup(self) -> None:
        if self.member is not None:
            await self.bus.detach(self.member.appointment_id, self.member.participant_id,
                                  self.id)
            try:
                await self.rooms.disconnect(self.member, self.id, drained=self.close_code
                                            == Close.DRAINING)
            except Exception:
                log.exception("could not record a disconnection")
        self.over = True
        if self.done is not None:
            self.done.set_result(None)
        if not self.ws.closed:
            self.out.finish(self.close_code or Close.GONE)
        await self.out.flush(2.0)

    async def _read(self) -> None:
        """Text messages, after pings/pongs, size and rate checks (a loop, not an async
        generator: one object fewer per connection and per message)."""
        ws, bucket = self.ws, self.bucket
        while True:
            msg = await ws.receive()
            self.last_heard = time.monotonic()
            if msg.type is WSMsgType.TEXT:
                if bucket.take():
                    await self._handle(msg.data)
                elif not await self._over_rate():
                    return
            elif not await self._other(msg):
                return

    async def _over_rate(self) -> bool:
        """A message over the rate limit is dropped; False once the connection is closed."""
        self.dropped += 1
        if self.dropped >= DROP_LIMIT:
            self.close_code = Close.FLOOD
            await self.ws.close(code=Close.FLOOD, message=b"flooding")
            return False
        if self.last_heard - self.last_rate_error >= 1.0:
            self.last_rate_error = self.last_heard
            await self.send(protocol.error(
                ErrorCode.RATE_LIMITED, "too many messages; slow down"))
        return True

    async def _other(self, msg: Any) -> bool:
        """Anything but a text message; False when the socket is closing."""
        if msg.type == WSMsgType.BINARY:
            await self.send(protocol.error(ErrorCode.INVALID_MESSAGE,
                                           "binary frames are not part of the protocol"))
        elif msg.type == WSMsgType.PING:
            await self.ws.pong(msg.data)
        elif msg.type != WSMsgType.PONG:  # CLOSE, CLOSING, CLOSED, ERROR
            return False
        return True

    async def _hello(self, participant: Member | None) -> protocol.Hello | None:
        try:
            msg = await self.ws.receive(timeout=HELLO_TIMEOUT)
        except TimeoutError:
            await self.ws.close(code=Close.BAD_HANDSHAKE, message=b"no hello")
            return None
        if msg.type != WSMsgType.TEXT:
            await self.ws.close(code=Close.BAD_HANDSHAKE, message=b"no hello")
            return None
        try:
            hello = protocol.parse(msg.data, self.max_bytes)
        except ProtocolError as exc:
            await self.ws.send_json(exc.to_message())
            await self.ws.close(code=Close.BAD_HANDSHAKE, message=b"bad hello")
            return None
        if not isinstance(hello, protocol.Hello):
            await self.ws.send_json(protocol.error(ErrorCode.HELLO_REQUIRED,
                                                   "the first message must be hello"))
            await self.ws.close(code=Close.BAD_HANDSHAKE, message=b"hello required")
            return None
        if hello.version != protocol.VERSION:
            await self.ws.send_json(protocol.error(
                ErrorCode.UNSUPPORTED_VERSION,
                f"this server speaks version {protocol.VERSION}", ref="hello"))
            await self.ws.close(code=Close.BAD_HANDSHAKE, message=b"unsupported version")
            return None
        member = await self._who(participant, hello)
        if member is None:
            return None
        try:
            state, since, answered, session_state, self.roster_version, policy = (
                await self.rooms.connect(member, self.id, hello.resume))
        except ProtocolError as exc:
            await self.ws.send_json(exc.to_message())
            await self.ws.close(code=Close.GONE, message=b"over")
            return None
        self.member, self.state = member, state
        # Read before attaching: once attached, an older tab of this person is being closed,
        # and the welcome should follow at once.
        checklist = await self.rooms.checklist_offer(member, answered, policy)
        # The consent wording is shown (and its hash checked) in this connection's language.
        await self.request.app[DESK].set_language(member.participant_id, current_language())
        await self.bus.attach(member.appointment_id, member.participant_id, self.id,
                              self.deliver)
        settings = self.request.app[keys.SETTINGS]
        await self.send({
            "type": "welcome", "version": protocol.VERSION,
            "you": {"id": member.participant_id, "role": member.role.value,
                    "name": member.name, "state": state.value},
            "session": {"appointment": member.appointment_id, "state": session_state},
            "ice_servers": ice_servers(settings, f"p{member.participant_id}", now()),
            "ice_transport_policy": ice_transport_policy(settings),
            "heartbeat_seconds": int(PING_EVERY),
            "checklist": checklist,
        })
        if state is ParticipantState.WAITING:
            await self.send({"type": "waiting", "since": iso(since)})
            await chat.on_waiting(self.request.app, member, self.send)  # running late (#14)
        await self.rooms.roster(member.appointment_id)
        return hello

    async def _who(self, participant: Member | None, hello: protocol.Hello) -> Member | None:
        if participant is not None:
            if hello.appointment is not None and hello.appointment != participant.appointment_id:
                await self.ws.send_json(protocol.error(
                    ErrorCode.NOT_ALLOWED, "your link is for another appointment", ref="hello"))
                await self.ws.close(code=Close.FORBIDDEN, message=b"other appointment")
                return None
            return participant
        if hello.appointment is None:
            await self.ws.send_json(protocol.error(
                ErrorCode.INVALID_MESSAGE, "staff must name the appointment", ref="hello",
                errors=[{"field": "appointment", "problem": "Field required"}]))
            await self.ws.close(code=Close.BAD_HANDSHAKE, message=b"appointment missing")
            return None
        try:
            return await member_for_staff(self.request, hello.appointment)
        except (NotFound, Forbidden):
            # One answer for "no such appointment" and "someone else's": otherwise anyone
            # signed in could find out which appointment ids are live in other organisations.
            code, text = Close.NOT_FOUND, "there is no such remote appointment of yours"
        await self.ws.send_json(protocol.error(ErrorCode.NOT_ALLOWED, text, ref="hello"))
        await self.ws.close(code=code, message=text.encode()[:120])
        return None

    async def _handle(self, raw: str) -> None:
        assert self.member is not None
        try:
            data = protocol.decode(raw, self.max_bytes)
            kind = data["type"]
            if kind in RELAYED and self.state is ParticipantState.ADMITTED:
                fast = wire.relayed(data, kind, self.member.participant_id)
                if fast is not None:  # valid: the same checks and message as `_dispatch`'s
                    await self._relay(kind, *fast)
                    return
            await self._dispatch(protocol.validate(data, kind))
        except ProtocolError as exc:
            await self.send(exc.to_message())
        except Exception:  # never let one message take the room down
            log.exception("signalling message failed", extra={"connection": self.id})
            self.metrics.errors.labels("signalling").inc()
            await self.send(protocol.error(ErrorCode.INVALID_MESSAGE,
                                           "the server could not handle this message"))

    async def _dispatch(self, message: Any) -> None:
        member = self.member
        assert member is not None
        kind = message.type
        practitioner = member.role is ParticipantRole.PRACTITIONER
        if kind == "hello":
            raise ProtocolError(ErrorCode.HELLO_REPEATED, "hello was already sent", ref=kind)
        if kind == "ping":
            await self.send({"type": "pong"})
            return
        if self.state in FINAL:
            raise ProtocolError(ErrorCode.SESSION_ENDED, "the session is over", ref=kind)
        if kind in PRACTITIONER_ONLY and not practitioner:
            raise ProtocolError(ErrorCode.NOT_ALLOWED,
                                f"only the practitioner may send {kind}", ref=kind)
        if kind not in WHILE_WAITING and self.state is not ParticipantState.ADMITTED:
            raise ProtocolError(ErrorCode.NOT_ADMITTED,
                                "wait until the practitioner lets you in", ref=kind)
        if kind == "checklist":
            await self.send(await self.rooms.answer_checklist(
                member, message.answers, message.location))
        elif kind == "admit":
            with self.metrics.admission.time():
                await self.rooms.admit(member, message.participant)
        elif kind == "deny":
            await self.rooms.deny(member, message.participant, message.reason)
        elif kind == "remove":
            await self.rooms.remove(member, message.participant)
        elif kind == "end":
            await self.rooms.end(member)
        elif kind in RELAYED:
            out = message.model_dump(exclude={"to"}, exclude_none=kind != "candidate")
            out["from"] = member.participant_id
            await self._relay(kind, message.to, out)
        elif kind == "media":
            await self.rooms.media(member, message.audio, message.video)
            await self.bus.send_many(member.appointment_id, self.peers, {
                "type": "media", "from": member.participant_id,
                "audio": message.audio, "video": message.video})
        elif kind == "stats":
            self.stats_at = await quality.store(self.rooms.db, member, message, self.stats_at)
        elif kind in RECORDING_KINDS:
            await self._recording(member, message)
        elif kind in chat.KINDS:  # the waiting-room note and the text chat (#14)
            await chat.handle(self, member, message)
        elif kind in ("legs", "repair"):
            await self._legs(member, message)
        elif kind == "leave":
            await self.rooms.leave(member)
            self.state = ParticipantState.LEFT
            self.close_code = Close.LEFT
            await self.ws.close(code=Close.LEFT, message=b"left")

    async def _relay(self, kind: str, to: int, out: dict[str, Any]) -> None:
        if to not in self.peers:
            raise ProtocolError(ErrorCode.UNKNOWN_PARTICIPANT,
                                f"participant {to} is not admitted in this room", ref=kind)
        assert self.member is not None
        started = time.perf_counter()
        await self.bus.send(self.member.appointment_id, to, out)
        self.metrics.relay.observe(time.perf_counter() - started)

    async def _legs(self, member: Member, message: Any) -> None:
        if not self.legs.take():
            raise ProtocolError(ErrorCode.RATE_LIMITED,
                                "leg reports and repairs: at most one a second", ref=message.type)
        await desks.to_legs(self.request.app, member, self.peers, message)

    async def _recording(self, member: Member, message: Any) -> None:
        await desks.to_recording(self.request.app, member, message, self.send)
