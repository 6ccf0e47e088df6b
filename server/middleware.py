"""The middlewares every request passes through, outermost first (see create_app)."""

from __future__ import annotations

import logging
import re
import time
import uuid

from aiohttp import web

from server import i18n, keys
from server.errors import DATABASE_DOWN, N_, AppError, BadRequest, NotFound, Unavailable
from server.headers import HSTS, SECURITY_HEADERS
from server.logs import request_id_var
from server.render import error_page, problem
from server.staff.access import Handler
from server.staff.auth import is_api, set_cookie
from server.store.keys import USER

log = logging.getLogger("rapport.http")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

# aiohttp's own HTTP errors, as messages a person can act on.
_HTTP_MESSAGES = {
    404: N_("There is nothing at this address. Check the link, or go back to the start."),
    405: N_("This address does not accept that kind of request."),
    413: N_("What you sent is too large. The limit is {limit} bytes."),
}


@web.middleware
async def context_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request id and one structured log line per request (headers: `add_security_headers`)."""
    incoming = request.headers.get("X-Request-Id", "")
    request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
    request[keys.REQUEST_ID] = request_id
    token = request_id_var.set(request_id)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:  # a redirect or an HTTP error raised by a handler
        status = exc.status
        raise
    finally:
        user = request.get(USER)
        path = logged_path(request)
        log.info("%s %s %s", request.method, path, status, extra={"fields": {
            "status": status, "method": request.method, "path": path,
            "ms": round((time.perf_counter() - started) * 1000, 1),
            "user_id": user.id if user is not None else None,
        }})
        request_id_var.reset(token)


def logged_path(request: web.Request) -> str:
    """The path as the log may keep it: a link's token is a credential until it is used."""
    info = request.match_info
    if "token" in info and info.route.resource is not None:
        return info.route.resource.canonical.replace("{token}", "<token>")
    return request.path


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare`: every response, streamed ones and raised redirects included,
    gets the security headers and the request id before its headers are sent. A WebSocket's
    101 (Switching Protocols) carries the request id alone: what follows is no document for
    the headers to govern, and every header there is kept in memory for the socket's life
    (issue #17)."""
    request_id = request.get(keys.REQUEST_ID)
    if response.status == 101:
        if request_id:
            response.headers["X-Request-Id"] = request_id
        return
    response.headers.update(SECURITY_HEADERS)
    settings = request.app[keys.SETTINGS]
    if settings.secure_cookies:  # the site is served over HTTPS only: browsers keep to it
        response.headers["Strict-Transport-Security"] = HSTS
    if request_id:
        response.headers["X-Request-Id"] = request_id
    if not request.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")


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


CLIENT_GONE = 499


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


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
    except DATABASE_DOWN as exc:
        if isinstance(exc, ConnectionError) and _client_gone(request):
            # The browser went away mid-response (a player's seek cancels its range
            # request, a download is cancelled): not the database, and nobody to answer.
            # aiohttp finds the connection closed and logs only the access, as 499 (the
            # status nginx gives a request its client closed).
            log.debug("the client went away mid-response")
            return web.Response(status=CLIENT_GONE)
        log.error("database unavailable: %s", exc.__class__.__name__)
        error = Unavailable(N_("Rapport cannot reach its database just now, so what you sent "
                               "was not saved. Please try again in a minute."),
                            headers={"Retry-After": "30"})
    except Exception:
        log.exception("unhandled error")
        if keys.METRICS in request.app:
            request.app[keys.METRICS].errors.labels("http").inc()
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
