"""Data protection: the subject access export holds every table's data about one client and
nothing about others, the access log, the refusal of audit edits, and the privacy notice."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import ForeignKey, select

from server.clock import now
from server.outbox import queue
from server.privacy import subject_access
from server.store import audit
from server.store.models import (
    ApprovalRequest,
    ApprovalStatus,
    AuditEvent,
    Base,
    CallQuality,
    CallSession,
    ChatMessage,
    ChecklistResponse,
    Client,
    ConsentEventRow,
    ContactKind,
    ContactOutcome,
    ContactRecord,
    ContactVersion,
    Participant,
    ParticipantEvent,
    ParticipantRole,
    PolicyDecision,
    PrecallCheck,
    Recording,
    RecordingState,
)
from tests.calls import open_link, remote_call

# --- every table is accounted for -----------------------------------------------------------


def _reaches_client(name: str, seen: frozenset[str] = frozenset()) -> bool:
    """Whether a table holds a client_id or links (through foreign keys) to one that does."""
    table = Base.metadata.tables[name]
    if name == "client" or "client_id" in table.c:
        return True
    parents = {fk.column.table.name for fk in table.foreign_keys
               if isinstance(fk, ForeignKey)} - seen - {name}
    return any(_reaches_client(p, seen | {name}) for p in parents)


def test_every_table_is_either_exported_or_declared_not_about_clients():
    """A table added later fails here until the export covers it (one line in
    server/subject_access.py) or it is declared, with a reason, to hold nothing about clients."""
    tables = set(Base.metadata.tables)
    covered, excluded = set(subject_access.COVERAGE), set(subject_access.NOT_ABOUT_CLIENTS)
    assert covered & excluded == set()
    assert tables - covered - excluded == set(), "tables the subject access export ignores"
    assert (covered | excluded) - tables == set(), "names of tables that do not exist"
    wrongly_excluded = {t for t in excluded if _reaches_client(t)}
    assert wrongly_excluded == set(), "these tables can hold data about a client"


# --- the export -------------------------------------------------------------------------------

async def _seed(db, settings, world, short: str, practitioner: str) -> dict[str, Any]:
    """Rows about one client in every covered table; returns the ids that must appear."""
    client, user = world.clients[short], world.users[practitioner]
    call = await remote_call(db, settings, user, client, interpreter=True)
    async with db.begin() as s:
        session = CallSession(appointment_id=call.appointment.id, started_at=now(),
                              started_by_id=user.id)
        s.add(session)
        people = []
        for role, name in [(ParticipantRole.CLIENT, client.full_name),
                           (ParticipantRole.INTERPRETER, "Ivana Interpreter")]:
            person = Participant(appointment_id=call.appointment.id, role=role, name=name,
                                 state_since=now(), created_at=now(),
                                 expires_at=now() + timedelta(hours=2))
            s.add(person)
            people.append(person)
        await s.flush()
        for person in people:
            s.add(ParticipantEvent(appointment_id=call.appointment.id, participant_id=person.id,
                                   call_session_id=session.id, kind="joined", at=now(),
                                   detail={}))
            s.add(ChecklistResponse(participant_id=person.id, appointment_id=call.appointment.id,
                                    role=person.role.value, answers={"x": True}, complete=True,
                                    passed=True, policy_version="v", answered_at=now()))
        s.add(ApprovalRequest(client_id=client.id, requested_by_id=user.id, requested_at=now(),
                              request_note=f"note about {client.crn}",
                              status=ApprovalStatus.PENDING))
        s.add(PolicyDecision(appointment_id=call.appointment.id, client_id=client.id,
                             point="admit", outcome="allowed", rule_ids=[], reasons=[],
                             policy_version="v", at=now()))
        contact = await s.scalar(select(subject_access.Base.metadata.tables["contact"].c.id)
                                 .where(subject_access.Base.metadata.tables["contact"]
                                        .c.client_id == client.id))
        await s.execute(subject_access.Base.metadata.tables["contact"].update()
                        .where(subject_access.Base.metadata.tables["contact"].c.id == contact)
                        .values(sensitive=True, notes=f"sensitive note about {client.crn}"))
        audit.record(s, None, "client.view", "client", client.id, client_id=client.id)
        # Contact records (issue 6, the other half): the record, an earlier version of its
        # contact's notes, and the call quality of one person in the session.
        s.add(ContactRecord(
            appointment_id=call.appointment.id, contact_id=contact, client_id=client.id,
            practitioner_id=user.id, call_session_id=session.id, status="ended",
            attendance=ContactOutcome.ATTENDED, modality="video", scheduled_start=now(),
            scheduled_end=now(), summary={}, built_at=now()))
        s.add(ContactVersion(contact_id=contact, version=1, kind=ContactKind.FACE_TO_FACE,
                             outcome=ContactOutcome.ATTENDED, happened_at=now(),
                             notes=f"earlier note about {client.crn}", sensitive=False,
                             replaced_at=now(), replaced_by_id=user.id))
        s.add(CallQuality(call_session_id=session.id, participant_id=people[0].id,
                          first_at=now(), last_at=now()))
        # A recording asked for (issue 5) and the client's answer.
        recording = Recording(
            appointment_id=call.appointment.id, call_session_id=session.id,
            requested_by_id=people[0].id, requested_at=now(), purpose="recording",
            wording_version="v1", state=RecordingState.STOPPED, segments=[],
            retention_until=now() + timedelta(days=30))
        s.add(recording)
        await s.flush()
        s.add(ConsentEventRow(
            appointment_id=call.appointment.id, call_session_id=session.id,
            recording_id=recording.id, participant_id=people[0].id, purpose="recording",
            kind="given", wording_version="v1", wording_sha256="0" * 64, language="en",
            at=now()))
        # The client's pre-call check (issue 7).
        s.add(PrecallCheck(appointment_id=call.appointment.id, participant_id=people[0].id,
                           verdict="good", camera=True, microphone=True, created_at=now()))
        # A chat message in the session (issue 14).
        s.add(ChatMessage(appointment_id=call.appointment.id, participant_id=people[0].id,
                          author_name=client.full_name, author_role="client",
                          body="<b>12 High St</b>", sent_at=now()))
        # A reminder waiting in the outbox (issue 15).
        await queue.enqueue(s, organisation_id=client.organisation_id, kind="reminder",
                            client_id=client.id, appointment_id=call.appointment.id,
                            payload={"hours": 24})
    return {"client": client, "appointment": call.appointment.id, "crn": client.crn}


@pytest.fixture
async def seeded(db, settings, world):
    mine = await _seed(db, settings, world, "a1", "alice")
    other = await _seed(db, settings, world, "b1", "bob")
    return mine, other


async def test_json_export_has_every_table_and_nothing_about_others(login, world, seeded):
    mine, other = seeded
    dpo = await login(world.users["olive"])
    response = await dpo.get(f"/api/v1/clients/{mine['client'].id}/subject-access"
                             "?reference=SAR-2026-17")
    assert response.status == 200, await response.text()
    assert response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    export = json.loads(await response.read())
    tables = export["tables"]
    assert set(tables) == set(subject_access.COVERAGE)
    empty = [name for name, items in tables.items() if not items]
    assert empty == [], "the seed puts a row about the client in every covered table"
    text = json.dumps(export)
    assert other["crn"] not in text and mine["crn"] in text
    for name, items in tables.items():
        for item in items:
            assert item.get("client_id", mine["client"].id) == mine["client"].id, name
            assert item.get("appointment_id", mine["appointment"]) in (
                mine["appointment"], None), name
            assert not set(item) & subject_access.SECRET_COLUMNS, name
    sensitive = [c for c in tables["contact"] if c["sensitive"]]
    assert sensitive and all(c["_review"]["status"] == "For review before disclosure"
                             for c in sensitive)
    # Staff named by id get their names; bob works only with the other client.
    assert export["staff"][str(world.users["alice"].id)] == "Alice"
    assert str(world.users["bob"].id) not in export["staff"]
    interpreter = [p for p in tables["participant"] if p["role"] == "interpreter"]
    assert interpreter and "_review" in interpreter[0]
    mine_client = [p for p in tables["participant"] if p["role"] == "client"]
    assert mine_client and "_review" not in mine_client[0]


async def test_html_export_is_readable_and_marks_items_for_review(login, world, seeded):
    mine, other = seeded
    dpo = await login(world.users["olive"])
    response = await dpo.get(f"/privacy/clients/{mine['client'].id}/export.html")
    assert response.status == 200
    assert response.content_type == "text/html"
    page = await response.text()
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert f"Information held about {mine['crn']}" in page
    assert "For review before disclosure" in page and "flagged this record as sensitive" in page
    assert other["crn"] not in page
    assert "<script" not in page


async def test_every_export_is_audited_with_its_reason(db, login, world, seeded):
    mine, _other = seeded
    dpo = await login(world.users["olive"])
    for path in ("export.json?reference=SAR-9", "export.html"):
        assert (await dpo.get(f"/privacy/clients/{mine['client'].id}/{path}")).status == 200
    async with db() as s:
        rows = (await s.scalars(select(AuditEvent).where(
            AuditEvent.action == "subject_access.export").order_by(AuditEvent.seq))).all()
        assert (await audit.verify(s))[1] is None
    assert [(r.actor_id, r.client_id, r.detail["format"], r.detail["reason"]) for r in rows] == [
        (world.users["olive"].id, mine["client"].id, "json", "SAR-9"),
        (world.users["olive"].id, mine["client"].id, "html", "subject access")]


async def test_large_export_streams_every_row(db, login, world):
    client = world.clients["a1"]
    async with db.begin() as s:
        for n in range(1200):
            audit.record(s, None, "client.view", "client", client.id, client_id=client.id, n=n)
    dpo = await login(world.users["olive"])
    response = await dpo.get(f"/api/v1/clients/{client.id}/subject-access")
    chunks = [chunk async for chunk in response.content.iter_any()]
    export = json.loads(b"".join(chunks))
    assert len(export["tables"]["audit_event"]) >= 1200
    assert "Content-Length" not in response.headers  # sent as it was read, not built first


@pytest.mark.parametrize(("path", "status", "words"), [
    ("/api/v1/clients/999999/subject-access", 404, "no client with that number"),
    ("/api/v1/clients/abc/subject-access", 400, "not a valid id"),
    ("/api/v1/clients/{a1}/subject-access?reference=%3Cscript%3E", 422, "request reference"),
    ("/api/v1/clients/999999/access-log", 404, "no client with that number"),
    ("/api/v1/clients/{a1}/access-log?before=soon", 422, "sequence number"),
])
async def test_bad_requests_get_clear_errors(login, world, path, status, words):
    dpo = await login(world.users["olive"])
    response = await dpo.get(path.replace("{a1}", str(world.clients["a1"].id)))
    assert response.status == status
    assert words in (await response.json())["detail"]


async def test_another_organisations_client_is_not_found(db, login, world):
    from tests.conftest import make_client, make_user

    async with db.begin() as s:
        from server.store.models import Organisation, Role

        org = Organisation(name="Elsewhere")
        s.add(org)
        await s.flush()
        owner = await make_user(s, org, None, "zed", {Role.PRACTITIONER})
        stranger = await make_client(s, org, owner, "CRNZZ")
    dpo = await login(world.users["olive"])
    assert (await dpo.get(f"/api/v1/clients/{stranger.id}/access-log")).status == 404
    page = await dpo.get("/privacy?crn=CRNZZ")
    assert page.status == 404 and "no client with that case reference" in await page.text()


# --- the access log -----------------------------------------------------------------------

async def test_access_log_shows_who_saw_the_client_and_is_itself_logged(db, login, world):
    alice = await login(world.users["alice"])
    assert (await alice.get(f"/clients/{world.clients['a1'].id}")).status == 200
    assert (await alice.get(f"/clients/{world.clients['a2'].id}")).status == 200
    dpo = await login(world.users["olive"])
    found = await dpo.get("/privacy?crn=crna1")
    assert found.status == 303
    assert found.headers["Location"] == f"/privacy/clients/{world.clients['a1'].id}"
    api = await dpo.get(f"/api/v1/clients/{world.clients['a1'].id}/access-log")
    items = (await api.json())["items"]
    assert [(i["action"], i["actor_name"]) for i in items] == [("client.view", "Alice")]
    page = await dpo.get(found.headers["Location"])
    text = await page.text()
    assert page.status == 200 and "record was viewed" in text and "Alice" in text
    assert "client.view" not in text  # the code stays in the API answer, not on the page
    async with db() as s:
        logged = (await s.scalars(select(AuditEvent).where(
            AuditEvent.action == "access_log.view"))).all()
    assert {(e.actor_id, e.client_id) for e in logged} == {
        (world.users["olive"].id, world.clients["a1"].id)}


async def test_crn_lookup_refuses_malformed_input(login, world):
    dpo = await login(world.users["olive"])
    response = await dpo.get("/privacy?crn=%3Cb%3E")
    assert response.status == 422
    assert "letters, numbers and dashes" in await response.text()


async def test_dpo_lands_on_data_protection_and_admins_see_no_case_content(login, world):
    dpo = await login(world.users["olive"])
    home = await dpo.get("/")
    assert home.headers["Location"] == "/privacy"
    admin = await login(world.users["adam"])
    refused = await admin.get(f"/api/v1/clients/{world.clients['a1'].id}/subject-access")
    assert refused.status == 403


# --- audit entries cannot be changed through the app ---------------------------------------

@pytest.mark.parametrize("method", ["DELETE", "PATCH"])
async def test_api_refuses_audit_edits_and_logs_the_attempt(db, login, world, method):
    alice = await login(world.users["alice"])
    async with db() as s:
        first = await s.scalar(select(AuditEvent).order_by(AuditEvent.seq))
    assert first is not None
    response = await alice.client.request(method, f"/api/v1/audit/{first.id}",
                                          headers={"X-CSRF-Token": alice.csrf}, json={})
    assert response.status == 403
    problem = await response.json()
    assert problem["type"].endswith("audit-append-only")
    assert "can never be changed or deleted" in problem["detail"]
    async with db() as s:
        attempt = await s.scalar(select(AuditEvent).where(
            AuditEvent.action == "audit.tamper_refused"))
        still = await s.get(AuditEvent, first.id)
        assert (await audit.verify(s))[1] is None
    assert attempt is not None and attempt.actor_id == world.users["alice"].id
    assert attempt.target_id == str(first.id) and attempt.detail["method"] == method
    assert still is not None and still.hash == first.hash


# --- what is audited by being stored ------------------------------------------------------

async def test_decisions_and_participant_events_are_audited(db, world, seeded):
    mine, _other = seeded
    async with db() as s:
        actions = {(e.action, e.client_id) for e in (await s.scalars(select(AuditEvent))).all()}
    assert ("policy.decision", mine["client"].id) in actions
    assert ("participant.joined", mine["client"].id) in actions


# --- the privacy notice -------------------------------------------------------------------

async def test_client_sees_the_privacy_notice_before_the_checklist(client, db, settings, world):
    call = await remote_call(db, settings, world.users["alice"], world.clients["a1"])
    session, status = await open_link(client, call.client_token)
    try:
        assert status == 303
        page = await (await session.get(client.make_url("/join"))).text()
    finally:
        await session.close()
    notice = page.index("How we use your information")
    assert notice < page.index('id="checklist"')
    # The short version is on the journey's first step; the full notice one tap away.
    assert "The call is not recorded." in page and 'href="/privacy-notice"' in page
    full = await (await client.get("/privacy-notice")).text()
    assert "Data Protection Act 2018" in full


async def test_privacy_notice_page_is_public_and_translated(client):
    english = await client.get("/privacy-notice")
    assert english.status == 200
    text = await english.text()
    assert "You can ask for a copy" in text
    assert "Records of your contacts with probation: 6 years" in text
    welsh = await client.get("/privacy-notice?lang=cy")
    assert welsh.status == 200 and welsh.headers["Content-Language"] == "cy"


async def test_client_row_with_risk_information_is_marked_for_review(db, login, world):
    async with db.begin() as s:
        row = await s.get(Client, world.clients["a1"].id)
        assert row is not None
        row.mappa_level = 2
    dpo = await login(world.users["olive"])
    export = await (await dpo.get(
        f"/api/v1/clients/{world.clients['a1'].id}/subject-access")).json()
    assert "s.45(4)" in export["tables"]["client"][0]["_review"]["reason"]
