"""Every route has an access rule, and the rule is enforced: the every-route authorisation test.

Routes are enumerated from the real application (`app.router.routes()`), so a route added
later is checked without anyone remembering to list it; `EXPECTED` below must still be
updated by hand, which forces a conscious decision about who may call a new route.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from yarl import URL

from server import keys
from server.app import create_app
from server.casework.policy_versions import digest, shipped_source
from server.clock import now
from server.records import building as records
from server.staff import access
from server.staff.access import Audience, Rule, allow, permits, routes_without_rules, rule_for
from server.staff.tokens import new_token, token_hash
from server.store.models import ApiToken, Appointment, AppointmentKind, PolicyVersion, Role
from tests.conftest import PASSWORD, page_csrf
from tests.recording import RECORDING_FILE, sealed_recording

P, S, A, D = Role.PRACTITIONER, Role.SUPERVISOR, Role.ADMIN, Role.DPO
PUBLIC: Rule = frozenset({Audience.PUBLIC})
STAFF: Rule = frozenset({Audience.STAFF})
SIGNING_IN: Rule = frozenset({Audience.SIGNING_IN})
STAFF_OR_SIGNING_IN: Rule = frozenset({Audience.STAFF, Audience.SIGNING_IN})
PRACTICE: Rule = frozenset({P, S})
PRACTITIONER: Rule = frozenset({P})
SUPERVISOR: Rule = frozenset({S})
ADMIN: Rule = frozenset({A})
POLICY_READERS: Rule = frozenset({A, S})
DPO: Rule = frozenset({D})
ADMIN_OR_DPO: Rule = frozenset({A, D})

ROLE_REFUSED = "Your role does not allow this."
SIGN_IN_FIRST = "Sign in first, or send a valid API token."

# (methods, canonical path, who may call it). "GET HEAD": aiohttp's add_get also answers HEAD.
EXPECTED_TABLE: list[tuple[str, str, Rule]] = [
    # --- operations and static files
    ("GET HEAD", "/healthz", PUBLIC),
    ("GET HEAD", "/readyz", PUBLIC),
    ("GET HEAD", "/metrics", PUBLIC),  # a token, or this machine only (tests/test_metrics.py)
    ("GET HEAD", "/static", PUBLIC),
    # --- signing in and out
    ("GET HEAD", "/", PUBLIC),
    ("GET HEAD", "/login", PUBLIC),
    ("POST", "/login", PUBLIC),
    ("POST", "/logout", STAFF_OR_SIGNING_IN),  # a half-done sign-in may be abandoned
    ("POST", "/logout/everywhere", STAFF_OR_SIGNING_IN),  # but then only this session ends
    # --- the second factor: reached after the password, before it is proved
    ("GET HEAD", "/login/factor", SIGNING_IN),
    ("POST", "/login/factor", SIGNING_IN),
    ("POST", "/login/factor/enrol", SIGNING_IN),
    ("GET HEAD", "/login/news", SIGNING_IN),
    ("POST", "/login/passkey/register/options", SIGNING_IN),
    ("POST", "/login/passkey/register", SIGNING_IN),
    ("POST", "/login/passkey/options", SIGNING_IN),
    ("POST", "/login/passkey", SIGNING_IN),  # sends a half-signed-in session to its factor
    # --- single sign-on (404 when not configured; tests/test_sso.py for the provider)
    ("POST", "/login/sso", PUBLIC),
    ("GET HEAD", "/login/sso/callback", PUBLIC),
    # --- caseload pages
    ("GET HEAD", "/caseload", PRACTICE),
    ("GET HEAD", "/diary", PRACTICE),
    ("GET HEAD", "/diary/waiting", PRACTICE),
    ("GET HEAD", "/clients/{id}", PRACTICE),
    ("GET HEAD", "/clients/{id}/contacts/new", PRACTITIONER),
    ("POST", "/clients/{id}/contacts", PRACTITIONER),
    ("GET HEAD", "/clients/{id}/appointments/new", PRACTITIONER),
    ("POST", "/clients/{id}/appointments", PRACTITIONER),
    ("POST", "/appointments/{id}/cancel", PRACTITIONER),
    ("GET HEAD", "/appointments/{id}/move", PRACTITIONER),
    ("POST", "/appointments/{id}/move", PRACTITIONER),
    ("GET HEAD", "/team", SUPERVISOR),
    # --- administration pages
    ("GET HEAD", "/admin/users", ADMIN),
    ("GET HEAD", "/admin/users/new", ADMIN),
    ("POST", "/admin/users", ADMIN),
    ("POST", "/admin/users/{id}/deactivate", ADMIN),
    ("POST", "/admin/users/{id}/reactivate", ADMIN),
    ("POST", "/admin/users/{id}/factors/reset", ADMIN),
    ("POST", "/admin/users/{id}/sso/unlink", ADMIN),
    ("GET HEAD", "/admin/policy", POLICY_READERS),
    ("GET HEAD", "/admin/policy/edit", ADMIN),
    ("POST", "/admin/policy", ADMIN),
    ("GET HEAD", "/admin/policy/versions/{id}", POLICY_READERS),
    ("POST", "/admin/policy/versions/{id}/restore", ADMIN),
    # --- own account pages
    ("GET HEAD", "/account", STAFF),
    ("POST", "/account/tokens", STAFF),
    ("POST", "/account/tokens/{id}/revoke", STAFF),
    ("POST", "/account/sessions/{id}/end", STAFF),
    ("POST", "/account/password", STAFF),
    # --- the client's side
    ("GET HEAD", "/appointments/{id}/call", PRACTITIONER),
    ("POST", "/clients/{id}/approvals", PRACTITIONER),
    ("GET HEAD", "/approvals", SUPERVISOR),
    ("POST", "/approvals/{id}/decide", SUPERVISOR),
    ("GET HEAD", "/join/{token}", PUBLIC),
    ("POST", "/join/{token}", PUBLIC),
    ("GET HEAD", "/join", PUBLIC),
    # The pre-call check identifies its caller itself (participant cookie or staff session).
    ("POST", "/precall/echo", PUBLIC),
    ("POST", "/precall/result", PUBLIC),
    ("POST", "/precall/failure", PUBLIC),
    # "Test my device": no link, no account, nothing stored.
    ("GET HEAD", "/device-test", PUBLIC),
    ("POST", "/device-test/echo", PUBLIC),
    # The WebSocket identifies its caller itself (participant cookie or staff session).
    ("GET HEAD", "/signal", PUBLIC),
    # --- API: account and meta
    ("GET", "/api/v1/me", STAFF),
    ("GET", "/api/v1/tokens", STAFF),
    ("POST", "/api/v1/tokens", STAFF),
    ("POST", "/api/v1/tokens/{id}/revoke", STAFF),
    ("POST", "/api/v1/appointments/{id}/invitations", PRACTITIONER),
    ("POST", "/api/v1/invitations/{id}/revoke", PRACTITIONER),
    ("GET", "/api/v1/openapi.json", PUBLIC),
    # --- API: caseload
    ("GET", "/api/v1/clients", PRACTICE),
    ("GET", "/api/v1/clients/{id}", PRACTICE),
    ("GET", "/api/v1/clients/{id}/contacts", PRACTICE),
    ("POST", "/api/v1/clients/{id}/contacts", PRACTITIONER),
    ("GET", "/api/v1/clients/{id}/appointments", PRACTICE),
    ("POST", "/api/v1/clients/{id}/appointments", PRACTITIONER),
    ("POST", "/api/v1/appointments/{id}/cancel", PRACTITIONER),
    ("GET", "/api/v1/team", SUPERVISOR),
    # --- API: administration
    ("GET", "/api/v1/users", ADMIN),
    ("POST", "/api/v1/users", ADMIN),
    ("POST", "/api/v1/users/{id}/deactivate", ADMIN),
    ("POST", "/api/v1/users/{id}/reactivate", ADMIN),
    # --- API: the organisation's policy
    ("GET", "/api/v1/policy", POLICY_READERS),
    ("GET", "/api/v1/policy/versions", POLICY_READERS),
    ("GET", "/api/v1/policy/versions/{id}", POLICY_READERS),
    ("POST", "/api/v1/policy", ADMIN),
    ("POST", "/api/v1/policy/check", ADMIN),
    # --- data protection (the data protection officer; the notice is for everyone)
    ("GET HEAD", "/privacy", DPO),
    ("GET HEAD", "/privacy/clients/{id}", DPO),
    ("GET HEAD", "/privacy/clients/{id}/export.json", DPO),
    ("GET HEAD", "/privacy/clients/{id}/export.html", DPO),
    ("GET HEAD", "/privacy-notice", PUBLIC),
    ("GET HEAD", "/privacy/retention", ADMIN_OR_DPO),
    ("POST", "/privacy/retention", ADMIN_OR_DPO),
    ("GET", "/api/v1/clients/{id}/access-log", DPO),
    ("GET", "/api/v1/clients/{id}/subject-access", DPO),
    # Anyone signed in who tries to change the audit log is refused, and the try is logged.
    ("DELETE", "/api/v1/audit/{id}", STAFF),
    ("PATCH", "/api/v1/audit/{id}", STAFF),
    # --- contact records (pages and API)
    ("GET HEAD", "/contacts/{id}", PRACTICE),
    ("POST", "/contacts/{id}", PRACTITIONER),
    ("GET HEAD", "/appointments/{id}/record", PRACTICE),
    ("GET HEAD", "/exports", PRACTICE),
    ("GET HEAD", "/exports/contact-records", PRACTICE),
    ("GET HEAD", "/dashboard", SUPERVISOR),
    ("GET", "/api/v1/contact-records", PRACTICE),
    ("GET", "/api/v1/open-contact-records", PRACTITIONER),
    ("GET", "/api/v1/appointments/{id}/contact-record", PRACTICE),
    ("GET", "/api/v1/contact-records/{id}", PRACTICE),
    ("PUT", "/api/v1/contacts/{id}", PRACTITIONER),
    ("GET", "/api/v1/contacts/{id}/history", PRACTICE),
    ("GET", "/api/v1/dashboard", SUPERVISOR),
    # --- API: recordings (scoped further to the session's practitioner and their supervisor)
    ("GET HEAD", "/recordings/{id}", PRACTICE),
    ("GET", "/api/v1/recordings/{id}", PRACTICE),
    ("GET", "/api/v1/recordings/{id}/download", PRACTICE),
    ("GET HEAD", "/recordings/{id}/play", PRACTICE),
    ("GET", "/api/v1/recordings/{id}/media", PRACTICE),
    # --- messages (issue 15): contact details, moving, the outbox, reminders, the webhook
    ("GET HEAD", "/clients/{id}/contact-details", PRACTITIONER),
    ("POST", "/clients/{id}/contact-details", PRACTITIONER),
    ("PUT", "/api/v1/clients/{id}/contact-details", PRACTITIONER),
    ("PUT", "/api/v1/appointments/{id}/starts-at", PRACTITIONER),
    ("GET HEAD", "/admin/messages", ADMIN),
    ("POST", "/admin/messages/reminders", ADMIN),
    ("POST", "/admin/messages/webhook", ADMIN),
    ("POST", "/admin/messages/webhook/rotate", ADMIN),
    ("POST", "/admin/messages/webhook/remove", ADMIN),
    ("POST", "/admin/messages/{id}/retry", ADMIN),
    ("GET", "/api/v1/outbox", ADMIN),
    ("POST", "/api/v1/outbox/{id}/retry", ADMIN),
    ("GET", "/api/v1/organisation/reminders", ADMIN),
    ("PUT", "/api/v1/organisation/reminders", ADMIN),
    ("GET", "/api/v1/webhook", ADMIN),
    ("PUT", "/api/v1/webhook", ADMIN),
    ("POST", "/api/v1/webhook/rotate-secret", ADMIN),
    ("DELETE", "/api/v1/webhook", ADMIN),
]
EXPECTED: dict[tuple[str, str], Rule] = {
    (method, path): rule
    for methods, path, rule in EXPECTED_TABLE
    for method in methods.split()
}

# Seeded people, by the roles they hold (see tests/conftest.py).
ROLES: dict[str, frozenset[Role]] = {
    "alice": frozenset({P}), "bob": frozenset({P}), "carol": frozenset({P}),
    "sue": frozenset({S}), "adam": frozenset({A}), "dana": frozenset({A, P}),
    "olive": frozenset({D}),
}


# --- helpers ------------------------------------------------------------------------------

@dataclass
class Call:
    method: str
    canonical: str
    path: str
    rule: Rule

    @property
    def api(self) -> bool:
        return self.path.startswith("/api/")

    def __str__(self) -> str:
        return f"{self.method} {self.canonical}"


@pytest.fixture
async def ids(world: Any, db: Any, app: web.Application) -> dict[str, int]:
    """Real objects for every kind of {id} in a path: alice's client, appointment, token."""
    async with db.begin() as s:
        appointment = Appointment(
            client_id=world.clients["a1"].id, practitioner_id=world.users["alice"].id,
            kind=AppointmentKind.REMOTE, starts_at=now() + timedelta(days=3),
            duration_minutes=30, created_at=now())
        token = ApiToken(token_hash=token_hash(new_token()), user_id=world.users["alice"].id,
                         name="laptop", created_at=now(), expires_at=now() + timedelta(days=30))
        source = shipped_source().replace('version = "', 'version = "access-', 1)
        version = PolicyVersion(organisation_id=world.users["adam"].organisation_id,
                                label="access", source=source, sha256=digest(source),
                                note="for the access test", created_at=now())
        s.add_all([appointment, token, version])
        await s.flush()
        record = await records.build(s, appointment.id)
        recording = await sealed_recording(s, app, appointment)
        return {"client": world.clients["a1"].id, "appointment": appointment.id,
                "token": token.id, "user": world.users["bob"].id, "policy": version.id,
                "contact": record.contact_id, "record": record.id, "recording": recording}


