"""Caseload isolation, recording contacts and appointments, and refusing bad input.

Each person sees exactly the clients they may see, on the pages and in the API alike; a
client outside the caseload is "not found". Every refused request leaves the contact,
appointment and audit tables exactly as they were, and no request in this module may end
in a 500.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from server.clock import now
from server.store.models import Appointment, AuditEvent, Contact, Role
from tests.conftest import make_user

LONDON = ZoneInfo("Europe/London")
CLIENTS = ["a1", "a2", "b1", "c1", "d1"]
ROLE_REFUSED = "Your role does not allow this."
NEXT_YEAR = now().year + 1


# --- helpers ------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def no_server_errors(client: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Record every response of the test client; none may be a 500."""
    seen: list[tuple[str, str, int]] = []
    original = client._request

    async def spy(method: str, path: Any, **kw: Any) -> Any:
        response = await original(method, path, **kw)
        seen.append((method, str(path), response.status))
        return response

    monkeypatch.setattr(client, "_request", spy)
    yield seen
    assert [s for s in seen if s[2] >= 500] == []


async def counts(db: Any) -> dict[str, int]:
    async with db() as s:
        return {model.__tablename__: await s.scalar(select(func.count()).select_from(model))
                for model in (Contact, Appointment, AuditEvent)}


@asynccontextmanager
async def nothing_written(db: Any) -> AsyncIterator[None]:
    """The block's requests add no contact, appointment or audit row."""
    before = await counts(db)
    yield
    assert await counts(db) == before


async def audit_events(db: Any, action: str) -> list[AuditEvent]:
    async with db() as s:
        query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        return list((await s.scalars(query)).all())


async def problem(response: Any, status: int) -> dict[str, Any]:
    """The response is problem JSON with this status; returns its body."""
    text = await response.text()
    assert response.status == status, text
    assert response.content_type == "application/problem+json", text
    body: dict[str, Any] = json.loads(text)
    assert body["status"] == status and body["detail"]
    return body


async def page(response: Any, status: int) -> str:
    text = await response.text()
    assert response.status == status, text[:500]
    assert response.content_type == "text/html"
    return text


def fields(body: dict[str, Any]) -> set[str]:
    return {e["field"] for e in body.get("errors", [])}


def not_in_caseload(client_id: int) -> str:
    return f"No client with id {client_id} is in your caseload."


def future(days: int = 7) -> datetime:
    return (now() + timedelta(days=days)).replace(microsecond=0)


@pytest.fixture
async def sam(world: Any, db: Any) -> Any:
    """A supervisor who also holds a caseload: sees team A, may record only for their own."""
    async with db.begin() as s:
        return await make_user(s, world.org, world.team, "sam",
                               {Role.SUPERVISOR, Role.PRACTITIONER})


# --- who sees which clients -------------------------------------------------------------------

VISIBLE = {
    "alice": {"a1", "a2"},  # practitioner: her own caseload only
    "bob": {"b1"},
    "carol": {"c1"},  # team B
    "sue": {"a1", "a2", "b1", "d1"},  # supervisor of team A: the whole team, not carol's
    "dana": {"d1"},  # admin and practitioner: her own caseload only
}


@pytest.mark.parametrize("name", sorted(VISIBLE))
async def test_caseload_lists_exactly_the_visible_clients(world, login, name):
    staff = await login(world.users[name])
    visible = VISIBLE[name]
    response = await staff.get("/api/v1/clients")
    assert response.status == 200
    ids = {item["id"] for item in (await response.json())["items"]}
    assert ids == {world.clients[c].id for c in visible}
    html = await page(await staff.get("/caseload"), 200)
    for short in CLIENTS:
        assert (f"CRN{short.upper()}" in html) is (short in visible), short


@pytest.mark.parametrize("name", sorted(VISIBLE))
async def test_each_client_route_shows_visible_clients_and_hides_the_rest(world, login, db,
                                                                          name):
    staff = await login(world.users[name])
    for short in CLIENTS:
        client_id = world.clients[short].id
        api = [f"/api/v1/clients/{client_id}", f"/api/v1/clients/{client_id}/contacts",
               f"/api/v1/clients/{client_id}/appointments"]
        if short in VISIBLE[name]:
            html = await page(await staff.get(f"/clients/{client_id}"), 200)
            assert f"CRN{short.upper()}" in html
            for path in api:
                assert (await staff.get(path)).status == 200, path
            continue
        async with nothing_written(db):  # a refused view is not audited as a view
            html = await page(await staff.get(f"/clients/{client_id}"), 404)
            assert not_in_caseload(client_id) in html
            assert f"CRN{short.upper()}" not in html
            for path in api:
                body = await problem(await staff.get(path), 404)
                assert body["detail"] == not_in_caseload(client_id)
                assert "CRN" not in json.dumps(body)


