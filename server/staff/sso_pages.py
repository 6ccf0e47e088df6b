"""Single sign-on routes: `POST /login/sso` sends the browser to the provider,
`GET /login/sso/callback` signs it in (then Rapport's own second factor unless the provider
did multi-factor), and an admin unlinks a person's provider identity."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from server import keys
from server.clock import now
from server.errors import N_, NotFound
from server.forms import form_data
from server.i18n import gettext as _
from server.parsing import path_id
from server.render import render
from server.settings import Settings
from server.staff import sso_links
from server.staff.access import Audience, allow, sensitive
from server.staff.auth import factor_page, session_cookie_name, set_cookie, signed_in, start_session
from server.staff.factor_pages import news_page, safe_next
from server.staff.freshness import needs_factor
from server.staff.keys import IDENTITY
from server.staff.oidc import OIDC, OidcClient, oidc_ctx
from server.staff.sso import WORDING, Reason, SsoError, provider_did_mfa
from server.store import audit
from server.store.models import Role

ROUTES = web.RouteTableDef()


def attempt_cookie_name(settings: Settings) -> str:
    return "__Host-rapport_sso" if settings.secure_cookies else "rapport_sso"


def _client(request: web.Request) -> OidcClient:
    if OIDC not in request.app:
        raise NotFound(N_("Single sign-on is not set up for this Rapport."))
    return request.app[OIDC]


async def _failed(request: web.Request, error: SsoError) -> web.Response:
    """A readable page naming what went wrong; the failure audited in its own transaction."""
    settings = request.app[keys.SETTINGS]
    async with request.app[keys.DB].begin() as db:
        audit.record(db, request, "staff.sso_failure", "user", None, reason=str(error.reason),
                     why=error.detail)
    wording = WORDING[error.reason]
    response = render(request, "sso_error.html", status=wording.status,
                      title=_(wording.title),
                      message=_(wording.message).format(label=settings.sso_label))
    response.del_cookie(attempt_cookie_name(settings), path="/",
                        secure=settings.secure_cookies, httponly=True, samesite="Lax")
    return response


@ROUTES.post("/login/sso", name="sso-start")
@allow(Audience.PUBLIC)
async def sso_start(request: web.Request) -> web.StreamResponse:
    """Send the browser to the provider, with a fresh state, nonce and PKCE verifier."""
    client = _client(request)
    target = safe_next((await form_data(request)).get("next"))
    try:
        provider = await client.provider()
    except SsoError as error:
        return await _failed(request, error)
    async with request.app[keys.DB].begin() as db:
        binding, row = await sso_links.start_attempt(db, target)
    settings = request.app[keys.SETTINGS]
    response = web.HTTPSeeOther(client.authorize_url(provider, row.state, row.nonce,
                                                     row.code_verifier))
    set_cookie(response, settings, attempt_cookie_name(settings), binding,
               max_age=sso_links.ATTEMPT_MINUTES * 60)
    raise response


async def _signed_in(request: web.Request, client: OidcClient) -> tuple[str, str]:
    """Check everything the provider sent back; the session token and where to go next."""
    query = request.query
    settings = request.app[keys.SETTINGS]
    binding = request.cookies.get(attempt_cookie_name(settings))
    if "error" in query:  # e.g. access_denied: the attempt is spent all the same
        with suppress(SsoError):
            async with request.app[keys.DB].begin() as db:
                await sso_links.take_attempt(db, binding)
        raise SsoError(Reason.PROVIDER_ERROR, f"{query['error']}: "
                       f"{query.get('error_description', '')}")
    async with request.app[keys.DB].begin() as db:
        attempt = await sso_links.take_attempt(db, binding)
    if query.get("state") != attempt.state or not query.get("code"):
        raise SsoError(Reason.STATE, "state does not match this browser's sign-in")
    provider = await client.provider()
    if "iss" in query and query["iss"] != provider.issuer:  # RFC 9207: a mixed-up answer
        raise SsoError(Reason.CLAIMS, f"answer from issuer {query['iss'][:100]!r}")
    tokens = await client.exchange(provider, query["code"], attempt.code_verifier)
    claims = await client.verify(provider, tokens, attempt.nonce)
    claims = await client.with_userinfo(provider, tokens, claims)
    return await _start(request, provider.issuer, claims, attempt.next_path)


async def _start(request: web.Request, issuer: str, claims: Mapping[str, Any],
                 target: str) -> tuple[str, str]:
    settings = request.app[keys.SETTINGS]
    mfa = provider_did_mfa(claims.get("amr"), settings.sso_mfa_amr)
    async with request.app[keys.DB].begin() as db:
        user, identity = await sso_links.account_for(db, request, issuer, claims)
        token, row = await start_session(db, user, request)
        row.sso_identity_id = identity.id
        audit.record(db, request, "staff.sso_login", "user", user.id, actor=user,
                     issuer=issuer, amr=claims.get("amr"), provider_mfa=mfa)
        if mfa:  # the provider proved a second factor (docs/security.md, "Single sign-on")
            row.factor_at = now()
            audit.record(db, request, "factor.verify", "user", user.id, actor=user,
                         method="provider")
        target = factor_page(target) if needs_factor(row, user, settings) else news_page(target)
    return token, target


@ROUTES.get("/login/sso/callback", name="sso-callback")
@allow(Audience.PUBLIC)
async def sso_callback(request: web.Request) -> web.StreamResponse:
    """The provider's answer: a session, or a page saying exactly what went wrong."""
    client = _client(request)
    try:
        token, target = await _signed_in(request, client)
    except SsoError as error:
        return await _failed(request, error)
    settings = request.app[keys.SETTINGS]
    response = web.HTTPSeeOther(target)
    set_cookie(response, settings, session_cookie_name(settings), token)
    response.del_cookie(attempt_cookie_name(settings), path="/",
                        secure=settings.secure_cookies, httponly=True, samesite="Lax")
    raise response


