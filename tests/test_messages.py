"""Messages to clients through real protocol servers: SMTP (aiosmtpd) receives the booking
with its calendar file, a local GOV.UK Notify API receives SMS and email from the official
client; failures are retried then marked failed; cancelling and moving send the change."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from aiohttp import web
from sqlalchemy import select, update

from server.clock import now
from server.outbox.govuk_notify import NotifyTransport
from server.outbox.smtp import SmtpTransport
from server.outbox.worker import WORKER
from server.store.models import (
    Client,
    Contact,
    ContactKind,
    ContactOutcome,
    Invitation,
    OutboxMessage,
    OutboxStatus,
)
from tests.receivers import API_KEY, FakeNotify, MailHandler, SmtpServer, free_port

TEMPLATE = "f33517ff-2a88-4f6e-b855-c550268ce08a"


@pytest.fixture
def settings(settings):
    """No background worker: each test runs the outbox's passes itself."""
    return dataclasses.replace(settings, outbox_poll_seconds=0, outbox_backoff_seconds=1,
                               outbox_max_attempts=3, help_phone="0300 000 0000")


async def seen_in_person(db, world, short="a1", **details):
    """The client was met face to face (so video is allowed) and has these contact details."""
    client = world.clients[short]
    async with db.begin() as s:
        s.add(Contact(client_id=client.id, practitioner_id=client.practitioner_id,
                      kind=ContactKind.FACE_TO_FACE, happened_at=now() - timedelta(days=3),
                      outcome=ContactOutcome.ATTENDED, notes="", sensitive=False,
                      created_at=now(), created_by_id=client.practitioner_id))
        row = await s.get(Client, client.id)
        for name, value in details.items():
            setattr(row, name, value)
    return client


async def book(staff, client, starts_in=timedelta(days=2)):
    response = await staff.post_json(f"/api/v1/clients/{client.id}/appointments", {
        "kind": "remote", "starts_at": (now() + starts_in).isoformat()})
    assert response.status == 201, await response.text()
    return (await response.json())["id"]


async def messages(db, appointment_id=None):
    async with db() as s:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if appointment_id is not None:
            query = query.where(OutboxMessage.appointment_id == appointment_id)
        return (await s.scalars(query)).all()


async def all_due(db, only=None):
    """Pending messages (or only this one) due now, not after their backoff."""
    async with db.begin() as s:
        where = [OutboxMessage.status == OutboxStatus.PENDING]
        if only is not None:
            where.append(OutboxMessage.id == only)
        await s.execute(update(OutboxMessage).where(*where).values(due_at=now()))


async def notify_server(fake):
    runner = web.AppRunner(fake.app())
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


# --- email over SMTP ---------------------------------------------------------------------

async def test_booking_reaches_an_smtp_server_with_its_calendar_file(app, db, settings, world,
                                                                     login):
    client = await seen_in_person(db, world, email="client.a1@example.test",
                                  contact_preference="email")
    staff = await login(world.users["alice"])
    appointment = await book(staff, client)
    kinds = [(m.kind, m.payload.get("hours")) for m in await messages(db, appointment)]
    assert kinds == [("booked", None), ("reminder", 24), ("reminder", 1)]
    handler = MailHandler()
    with SmtpServer(handler) as smtp:
        app[WORKER].transports["email"] = SmtpTransport(dataclasses.replace(
            settings, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_security="none"))
        await app[WORKER].run_once()
    [mail] = handler.messages
    assert mail["To"] == "client.a1@example.test"
    assert mail["Subject"] == "Your probation appointment by video"
    text = mail.get_body(("plain",)).get_content()
    assert "private place" in text and "charge your phone" in text and "0300 000 0000" in text
    assert "/join/" not in text  # two days ahead: the link comes with the last reminder
    [ics] = [p for p in mail.iter_attachments() if p.get_content_type() == "text/calendar"]
    assert ics.get_filename() == "appointment.ics" and ics.get_param("method") == "REQUEST"
    calendar = ics.get_content()
    calendar = calendar if isinstance(calendar, str) else calendar.decode()
    assert f"UID:appointment-{appointment}@127.0.0.1" in calendar
    assert "METHOD:REQUEST" in calendar and "BEGIN:VEVENT" in calendar
    [booked, *_] = await messages(db, appointment)
    assert booked.status is OutboxStatus.SENT and booked.channel == "email"


async def test_an_smtp_refusal_is_failed_and_flagged_on_the_client_page(app, db, settings,
                                                                       world, login):
    client = await seen_in_person(db, world, email="nobody@example.test",
                                  contact_preference="email")
    staff = await login(world.users["alice"])
    appointment = await book(staff, client)
    with SmtpServer(MailHandler(refuse=550)) as smtp:
        app[WORKER].transports["email"] = SmtpTransport(dataclasses.replace(
            settings, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_security="none"))
        await app[WORKER].run_once()
    booked = (await messages(db, appointment))[0]
    assert booked.status is OutboxStatus.FAILED and "550" in booked.last_error
    page = await (await staff.get(f"/clients/{client.id}")).text()
    assert "did not reach them" in page and "failed" in page