async def test_viewing_a_client_is_audited(world, login, db):
    staff = await login(world.users["alice"])
    a1 = world.clients["a1"].id
    assert (await staff.get(f"/clients/{a1}")).status == 200
    assert (await staff.get(f"/api/v1/clients/{a1}")).status == 200
    views = await audit_events(db, "client.view")
    assert [(e.actor_id, e.client_id) for e in views] == [(world.users["alice"].id, a1)] * 2


async def test_supervisor_sees_her_team_on_the_team_page(world, login):
    staff = await login(world.users["sue"])
    html = await page(await staff.get("/team"), 200)
    for short in ["a1", "a2", "b1", "d1"]:
        assert f"CRN{short.upper()}" in html
    assert "CRNC1" not in html
    body = await (await staff.get("/api/v1/team")).json()
    seen = {c["crn"] for team in body["items"] for c in team["clients"]}
    assert seen == {"CRNA1", "CRNA2", "CRNB1", "CRND1"}


# --- who may change what ----------------------------------------------------------------------

async def test_supervisor_cannot_record_or_schedule(world, login, db):
    staff = await login(world.users["sue"])
    a1 = world.clients["a1"].id
    contact = {"kind": "face_to_face", "happened_at": "2025-01-02T10:00:00Z"}
    appointment = {"kind": "remote", "starts_at": future().isoformat()}
    async with nothing_written(db):
        for path, body in [(f"/api/v1/clients/{a1}/contacts", contact),
                           (f"/api/v1/clients/{a1}/appointments", appointment)]:
            refused = await problem(await staff.post_json(path, body), 403)
            assert refused["detail"] == ROLE_REFUSED
        for path in [f"/clients/{a1}/contacts", f"/clients/{a1}/appointments"]:
            html = await page(await staff.post_form(path, {"kind": "video"}), 403)
            assert ROLE_REFUSED in html
        for path in [f"/clients/{a1}/contacts/new", f"/clients/{a1}/appointments/new"]:
            assert ROLE_REFUSED in await page(await staff.get(path), 403)


async def test_supervisor_with_a_caseload_records_only_for_her_own_clients(world, login, db,
                                                                          sam):
    staff = await login(sam)
    a1 = world.clients["a1"].id
    assert (await staff.get(f"/api/v1/clients/{a1}")).status == 200  # her team's client
    async with nothing_written(db):
        body = await problem(await staff.post_json(
            f"/api/v1/clients/{a1}/contacts",
            {"kind": "phone", "happened_at": "2025-01-02T10:00:00Z"}), 403)
        assert body["detail"] == "Only the client's own practitioner can record this."
        html = await page(await staff.post_form(f"/clients/{a1}/appointments", {
            "kind": "remote", "starts_at": f"{NEXT_YEAR}-01-10T10:00",
            "duration_minutes": "30"}), 403)
        assert "Only the client&#39;s own practitioner can record this." in html


ADMIN_REFUSED_PATHS = [
    # --- pages
    "/caseload", "/clients/{a1}", "/clients/{a1}/contacts/new", "/team",
    # --- API
    "/api/v1/clients", "/api/v1/clients/{a1}", "/api/v1/clients/{a1}/contacts",
    "/api/v1/clients/{a1}/appointments", "/api/v1/team",
]


async def test_admin_gets_403_on_case_routes(world, login, db):
    staff = await login(world.users["adam"])
    a1 = world.clients["a1"].id
    async with nothing_written(db):
        for template in ADMIN_REFUSED_PATHS:
            path = template.replace("{a1}", str(a1))
            response = await staff.get(path)
            if path.startswith("/api/"):
                assert (await problem(response, 403))["detail"] == ROLE_REFUSED
            else:
                assert ROLE_REFUSED in await page(response, 403)
        await problem(await staff.post_json(f"/api/v1/clients/{a1}/contacts", {
            "kind": "video", "happened_at": "2025-01-02T10:00:00Z"}), 403)


