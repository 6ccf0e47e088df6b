""""If nothing works" (#7): the call page's failure report is kept with a reason, audited,
shown live in the practitioner's waiting list, refused clearly when malformed or anonymous,
and rate-limited per person."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from server.joining.failure import MAX_REPORTS
from server.store.models import AuditEvent, PrecallCheck
from tests.calls import practitioner_peer
from tests.test_precall import WITHIN, _client_session, _headers


async def test_failure_is_kept_audited_and_shown_live_to_the_practitioner(
        client, world, settings, db, login) -> None:
    await login(world.users["alice"])
    session, call = await _client_session(client, world, settings, db)
    base = str(client.make_url("")).rstrip("/")
    prac = await practitioner_peer(client, call.appointment.id)
    try:
        # The client never reached /signal (that may be the very problem): the report alone
        # puts them in the practitioner's waiting list, with the reason.
        report = {"reason": "signalling_unreachable", "camera": True, "microphone": True}
        async with session.post(client.make_url("/precall/failure"),
                                headers=_headers(session, base), json=report) as response:
            assert response.status == 201, await response.text()
            assert (await response.json())["reason"] == "signalling_unreachable"
        async with asyncio.timeout(WITHIN):
            while True:
                roster = await prac.expect("roster")
                entry = next((p for p in roster["participants"] if p["role"] == "client"), None)
                if entry and entry.get("precall"):
                    break
        assert not entry["connected"] and entry["state"] == "waiting"
        assert entry["precall"]["verdict"] == "failed"
        assert entry["precall"]["failure"]["reason"] == "signalling_unreachable"
        # A later ordinary check does not hide that they once could not get going.
        result = {"verdict": "good", "camera": True, "microphone": True}
        async with session.post(client.make_url("/precall/result"),
                                headers=_headers(session, base), json=result) as response:
            assert response.status == 201
        async with asyncio.timeout(WITHIN):
            while True:
                roster = await prac.expect("roster")
                entry = next(p for p in roster["participants"] if p["role"] == "client")
                if entry["precall"]["verdict"] == "good":
                    break
        assert entry["precall"]["failure"]["reason"] == "signalling_unreachable"
    finally:
        await prac.close()
        await session.close()
    async with db() as s:
        rows = list(await s.scalars(select(PrecallCheck).order_by(PrecallCheck.id)))
        audits = list(await s.scalars(select(AuditEvent).where(
            AuditEvent.action == "call.failure")))
    assert [(r.verdict, r.reason) for r in rows] == [
        ("failed", "signalling_unreachable"), ("good", None)]
    assert len(audits) == 1


async def test_bad_input_anonymous_callers_and_too_many_reports(client, world, settings,
                                                                db) -> None:
    anonymous = await client.post("/precall/failure", json={"reason": "ice_failed"},
                                  headers={"Accept": "application/json"})
    assert anonymous.status in (401, 403)
    session, _call = await _client_session(client, world, settings, db)
    base = str(client.make_url("")).rstrip("/")
    try:
        headers = _headers(session, base)
        for body, field in [({"reason": "bored", "camera": True, "microphone": True}, "reason"),
                            ({"reason": "ice_failed", "camera": True}, "microphone"),
                            ({"reason": "ice_failed", "camera": "maybe", "microphone": True},
                             "camera")]:
            async with session.post(client.make_url("/precall/failure"), headers=headers,
                                    json=body) as response:
                assert response.status == 422
                problem = await response.json()
                assert field in {e["field"] for e in problem["errors"]}, problem
        good = {"reason": "media_denied", "camera": False, "microphone": False}
        for _ in range(MAX_REPORTS):
            async with session.post(client.make_url("/precall/failure"), headers=headers,
                                    json=good) as response:
                assert response.status == 201
        async with session.post(client.make_url("/precall/failure"), headers=headers,
                                json=good) as response:
            assert response.status == 429
            assert int(response.headers["Retry-After"]) > 0
            assert "reported already" in (await response.json())["detail"]
    finally:
        await session.close()
    async with db() as s:
        kept = list(await s.scalars(select(PrecallCheck)))
    assert len(kept) == MAX_REPORTS  # the refused one was not kept
