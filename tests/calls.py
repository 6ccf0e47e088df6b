"""Helpers for tests of live calls: a remote appointment, links, and WebSocket peers."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.clock import now
from server.joining.invitations import mint
from server.settings import Settings
from server.store.models import (
    Appointment,
    AppointmentKind,
    Client,
    Contact,
    ContactKind,
    ContactOutcome,
    InvitationRole,
    User,
)

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
CLIENT_CHECKS = {"client.private": True, "client.speak_freely": True,
                 "client.not_driving_confirmed": True, "client.nobody_at_risk_confirmed": True,
                 "client.charged": True}
PREMISES_CHECKS = {"practitioner_premises.private_room": True,
                   "practitioner_premises.case_checked": True}


@dataclass
class Call:
    appointment: Appointment
    client: Client
    practitioner: User
    client_token: str
    interpreter_token: str | None


async def remote_call(db: async_sessionmaker[AsyncSession], settings: Settings,
                      practitioner: User, client: Client, *, face_to_face: bool = True,
                      interpreter: bool = False, starts_in: timedelta = timedelta(minutes=5)
                      ) -> Call:
    """A remote appointment soon, with links; by default the client has been seen in person."""
    async with db.begin() as s:
        if face_to_face:
            s.add(Contact(client_id=client.id, practitioner_id=practitioner.id,
                          kind=ContactKind.FACE_TO_FACE, happened_at=now() - timedelta(days=7),
                          outcome=ContactOutcome.ATTENDED, notes="", sensitive=False,
                          created_at=now(), created_by_id=practitioner.id))
        if interpreter:
            row = await s.get(Client, client.id)
            assert row is not None
            row.interpreter_needed, row.interpreter_language = True, "pl"
        appointment = Appointment(client_id=client.id, practitioner_id=practitioner.id,
                                  kind=AppointmentKind.REMOTE, starts_at=now() + starts_in,
                                  duration_minutes=30, created_at=now())
        s.add(appointment)
        await s.flush()
        _row, token = await mint(s, appointment, InvitationRole.CLIENT, practitioner, settings)
        interp = None
        if interpreter:
            _row, interp = await mint(s, appointment, InvitationRole.INTERPRETER, practitioner,
                                      settings)
    return Call(appointment, client, practitioner, token, interp)


class Peer:
    """One WebSocket with a buffer, so tests can wait for a message of a given type."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, session: aiohttp.ClientSession
                 | None = None) -> None:
        self.ws = ws
        self.session = session
        self.seen: list[dict[str, Any]] = []

    async def send(self, **message: Any) -> None:
        await self.ws.send_json(message)

    async def send_raw(self, text: str) -> None:
        await self.ws.send_str(text)

    async def next(self, within: float = 5.0) -> dict[str, Any]:
        try:
            msg = await self.ws.receive(timeout=within)
        except TimeoutError:
            raise AssertionError(f"nothing within {within}s; saw {self.seen[-6:]}") from None
        if msg.type != aiohttp.WSMsgType.TEXT:
            raise AssertionError(f"expected a message, got {msg.type!r} {msg.data!r} "
                                 f"(close code {self.ws.close_code})")
        data: dict[str, Any] = json.loads(msg.data)
        self.seen.append(data)
        return data

    async def expect(self, kind: str, within: float = 5.0, **fields: Any) -> dict[str, Any]:
        """The next message of this type (and these field values), skipping others."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(f"no {kind} {fields} within {within}s; saw {self.seen}")
            message = await self.next(left)
            if message["type"] == kind and all(message.get(k) == v for k, v in fields.items()):
                return message

    async def error(self, code: str, within: float = 5.0) -> dict[str, Any]:
        message = await self.expect("error", within)
        assert message["code"] == code, message
        return message

    async def closed(self, within: float = 5.0) -> int | None:
        """Read until the server closes; the close code."""
        while True:
            msg = await self.ws.receive(timeout=within)
            if msg.type == aiohttp.WSMsgType.CLOSE:
                # The code the server sent. aiohttp's client overwrites `close_code` with 1006
                # when its reply cannot be written because the server already closed the
                # transport (as aiohttp's server does when it closes while also reading);
                # browsers report the code they received.
                return int(msg.data)
            if msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                return self.ws.close_code
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.seen.append(json.loads(msg.data))

    async def close(self) -> None:
        await self.ws.close()
        if self.session is not None:
            await self.session.close()


async def practitioner_peer(client: TestClient, appointment_id: int, *,
                            checklist: bool = True, resume: bool = False) -> Peer:
    """The signed-in practitioner (the TestClient's own cookies) in the room."""
    ws = await client.ws_connect("/signal", origin=str(client.make_url("")).rstrip("/"))
    peer = Peer(ws)
    await peer.send(type="hello", version=1, appointment=appointment_id, resume=resume)
    welcome = await peer.expect("welcome")
    assert welcome["you"]["state"] == "admitted", welcome
    if checklist:
        await peer.send(type="checklist", answers=PREMISES_CHECKS, location="premises")
        result = await peer.expect("checklist-result")
        assert result["passed"], result
    return peer


async def open_link(client: TestClient, token: str, *, birth: tuple[int, int, int] | None
                    = (1990, 1, 1), name: str = "") -> tuple[aiohttp.ClientSession, int]:
    """A fresh browser that opens the link and answers; returns it and the POST status."""
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    page = await session.get(client.make_url(f"/join/{token}"))
    text = await page.text()
    match = CSRF_FIELD.search(text)
    if match is None:
        return session, page.status
    form = {"csrf_token": match.group(1), "name": name}
    if birth is not None:
        form.update(year=str(birth[0]), month=str(birth[1]), day=str(birth[2]))
    response = await session.post(client.make_url(f"/join/{token}"), data=form,
                                  allow_redirects=False)
    return session, response.status


async def joined_peer(client: TestClient, session: aiohttp.ClientSession, *,
                      resume: bool = False) -> Peer:
    ws = await session.ws_connect(client.make_url("/signal"),
                                  origin=str(client.make_url("")).rstrip("/"))
    peer = Peer(ws, session)
    await peer.send(type="hello", version=1, resume=resume)
    return peer


async def client_peer(client: TestClient, token: str, *, checklist: dict[str, bool] | None
                      = CLIENT_CHECKS, name: str = "") -> Peer:
    """A client (or interpreter) who opened their link, answered, and now waits."""
    session, status = await open_link(client, token, name=name)
    assert status == 303, status
    peer = await joined_peer(client, session)
    welcome = await peer.expect("welcome")
    assert welcome["you"]["state"] == "waiting", welcome
    if checklist is not None:
        await peer.send(type="checklist", answers=checklist)
        await peer.expect("checklist-result")
    return peer