async def test_admin_and_practitioner_works_her_own_caseload(world, login, db):
    staff = await login(world.users["dana"])
    d1, a1 = world.clients["d1"].id, world.clients["a1"].id
    assert (await staff.get(f"/clients/{d1}")).status == 200
    created = await staff.post_json(f"/api/v1/clients/{d1}/contacts", {
        "kind": "audio", "happened_at": "2025-03-04T12:00:00Z"})
    assert created.status == 201
    assert (await staff.get("/admin/users")).status == 200  # and still an admin
    async with nothing_written(db):
        await problem(await staff.get(f"/api/v1/clients/{a1}"), 404)


async def test_practitioner_cannot_write_to_another_caseload(world, login, db):
    staff = await login(world.users["alice"])
    b1 = world.clients["b1"].id
    async with nothing_written(db):
        body = await problem(await staff.post_json(f"/api/v1/clients/{b1}/contacts", {
            "kind": "video", "happened_at": "2025-01-02T10:00:00Z"}), 404)
        assert body["detail"] == not_in_caseload(b1)
        body = await problem(await staff.post_json(f"/api/v1/clients/{b1}/appointments", {
            "kind": "remote", "starts_at": future().isoformat()}), 404)
        assert body["detail"] == not_in_caseload(b1)
        html = await page(await staff.post_form(f"/clients/{b1}/contacts", {
            "kind": "video", "happened_at": "2025-01-02T10:00"}), 404)
        assert not_in_caseload(b1) in html
        # Invalid input for someone else's client is still "not found", not a form.
        html = await page(await staff.post_form(f"/clients/{b1}/contacts", {
            "kind": "video", "happened_at": "garbage"}), 404)
        assert not_in_caseload(b1) in html
        for path in [f"/clients/{b1}/contacts/new", f"/clients/{b1}/appointments/new"]:
            assert not_in_caseload(b1) in await page(await staff.get(path), 404)


async def test_api_token_sees_the_same_caseload(world, login, client, db):
    staff = await login(world.users["alice"])
    created = await staff.post_json("/api/v1/tokens", {"name": "case system", "days": 7})
    assert created.status == 201
    bearer = {"Authorization": f"Bearer {(await created.json())['token']}"}
    client.session.cookie_jar.clear()
    b1, a1 = world.clients["b1"].id, world.clients["a1"].id
    listed = await (await client.get("/api/v1/clients", headers=bearer)).json()
    assert {c["id"] for c in listed["items"]} == {a1, world.clients["a2"].id}
    async with nothing_written(db):
        await problem(await client.get(f"/api/v1/clients/{b1}", headers=bearer), 404)
    response = await client.post(f"/api/v1/clients/{a1}/contacts", headers=bearer, json={
        "kind": "phone", "happened_at": "2025-05-05T05:05:00Z"})  # a token needs no CSRF
    assert response.status == 201


# --- recording contacts -----------------------------------------------------------------------

async def test_record_a_face_to_face_contact_through_the_form(world, login, db):
    staff = await login(world.users["alice"])
    a1 = world.clients["a1"].id
    form = await page(await staff.get(f"/clients/{a1}/contacts/new"), 200)
    assert f'action="/clients/{a1}/contacts"' in form
    response = await staff.post_form(f"/clients/{a1}/contacts", {
        "kind": "face_to_face", "happened_at": "2025-07-01T09:15", "outcome": "attended",
        "notes": "Discussed housing.", "sensitive": "on"})
    assert response.status == 303, await response.text()
    assert response.headers["Location"] == f"/clients/{a1}?created=contact"
    async with db() as s:
        contact = (await s.scalars(select(Contact))).one()
    # datetime-local is read in Europe/London: 09:15 BST is 08:15 UTC.
    assert contact.happened_at == datetime(2025, 7, 1, 8, 15, tzinfo=UTC)
    assert (contact.client_id, contact.practitioner_id) == (a1, world.users["alice"].id)
    assert contact.kind == "face_to_face" and contact.sensitive and contact.notes == \
        "Discussed housing."
    events = await audit_events(db, "contact.create")
    assert [(e.target_id, e.client_id, e.actor_id) for e in events] == [
        (str(contact.id), a1, world.users["alice"].id)]
    html = await page(await staff.get(f"/clients/{a1}?created=contact"), 200)
    assert "Saved." in html and "01 Jul 2025, 09:15" in html and "Discussed housing." in html
    assert "face to face" in html and "sensitive" in html
    last = (await (await staff.get("/api/v1/clients")).json())["items"]
    by_id = {c["id"]: c for c in last}
    assert by_id[a1]["last_face_to_face_at"] == "2025-07-01T08:15:00Z"
    # A later meeting the client missed is not their last face-to-face contact.
    missed = await staff.post_form(f"/clients/{a1}/contacts", {
        "kind": "face_to_face", "happened_at": "2025-08-01T09:15",
        "outcome": "failed_to_attend", "notes": ""})
    assert missed.status == 303
    listed = (await (await staff.get("/api/v1/clients")).json())["items"]
    assert {c["id"]: c for c in listed}[a1]["last_face_to_face_at"] == "2025-07-01T08:15:00Z"
    one = await (await staff.get(f"/api/v1/clients/{a1}")).json()
    assert one["last_face_to_face_at"] == "2025-07-01T08:15:00Z"


