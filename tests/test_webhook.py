"""Contact records pushed to a case system: a local receiver checks every signature; a 500 or
a timeout is retried with backoff while other messages go on; failures are visible."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest
from aiohttp import web
from sqlalchemy import select, update

from server.clock import now
from server.outbox import queue
from server.outbox.signing import signature, verify
from server.outbox.worker import WORKER
from server.records.building import build
from server.store.models import OutboxMessage, OutboxStatus
from tests.calls import remote_call
from tests.receivers import WebhookReceiver, free_port


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, outbox_poll_seconds=0, outbox_backoff_seconds=1,
                               webhook_timeout_seconds=1)


@pytest.fixture
async def receiver():
    hook = WebhookReceiver(secret="")
    runner = web.AppRunner(hook.app())
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    hook.url = f"http://127.0.0.1:{port}/hook"  # type: ignore[attr-defined]
    yield hook
    await runner.cleanup()


async def register(login, world, receiver):
    admin = await login(world.users["adam"])
    response = await admin.client.put("/api/v1/webhook", json={"url": receiver.url},
                                      headers={"X-CSRF-Token": admin.csrf})
    assert response.status == 200, await response.text()
    answer = await response.json()
    assert len(answer["secret"]) >= 32
    receiver.secret = answer["secret"]
    shown = await (await admin.client.get("/api/v1/webhook")).json()
    assert shown["url"] == receiver.url and shown.get("secret") is None  # never shown again
    return admin


async def completed_record(db, settings, world):
    call = await remote_call(db, settings, world.users["alice"], world.clients["a1"])
    async with db.begin() as s:
        record = await build(s, call.appointment.id)
    return call, record


async def pushes(db):
    async with db() as s:
        return (await s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "webhook")
                                .order_by(OutboxMessage.id))).all()


async def test_a_completed_record_is_pushed_signed_with_the_export_schema(app, db, settings,
                                                                          world, login,
                                                                          receiver):
    admin = await register(login, world, receiver)
    _call, record = await completed_record(db, settings, world)
    await app[WORKER].run_once()
    assert receiver.bad_signatures == 0
    [delivery] = receiver.received
    body = json.loads(delivery["body"])
    assert body["event"] == "contact_record.completed" and body["delivery"] == \
        delivery["delivery"]
    contact = body["contact"]
    assert contact["record_id"] == record.id and contact["crn"] == "CRNA1"
    assert {"contact_id", "outcome", "attendance", "scheduled_start", "summary"} <= set(contact)
    # The same item as the API's JSON export of that record.
    staff = await login(world.users["alice"])
    export = await staff.get(f"/api/v1/contact-records?format=json&client={contact['client_id']}")
    exported = [json.loads(line) for line in (await export.text()).splitlines() if line.strip()]
    items = exported[0]["items"] if exported and "items" in exported[0] else exported
    same = [i for i in items if i.get("record_id") == record.id]
    assert same and set(same[0]) == set(contact)
    admin = await login(world.users["adam"])  # one browser: signing in alice signed adam out
    listed = await (await admin.client.get("/api/v1/outbox?status=sent")).json()
    assert [m["kind"] for m in listed["items"]] == ["webhook"]


async def test_an_edit_is_pushed_and_a_500_is_retried_with_backoff(app, db, settings, world,
                                                                   login, receiver):
    admin = await register(login, world, receiver)
    _call, record = await completed_record(db, settings, world)
    receiver.answers = [500, 500]
    await app[WORKER].run_once()
    [push] = await pushes(db)
    assert push.status is OutboxStatus.PENDING and push.attempts == 1
    assert "500" in push.last_error and push.due_at > now()
    failing = await (await admin.client.get("/api/v1/outbox?status=pending")).json()
    assert failing["items"][0]["last_error"] == "the webhook answered 500"
    staff = await login(world.users["alice"])
    edited = await staff.client.put(f"/api/v1/contacts/{record.contact_id}",
                                    json={"outcome": "attended", "notes": "Went well."},
                                    headers={"X-CSRF-Token": staff.csrf})
    assert edited.status == 200, await edited.text()
    async with db.begin() as s:
        await s.execute(update(OutboxMessage).values(due_at=now()))
    await app[WORKER].run_once()  # the first push fails again; the edit goes through
    await _due_now(db)
    await app[WORKER].run_once()
    events = [json.loads(d["body"])["event"] for d in receiver.received]
    assert sorted(events) == ["contact.updated", "contact_record.completed"]
    notes = [json.loads(d["body"])["contact"]["notes"] for d in receiver.received]
    assert "Went well." in notes
    assert [p.status for p in await pushes(db)] == [OutboxStatus.SENT, OutboxStatus.SENT]


async def test_a_webhook_that_times_out_does_not_hold_up_other_messages(app, db, settings,
                                                                        world, login,
                                                                        receiver):
    await register(login, world, receiver)
    await completed_record(db, settings, world)
    async with db.begin() as s:
        await queue.enqueue(s, organisation_id=world.org.id, kind="text", channel="sms",
                            client_id=world.clients["a2"].id, recipient="+447700900333",
                            payload={"text": "Hello"})
    receiver.stall = 5  # longer than webhook_timeout_seconds
    await app[WORKER].run_once()
    states = {m.kind: (m.status, m.last_error) for m in await _all(db)}
    assert states["text"][0] is OutboxStatus.SENT
    assert states["webhook"][0] is OutboxStatus.PENDING
    assert states["webhook"][1] == "the webhook did not answer in time"


async def test_a_webhook_must_be_https_and_removing_it_skips_queued_pushes(app, db, settings,
                                                                           world, login,
                                                                           receiver):
    admin = await login(world.users["adam"])
    refused = await admin.client.put("/api/v1/webhook", json={"url": "http://example.com/x"},
                                     headers={"X-CSRF-Token": admin.csrf})
    assert refused.status == 422 and "https://" in (await refused.json())["detail"]
    admin = await register(login, world, receiver)
    await completed_record(db, settings, world)
    removed = await admin.client.delete("/api/v1/webhook",
                                        headers={"X-CSRF-Token": admin.csrf})
    assert removed.status == 200 and (await removed.json())["url"] is None
    await app[WORKER].run_once()
    [push] = await pushes(db)
    assert push.status is OutboxStatus.SKIPPED and receiver.received == []


def test_the_documented_verification_accepts_ours_and_refuses_tampering():
    secret, body, at = "s" * 40, b'{"event":"contact.updated"}', int(time.time())
    header = signature(secret, at, body)
    assert verify(secret, header, body, at)
    assert not verify(secret, header, body + b" ", at)  # body changed
    assert not verify("t" * 40, header, body, at)  # another secret
    assert not verify(secret, header, body, at + 301)  # replayed too late
    assert not verify(secret, "v1=abc", body, at)  # no timestamp


async def _due_now(db):
    async with db.begin() as s:
        await s.execute(update(OutboxMessage).where(
            OutboxMessage.status == OutboxStatus.PENDING).values(due_at=now()))


async def _all(db):
    async with db() as s:
        return (await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()


async def test_settled_messages_are_deleted_after_their_retention(app, db, settings, world):
    from datetime import timedelta

    from server.privacy import retention
    async with db.begin() as s:
        old = await queue.enqueue(s, organisation_id=world.org.id, kind="text", channel="sms",
                                  recipient="+447700900444", payload={"text": "Hi"})
        waiting = await queue.enqueue(s, organisation_id=world.org.id, kind="text",
                                      channel="sms", recipient="+447700900445",
                                      payload={"text": "Hi"})
    await app[WORKER].run_once()
    async with db.begin() as s:
        await s.execute(update(OutboxMessage).where(OutboxMessage.id == old.id).values(
            status_at=now() - timedelta(days=settings.retention_message_days + 1)))
        await s.execute(update(OutboxMessage).where(OutboxMessage.id == waiting.id).values(
            status=OutboxStatus.PENDING, status_at=now() - timedelta(days=400)))
    swept = await retention.sweep(db, settings)
    assert [s.count for s in swept if s.kind == "messages"] == [1]
    assert [m.id for m in await _all(db)] == [waiting.id]