def fill(canonical: str, ids: dict[str, int]) -> str:
    """A concrete address for a route's canonical path."""
    if canonical == "/static":
        return "/static/rapport.css"
    if "{token}" in canonical:
        return canonical.replace("{token}", secrets.token_urlsafe(24))
    if "{id}" not in canonical:
        return canonical
    if canonical.endswith(("/recordings/{id}/download", "/recordings/{id}/play")):
        return canonical.replace("{id}", str(ids["recording"])) + f"?file={RECORDING_FILE}"
    if canonical.endswith("/recordings/{id}/media"):
        return canonical.replace("{id}", str(ids["recording"])) \
            + f"?file={RECORDING_FILE}&viewing={'v' * 16}"
    for marker, kind in [("/contact-records/", "record"), ("/contacts/", "contact"),
                         ("/clients/", "client"), ("/appointments/", "appointment"),
                         ("/users/", "user"), ("/tokens/", "token"),
                         ("/policy/versions/", "policy"), ("/recordings/", "recording")]:
        if marker in canonical:
            return canonical.replace("{id}", str(ids[kind]))
    return canonical.replace("{id}", "1")


def calls(app: web.Application, ids: dict[str, int]) -> list[Call]:
    """Every route of the running app, as a request to make."""
    found = []
    for route in app.router.routes():
        rule = rule_for(route)
        assert rule is not None, f"{route.method} {route.resource} has no access rule"
        assert route.resource is not None
        canonical = route.resource.canonical
        found.append(Call(route.method, canonical, fill(canonical, ids), rule))
    assert len(found) == len(EXPECTED)
    return found