async def test_record_a_contact_through_the_api(world, login, db):
    staff = await login(world.users["alice"])
    a1 = world.clients["a1"].id
    response = await staff.post_json(f"/api/v1/clients/{a1}/contacts", {
        "kind": "video", "happened_at": "2025-01-02T10:00:00+01:00", "outcome": "attended",
        "notes": "Checked in", "sensitive": False})
    assert response.status == 201, await response.text()
    body = await response.json()
    assert body["kind"] == "video" and body["client_id"] == a1
    assert datetime.fromisoformat(body["happened_at"]) == datetime(2025, 1, 2, 9, 0, tzinfo=UTC)
    history = await (await staff.get(f"/api/v1/clients/{a1}/contacts")).json()
    assert [c["id"] for c in history["items"]] == [body["id"]]
    events = await audit_events(db, "contact.create")
    assert [(e.target_id, e.client_id) for e in events] == [(str(body["id"]), a1)]
    assert events[0].detail == {"kind": "video"}
    assert "Checked in" in await page(await staff.get(f"/clients/{a1}"), 200)


async def test_an_explicit_offset_in_a_form_time_is_honoured(world, login, db):
    staff = await login(world.users["alice"])
    a1 = world.clients["a1"].id
    response = await staff.post_form(f"/clients/{a1}/contacts", {
        "kind": "phone", "happened_at": "2025-07-01T09:15+05:00", "outcome": "attended"})
    assert response.status == 303, await response.text()
    async with db() as s:
        contact = (await s.scalars(select(Contact))).one()
    assert contact.happened_at == datetime(2025, 7, 1, 4, 15, tzinfo=UTC)


# --- scheduling and cancelling appointments ----------------------------------------------------

@pytest.mark.parametrize(("local", "utc"), [
    # --- winter: London is on GMT
    (f"{NEXT_YEAR}-11-22T14:30", datetime(NEXT_YEAR, 11, 22, 14, 30, tzinfo=UTC)),
    # --- summer: London is on BST, an hour ahead of UTC
    (f"{NEXT_YEAR}-07-01T14:30", datetime(NEXT_YEAR, 7, 1, 13, 30, tzinfo=UTC)),
])
async def test_schedule_a_remote_appointment_through_the_form(world, login, db, local, utc):
    staff = await login(world.users["alice"])
    a1 = world.clients["a1"].id
    form = await page(await staff.get(f"/clients/{a1}/appointments/new"), 200)
    assert 'value="remote" checked' in form
    response = await staff.post_form(f"/clients/{a1}/appointments", {
        "kind": "remote", "starts_at": local, "duration_minutes": "45"})
    assert response.status == 303, await response.text()
    async with db() as s:
        appointment = (await s.scalars(select(Appointment))).one()
    assert response.headers["Location"] == (
        f"/clients/{a1}?created=appointment&appointment={appointment.id}")
    assert appointment.starts_at == utc
    assert (appointment.kind, appointment.duration_minutes) == ("remote", 45)
    events = await audit_events(db, "appointment.create")
    assert [(e.target_id, e.client_id) for e in events] == [(str(appointment.id), a1)]
    html = await page(await staff.get(f"/clients/{a1}"), 200)
    shown = datetime.fromisoformat(local).strftime("%a %d %b %Y, %H:%M")
    assert shown in html and "45 minutes" in html and "remote" in html
    assert f'action="/appointments/{appointment.id}/cancel"' in html