async def test_an_smtp_server_that_is_down_is_retried_with_backoff_then_failed(app, db,
                                                                              settings, world,
                                                                              login):
    client = await seen_in_person(db, world, email="client@example.test")
    staff = await login(world.users["alice"])
    appointment = await book(staff, client)
    app[WORKER].transports["email"] = SmtpTransport(dataclasses.replace(
        settings, smtp_host="127.0.0.1", smtp_port=free_port(), smtp_security="none"))
    await app[WORKER].run_once()
    booked = (await messages(db, appointment))[0]
    assert booked.status is OutboxStatus.PENDING and booked.attempts == 1
    assert booked.due_at > now() and "unreachable" in booked.last_error
    for _ in range(2):
        await all_due(db)
        await app[WORKER].run_once()
    booked = (await messages(db, appointment))[0]
    assert booked.status is OutboxStatus.FAILED and booked.attempts == 3


# --- GOV.UK Notify ------------------------------------------------------------------------

async def test_sms_and_email_reach_notify_through_its_official_client(app, db, settings, world,
                                                                      login):
    fake = FakeNotify()
    runner, base = await notify_server(fake)
    try:
        notify = NotifyTransport(dataclasses.replace(
            settings, notify_api_key=API_KEY, notify_base_url=base,
            notify_sms_template_id=TEMPLATE, notify_email_template_id=TEMPLATE))
        app[WORKER].transports.update(sms=notify, email=notify)
        texted = await seen_in_person(db, world, phone="+447700900123")
        mailed = await seen_in_person(db, world, "a2", email="a2@example.test",
                                      contact_preference="email")
        staff = await login(world.users["alice"])
        await book(staff, texted)
        await book(staff, mailed)
        await app[WORKER].run_once()
        sms, email = sorted(fake.requests, key=lambda r: r["kind"], reverse=True)
        assert sms["phone_number"] == "+447700900123" and sms["template_id"] == TEMPLATE
        assert "private place" in sms["personalisation"]["body"]
        assert email["email_address"] == "a2@example.test"
        assert email["personalisation"]["subject"] == "Your probation appointment by video"
        # Delivery reports: asked of Notify, stored, shown.
        fake.final_status = "permanent-failure"
        for n in fake.notifications.values():
            n["status"] = "delivered" if n["type"] == "sms" else "permanent-failure"
        assert await app[WORKER].track() == 2
        found = {m.channel: m.status for m in await messages(db) if m.kind == "booked"}
        assert found == {"sms": OutboxStatus.DELIVERED, "email": OutboxStatus.BOUNCED}
    finally:
        await runner.cleanup()


async def test_notify_5xx_is_retried_and_4xx_fails_at_once(app, db, settings, world, login):
    fake = FakeNotify(fail_with=[500, 503])
    runner, base = await notify_server(fake)
    try:
        app[WORKER].transports["sms"] = NotifyTransport(dataclasses.replace(
            settings, notify_api_key=API_KEY, notify_base_url=base,
            notify_sms_template_id=TEMPLATE))
        client = await seen_in_person(db, world, phone="+447700900456")
        staff = await login(world.users["alice"])
        appointment = await book(staff, client)
        booked = (await messages(db, appointment))[0]
        for _ in range(3):
            await app[WORKER].run_once()
            await all_due(db, booked.id)
        booked = (await messages(db, appointment))[0]
        assert booked.status is OutboxStatus.SENT and booked.attempts == 3
        # Notify was asked for the reference before each retry, and has the message once.
        assert [n["reference"] for n in fake.notifications.values()
                ].count(booked.idempotency_key) == 1
        fake.fail_with = [400]
        await staff.post_json(f"/api/v1/appointments/{appointment}/cancel")
        await app[WORKER].run_once()
        cancelled = [m for m in await messages(db, appointment) if m.kind == "cancelled"][0]
        assert cancelled.status is OutboxStatus.FAILED and "400" in cancelled.last_error
    finally:
        await runner.cleanup()


# --- what the messages say, and when -------------------------------------------------------

async def test_a_reminder_close_to_the_start_carries_a_working_link(app, db, world, login):
    client = await seen_in_person(db, world, phone="+447700900789", preferred_language="cy")
    staff = await login(world.users["alice"])
    appointment = await book(staff, client, starts_in=timedelta(minutes=20))
    await app[WORKER].run_once()
    sent = app[WORKER].transports["sms"].sent  # the log channel keeps what it was given
    [message] = [m for m in sent if m.to == "+447700900789"]
    assert "/join/" in message.text and "apwyntiad" in message.text  # Welsh
    link = message.text.split("http://127.0.0.1:8080", 1)[1].split()[0].rstrip(".")
    opened = await staff.client.get(link, allow_redirects=False)
    assert opened.status == 200
    async with db() as s:
        invitations = (await s.scalars(select(Invitation).where(
            Invitation.appointment_id == appointment))).all()
    assert len(invitations) == 1
    stored = (await messages(db, appointment))[0]
    assert "link" not in stored.payload  # a credential is not kept once sent


