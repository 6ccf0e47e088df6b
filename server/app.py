"""The application factory and the middlewares every request passes through."""

from __future__ import annotations

import logging
import re
import time
import uuid

from aiohttp import web
from sqlalchemy import text

from policies import load_default_policy
from server import api, i18n, keys, pages
from server.joining import failure, precall
from server.privacy import pages as privacy, retention
from server.recordings import views as recordings
from server.records import pages as records_web
from server.staff import access
from server.staff.access import Audience, Handler, allow
from server.staff.auth import auth_middleware, is_api, set_cookie
from server.store.db import database_ctx
from server.errors import N_, AppError, BadRequest, NotFound
from server.logs import request_id_var
from server.joining.notify import LogNotifier
from server.casework.policy_versions import PolicyStore
from server.render import WEB, error_page, make_jinja, problem
from server.settings import Settings
from signalling import handler as signalling_handler

log = logging.getLogger("rapport.http")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(self), microphone=(self), geolocation=()",
}
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

# aiohttp's own HTTP errors, as messages a person can act on.
_HTTP_MESSAGES = {
    404: N_("There is nothing at this address. Check the link, or go back to the start."),
    405: N_("This address does not accept that kind of request."),
    413: N_("What you sent is too large. The limit is {limit} bytes."),
}


@web.middleware
async def context_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request id, security headers on every response, one structured log line per request."""
    incoming = request.headers.get("X-Request-Id", "")
    request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
    request[keys.REQUEST_ID] = request_id
    token = request_id_var.set(request_id)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers.update(SECURITY_HEADERS)
        response.headers["X-Request-Id"] = request_id
        if not request.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response
    finally:
        user = request.get(keys.USER)
        log.info("%s %s %s", request.method, request.path, status, extra={"fields": {
            "status": status, "method": request.method, "path": request.path,
            "ms": round((time.perf_counter() - started) * 1000, 1),
            "user_id": user.id if user is not None else None,
        }})
        request_id_var.reset(token)


def _as_app_error(request: web.Request, exc: web.HTTPException) -> AppError | None:
    message = _HTTP_MESSAGES.get(exc.status)
    if message is None:
        return None
    error = BadRequest(message, limit=request.app[keys.SETTINGS].max_body_bytes) \
        if exc.status == 413 else NotFound(message)
    error.status = exc.status
    error.slug = {404: "not-found", 405: "method-not-allowed", 413: "too-large"}[exc.status]
    error.title = {404: N_("Not found"), 405: N_("Not allowed"), 413: N_("Too large")}[exc.status]
    if exc.status == 405:
        error.headers = {"Allow": exc.headers.get("Allow", "")}
    return error


@web.middleware
async def static_compression_middleware(request: web.Request,
                                        handler: Handler) -> web.StreamResponse:
    """Scripts and styles go gzipped to browsers that take it: the call page's code is most of
    what a client on prepaid data downloads. Pages themselves are not compressed: they carry
    CSRF tokens next to reflected input (BREACH)."""
    response = await handler(request)
    # Only a plain GET of the whole file: a HEAD, a range or a revalidation (304) has no body
    # to compress, and aiohttp would still write a gzip trailer into the connection.
    if (isinstance(response, web.FileResponse) and request.method == "GET"
            and request.path.endswith(_COMPRESSIBLE)
            and "gzip" in request.headers.get("Accept-Encoding", "")
            and not any(h in request.headers for h in _CONDITIONAL)):
        response.enable_compression(web.ContentCoding.gzip)
    return response


_COMPRESSIBLE = (".js", ".css")
_CONDITIONAL = ("Range", "If-Range", "If-Modified-Since", "If-None-Match",
                "If-Unmodified-Since", "If-Match")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes problem JSON (API) or a readable page (everything else)."""
    try:
        return await handler(request)
    except AppError as exc:
        error: AppError | None = exc
    except web.HTTPException as exc:
        error = _as_app_error(request, exc)
        if error is None:
            raise
    except Exception:
        log.exception("unhandled error")
        error = AppError(N_("Something went wrong on our side. It has been logged; "
                            "please try again. Quote reference {ref} if you report it."),
                         ref=request.get(keys.REQUEST_ID))
        error.status, error.slug, error.title = 500, "internal", N_("Something went wrong")
    assert error is not None
    wants_json = is_api(request) or "application/json" in request.headers.get("Accept", "")
    return problem(request, error) if wants_json else error_page(request, error)