async def test_schedule_and_cancel_through_the_api(world, login, db):
    staff = await login(world.users["alice"])
    a1 = world.clients["a1"].id
    starts = datetime(NEXT_YEAR, 3, 3, 10, 0, tzinfo=ZoneInfo("Europe/Paris"))
    response = await staff.post_json(f"/api/v1/clients/{a1}/appointments", {
        "kind": "in_person", "starts_at": starts.isoformat(), "duration_minutes": 60})
    assert response.status == 201, await response.text()
    created = await response.json()
    assert datetime.fromisoformat(created["starts_at"]) == starts
    assert created["cancelled_at"] is None
    listed = await (await staff.get(f"/api/v1/clients/{a1}/appointments")).json()
    assert [a["id"] for a in listed["items"]] == [created["id"]]

    cancelled = await staff.post_json(f"/api/v1/appointments/{created['id']}/cancel")
    assert cancelled.status == 200
    assert (await cancelled.json())["cancelled_at"] is not None
    async with nothing_written(db):
        again = await problem(await staff.post_json(
            f"/api/v1/appointments/{created['id']}/cancel"), 409)
        assert again["detail"] == "This appointment was already cancelled."
    assert len(await audit_events(db, "appointment.create")) == 1
    assert [e.target_id for e in await audit_events(db, "appointment.cancel")] == [
        str(created["id"])]
    assert "cancelled" in await page(await staff.get(f"/clients/{a1}"), 200)


async def test_cancel_through_the_page_and_twice(world, login, db):
    staff = await login(world.users["alice"])
    a1 = world.clients["a1"].id
    created = await (await staff.post_json(f"/api/v1/clients/{a1}/appointments", {
        "kind": "remote", "starts_at": future().isoformat()})).json()
    response = await staff.post_form(f"/appointments/{created['id']}/cancel")
    assert response.status == 303
    assert response.headers["Location"] == f"/clients/{a1}"
    async with nothing_written(db):
        html = await page(await staff.post_form(f"/appointments/{created['id']}/cancel"), 409)
        assert "This appointment was already cancelled." in html
    async with db() as s:
        row = await s.get(Appointment, created["id"])
        assert row is not None and row.cancelled_at is not None


async def test_only_the_practitioner_cancels_her_appointment(world, login, db):
    staff = await login(world.users["alice"])
    created = await (await staff.post_json(
        f"/api/v1/clients/{world.clients['a1'].id}/appointments",
        {"kind": "remote", "starts_at": future().isoformat()})).json()
    bob = await login(world.users["bob"])
    async with nothing_written(db):
        body = await problem(await bob.post_json(f"/api/v1/appointments/{created['id']}/cancel"),
                             404)
        assert body["detail"] == f"No appointment with id {created['id']} is yours to cancel."
        await problem(await bob.post_json("/api/v1/appointments/999999/cancel"), 404)
    sue = await login(world.users["sue"])
    async with nothing_written(db):
        await problem(await sue.post_json(f"/api/v1/appointments/{created['id']}/cancel"), 403)


# --- bad input to the API ---------------------------------------------------------------------

def _contact(**change: Any) -> dict[str, Any]:
    body = {"kind": "face_to_face", "happened_at": "2025-01-02T10:00:00Z"}
    return {k: v for k, v in {**body, **change}.items() if v is not ...}


def _appointment(**change: Any) -> dict[str, Any]:
    body = {"kind": "remote", "starts_at": f"{NEXT_YEAR}-02-02T10:00:00Z",
            "duration_minutes": 30}
    return {k: v for k, v in {**body, **change}.items() if v is not ...}


JSON = "application/json"

