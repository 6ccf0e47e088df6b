"""The passkey ceremonies as JSON for `web/static/passkeys.js`: register one (at first
sign-in, or from one's account) and prove one after the password."""

from __future__ import annotations

from aiohttp import web

from server import keys
from server.errors import N_, AppError, Forbidden
from server.parsing import json_body
from server.staff import factors, passkeys, recovery
from server.staff.access import Audience, allow
from server.staff.factor_pages import news_page, safe_next, session_of
from server.staff.freshness import is_recent, needs_factor
from server.staff.schemas import PasskeyIn
from server.store import audit

ROUTES = web.RouteTableDef()


def _json(text: str) -> web.Response:
    return web.Response(text=text, content_type="application/json")


async def _may_register(request: web.Request) -> None:
    """Half signed in, only a person with no factor yet may add one (enrolment); otherwise
    adding a passkey is a sensitive act of a session whose factor is recent."""
    identity = session_of(request)
    settings = request.app[keys.SETTINGS]
    assert identity.session is not None
    if needs_factor(identity.session, identity.user, settings):
        async with request.app[keys.DB]() as db:
            if (await factors.factors_of(db, identity.user.id)).any:
                raise Forbidden(N_("Prove your second factor before adding a passkey."))
    elif not is_recent(identity.session, settings):
        raise Forbidden(N_("Confirm your second factor again before adding a passkey."))


@ROUTES.post("/login/passkey/register/options", name="passkey-register-options")
@allow(Audience.SIGNING_IN)
async def register_options(request: web.Request) -> web.Response:
    await _may_register(request)
    identity = session_of(request)
    assert identity.session is not None
    async with request.app[keys.DB].begin() as db:
        text = await passkeys.registration_options(db, identity.user, identity.session.id,
                                                   request.app[keys.SETTINGS])
    return _json(text)


@ROUTES.post("/login/passkey/register", name="passkey-register")
@allow(Audience.SIGNING_IN)
async def register(request: web.Request) -> web.Response:
    """Keep the new passkey; the first factor of an account also gets its recovery codes."""
    await _may_register(request)
    identity = session_of(request)
    assert identity.session is not None
    data = await json_body(request, PasskeyIn)
    async with request.app[keys.DB].begin() as db:
        first = (await factors.factors_of(db, identity.user.id)).recovery_left == 0
        await passkeys.register(db, request, identity.user, identity.session.id,
                                data.credential, data.name, request.app[keys.SETTINGS])
        codes = await recovery.replace_codes(db, identity.user.id) if first else []
    return web.json_response({"next": safe_next(data.next), "codes": codes}, status=201)


@ROUTES.post("/login/passkey/options", name="passkey-options")
@allow(Audience.SIGNING_IN)
async def sign_in_options(request: web.Request) -> web.Response:
    identity = session_of(request)
    assert identity.session is not None
    async with request.app[keys.DB].begin() as db:
        text = await passkeys.authentication_options(db, identity.user, identity.session.id,
                                                     request.app[keys.SETTINGS])
    return _json(text)


@ROUTES.post("/login/passkey", name="passkey-verify")
@allow(Audience.SIGNING_IN)
async def sign_in(request: web.Request) -> web.Response:
    """A passkey as the second factor of this session."""
    identity = session_of(request)
    assert identity.session is not None
    data = await json_body(request, PasskeyIn)
    try:
        async with request.app[keys.DB].begin() as db:
            await passkeys.authenticate(db, request, identity.user, identity.session.id,
                                        data.credential, request.app[keys.SETTINGS])
    except AppError:
        async with request.app[keys.DB].begin() as db:  # the refusal outlives the rollback
            audit.record(db, request, "factor.failure", "user", identity.user.id,
                         method="passkey")
        raise
    target = safe_next(data.next)
    return web.json_response({"next": target if data.again else news_page(target)})


def setup(app: web.Application) -> None:
    """Its routes, declared on each handler above."""
    app.router.add_routes(ROUTES)
