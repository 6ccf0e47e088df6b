"""The outbox survives `kill -9`: a real `rapport serve` process, sending to a local Notify API
or a real SMTP server, is killed mid-batch and restarted; no message is lost, each is settled
exactly once, and Notify receives each exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from server.outbox import queue
from server.store import migrate
from server.store.models import AuditEvent, Organisation, OutboxMessage, OutboxStatus
from tests.receivers import API_KEY, FakeNotify, MailHandler, SmtpServer, free_port, until

ROOT = Path(__file__).resolve().parent.parent
MESSAGES = 40
# Two real server processes per test, started on a loaded machine.
pytestmark = pytest.mark.timeout(600)


def serve(url: str, **channel: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAPPORT_")}
    env.update({f"RAPPORT_{k.upper()}": v for k, v in channel.items()})
    env.update({
        "RAPPORT_DATABASE_URL": url, "RAPPORT_PORT": str(free_port()),
        "RAPPORT_EMAIL_FROM": "Probation <no-reply@probation.test>",
        "RAPPORT_OUTBOX_POLL_SECONDS": "1", "RAPPORT_OUTBOX_LEASE_SECONDS": "10",
        "RAPPORT_OUTBOX_BACKOFF_SECONDS": "1", "RAPPORT_RETENTION_SWEEP_MINUTES": "0",
        "RAPPORT_LOG_LEVEL": "WARNING",
    })
    return subprocess.Popen([sys.executable, "-m", "server.cli", "serve"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def queued(tmp_path: Path, channel: str) -> tuple[Any, list[OutboxMessage]]:
    url = f"sqlite+aiosqlite:///{tmp_path}/crash.db"
    engine = create_async_engine(url)
    await migrate.upgrade(engine)
    maker = async_sessionmaker(engine, expire_on_commit=False)
    async with maker.begin() as db:
        org = Organisation(name="Crash test")
        db.add(org)
        await db.flush()
        rows = [await queue.enqueue(
            db, organisation_id=org.id, kind="text", channel=channel,
            recipient=f"person{i}@example.test" if channel == "email" else f"07700900{i:03d}",
            payload={"subject": f"Message {i}", "text": f"Body {i}"}) for i in range(MESSAGES)]
    return maker, rows


async def statuses(maker: Any) -> Counter[OutboxStatus]:
    async with maker() as db:
        found = await db.execute(select(OutboxMessage.status, func.count())
                                 .group_by(OutboxMessage.status))
        return Counter({status: n for status, n in found.all()})


async def settled_once(maker: Any) -> None:
    async with maker() as db:
        settled = Counter((await db.scalars(select(AuditEvent.target_id).where(
            AuditEvent.action == "message.sent"))).all())
    assert len(settled) == MESSAGES and set(settled.values()) == {1}


async def kill_and_restart(maker: Any, arrived: Any, **channel: str) -> Counter[OutboxStatus]:
    """Serve until some messages arrived, kill -9, serve again until all are sent."""
    url = str(maker.kw["bind"].url)
    first = serve(url, **channel)
    try:
        await until(arrived, 120, "the first messages to arrive")
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    after_kill = await statuses(maker)
    assert after_kill[OutboxStatus.SENT] < MESSAGES, "the kill came too late to prove much"
    second = serve(url, **channel)
    try:
        async def all_sent() -> bool:
            assert second.poll() is None, second.stderr.read() if second.stderr else ""
            return (await statuses(maker))[OutboxStatus.SENT] == MESSAGES
        await until(all_sent, 180, "every message to be sent after the restart")
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=60)
    await settled_once(maker)
    return after_kill


async def test_kill_9_while_sending_to_notify_then_restart_sends_each_exactly_once(tmp_path):
    """Notify keeps our key as each notification's `reference`: after the crash the worker
    asks for it before sending again, so Notify receives every message exactly once."""
    maker, rows = await queued(tmp_path, "sms")
    notify = FakeNotify(delay=0.1)  # a busy service: the kill lands mid-batch
    runner = web.AppRunner(notify.app())
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async def some() -> bool:
            return len(notify.notifications) >= 5
        await kill_and_restart(
            maker, some, sms_channel="notify", notify_api_key=API_KEY,
            notify_base_url=f"http://127.0.0.1:{port}",
            notify_sms_template_id="f33517ff-2a88-4f6e-b855-c550268ce08a")
    finally:
        await runner.cleanup()
    references = Counter(r["reference"] for r in notify.requests)
    assert set(references) == {r.idempotency_key for r in rows}
    assert set(references.values()) == {1}  # exactly once, none lost
    await maker.kw["bind"].dispose()


async def test_kill_9_while_sending_email_then_restart_loses_none(tmp_path):
    maker, rows = await queued(tmp_path, "email")
    keys = {f"<{r.idempotency_key}@probation.test>" for r in rows}
    handler = MailHandler(delay=0.1)  # a slow server: the kill lands mid-batch
    with SmtpServer(handler) as smtp:
        async def some() -> bool:
            await asyncio.sleep(0)
            return len(handler.ids()) >= 5
        after_kill = await kill_and_restart(
            maker, some, email_channel="smtp", smtp_host="127.0.0.1",
            smtp_port=str(smtp.port), smtp_security="none")
    ids = handler.ids()
    assert set(ids) == keys  # none lost, nothing unexpected
    # SMTP cannot be asked what it already has: a message reaches the server twice only if
    # the kill fell between the server's "250" and the commit that settles it (at most the
    # batch in flight), and each repeat carries the same Message-ID, by which mail systems
    # keep one copy.
    assert len(ids) - len(set(ids)) <= after_kill[OutboxStatus.SENDING]
    await maker.kw["bind"].dispose()