async def send(client: TestClient, call: Call, csrf: str) -> tuple[int, dict[str, str], str]:
    """Make the call with a CSRF token (so a refusal is never just a missing token)."""
    if call.method in ("POST", "PUT") and call.api:
        response = await client.request(call.method, call.path, json={},
                                        headers={"X-CSRF-Token": csrf}, allow_redirects=False)
    elif call.method == "POST":
        response = await client.post(call.path, data={"csrf_token": csrf},
                                     allow_redirects=False)
    else:
        response = await client.request(call.method, call.path, allow_redirects=False)
    body = (await response.read()).decode("utf-8", "replace")  # a download may be binary
    return response.status, dict(response.headers), body


def is_problem(headers: dict[str, str]) -> bool:
    return headers.get("Content-Type", "").split(";")[0] == "application/problem+json"


# --- the table of rules ---------------------------------------------------------------------

def test_every_route_has_a_rule(app):
    assert routes_without_rules(app) == []


def test_rules_match_the_expected_table(app):
    actual = {(route.method, route.resource.canonical): rule_for(route)
              for route in app.router.routes() if route.resource is not None}
    missing = sorted(set(EXPECTED) - set(actual))
    unlisted = sorted(set(actual) - set(EXPECTED))
    assert not unlisted, f"new routes: add them to EXPECTED_TABLE with their rule: {unlisted}"
    assert not missing, f"routes in EXPECTED_TABLE the app no longer has: {missing}"
    changed = {key: (EXPECTED[key], actual[key]) for key in EXPECTED
               if EXPECTED[key] != actual[key]}
    assert changed == {}, "rules changed (expected, actual)"


