"""The outbox worker: claims due messages, composes, sends, settles; retries with backoff.

One message's life: claimed (its own lease id, `attempts` + 1, committed) → composed in a
transaction that still holds the lease → sent → settled in one transaction that checks the
lease. A crash before the send leaves it `sending` until the lease expires, then another claim
sends it. A crash after the send but before the settle is the one window where a channel may
be asked twice; each attempt carries the same key (SMTP Message-ID, Notify `reference`,
webhook `Rapport-Delivery`), and Notify is asked for that reference before a second try.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import suppress
from datetime import timedelta

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server import i18n, keys
from server.clock import now
from server.outbox import queue
from server.outbox.backoff import gives_up, retry_delay
from server.outbox.channels import Outgoing, Permanent, Temporary, Transport
from server.outbox.compose import BUILT_IN, Compose, Skip
from server.outbox.keys import COMPOSERS, TRANSPORTS
from server.outbox.transports import make_transports
from server.settings import Settings
from server.store import audit
from server.store.models import OutboxMessage, OutboxStatus

log = logging.getLogger("rapport.outbox")
BATCH = 20
# Delivery reports are asked for this long after sending, then the message stays "sent".
TRACK_FOR = timedelta(days=3)


class Worker:
    """Sends what is due; `run_once` is one pass (tests call it directly)."""

    def __init__(self, maker: async_sessionmaker[AsyncSession], settings: Settings,
                 composers: dict[str, Compose], transports: dict[str, Transport],
                 catalogues: i18n.Catalogues | None = None) -> None:
        self.maker, self.settings = maker, settings
        self.composers, self.transports = composers, transports
        self.catalogues = catalogues

    async def run_once(self) -> int:
        """Claim and deliver one batch, side by side (a slow webhook holds up nobody)."""
        claimed = await queue.claim(self.maker, lease_seconds=self.settings.outbox_lease_seconds,
                                    limit=BATCH)
        await asyncio.gather(*(self.deliver(i, lease) for i, lease in claimed))
        return len(claimed)

    async def drain(self, passes: int = 50) -> None:
        """Deliver until nothing is due (tests)."""
        for _ in range(passes):
            if not await self.run_once():
                return

    async def deliver(self, message_id: int, lease: str) -> None:
        try:
            outgoing = await self._compose(message_id, lease)
            if outgoing is None:
                return
            transport = self.transports[outgoing.channel]
            provider_id = await self._send(transport, outgoing, message_id, lease)
        except Permanent as exc:
            await self._settle(message_id, lease, OutboxStatus.FAILED, str(exc))
        except Temporary as exc:
            await self._failed_attempt(message_id, lease, str(exc))
        except Exception as exc:  # a bug or a database hiccup: retried like a channel fault
            log.exception("outbox message %s could not be sent", message_id)
            await self._failed_attempt(message_id, lease, f"{type(exc).__name__}: {exc}")
        else:
            await self._settle(message_id, lease, OutboxStatus.SENT, "", provider_id,
                               transport.name)

    async def _compose(self, message_id: int, lease: str) -> Outgoing | None:
        async with self.maker.begin() as db:
            row = await queue.held(db, message_id, lease)
            if row is None:
                return None  # another worker took it over
            compose = self.composers.get(row.kind)
            if compose is None:
                raise Permanent(f"no composer for messages of kind {row.kind!r}")
            try:
                outgoing = await compose(db, row)
            except Skip as skip:
                queue.settle(db, row, OutboxStatus.SKIPPED, error=str(skip))
                return None
            row.channel, row.recipient = outgoing.channel, outgoing.to
            return outgoing

    async def _send(self, transport: Transport, outgoing: Outgoing, message_id: int,
                    lease: str) -> str | None:
        async with self.maker() as db:
            attempts = await db.scalar(select(OutboxMessage.attempts).where(
                OutboxMessage.id == message_id))
        find = getattr(transport, "find", None)
        if find is not None and (attempts or 0) > 1:
            found: str | None = await find(outgoing.key)
            if found is not None:
                log.info("outbox message %s was already accepted as %s", message_id, found)
                return found
        return await transport.send(outgoing)

    async def _settle(self, message_id: int, lease: str, status: OutboxStatus, error: str,
                      provider_id: str | None = None, via: str | None = None) -> None:
        async with self.maker.begin() as db:
            row = await queue.held(db, message_id, lease)
            if row is not None:
                queue.settle(db, row, status, error=error, provider_id=provider_id, via=via)

    async def _failed_attempt(self, message_id: int, lease: str, error: str) -> None:
        s = self.settings
        async with self.maker.begin() as db:
            row = await queue.held(db, message_id, lease)
            if row is None:
                return
            if gives_up(row.attempts, s.outbox_max_attempts):
                queue.settle(db, row, OutboxStatus.FAILED, error=error)
            else:
                queue.retry_later(db, row, error,
                                  retry_delay(row.attempts, s.outbox_backoff_seconds))

    async def track(self) -> int:
        """Ask the channels that report delivery about recently sent messages."""
        async with self.maker() as db:
            rows = (await db.scalars(select(OutboxMessage).where(
                OutboxMessage.status == OutboxStatus.SENT,
                OutboxMessage.provider_id.is_not(None),
                OutboxMessage.sent_at > now() - TRACK_FOR).limit(100))).all()
        changed = 0
        for row in rows:
            transport = self.transports.get(str(row.channel))
            status = getattr(transport, "status", None)
            if status is None or transport is None or row.payload.get("via") != transport.name:
                continue
            try:
                found = await status(str(row.provider_id))
            except (Temporary, Permanent) as exc:
                log.warning("delivery status of message %s unknown: %s", row.id, exc)
                continue
            if found is not None:
                changed += await self._record_status(row.id, OutboxStatus(found))
        return changed

    async def _record_status(self, message_id: int, status: OutboxStatus) -> int:
        async with self.maker.begin() as db:
            row = await db.get(OutboxMessage, message_id, with_for_update=True)
            if row is None or row.status is not OutboxStatus.SENT:
                return 0
            row.status, row.status_at = status, now()
            audit.record(db, None, f"message.{status.value}", "outbox_message", row.id,
                         client_id=row.client_id, kind=row.kind, channel=row.channel)
            return 1

    async def run(self) -> None:
        """Until cancelled: a pass every `outbox_poll_seconds`, delivery reports now and then."""
        s = self.settings
        last_track = now()
        while True:
            try:
                while await self.run_once() == BATCH:
                    pass
                if s.notify_status_poll_seconds and \
                        now() - last_track >= timedelta(seconds=s.notify_status_poll_seconds):
                    last_track = now()
                    await self.track()
            except Exception:
                log.exception("outbox pass failed; trying again")
            await asyncio.sleep(s.outbox_poll_seconds)


WORKER: web.AppKey[Worker] = web.AppKey("outbox_worker", Worker)


async def outbox_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx (after the database's): the worker, and its task when polling is on."""
    settings = app[keys.SETTINGS]
    composers: dict[str, Compose] = dict(BUILT_IN)
    for kind, compose in app[COMPOSERS].items():  # set by create_app, filled by features
        composers[kind] = compose
    transports = app.get(TRANSPORTS) or make_transports(settings)
    worker = Worker(app[keys.DB], settings, composers, transports,
                    app.get(keys.CATALOGUES))
    app[WORKER] = worker
    task = asyncio.create_task(worker.run()) if settings.outbox_poll_seconds else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