# (target, raw body, content type, status, words the detail must contain, fields named)
BAD_API_INPUT: list[Any] = [
    # --- the body is not a JSON object
    pytest.param("contacts", '{"kind": ', JSON, 400, "not valid JSON", set(),
                 id="malformed-json"),
    pytest.param("contacts", "", JSON, 400, "not valid JSON", set(), id="empty-body"),
    pytest.param("contacts", b"\xff\xfe{}", JSON, 400, "not valid JSON", set(),
                 id="not-utf8"),
    pytest.param("contacts", "[1, 2]", JSON, 400, "must be a JSON object", set(),
                 id="json-array"),
    pytest.param("contacts", '"hello"', JSON, 400, "must be a JSON object", set(),
                 id="json-string"),
    pytest.param("contacts", "null", JSON, 400, "must be a JSON object", set(), id="json-null"),
    # --- the wrong content type
    pytest.param("contacts", json.dumps(_contact()), "text/plain", 400,
                 "Content-Type: application/json", set(), id="text-plain"),
    pytest.param("contacts", "kind=video", "application/x-www-form-urlencoded", 400,
                 "Content-Type: application/json", set(), id="form-encoded"),
    # --- fields: unknown, missing, wrong type
    pytest.param("contacts", _contact(colour="red"), JSON, 422, "colour", {"colour"},
                 id="unknown-field"),
    pytest.param("contacts", {}, JSON, 422, "kind", {"kind", "happened_at"},
                 id="missing-fields"),
    pytest.param("contacts", _contact(kind="carrier_pigeon"), JSON, 422, "kind", {"kind"},
                 id="invalid-kind"),
    pytest.param("contacts", _contact(outcome="maybe"), JSON, 422, "outcome", {"outcome"},
                 id="invalid-outcome"),
    pytest.param("contacts", _contact(sensitive="perhaps"), JSON, 422, "sensitive",
                 {"sensitive"}, id="sensitive-not-boolean"),
    pytest.param("contacts", _contact(notes="x" * 20_001), JSON, 422, "notes", {"notes"},
                 id="notes-too-long"),
    pytest.param("contacts", _contact(kind=None), JSON, 422, "kind", {"kind"}, id="null-kind"),
    # --- times
    pytest.param("contacts", _contact(happened_at="2025-01-02T10:00:00"), JSON, 422,
                 "time zone", {"happened_at"}, id="naive-datetime"),
    pytest.param("contacts", _contact(happened_at="yesterday"), JSON, 422, "happened_at",
                 {"happened_at"}, id="not-a-datetime"),
    pytest.param("contacts", _contact(happened_at="2025-02-30T10:00:00Z"), JSON, 422,
                 "happened_at", {"happened_at"}, id="impossible-date"),
    pytest.param("contacts", _contact(happened_at=future(1).isoformat()), JSON, 422,
                 "cannot be recorded in the future", {"happened_at"}, id="contact-in-future"),
    # --- appointments
    pytest.param("appointments", _appointment(duration_minutes=4), JSON, 422,
                 "duration_minutes", {"duration_minutes"}, id="duration-too-short"),
    pytest.param("appointments", _appointment(duration_minutes=241), JSON, 422,
                 "duration_minutes", {"duration_minutes"}, id="duration-too-long"),
    pytest.param("appointments", _appointment(duration_minutes="half an hour"), JSON, 422,
                 "duration_minutes", {"duration_minutes"}, id="duration-not-a-number"),
    pytest.param("appointments", _appointment(kind="hologram"), JSON, 422, "kind", {"kind"},
                 id="invalid-appointment-kind"),
    pytest.param("appointments", _appointment(starts_at=f"{NEXT_YEAR}-02-02T10:00"), JSON, 422,
                 "time zone", {"starts_at"}, id="naive-start"),
    pytest.param("appointments", _appointment(starts_at=...), JSON, 422, "starts_at",
                 {"starts_at"}, id="missing-start"),
]


@pytest.mark.parametrize(("target", "body", "content_type", "status", "words", "named"),
                         BAD_API_INPUT)
async def test_bad_api_input_is_refused_and_nothing_is_written(
        world, login, db, target, body, content_type, status, words, named):
    staff = await login(world.users["alice"])
    path = f"/api/v1/clients/{world.clients['a1'].id}/{target}"
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    async with nothing_written(db):
        response = await staff.client.post(path, data=raw, headers={
            "Content-Type": content_type, "X-CSRF-Token": staff.csrf})
        refused = await problem(response, status)
    assert words in refused["detail"]
    assert fields(refused) >= named
    if status == 422:
        assert refused["type"] == "urn:rapport:problem:invalid"


