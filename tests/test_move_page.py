"""Moving an appointment from a page: the form, the same checks, audit entry and change
message as the API (`contact_details.move`), and clear errors for a past time or a
cancelled appointment."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from server.clock import now
from server.store.models import Appointment, AuditEvent, OutboxMessage, OutboxStatus
from tests.calls import remote_call
from tests.conftest import World

LONDON = ZoneInfo("Europe/London")


def _local(moment: Any) -> str:
    """What a browser's datetime-local picker sends: the organisation's time, no zone."""
    return moment.astimezone(LONDON).strftime("%Y-%m-%dT%H:%M")


async def _remote(db: Any, settings: Any, world: World) -> Appointment:
    call = await remote_call(db, settings, world.users["alice"], world.clients["a1"],
                             starts_in=timedelta(days=2))
    return call.appointment


async def test_moving_from_the_page_tells_the_client_and_is_audited(
        db: Any, settings: Any, world: World, login: Any) -> None:
    appointment = await _remote(db, settings, world)
    alice = await login(world.users["alice"])
    form = await alice.get(f"/appointments/{appointment.id}/move?back=diary")
    html = await form.text()
    assert form.status == 200 and 'name="csrf_token"' in html
    assert f'value="{_local(appointment.starts_at)}"' in html  # starts from the present time
    later = (appointment.starts_at + timedelta(days=1)).replace(second=0, microsecond=0)
    done = await alice.post_form(f"/appointments/{appointment.id}/move",
                                 {"starts_at": _local(later), "back": "diary"})
    assert done.status == 303 and done.headers["Location"] == f"/diary?moved={appointment.id}"
    async with db() as s:
        row = await s.get(Appointment, appointment.id)
        assert row is not None and row.starts_at == later
        moved = (await s.scalars(select(OutboxMessage).where(
            OutboxMessage.appointment_id == appointment.id,
            OutboxMessage.kind == "moved"))).all()
        assert len(moved) == 1 and moved[0].status is OutboxStatus.PENDING
        assert moved[0].payload["was"] == appointment.starts_at.isoformat()
        logged = (await s.scalars(select(AuditEvent).where(
            AuditEvent.action == "appointment.move"))).all()
        assert [(e.actor_id, e.client_id) for e in logged] == [
            (world.users["alice"].id, appointment.client_id)]
    diary = await (await alice.get(done.headers["Location"])).text()
    assert "Moved to" in diary and "The client is sent the new time." in diary
    # From the client page, back to the client page.
    again = await alice.post_form(f"/appointments/{appointment.id}/move",
                                  {"starts_at": _local(later + timedelta(hours=2))})
    assert again.headers["Location"] == f"/clients/{appointment.client_id}?moved={appointment.id}"
    page = await (await alice.get(again.headers["Location"])).text()
    assert "Moved to" in page and f'href="/appointments/{appointment.id}/move"' in page


async def test_a_past_time_or_no_time_is_refused_with_a_clear_message(
        db: Any, settings: Any, world: World, login: Any) -> None:
    appointment = await _remote(db, settings, world)
    alice = await login(world.users["alice"])
    past = await alice.post_form(f"/appointments/{appointment.id}/move",
                                 {"starts_at": _local(now() - timedelta(days=1))})
    html = await past.text()
    assert past.status == 422 and "An appointment cannot start in the past." in html
    assert "Date and time: in the past" in html and "starts_at:" not in html
    empty = await alice.post_form(f"/appointments/{appointment.id}/move", {"starts_at": ""})
    assert empty.status == 422 and "Enter the new date and time." in await empty.text()
    garbled = await alice.post_form(f"/appointments/{appointment.id}/move",
                                    {"starts_at": "next tuesday"})
    assert garbled.status == 422 and "is not a date and time" in await garbled.text()
    async with db() as s:
        row = await s.get(Appointment, appointment.id)
        assert row is not None and row.starts_at == appointment.starts_at  # unchanged
        assert not (await s.scalars(select(OutboxMessage).where(
            OutboxMessage.kind == "moved"))).all()


async def test_a_cancelled_appointment_cannot_be_moved(
        db: Any, settings: Any, world: World, login: Any) -> None:
    appointment = await _remote(db, settings, world)
    alice = await login(world.users["alice"])
    assert (await alice.post_form(f"/appointments/{appointment.id}/cancel")).status == 303
    form = await alice.get(f"/appointments/{appointment.id}/move")
    html = await form.text()
    assert form.status == 409 and "was cancelled; book a new one instead" in html
    assert 'name="starts_at"' not in html  # no form that cannot work
    tried = await alice.post_form(f"/appointments/{appointment.id}/move",
                                  {"starts_at": _local(now() + timedelta(days=3))})
    assert tried.status == 409 and "book a new one instead" in await tried.text()
    diary = await (await alice.get("/diary")).text()
    assert f"/appointments/{appointment.id}/move" not in diary


async def test_only_the_own_practitioner_moves_it_and_only_with_the_form_token(
        client: Any, db: Any, settings: Any, world: World, login: Any) -> None:
    appointment = await _remote(db, settings, world)
    bob = await login(world.users["bob"])
    assert (await bob.get(f"/appointments/{appointment.id}/move")).status == 404
    moved = await bob.post_form(f"/appointments/{appointment.id}/move",
                                {"starts_at": _local(now() + timedelta(days=3))})
    assert moved.status == 404
    alice = await login(world.users["alice"])
    forged = await alice.client.post(f"/appointments/{appointment.id}/move",
                                     data={"starts_at": _local(now() + timedelta(days=3))},
                                     allow_redirects=False)
    assert forged.status == 403
    async with db() as s:
        row = await s.get(Appointment, appointment.id)
        assert row is not None and row.starts_at == appointment.starts_at