def test_every_role_rule_has_a_seeded_person_it_refuses():
    """So the wrong-role test below really exercises every route that names roles."""
    for (method, path), rule in EXPECTED.items():
        if Audience.PUBLIC in rule or Audience.STAFF in rule or Audience.SIGNING_IN in rule:
            continue
        assert any(not permits(rule, roles) for roles in ROLES.values()), (method, path)


@pytest.mark.parametrize(("rule", "roles", "allowed"), [
    # --- public routes: anyone, signed in or not
    (PUBLIC, None, True),
    (PUBLIC, frozenset({A}), True),
    # --- staff routes: anyone signed in, whatever the role, even with no roles
    (STAFF, None, False),
    (STAFF, frozenset(), True),
    (STAFF, frozenset({S}), True),
    # --- role routes: at least one role in common
    (PRACTICE, None, False),
    (PRACTICE, frozenset({S}), True),
    (PRACTICE, frozenset({A}), False),
    (PRACTITIONER, frozenset({A, P}), True),
    (SUPERVISOR, frozenset({A, P}), False),
    (ADMIN, frozenset(), False),
])
def test_permits(rule, roles, allowed):
    assert permits(rule, roles) is allowed


def test_allow_needs_someone():
    with pytest.raises(ValueError, match="at least one"):
        allow()