async def test_cancelling_and_moving_send_the_change_and_drop_old_reminders(app, db, world,
                                                                            login):
    client = await seen_in_person(db, world, phone="+447700900111")
    staff = await login(world.users["alice"])
    appointment = await book(staff, client)
    moved = await staff.client.put(
        f"/api/v1/appointments/{appointment}/starts-at",
        json={"starts_at": (now() + timedelta(days=3)).isoformat()},
        headers={"X-CSRF-Token": staff.csrf})
    assert moved.status == 200, await moved.text()
    states = [(m.kind, m.status) for m in await messages(db, appointment)]
    assert states == [("booked", OutboxStatus.CANCELLED), ("reminder", OutboxStatus.CANCELLED),
                      ("reminder", OutboxStatus.CANCELLED), ("moved", OutboxStatus.PENDING),
                      ("reminder", OutboxStatus.PENDING), ("reminder", OutboxStatus.PENDING)]
    await app[WORKER].run_once()
    await staff.post_json(f"/api/v1/appointments/{appointment}/cancel")
    await app[WORKER].run_once()
    states = [(m.kind, m.status) for m in await messages(db, appointment)][3:]
    assert states == [("moved", OutboxStatus.SENT), ("reminder", OutboxStatus.CANCELLED),
                      ("reminder", OutboxStatus.CANCELLED), ("cancelled", OutboxStatus.SENT)]
    texts = [m.text for m in app[WORKER].transports["sms"].sent]
    assert "has moved from" in texts[0] and "is cancelled" in texts[1]


async def test_a_client_without_contact_details_is_reported(app, db, world, login):
    client = await seen_in_person(db, world)
    staff = await login(world.users["alice"])
    appointment = await book(staff, client)
    await app[WORKER].run_once()
    booked = (await messages(db, appointment))[0]
    assert booked.status is OutboxStatus.SKIPPED and "no contact details" in booked.last_error
    page = await (await staff.get(f"/clients/{client.id}")).text()
    assert "No mobile number or email address" in page


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"phone": "01632 960 001"}, "phone", "landline"),
    ({"phone": "07700 9001"}, "phone", "11 digits"),
    ({"phone": "call me"}, "phone", "only digits"),
    ({"email": "someone@"}, "email", "name@example.com"),
    ({"email": "a@b.test", "contact_preference": "sms"}, "contact_preference", "mobile"),
])
async def test_unusable_contact_details_are_refused_with_a_clear_message(client, world, login,
                                                                         body, field, words):
    staff = await login(world.users["alice"])
    response = await staff.client.put(
        f"/api/v1/clients/{world.clients['a1'].id}/contact-details", json=body,
        headers={"X-CSRF-Token": staff.csrf})
    assert response.status == 422
    problem = await response.json()
    assert problem["errors"][0]["field"] == field and words in problem["errors"][0]["message"]


async def test_contact_details_are_normalised_and_shown(client, world, login):
    staff = await login(world.users["alice"])
    client_id = world.clients["a1"].id
    response = await staff.post_form(f"/clients/{client_id}/contact-details", {
        "phone": "07700 900 222", "email": "A1@Example.TEST", "contact_preference": "email"})
    assert response.status == 303
    page = await (await staff.get(f"/clients/{client_id}")).text()
    assert "+447700900222" in page and "A1@example.test" in page
    refused = await staff.post_form(f"/clients/{client_id}/contact-details",
                                    {"phone": "020 7946 0000"})
    assert refused.status == 422 and "landline" in await refused.text()


@pytest.mark.parametrize("lang, words", [
    ("en", "Check your camera and microphone before the appointment"),
    ("cy", "Gwiriwch eich camera a'ch meicroffon cyn yr apwyntiad"),
    ("ar", "تحقق من الكاميرا والميكروفون قبل الموعد"),
])
async def test_every_message_points_to_the_device_test_in_the_clients_language(
        app, db, world, login, lang, words):
    client = await seen_in_person(db, world, phone="+447700900456", preferred_language=lang)
    staff = await login(world.users["alice"])
    appointment = await book(staff, client)
    await app[WORKER].run_once()  # the booking
    await all_due(db)
    await app[WORKER].run_once()  # the reminders, made due now
    sent = [m for m in app[WORKER].transports["sms"].sent if m.to == "+447700900456"]
    kinds = [m.kind for m in await messages(db, appointment)]
    assert kinds.count("reminder") == 2 and len(sent) == 3, kinds
    for message in sent:
        assert f"{words}: http://127.0.0.1:8080/device-test" in message.text, message.text
    page = await staff.client.get("/device-test")  # public: no link, no sign-in needed
    assert page.status == 200