# (method, path with {a1} for alice's client, status, words in the detail)
BAD_ADDRESSES = [
    # --- ids that are not ids
    ("GET", "/api/v1/clients/abc", 400, "'abc' is not a valid id"),
    ("GET", "/api/v1/clients/-1", 400, "is not a valid id"),
    ("GET", "/api/v1/clients/1.5", 400, "is not a valid id"),
    ("GET", "/api/v1/clients/%C2%B2", 400, "is not a valid id"),  # superscript two
    ("GET", "/api/v1/clients/1234567890123456789012", 400, "is not a valid id"),
    ("GET", "/api/v1/clients/abc/contacts", 400, "'abc' is not a valid id"),
    ("POST", "/api/v1/clients/abc/contacts", 400, "'abc' is not a valid id"),
    ("POST", "/api/v1/appointments/abc/cancel", 400, "'abc' is not a valid id"),
    # --- ids of nothing
    ("GET", "/api/v1/clients/999999", 404, "No client with id 999999"),
    ("GET", "/api/v1/clients/0", 404, "No client with id 0"),
    ("GET", "/api/v1/clients/2147483647", 404, "No client with id 2147483647"),
    ("POST", "/api/v1/clients/999999/contacts", 404, "No client with id 999999"),
    # --- ids beyond the 32-bit id columns: no row can have them
    ("GET", "/api/v1/clients/2147483648", 404, "There is nothing at this address"),
    ("GET", "/api/v1/clients/999999999999999999", 404, "There is nothing at this address"),
    ("POST", "/api/v1/appointments/2147483648/cancel", 404, "There is nothing at this address"),
    # --- addresses and methods that do not exist
    ("GET", "/api/v1/nope", 404, "There is nothing at this address"),
    ("POST", "/api/v1/nope", 404, "There is nothing at this address"),
    ("GET", "/api/v2/clients", 404, "There is nothing at this address"),
    ("DELETE", "/api/v1/clients/{a1}", 405, "does not accept that kind of request"),
    ("PUT", "/api/v1/clients/{a1}/contacts", 405, "does not accept that kind of request"),
    ("GET", "/api/v1/appointments/{a1}/cancel", 405, "does not accept that kind of request"),
]


@pytest.mark.parametrize(("method", "path", "status", "words"), BAD_ADDRESSES)
async def test_bad_api_addresses(world, login, db, method, path, status, words):
    staff = await login(world.users["alice"])
    path = path.replace("{a1}", str(world.clients["a1"].id))
    body = _contact() if path.endswith("/contacts") else {}
    async with nothing_written(db):
        response = await staff.client.request(method, path, json=body,
                                              headers={"X-CSRF-Token": staff.csrf})
        refused = await problem(response, status)
    assert words in refused["detail"]
    if status == 405:
        assert response.headers["Allow"]


@pytest.mark.parametrize("path", ["/clients/abc", "/clients/abc/contacts/new"])
async def test_bad_id_on_a_page_is_a_readable_400(world, login, path):
    staff = await login(world.users["alice"])
    assert "&#39;abc&#39; is not a valid id" in await page(await staff.get(path), 400)


async def test_wrong_method_on_a_page_is_405(world, login):
    staff = await login(world.users["alice"])
    response = await staff.client.delete("/caseload")
    assert "does not accept that kind of request" in await page(response, 405)
    assert "GET" in response.headers["Allow"]


async def test_oversized_api_body_is_413_problem_json(world, login, db, settings):
    staff = await login(world.users["alice"])
    body = _contact(notes="x" * (settings.max_body_bytes + 1))
    async with nothing_written(db):
        refused = await problem(await staff.post_json(
            f"/api/v1/clients/{world.clients['a1'].id}/contacts", body), 413)
    assert str(settings.max_body_bytes) in refused["detail"]
    assert refused["type"] == "urn:rapport:problem:too-large"


async def test_oversized_form_is_413_page(world, login, db, settings):
    staff = await login(world.users["alice"])
    async with nothing_written(db):
        html = await page(await staff.post_form(f"/clients/{world.clients['a1'].id}/contacts", {
            "kind": "video", "happened_at": "2025-01-02T10:00",
            "notes": "x" * (settings.max_body_bytes + 1)}), 413)
    assert "too large" in html


# --- bad input to the forms: the form comes back with what was typed ---------------------------