# --- start-up refuses a route without a rule -------------------------------------------------

async def _unmarked(request: web.Request) -> web.Response:
    return web.Response(text="should never be served")


async def test_start_up_fails_for_a_route_without_a_rule(settings, aiohttp_client):
    app = create_app(settings)
    app.router.add_get("/x", _unmarked)
    assert routes_without_rules(app) == ["HEAD /x", "GET /x"]
    with pytest.raises(RuntimeError, match=r"routes without an access rule.*GET /x"):
        await aiohttp_client(app)


async def test_a_route_without_a_rule_is_closed_even_if_the_check_is_skipped(
        settings, aiohttp_client, world):
    """Defence in depth: the middleware refuses an unmarked route on its own."""
    app = create_app(settings)
    app.on_startup.clear()
    app.router.add_get("/x", _unmarked)
    client = await aiohttp_client(app)
    response = await client.get("/x", allow_redirects=False)
    assert response.status == 403
    assert "should never be served" not in await response.text()
    response = await client.get("/x", headers={"Accept": "application/json"})
    assert response.status == 403
    assert "no access rule" in (await response.json())["detail"]


def test_access_module_marks_static_files_public(app):
    static = [r for r in app.router.routes() if r.resource is not None
              and r.resource.canonical == "/static"]
    assert static and all(access.rule_for(r) == PUBLIC for r in static)


# --- anonymous callers ------------------------------------------------------------------------

async def test_anonymous_caller_is_refused_everywhere_but_public_routes(client, app, ids):
    csrf = await page_csrf(client, "/login")  # a real pre-session token, for public POSTs
    problems: list[str] = []
    for call in calls(app, ids):
        status, headers, body = await send(client, call, csrf)
        if status >= 500:
            problems.append(f"{call}: {status}")
        elif Audience.PUBLIC in call.rule:
            refused = (status == 401 and SIGN_IN_FIRST in body) or \
                (status == 303 and headers.get("Location", "").startswith("/login?next="))
            if refused:
                problems.append(f"{call}: public route refused an anonymous caller ({status})")
        elif call.api:
            if status != 401 or not is_problem(headers):
                problems.append(f"{call}: expected 401 problem JSON, got {status}")
            elif SIGN_IN_FIRST not in body or "Bearer" not in headers.get("WWW-Authenticate", ""):
                problems.append(f"{call}: 401 without detail or WWW-Authenticate")
        elif call.method == "GET":
            if status != 303 or _next(headers.get("Location", "")) != call.path:
                problems.append(f"{call}: expected 303 to /login?next=, got {status} "
                                f"{headers.get('Location')}")
        elif call.method == "HEAD":
            # HEAD mirrors GET in spirit; today it is refused with 401 rather than redirected.
            if status not in (303, 401):
                problems.append(f"{call}: HEAD not refused ({status})")
        elif status not in (401, 403) or SIGN_IN_FIRST not in body:
            problems.append(f"{call}: expected 401 'sign in first' page, got {status}")
    assert problems == []


async def test_anonymous_refusal_keeps_the_query_in_next(client, world):
    client_id = world.clients["a1"].id
    response = await client.get(f"/clients/{client_id}?created=contact", allow_redirects=False)
    assert response.status == 303
    assert _next(response.headers["Location"]) == f"/clients/{client_id}?created=contact"


