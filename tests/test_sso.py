"""Staff single sign-on against a real OpenID Connect provider (panva's oidc-provider, started
by tests/oidc_provider.py): sign-in, the provider's multi-factor skipping Rapport's factor
step (or not), and every way a sign-in is refused, each with its page and audit entry."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from sqlalchemy import select, update

from server import keys
from server.app import create_app
from server.clock import now
from server.settings import Settings, SettingsError, load_settings
from server.staff import oidc
from server.store.models import AuditEvent, SsoAttempt, SsoIdentity, StaffSession, User
from tests.conftest import make_user, page_csrf, second_factor, sign_in
from tests.oidc_provider import (  # noqa: F401 - oidc_provider is a fixture
    CLIENT_ID,
    CLIENT_SECRET,
    free_port,
    oidc_provider,
    provider_answer,
    userinfo_provider,
)


@pytest.fixture
def settings(settings: Settings, oidc_provider: Any) -> Settings:  # noqa: F811
    return replace(settings, sso_issuer=oidc_provider.issuer, sso_client_id=CLIENT_ID,
                   sso_client_secret=CLIENT_SECRET, sso_label="Test ID").validate()


async def start(client: Any, next_: str = "/account") -> Any:
    csrf = await page_csrf(client, "/login")
    return await client.post("/login/sso", data={"csrf_token": csrf, "next": next_},
                             allow_redirects=False)


async def sso(client: Any, sub: str) -> Any:
    """A whole single sign-on as `sub`: Rapport, the provider, back to Rapport."""
    return await client.get(await provider_answer(await start(client), sub),
                            allow_redirects=False)


async def events(db: Any, action: str) -> list[AuditEvent]:
    async with db() as s:
        return list(await s.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                    .order_by(AuditEvent.id)))


async def refused(client: Any, db: Any, response: Any, status: int, words: str,
                  reason: str) -> None:
    """A readable page with the specific message, no session, the failure audited."""
    text = await response.text()
    assert response.status == status, text[:500]
    assert words in text and "Traceback" not in text
    assert (await client.get("/account", allow_redirects=False)).status == 303
    failures = await events(db, "staff.sso_failure")
    assert failures and failures[-1].detail["reason"] == reason


# --- signing in ---------------------------------------------------------------------------

async def test_the_login_page_offers_the_provider(client, world):
    page = await (await client.get("/login")).text()
    assert "Sign in with Test ID" in page and 'action="/login/sso"' in page
    assert 'name="password"' in page  # passwords stay on unless switched off


async def test_only_the_sign_in_pages_let_forms_lead_to_the_provider(client, world,
                                                                     oidc_provider):  # noqa: F811
    """Chromium holds a form's redirect to `form-action`: the button needs the provider's
    origin there (tests/browser/test_sso.py proves the whole walk)."""
    login = (await client.get("/login")).headers["Content-Security-Policy"]
    assert f"form-action 'self' {oidc_provider.issuer};" in login
    other = (await client.get("/privacy-notice")).headers["Content-Security-Policy"]
    assert "form-action 'self';" in other


async def test_the_request_carries_pkce_state_nonce_and_max_age(client, db, world):
    location = (await start(client)).headers["Location"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    async with db() as s:
        attempt = await s.scalar(select(SsoAttempt))
    assert query["code_challenge_method"] == "S256"
    assert query["code_challenge"] != attempt.code_verifier  # only its SHA-256 travels
    assert (query["state"], query["nonce"]) == (attempt.state, attempt.nonce)
    assert len(attempt.state) >= 43 and len(attempt.nonce) >= 43
    assert query["max_age"] == "43200"  # the provider asks again after 12 hours
    assert query["redirect_uri"] == "http://127.0.0.1:8080/login/sso/callback"


async def test_provider_mfa_signs_in_without_rapports_factor_and_links_by_sub(client, db, world):
    response = await sso(client, "alice-sub")
    assert response.status == 303
    assert response.headers["Location"] == "/login/news?next=/account"  # then where it began
    assert (await client.get("/account", allow_redirects=False)).status == 200
    async with db() as s:
        link = await s.scalar(select(SsoIdentity))
        session = await s.scalar(select(StaffSession).where(StaffSession.revoked_at.is_(None)))
    assert (link.user_id, link.subject, link.email) == \
        (world.users["alice"].id, "alice-sub", "alice@example.test")
    assert session.sso_identity_id == link.id and session.factor_at is not None
    [login] = await events(db, "staff.sso_login")
    assert login.detail["provider_mfa"] is True and login.detail["amr"] == ["pwd", "mfa"]
    assert len(await events(db, "staff.sso_link")) == 1
    # Later sign-ins follow the stable `sub`, even when the email in Rapport changes.
    async with db.begin() as s:
        await s.execute(update(User).where(User.id == world.users["alice"].id)
                        .values(email="alice.new@example.test"))
    client.session.cookie_jar.clear()
    assert (await sso(client, "alice-sub")).status == 303
    me = await (await client.get("/api/v1/me")).json()
    assert me["email"] == "alice.new@example.test"
    assert len(await events(db, "staff.sso_link")) == 1


async def test_without_provider_mfa_rapports_factor_step_follows(client, db, world):
    response = await sso(client, "bob-sub")
    assert response.status == 303 and response.headers["Location"].startswith("/login/factor")
    assert (await client.get("/account", allow_redirects=False)).headers["Location"] \
        .startswith("/login/factor")
    [login] = await events(db, "staff.sso_login")
    assert login.detail["provider_mfa"] is False
    await second_factor(client, "bob@example.test")
    assert (await client.get("/account", allow_redirects=False)).status == 200


async def test_a_hardware_key_counts_and_the_email_matches_whatever_its_case(client, world):
    response = await sso(client, "carol-sub")  # amr ["hwk"], email Carol@Example.test
    assert response.headers["Location"].startswith("/login/news")


async def test_an_email_given_only_at_userinfo_links_too(settings, aiohttp_client, world,
                                                        userinfo_provider):  # noqa: F811
    app = create_app(replace(settings, sso_issuer=userinfo_provider.issuer))
    client = await aiohttp_client(app)
    assert (await sso(client, "alice-sub")).headers["Location"].startswith("/login/news")
    async with app[keys.DB]() as s:
        assert (await s.scalar(select(SsoIdentity.email))) == "alice@example.test"


async def test_a_mfa_sign_in_counts_as_a_full_sign_in_for_the_news(client, db, world):
    assert (await sso(client, "alice-sub")).status == 303
    [verified] = await events(db, "factor.verify")
    assert verified.detail["method"] == "provider"


# --- refusals -----------------------------------------------------------------------------

async def test_a_wrong_state_is_refused(client, db, world):
    answer = await provider_answer(await start(client), "alice-sub")
    query = parse_qs(urlsplit(answer).query)
    query["state"] = ["forged"]
    response = await client.get("/login/sso/callback?" + urlencode(query, doseq=True))
    await refused(client, db, response, 400, "already used, has expired", "state")


async def test_an_answer_naming_another_issuer_is_refused(client, db, world):
    answer = await provider_answer(await start(client), "alice-sub")
    query = parse_qs(urlsplit(answer).query)
    assert query["iss"]  # RFC 9207: the provider names itself in its answer
    query["iss"] = ["https://evil.example"]
    response = await client.get("/login/sso/callback?" + urlencode(query, doseq=True))
    await refused(client, db, response, 401, "not meant for Rapport", "claims")


async def test_a_replayed_callback_and_a_replayed_code_are_refused(client, db, world):
    answer = await provider_answer(await start(client), "bob-sub")
    assert (await client.get(answer, allow_redirects=False)).status == 303
    client.session.cookie_jar.clear()
    again = await client.get(answer, allow_redirects=False)  # the attempt is spent
    await refused(client, db, again, 400, "already used, has expired", "state")
    # The same code with a new attempt's own state: the provider refuses the spent code.
    fresh = parse_qs(urlsplit((await start(client)).headers["Location"]).query)
    code = parse_qs(urlsplit(answer).query)["code"][0]
    response = await client.get("/login/sso/callback?" + urlencode(
        {"code": code, "state": fresh["state"][0]}))
    await refused(client, db, response, 400, "refused the sign-in code", "code_refused")


def _tamper(id_token: str) -> str:
    header, payload, signature = id_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["email"] = "adam@example.test"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


async def test_a_tampered_id_token_is_refused(client, db, world, monkeypatch):
    real = oidc.OidcClient.exchange

    async def tampered(self: Any, *args: Any) -> dict[str, Any]:
        tokens = await real(self, *args)
        return dict(tokens, id_token=_tamper(tokens["id_token"]))

    monkeypatch.setattr(oidc.OidcClient, "exchange", tampered)
    await refused(client, db, await sso(client, "stranger-sub"), 401, "not signed by it",
                  "signature")
    assert await events(db, "staff.sso_link") == []


async def test_a_nonce_of_another_sign_in_is_refused(client, db, world):
    answer = await provider_answer(await start(client), "alice-sub")
    async with db.begin() as s:
        await s.execute(update(SsoAttempt).values(nonce="another-sign-in"))
    await refused(client, db, await client.get(answer), 401, "belongs to another sign-in",
                  "nonce")


async def test_an_expired_id_token_is_refused(client, db, world, monkeypatch):
    answer = await provider_answer(await start(client), "alice-sub")
    monkeypatch.setattr(oidc, "now", lambda: now() + timedelta(hours=3))
    await refused(client, db, await client.get(answer), 401, "has expired", "expired")


async def test_a_provider_sign_in_older_than_max_age_is_refused(client, db, world,
                                                                monkeypatch):
    answer = await provider_answer(await start(client), "alice-sub")
    monkeypatch.setattr(oidc.OidcClient, "max_age", property(lambda self: -120))
    await refused(client, db, await client.get(answer), 401, "has expired", "expired")
    assert (await events(db, "staff.sso_failure"))[-1].detail["why"] == \
        "auth_time older than max_age"


@pytest.mark.parametrize(("sub", "status", "words", "reason"), [
    ("stranger-sub", 403, "Ask an administrator of Rapport to create your account",
     "unknown_person"),
    ("unverified-sub", 403, "does not say that your email address is verified",
     "email_unverified"),
    ("gone-sub", 403, "Your Rapport account is deactivated", "disabled"),
])
async def test_people_rapport_cannot_sign_in_are_told_why(client, db, world, sub, status,
                                                          words, reason):
    async with db.begin() as s:
        await make_user(s, world.org, None, "gone", set(), active=False)
    await refused(client, db, await sso(client, sub), status, words, reason)
    assert await events(db, "staff.sso_link") == []


async def test_a_linked_account_deactivated_later_is_refused(client, db, world):
    assert (await sso(client, "alice-sub")).status == 303
    async with db.begin() as s:
        await s.execute(update(User).where(User.id == world.users["alice"].id)
                        .values(active=False))
    client.session.cookie_jar.clear()
    await refused(client, db, await sso(client, "alice-sub"), 403, "deactivated", "disabled")


async def test_without_single_sign_on_its_routes_are_not_found(settings, aiohttp_client, world):
    client = await aiohttp_client(create_app(replace(settings, sso_issuer="")))
    page = await (await client.get("/login")).text()
    assert "/login/sso" not in page
    csrf = await page_csrf(client, "/login")
    response = await client.post("/login/sso", data={"csrf_token": csrf})
    assert response.status == 404 and "not set up" in await response.text()
    assert (await client.get("/login/sso/callback?code=x&state=y")).status == 404


async def test_an_account_linked_to_another_identity_is_not_taken_over(client, db, world):
    assert (await sso(client, "alice-sub")).status == 303
    client.session.cookie_jar.clear()
    response = await sso(client, "alice-again-sub")  # same email, another person's `sub`
    await refused(client, db, response, 403, "already linked to another", "linked_elsewhere")


async def test_an_unreachable_provider_gives_a_readable_page(settings, aiohttp_client, world):
    app = create_app(replace(settings, sso_issuer=f"http://127.0.0.1:{free_port()}"))
    client = await aiohttp_client(app)
    await refused(client, app[keys.DB], await start(client), 503, "could not reach Test ID",
                  "provider_unreachable")


async def test_the_provider_saying_no_is_a_readable_page(client, db, world):
    await start(client)
    response = await client.get("/login/sso/callback?error=access_denied&state=x")
    await refused(client, db, response, 502, "Test ID did not sign you in", "provider_error")
    async with db() as s:
        assert await s.scalar(select(SsoAttempt)) is None  # the attempt is spent
    welsh = await client.get("/login/sso/callback?error=access_denied&lang=cy")
    assert "Ni wnaeth Test ID eich mewngofnodi" in await welsh.text()


# --- signing out, unlinking, settings -------------------------------------------------------

async def test_signing_out_offers_the_providers_logout(client, world):
    await sso(client, "alice-sub")
    csrf = await page_csrf(client, "/account")
    out = await client.post("/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert out.headers["Location"] == "/login?signed_out=sso"
    page = await (await client.get(out.headers["Location"])).text()
    assert "Sign out of Test ID too" in page and "/session/end?client_id=rapport" in page
    assert (await client.get("/account", allow_redirects=False)).status == 303


async def test_an_admin_sees_and_unlinks_an_identity(client, db, world):
    await sso(client, "alice-sub")
    alice_browser = dict(client.session.cookie_jar.filter_cookies(client.make_url("/")))
    admin = await sign_in(client, world.users["adam"])
    page = await (await admin.get("/admin/users")).text()
    assert "Single sign-on: alice@example.test at http://127.0.0.1" in page
    response = await admin.post_form(f"/admin/users/{world.users['alice'].id}/sso/unlink")
    assert response.status == 303
    async with db() as s:
        assert await s.scalar(select(SsoIdentity)) is None
        revoked = await s.scalar(select(StaffSession.revoked_at).where(
            StaffSession.user_id == world.users["alice"].id))
    assert revoked is not None and alice_browser  # the session it signed in is over
    [unlink] = await events(db, "staff.sso_unlink")
    assert unlink.target_id == str(world.users["alice"].id) and unlink.detail["identities"] == 1


async def test_password_sign_in_can_be_switched_off(settings, aiohttp_client, world):
    client = await aiohttp_client(create_app(replace(settings, password_login=False)))
    page = await (await client.get("/login")).text()
    assert "Sign in with Test ID" in page and 'name="password"' not in page
    csrf = await page_csrf(client, "/login")
    response = await client.post("/login", data={"email": "alice@example.test",
                                                 "password": "x", "csrf_token": csrf})
    assert response.status == 403 and "Password sign-in is switched off" in await response.text()


@pytest.mark.parametrize(("env", "named"), [
    ({"RAPPORT_SSO_ISSUER": "ftp://id.example"}, "RAPPORT_SSO_ISSUER"),
    ({"RAPPORT_SSO_ISSUER": "http://id.example"}, "RAPPORT_SSO_ISSUER"),  # not https
    ({"RAPPORT_SSO_ISSUER": "https://id.example"}, "RAPPORT_SSO_CLIENT_ID"),
    ({"RAPPORT_SSO_ISSUER": "https://id.example", "RAPPORT_SSO_CLIENT_ID": "r"},
     "RAPPORT_SSO_CLIENT_SECRET"),
    ({"RAPPORT_SSO_ISSUER": "https://id.example", "RAPPORT_SSO_CLIENT_ID": "r",
      "RAPPORT_SSO_CLIENT_SECRET": "s"}, "RAPPORT_SSO_LABEL"),
    ({"RAPPORT_SSO_MFA_AMR": "mfa,2fa"}, "RAPPORT_SSO_MFA_AMR"),
    ({"RAPPORT_PASSWORD_LOGIN": "false"}, "RAPPORT_PASSWORD_LOGIN"),
])
def test_a_bad_sso_setting_stops_start_up_naming_it(env, named):
    with pytest.raises(SettingsError, match=named) as caught:
        load_settings(env)
    assert "s3cret" not in str(caught.value)
