"""The holes an independent test of the running application found (issue #18, defects 1–11).

Each test reproduces the finding as it was reported, then checks the fix. Defect 6 (the
WebSocket telling appointment ids apart) is `test_signalling.py::test_hello_is_checked`'s
"someone else's appointment" case; defect 7's cookie prefix is in
`test_auth.py::test_login_over_https_uses_secure_host_prefixed_cookie`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import event, select, text
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from server import keys
from server.clock import now
from server.staff.passwords import password_problems
from server.store.models import AuditEvent, Contact, ContactKind, ContactOutcome
from tests.audit_helpers import rapport_cli, tamper, write_entries
from tests.calls import open_link, practitioner_peer, remote_call
from tests.conftest import CSRF_FIELD, PASSWORD

# --- 1. nobody can keep a staff member locked out -------------------------------------------


class Browser:
    """A browser of its own, from a source address of its own on the loopback network."""

    def __init__(self, client: Any, address: str) -> None:
        self.client = client
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(local_addr=(address, 0)),
            cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def sign_in(self, email: str, password: str) -> int:
        page = await self.session.get(self.client.make_url("/login"))
        token = CSRF_FIELD.search(await page.text())
        assert token is not None
        response = await self.session.post(
            self.client.make_url("/login"), allow_redirects=False,
            data={"email": email, "password": password, "csrf_token": token.group(1)})
        return response.status

    async def close(self) -> None:
        await self.session.close()


async def test_guesses_from_many_addresses_never_block_the_persons_own_device(client, world):
    alice = world.users["alice"].email
    own = Browser(client, "127.0.0.9")
    attackers = [Browser(client, f"127.0.2.{n}") for n in range(1, 5)]
    stranger = Browser(client, "127.0.3.1")
    try:
        assert await own.sign_in(alice, PASSWORD) == 303  # her usual device, trusted from now
        # As reported: five wrong passwords from each of four addresses.
        for attacker in attackers:
            for _ in range(5):
                assert await attacker.sign_in(alice, "wrong password guess") in (401, 429)
        # Her own device still gets in with the right password, at once.
        assert await own.sign_in(alice, PASSWORD) == 303
        # A browser that never signed in as her is held up (and told why).
        assert await stranger.sign_in(alice, PASSWORD) == 429
        # Guessing on a stolen device cookie is itself throttled.
        statuses = [await own.sign_in(alice, "another wrong guess") for _ in range(6)]
        assert statuses[-1] == 429
    finally:
        for browser in (own, stranger, *attackers):
            await browser.close()


# --- 2. exports and downloads carry the security headers ------------------------------------

SECURITY = ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy",
            "X-Request-Id")


async def _contacts(db: Any, world: Any) -> None:
    alice = world.users["alice"]
    async with db.begin() as s:
        for short in ("a1", "a2"):
            s.add(Contact(client_id=world.clients[short].id, practitioner_id=alice.id,
                          kind=ContactKind.FACE_TO_FACE, happened_at=now() - timedelta(days=3),
                          outcome=ContactOutcome.ATTENDED, notes="", sensitive=False,
                          created_at=now(), created_by_id=alice.id))


@pytest.mark.parametrize("path", [
    "/exports/contact-records?format=csv",
    "/api/v1/contact-records?format=csv",
    "/api/v1/contact-records?format=json",
])
async def test_streamed_exports_carry_the_security_headers(client, db, world, login, path):
    await _contacts(db, world)
    staff = await login(world.users["alice"])
    response = await staff.get(path)
    assert response.status == 200, await response.text()
    await response.read()
    assert response.headers["Cache-Control"] == "no-store"
    for header in SECURITY:
        assert header in response.headers, header
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# --- 3. redirects are logged with their own status ------------------------------------------

def _logged(caplog: Any, path: str) -> list[int]:
    return [r.fields["status"] for r in caplog.records
            if r.name == "rapport.http" and getattr(r, "fields", {}).get("path") == path]


async def test_a_redirect_is_logged_as_a_redirect_not_a_500(client, caplog):
    caplog.set_level(logging.INFO, logger="rapport.http")
    response = await client.get("/caseload", allow_redirects=False)
    assert response.status == 303
    assert _logged(caplog, "/caseload") == [303]
    assert (await client.get("/no/such/page")).status == 404
    assert _logged(caplog, "/no/such/page") == [404]


# --- 4. link tokens are not written to the log ----------------------------------------------

async def test_invitation_tokens_never_reach_the_log(client, db, settings, world, caplog):
    caplog.set_level(logging.INFO)
    call = await remote_call(db, settings, world.users["alice"], world.clients["a1"])
    session, _status = await open_link(client, call.client_token)
    await session.close()
    assert _logged(caplog, "/join/<token>")
    # (aiohttp's own access log, which the test server keeps, is off in `rapport serve`.)
    ours = [r for r in caplog.records if r.name != "aiohttp.access"]
    assert all(call.client_token not in r.getMessage() and
               call.client_token not in json.dumps(getattr(r, "fields", {}), default=str)
               for r in ours)


# --- 5. a database that cannot be reached or written is a 503 -------------------------------

def _break_database(app: Any, database_url: str) -> None:
    """From now on every new connection is read-only (SQLite) or refused (PostgreSQL)."""
    engine = app[keys.ENGINE].sync_engine

    @event.listens_for(engine, "do_connect")
    def broken(dialect: Any, record: Any, cargs: list[Any], cparams: dict[str, Any]) -> None:
        if database_url.startswith("postgresql"):
            cparams["port"] = 1  # nothing listens there: connection refused
        else:
            cargs[0] = f"file:{cargs[0]}?mode=ro"
            cparams["uri"] = True


async def test_database_down_is_503_and_readyz_says_not_ready(app, client, world,
                                                            database_url):
    assert (await client.get("/readyz")).status == 200
    _break_database(app, database_url)
    await app[keys.ENGINE].dispose()
    ready = await client.get("/readyz")
    assert ready.status == 503
    assert (await ready.json())["database"] == "unreachable"
    page = await client.get("/login")
    token = CSRF_FIELD.search(await page.text())
    form = {"email": world.users["alice"].email, "password": PASSWORD,
            "csrf_token": token.group(1) if token else ""}
    response = await client.post("/login", data=form, allow_redirects=False)
    assert response.status == 503, await response.text()
    assert response.headers["Retry-After"] == "30"
    assert "database" in await response.text()


# --- 7. HSTS only where the site is https ---------------------------------------------------

async def test_no_hsts_over_plain_http(client):
    response = await client.get("/login")
    assert "Strict-Transport-Security" not in response.headers


# --- 8. deeply nested JSON is a typed error, not a traceback --------------------------------

NESTED = "[" * 5000 + "]" * 5000


async def test_deeply_nested_json_over_signal_is_bad_json(client, db, settings, world, login,
                                                          caplog):
    call = await remote_call(db, settings, world.users["alice"], world.clients["a1"])
    await login(world.users["alice"])
    peer = await practitioner_peer(client, call.appointment.id, checklist=False)
    caplog.set_level(logging.INFO)
    for _ in range(3):
        await peer.ws.send_str(NESTED)
        error = await peer.expect("error")
        assert error["code"] == "bad_json"
    await peer.ws.close()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_deeply_nested_json_over_the_api_is_a_400(client, world, login):
    staff = await login(world.users["alice"])
    response = await staff.client.post(
        f"/api/v1/clients/{world.clients['a1'].id}/appointments", data=NESTED,
        headers={"X-CSRF-Token": staff.csrf, "Content-Type": "application/json"})
    assert response.status == 400
    assert "nested too deeply" in (await response.json())["detail"]


# --- 9. every access to a client's data is in that client's access log ----------------------

async def _client_events(db: Any, client_id: int) -> list[str]:
    async with db() as s:
        rows = await s.scalars(select(AuditEvent.action).where(AuditEvent.client_id == client_id))
        return list(rows.all())


async def test_bulk_export_open_records_and_caseload_reach_each_clients_log(client, db, world,
                                                                           login):
    await _contacts(db, world)
    staff = await login(world.users["alice"])
    a1, a2 = world.clients["a1"].id, world.clients["a2"].id
    response = await staff.get("/api/v1/contact-records?format=json")
    assert response.status == 200
    await response.read()
    assert (await staff.get("/api/v1/open-contact-records")).status == 200
    assert (await staff.get("/caseload")).status == 200
    for client_id in (a1, a2):
        actions = await _client_events(db, client_id)
        assert "contact.export" in actions
        assert "caseload.listed" in actions
    # Bob's client was in none of it.
    assert not await _client_events(db, world.clients["b1"].id)


async def test_open_contact_records_are_audited_per_client(client, db, world, login, settings):
    from server.records import building as records
    from tests.calls import remote_call as booked

    call = await booked(db, settings, world.users["alice"], world.clients["a1"],
                        starts_in=timedelta(days=-1))
    async with db.begin() as s:
        await records.build(s, call.appointment.id)
    staff = await login(world.users["alice"])
    body = await (await staff.get("/api/v1/open-contact-records")).json()
    assert body["items"]
    assert "contact_record.list" in await _client_events(db, world.clients["a1"].id)


# --- 10. the common-password list -----------------------------------------------------------

def test_common_password_list_holds_the_top_3000_and_keyboard_walks_are_refused():
    listed = FREQUENCY_LISTS["passwords"]
    assert len(listed) >= 3000
    # Every listed password long enough to pass the length rule is still refused.
    assert all(password_problems(p) for p in listed if 12 <= len(p) <= 128)
    assert password_problems("qwertyuiopas")
    assert password_problems("password1234")
    assert not password_problems(PASSWORD)


def test_passwords_built_on_the_services_own_words_are_refused():
    """ASVS 5.0 6.1.2 / 6.2.11: the documented context-specific words (SERVICE_WORDS)."""
    for weak in ("Probation2026!", "Rapport-123456", "MySupervision1"):
        assert any("name of the service" in p for p in password_problems(weak)), weak
    # A word of the service inside a long passphrase is no reason to refuse it.
    assert not password_problems("lantern probation orchard quietly")


# --- 11. `audit verify` against a head kept elsewhere ---------------------------------------

async def test_verify_with_an_anchor_catches_a_cut_and_rewritten_head(db, settings):
    await write_entries(db, 6)
    ok = await asyncio.to_thread(rapport_cli, settings.database_url, "audit", "verify")
    assert ok.returncode == 0, ok.stderr
    anchor = ok.stdout.split("--anchor ")[1].split()[0]
    assert anchor.startswith("6:")
    # Cut the last two entries and rewrite the head row to match what is left.
    async with db() as s:
        last = (await s.execute(text("SELECT seq, hash FROM audit_event WHERE seq = 4"))).one()
    await tamper(settings.database_url, "DELETE FROM audit_event WHERE seq > 4",
                 "UPDATE audit_chain_head SET seq = :seq, hash = :hash",
                 seq=last.seq, hash=last.hash)
    plain = await asyncio.to_thread(rapport_cli, settings.database_url, "audit", "verify")
    assert plain.returncode == 0  # as reported: without an anchor it looks intact
    anchored = await asyncio.to_thread(rapport_cli, settings.database_url, "audit", "verify",
                                       "--anchor", anchor)
    assert anchored.returncode == 1
    assert "anchor" in anchored.stderr and "cut off the end" in anchored.stderr
    bad = await asyncio.to_thread(rapport_cli, settings.database_url, "audit", "verify",
                                  "--anchor", "six:nothing")
    assert bad.returncode == 2 and "SEQ:HASH" in bad.stderr