# --- signed-in callers with the wrong role ----------------------------------------------------

@pytest.mark.parametrize("name", [
    "alice",  # practitioner: refused supervisor and admin routes
    "sue",  # supervisor: refused practitioner-only and admin routes
    "adam",  # admin with no team: refused every caseload route
    "dana",  # admin and practitioner: refused supervisor routes only
    "olive",  # data protection officer: refused everything but data protection routes
])
async def test_wrong_role_gets_403_everywhere(client, app, ids, world, login, name):
    staff = await login(world.users[name])
    roles = ROLES[name]
    problems: list[str] = []
    refused = 0
    for call in calls(app, ids):
        if permits(call.rule, roles):
            continue
        refused += 1
        status, headers, body = await send(client, call, staff.csrf)
        if status != 403:
            problems.append(f"{call}: expected 403, got {status}")
        elif call.method == "HEAD":
            continue
        elif call.api and not is_problem(headers):
            problems.append(f"{call}: 403 is not problem JSON")
        elif ROLE_REFUSED not in body:
            problems.append(f"{call}: 403 for another reason: {body[:200]}")
    assert problems == []
    assert refused > 0
    # Still signed in: the refusals did not end the session.
    assert (await staff.get("/api/v1/me")).status == 200


# Who exercises a route they are allowed to call, by rule.
PERMITTED_CALLER: dict[Rule, str] = {
    STAFF: "alice", STAFF_OR_SIGNING_IN: "alice", SIGNING_IN: "alice",
    PRACTICE: "alice", PRACTITIONER: "alice", SUPERVISOR: "sue", ADMIN: "adam",
    POLICY_READERS: "adam",
    DPO: "olive", ADMIN_OR_DPO: "adam",
}


@pytest.mark.parametrize("name", sorted(set(PERMITTED_CALLER.values())))
async def test_permitted_caller_can_read_every_page_and_api_it_may(client, app, ids, world,
                                                                   login, name):
    """The other side of the coin: rules are not so tight that the right person is refused."""
    staff = await login(world.users[name])
    problems: list[str] = []
    for call in calls(app, ids):
        if call.method not in ("GET", "HEAD") or Audience.PUBLIC in call.rule:
            continue
        if call.rule == SIGNING_IN:
            continue  # the second-factor page sends a fully signed-in person on (303)
        if PERMITTED_CALLER[call.rule] != name:
            continue
        status, _headers, _body = await send(client, call, staff.csrf)
        if status != 200:
            problems.append(f"{call}: expected 200, got {status}")
    assert problems == []


# --- a password alone reaches nothing ----------------------------------------------------

FINISH_SIGNING_IN = "Finish signing in first: prove your second factor."


@pytest.mark.parametrize("name", ["alice", "sue", "dana", "olive"])
async def test_no_staff_route_is_reachable_with_a_password_alone(client, app, ids, world, name):
    """The second factor is required (the default): a session past its password only is
    sent to prove it from every route but the second-factor pages and public ones."""
    assert app[keys.SETTINGS].second_factor_required
    csrf = await page_csrf(client, "/login")
    response = await client.post("/login", data={"email": world.users[name].email,
                                                 "password": PASSWORD, "csrf_token": csrf},
                                 allow_redirects=False)
    assert response.status == 303
    session = await page_csrf(client, "/login/factor")  # the half-done session's own token
    problems: list[str] = []
    for call in calls(app, ids):
        if Audience.PUBLIC in call.rule or Audience.SIGNING_IN in call.rule:
            continue
        status, headers, body = await send(client, call, session)
        location = headers.get("Location", "")
        if call.method in ("GET", "HEAD") and not call.api:
            if status != 303 or not location.startswith("/login/factor?next="):
                problems.append(f"{call}: expected 303 to the second factor, got {status}")
        elif status != 401 or (call.method != "HEAD" and FINISH_SIGNING_IN not in body):
            problems.append(f"{call}: expected 401 'finish signing in', got {status}")
    assert problems == []
    # public pages treat the half-signed-in caller as nobody in particular
    home = await client.get("/", allow_redirects=False)
    assert home.headers["Location"] == "/login"


def _next(location: str) -> str | None:
    """Where the login page will send the person back to (decoded)."""
    url = URL(location)
    return url.query.get("next") if url.path == "/login" else None
