"""The second-factor pages: enrolling an authenticator app at first sign-in, proving a factor
(app code, recovery code or passkey), asking again before sensitive acts, an admin's reset."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from server import keys
from server.errors import N_, Unauthenticated
from server.forms import form_data
from server.i18n import gettext as _
from server.parsing import path_id
from server.render import render
from server.staff import factors, news, totp
from server.staff.access import Audience, allow, sensitive
from server.staff.auth import factor_page as factor_address
from server.staff.auth import signed_in
from server.staff.freshness import is_recent, needs_factor
from server.staff.identity import Identity
from server.staff.keys import IDENTITY
from server.store.models import Role

ROUTES = web.RouteTableDef()


def safe_next(target: str | None) -> str:
    """Only local paths are followed after signing in."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def session_of(request: web.Request) -> Identity:
    identity = request[IDENTITY]
    if identity is None or identity.session is None:
        raise Unauthenticated(N_("A second factor is proved in a browser session, "
                                 "not with an API token."))
    return identity


async def _enrol_page(request: web.Request, target: str, error: str | None = None,
                      status: int = 200) -> web.Response:
    user = signed_in(request)
    async with request.app[keys.DB].begin() as db:
        row = await factors.pending_totp(db, user.id)
    uri = totp.provisioning_uri(row.secret, user.email)
    return render(request, "factor_enrol.html", status=status, next=target, error=error,
                  qr=totp.qr_svg(uri), secret=row.secret, reset_at=factors.reset_notice(user))


async def _verify_page(request: web.Request, target: str, again: bool, error: str | None = None,
                       status: int = 200) -> web.Response:
    async with request.app[keys.DB]() as db:
        have = await factors.factors_of(db, signed_in(request).id)
    return render(request, "factor.html", status=status, next=target, again=again,
                  error=error, factors=have)


@ROUTES.get("/login/factor", name="factor")
@allow(Audience.SIGNING_IN)
async def factor_page(request: web.Request) -> web.StreamResponse:
    """Prove a second factor (or set one up, the first time)."""
    identity = session_of(request)
    assert identity.session is not None
    target = safe_next(request.query.get("next"))
    again = request.query.get("again") == "1"
    settings = request.app[keys.SETTINGS]
    if not needs_factor(identity.session, identity.user, settings) and \
            (not again or is_recent(identity.session, settings)):
        raise web.HTTPSeeOther(target)
    async with request.app[keys.DB]() as db:
        have = await factors.factors_of(db, identity.user.id)
    if not have.any:
        return await _enrol_page(request, target)
    return await _verify_page(request, target, again)


@ROUTES.post("/login/factor", name="factor-submit")
@allow(Audience.SIGNING_IN)
async def factor_submit(request: web.Request) -> web.StreamResponse:
    """An authenticator-app code or a recovery code."""
    identity = session_of(request)
    assert identity.session is not None
    form = await form_data(request)
    target = safe_next(form.get("next"))
    async with request.app[keys.DB].begin() as db:
        check = await factors.check_code(db, request, identity.user, identity.session.id,
                                         form.get("code", "")[:64],
                                         request.app[keys.SETTINGS])
    if check.ended:
        return render(request, "login.html", status=401, next=target, email="",
                      error=_("Too many wrong codes. Sign in again with your password."))
    if not check.ok:
        return await _verify_page(request, target, form.get("again") == "1", status=401,
                                  error=_("That code is not right, or it was already used. "
                                          "Try the newest code from your app."))
    if form.get("again") != "1":
        target = news_page(target)
    if check.method == "recovery":
        return render(request, "recovery_used.html", next=target, left=check.recovery_left)
    raise web.HTTPSeeOther(target)


def news_page(target: str) -> str:
    """After a full sign-in: what happened on the account since the previous one."""
    return f"/login/news?next={quote(target, safe='/')}"


@ROUTES.get("/login/news", name="login-news")
@allow(Audience.SIGNING_IN)
async def sign_in_news(request: web.Request) -> web.StreamResponse:
    """Failed attempts and other sign-ins since the previous one; straight on if none."""
    identity = session_of(request)
    assert identity.session is not None
    target = safe_next(request.query.get("next"))
    if needs_factor(identity.session, identity.user, request.app[keys.SETTINGS]):
        raise web.HTTPSeeOther(factor_address(target))
    async with request.app[keys.DB]() as db:
        found = await news.since_last_sign_in(db, identity.user.id, identity.session)
    if not found.any:
        raise web.HTTPSeeOther(target)
    return render(request, "sign_in_news.html", next=target, news=found)


@ROUTES.post("/login/factor/enrol", name="factor-enrol")
@allow(Audience.SIGNING_IN)
async def factor_enrol(request: web.Request) -> web.StreamResponse:
    """The first code from a newly added authenticator app: it is set up, codes shown once."""
    identity = session_of(request)
    assert identity.session is not None
    form = await form_data(request)
    target = safe_next(form.get("next"))
    async with request.app[keys.DB].begin() as db:
        codes = await factors.confirm_totp(db, request, identity.user, identity.session.id,
                                           form.get("code", "")[:64])
    if codes is None:
        return await _enrol_page(request, target, status=422,
                                 error=_("That code is not right. Check the time on your "
                                         "phone and type the newest code."))
    return render(request, "recovery_codes.html", next=target, codes=codes)


@ROUTES.post("/admin/users/{id}/factors/reset", name="user-factors-reset")
@allow(Role.ADMIN)
@sensitive("/admin/users")
async def factors_reset(request: web.Request) -> web.StreamResponse:
    """Forget a person's second factors (a lost phone): they set one up at next sign-in."""
    async with request.app[keys.DB].begin() as db:
        await factors.reset(db, request, signed_in(request), path_id(request))
    raise web.HTTPSeeOther("/admin/users?reset=1")


def setup(app: web.Application) -> None:
    """Its routes, declared on each handler above."""
    app.router.add_routes(ROUTES)