@ROUTES.post("/admin/users/{id}/sso/unlink", name="user-sso-unlink")
@allow(Role.ADMIN)
@sensitive("/admin/users")
async def sso_unlink(request: web.Request) -> web.StreamResponse:
    """Forget a person's provider identity (their next single sign-on links again by email)."""
    async with request.app[keys.DB].begin() as db:
        await sso_links.unlink(db, request, signed_in(request), path_id(request))
    raise web.HTTPSeeOther("/admin/users?unlinked=1")


def sso_context(request: web.Request) -> Mapping[str, Any]:
    """What the sign-in page shows of single sign-on: the button, and the password form."""
    settings = request.app[keys.SETTINGS]
    return {"sso_label": settings.sso_label if settings.sso_issuer else "",
            "password_login": settings.password_login}


async def provider_logout_url(request: web.Request) -> str | None:
    """RP-initiated logout at the provider, for a page just signed out of an SSO session."""
    if OIDC not in request.app:
        return None
    client = request.app[OIDC]
    try:
        return client.logout_url(await client.provider())
    except SsoError:
        return None


def signed_in_with_sso(request: web.Request) -> bool:
    identity = request.get(IDENTITY)
    return identity is not None and identity.session is not None \
        and identity.session.sso_identity_id is not None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def provider_form_action(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare`, after the security headers: browsers hold a form's redirects to
    the page's CSP `form-action` too, so the sign-in pages (whose "Sign in with …" form is
    answered by a redirect to the provider) also allow the provider's origins."""
    csp = response.headers.get("Content-Security-Policy")
    if OIDC not in request.app or not request.path.startswith("/login") or not csp \
            or response.content_type != "text/html":
        return
    origins = {_origin(request.app[keys.SETTINGS].sso_issuer)}
    with suppress(SsoError):
        origins.add(_origin((await request.app[OIDC].provider()).authorization_endpoint))
    response.headers["Content-Security-Policy"] = csp.replace(
        "form-action 'self'", "form-action 'self' " + " ".join(sorted(origins)))


def setup(app: web.Application) -> None:
    """Its routes, the provider client's lifetime, the sign-in page's context and CSP."""
    app.router.add_routes(ROUTES)
    app.cleanup_ctx.append(oidc_ctx)
    app[keys.PAGE_CONTEXT].append(sso_context)
    app.on_response_prepare.append(provider_form_action)