# (form, fields sent, words the page must show, values that must be kept)
BAD_FORMS = [
    # --- contacts
    pytest.param("contacts", {"kind": "video", "happened_at": "22/11/2026 2pm",
                              "notes": "Met at the office"},
                 "not a date and time", ['value="22/11/2026 2pm"', ">Met at the office<",
                                         '<option value="video" selected>'],
                 id="malformed-date"),
    pytest.param("contacts", {"kind": "video", "happened_at": "", "notes": "Kept"},
                 "happened_at", [">Kept<"], id="missing-date"),
    pytest.param("contacts", {"kind": "video", "happened_at": "2099-01-01T10:00",
                              "notes": "Too soon", "sensitive": "on"},
                 "in the future", ['value="2099-01-01T10:00"', ">Too soon<",
                                   'name="sensitive" type="checkbox" checked'],
                 id="contact-in-future"),
    pytest.param("contacts", {"kind": "smoke_signal", "happened_at": "2025-01-02T10:00"},
                 "kind", ['value="2025-01-02T10:00"'], id="invalid-kind"),
    pytest.param("contacts", {"kind": "video", "happened_at": "2025-01-02T10:00",
                              "notes": "x", "extra": "1"},
                 "extra", ['value="2025-01-02T10:00"'], id="unknown-field"),
    # --- appointments
    pytest.param("appointments", {"kind": "remote", "starts_at": f"{NEXT_YEAR}-01-10T10:00",
                                  "duration_minutes": "3"},
                 "duration_minutes", [f'value="{NEXT_YEAR}-01-10T10:00"', 'value="3"',
                                      'value="remote" checked'], id="duration-too-short"),
    pytest.param("appointments", {"kind": "remote", "starts_at": "next tuesday",
                                  "duration_minutes": "45"},
                 "not a date and time", ['value="next tuesday"', 'value="45"'],
                 id="malformed-start"),
    pytest.param("appointments", {"starts_at": f"{NEXT_YEAR}-01-10T10:00",
                                  "duration_minutes": "30"},
                 "kind", [f'value="{NEXT_YEAR}-01-10T10:00"'], id="no-kind-chosen"),
]


@pytest.mark.parametrize(("target", "form", "words", "kept"), BAD_FORMS)
async def test_bad_form_input_re_renders_with_422(world, login, db, target, form, words, kept):
    staff = await login(world.users["alice"])
    a1 = world.clients["a1"].id
    async with nothing_written(db):
        html = await page(await staff.post_form(f"/clients/{a1}/{target}", form), 422)
    assert 'class="error-summary"' in html and words in html
    assert f'action="/clients/{a1}/{target}"' in html
    for value in kept:
        assert value in html, value
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert token and token.group(1) == staff.csrf  # the form can be sent again as it is


async def test_form_without_csrf_is_refused_and_nothing_written(world, login, db):
    staff = await login(world.users["alice"])
    async with nothing_written(db):
        response = await staff.client.post(f"/clients/{world.clients['a1'].id}/contacts",
                                           data={"kind": "video",
                                                 "happened_at": "2025-01-02T10:00"},
                                           allow_redirects=False)
        assert "did not come from Rapport" in await page(response, 403)


# --- ids inside bodies are checked like ids in addresses ------------------------------------

@pytest.mark.parametrize("team_id", [
    99_999_999_999,  # beyond the 32-bit id columns
    0,  # never an id
    -3,
])
async def test_team_id_out_of_range_is_422(world, login, team_id):
    staff = await login(world.users["adam"])
    refused = await problem(await staff.post_json("/api/v1/users", {
        "email": "new@example.test", "name": "New", "roles": ["practitioner"],
        "team_id": team_id, "password": "correct-horse-battery-staple-99"}), 422)
    assert fields(refused) == {"team_id"}


async def test_appointments_cannot_start_in_the_past(world, login, db):
    alice = await login(world.users["alice"])
    client_id = world.clients["a1"].id
    response = await alice.post_json(f"/api/v1/clients/{client_id}/appointments",
                                     {"kind": "remote", "starts_at": "2020-01-01T10:00:00Z"})
    assert response.status == 422
    body = await response.json()
    assert "past" in body["detail"] and body["errors"][0]["field"] == "starts_at"
    form = await alice.post_form(f"/clients/{client_id}/appointments",
                                 {"kind": "remote", "starts_at": "2020-01-01T10:00",
                                  "duration_minutes": "30"})
    assert form.status == 422
    assert "cannot start in the past" in await form.text()
