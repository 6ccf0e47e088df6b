"""The OpenAPI document is exact where a case system written from it alone found it wanting."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from server.clock import now
from server.store.models import Contact, ContactKind, ContactOutcome, ContactRecord
from tests.calls import remote_call
from tests.conftest import World
from tests.test_openapi import validator


async def _doc(client: Any) -> dict[str, Any]:
    doc: dict[str, Any] = await (await client.get("/api/v1/openapi.json")).json()
    return doc


async def test_the_document_says_what_the_server_answers(client: Any) -> None:
    doc = await _doc(client)
    paths = doc["paths"]
    note = doc["components"]["schemas"]["PolicyIn"]["properties"]["note"]
    assert note["minLength"] == 10 and "note" in doc["components"]["schemas"]["PolicyIn"][
        "required"]
    for path, item in paths.items():
        for op in item.values():
            if "{id}" in path:
                assert {"400", "404"} <= set(op["responses"]), path
    assert "409" in paths["/api/v1/appointments/{id}/cancel"]["post"]["responses"]
    assert "409" in paths["/api/v1/appointments/{id}/invitations"]["post"]["responses"]
    assert "interpreter_needed" in paths["/api/v1/appointments/{id}/invitations"]["post"][
        "summary"]
    assert "X-CSRF-Token" in doc["info"]["description"]
    assert "csrf_token" in doc["info"]["description"]
    assert doc["components"]["schemas"]["ContactIn"]["properties"]["sensitive"]["type"] \
        == "boolean"
    assert "/api/v1/appointments/{id}/contact-record" in paths
    export = paths["/api/v1/contact-records"]["get"]["responses"]["200"]["content"]
    assert export["application/json"]["schema"]["properties"]["items"]["items"] == {
        "$ref": "#/components/schemas/ContactExportItem"}


async def test_strict_booleans_empty_format_and_conflicts(client: Any, db: Any, settings: Any,
                                                         world: World, login: Any) -> None:
    staff = await login(world.users["alice"])
    a1 = world.clients["a1"].id
    when = (now() - timedelta(days=1)).isoformat()
    for bad in (0, 1, "yes", "true"):
        response = await staff.post_json(f"/api/v1/clients/{a1}/contacts", {
            "kind": "face_to_face", "happened_at": when, "sensitive": bad})
        assert response.status == 422, bad
        assert (await response.json())["errors"][0]["field"] == "sensitive"
    ok = await staff.post_json(f"/api/v1/clients/{a1}/contacts", {
        "kind": "face_to_face", "happened_at": when, "sensitive": False})
    assert ok.status == 201
    empty = await staff.client.get("/api/v1/contact-records?format=")
    assert empty.status == 200 and empty.content_type == "text/csv"
    call = await remote_call(db, settings, world.users["alice"], world.clients["a1"])
    path = f"/api/v1/appointments/{call.appointment.id}/cancel"
    assert (await staff.post_json(path)).status == 200
    again = await staff.post_json(path)
    assert again.status == 409 and again.content_type == "application/problem+json"


async def test_me_gives_a_session_its_csrf_token(client: Any, world: World,
                                                 login: Any) -> None:
    staff = await login(world.users["alice"])
    me = await (await staff.client.get("/api/v1/me")).json()
    assert me["csrf_token"] == staff.csrf
    # ...and it works: a cookie-authenticated change with it is accepted.
    token = await staff.post_json("/api/v1/tokens", {"name": "case system", "days": 30},
                                  headers={"X-CSRF-Token": me["csrf_token"]})
    assert token.status == 201
    bearer = {"Authorization": f"Bearer {(await token.json())['token']}"}
    staff.client.session.cookie_jar.clear()
    assert (await (await staff.client.get("/api/v1/me", headers=bearer)).json())[
        "csrf_token"] is None


async def test_the_record_of_an_appointment(client: Any, db: Any, settings: Any, world: World,
                                            login: Any) -> None:
    alice = world.users["alice"]
    call = await remote_call(db, settings, alice, world.clients["a1"])
    staff = await login(alice)
    path = f"/api/v1/appointments/{call.appointment.id}/contact-record"
    assert (await staff.client.get(path)).status == 404  # not held yet
    async with db.begin() as s:
        contact = Contact(client_id=call.client.id, practitioner_id=alice.id,
                          kind=ContactKind.VIDEO, happened_at=now(), notes="",
                          outcome=ContactOutcome.ATTENDED, sensitive=False, created_at=now(),
                          created_by_id=alice.id, appointment_id=call.appointment.id)
        s.add(contact)
        await s.flush()
        s.add(ContactRecord(
            appointment_id=call.appointment.id, contact_id=contact.id, client_id=call.client.id,
            practitioner_id=alice.id, status="ended", attendance=ContactOutcome.ATTENDED,
            modality="video", scheduled_start=call.appointment.starts_at,
            scheduled_end=call.appointment.starts_at + timedelta(minutes=30), built_at=now(),
            summary={}))
    found = await staff.client.get(path)
    assert found.status == 200
    assert (await found.json())["appointment_id"] == call.appointment.id
    # The JSON export is typed item by item: this one, with its record, matches the schema.
    export = await (await staff.client.get("/api/v1/contact-records?format=json")).json()
    check = validator(await _doc(client), "ContactExportItem")
    assert export["items"] and all(check.is_valid(item) for item in export["items"])
    assert any(item.get("record_id") for item in export["items"])
    carol = await login(world.users["carol"])  # another team's practitioner: not found
    assert (await carol.client.get(path)).status == 404