@web.middleware
async def language_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Pick the person's language (explicit choice, then browser) for the whole request."""
    catalogues = request.app[keys.CATALOGUES]
    chosen = request.query.get("lang")
    if chosen is not None and chosen not in catalogues.languages:
        chosen = None
    lang = chosen or i18n.negotiate(request.headers.get("Accept-Language", ""),
                                    request.cookies.get("rapport_lang"), catalogues.languages)
    i18n.activate(catalogues.get(lang), lang)
    response = await handler(request)
    if chosen:
        set_cookie(response, request.app[keys.SETTINGS], "rapport_lang", chosen,
                   max_age=365 * 24 * 3600)
    response.headers["Content-Language"] = lang
    return response


@allow(Audience.PUBLIC)
async def healthz(request: web.Request) -> web.Response:
    """The process is up."""
    return web.json_response({"status": "ok"})


@allow(Audience.PUBLIC)
async def readyz(request: web.Request) -> web.Response:
    """The database answers."""
    try:
        async with request.app[keys.ENGINE].connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver failure means "not ready"
        log.warning("readiness check failed: %s", exc)
        return web.json_response({"status": "unavailable", "database": "unreachable"},
                                 status=503)
    return web.json_response({"status": "ok", "database": "reachable"})


async def _check_policies(app: web.Application) -> None:
    """Every organisation's stored policy must still be valid for this code: say so at once."""
    async with app[keys.DB]() as db:
        await app[keys.POLICIES].check_stored(db)


async def _check_rules(app: web.Application) -> None:
    missing = access.routes_without_rules(app)
    if missing:
        raise RuntimeError(f"routes without an access rule: {missing}")


def create_app(settings: Settings) -> web.Application:
    """Assemble Rapport: middlewares, resources with a lifetime, routes."""
    app = web.Application(
        middlewares=[context_middleware, error_middleware, language_middleware, auth_middleware,
                     static_compression_middleware],
        client_max_size=settings.max_body_bytes,
    )
    app[keys.SETTINGS] = settings
    app[keys.CATALOGUES] = i18n.load_catalogues(settings.languages)
    app[keys.JINJA] = make_jinja()
    app[keys.POLICIES] = PolicyStore(load_default_policy())
    app[keys.NOTIFIER] = LogNotifier()
    app.cleanup_ctx.append(database_ctx)
    app.cleanup_ctx.append(retention.sweeper_ctx)
    app.router.add_get("/healthz", healthz, name="healthz")
    app.router.add_get("/readyz", readyz, name="readyz")
    app.router.add_static("/static/", WEB / "static", name="static")
    pages.setup(app)
    privacy.setup(app)
    api.setup(app)
    signalling_handler.setup(app)
    records_web.setup(app)  # after the rooms: its cleanup_ctx listens to them
    # Each contact record says whether and when recording ran, with every consent event.
    app[keys.RECORD_SUMMARIES]["recording"] = recordings.recording_summary
    recordings.setup_pages(app)
    app.cleanup_ctx.append(recordings.sweeper_ctx)  # after the database's: it uses it
    precall.setup(app)  # inclusion (#7): the pre-call check's echo peer and results
    failure.setup(app)  # inclusion (#7): "if nothing works", the call page's failure reports
    app.on_startup.append(_check_rules)
    app.on_startup.append(_check_policies)
    return app
