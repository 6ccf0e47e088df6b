"""Real protocol servers for the message tests: SMTP (aiosmtpd), a local GOV.UK Notify API,
and a webhook receiver that checks the signature."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import jwt
from aiohttp import web
from aiosmtpd.controller import Controller

from server.outbox.signing import verify


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MailHandler:
    """Keeps every message it accepts; `delay` slows each one (a busy server)."""

    def __init__(self, delay: float = 0.0, refuse: int | None = None) -> None:
        self.delay, self.refuse = delay, refuse
        self.lock = threading.Lock()
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.refuse is not None:
            return f"{self.refuse} refused by the test server"
        if self.delay:
            await asyncio.sleep(self.delay)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"

    def ids(self) -> list[str]:
        with self.lock:
            return [str(m["Message-ID"]) for m in self.messages]


class SmtpServer:
    """aiosmtpd on a free loopback port, in its own thread."""

    def __init__(self, handler: MailHandler) -> None:
        self.handler = handler
        self.port = free_port()
        self.controller = Controller(handler, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.controller.stop()


def wait_for(predicate: Any, timeout: float = 90.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


async def until(predicate: Any, within: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + within
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


# --- GOV.UK Notify ---------------------------------------------------------------------------

SERVICE_ID = "26785a09-ab16-4eb0-8407-a37497a57506"
SECRET = "3d844edf-8d35-48ac-975b-e847b4f122b0"
API_KEY = f"rapport_test-{SERVICE_ID}-{SECRET}"


@dataclass
class FakeNotify:
    """Speaks the Notify API's send and status endpoints; checks each request's JWT."""

    fail_with: list[int] = field(default_factory=list)  # answer these statuses first, in turn
    requests: list[dict[str, Any]] = field(default_factory=list)
    notifications: dict[str, dict[str, Any]] = field(default_factory=dict)
    final_status: str = "delivered"
    delay: float = 0.0  # seconds before each send is answered (a busy service)

    def authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return False
        try:
            claims = jwt.decode(header[7:], SECRET, algorithms=["HS256"])
        except jwt.PyJWTError:
            return False
        return bool(claims.get("iss") == SERVICE_ID and abs(claims["iat"] - time.time()) < 30)

    async def send(self, request: web.Request) -> web.Response:
        if not self.authorised(request):
            return web.json_response({"errors": [{"error": "AuthError"}]}, status=403)
        body = await request.json()
        if self.delay:
            await asyncio.sleep(self.delay)
        kind = request.match_info["kind"]
        self.requests.append({"kind": kind, **body})
        if self.fail_with:
            status = self.fail_with.pop(0)
            return web.json_response({"status_code": status, "errors": [
                {"error": "TestError", "message": f"test answer {status}"}]}, status=status)
        ident = str(uuid.uuid4())
        self.notifications[ident] = {"id": ident, "reference": body.get("reference"),
                                     "type": kind, "status": self.final_status, **body}
        return web.json_response({"id": ident, "reference": body.get("reference"),
                                  "content": {}, "uri": "", "template": {}}, status=201)

    async def one(self, request: web.Request) -> web.Response:
        if not self.authorised(request):
            return web.json_response({"errors": [{"error": "AuthError"}]}, status=403)
        found = self.notifications.get(request.match_info["id"])
        if found is None:
            return web.json_response({"errors": [{"error": "NoResultFound"}]}, status=404)
        return web.json_response(found)

    async def many(self, request: web.Request) -> web.Response:
        if not self.authorised(request):
            return web.json_response({"errors": [{"error": "AuthError"}]}, status=403)
        reference = request.query.get("reference")
        found = [n for n in self.notifications.values() if n["reference"] == reference]
        return web.json_response({"notifications": found, "links": {}})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v2/notifications/{kind:sms|email}", self.send)
        app.router.add_get("/v2/notifications/{id}", self.one)
        app.router.add_get("/v2/notifications", self.many)
        return app


# --- webhooks --------------------------------------------------------------------------------

@dataclass
class WebhookReceiver:
    """A case system: verifies each signature, keeps deliveries by their id."""

    secret: str
    answers: list[int] = field(default_factory=list)  # statuses to answer first, in turn
    stall: float = 0.0  # seconds to wait before the first answers (a timeout)
    received: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not verify(self.secret, request.headers.get("Rapport-Signature", ""), body,
                      int(time.time())):
            self.bad_signatures += 1
            return web.Response(status=401)
        if self.stall:
            stall, self.stall = self.stall, 0.0
            await asyncio.sleep(stall)
        if self.answers:
            return web.Response(status=self.answers.pop(0))
        self.received.append({"delivery": request.headers["Rapport-Delivery"],
                              "body": body})
        return web.Response(status=204)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        return app
