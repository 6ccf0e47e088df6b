"""The application factory: it wires the packages together and decides nothing itself."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging

from aiohttp import web
from sqlalchemy import false, text, update

from policies import load_default_policy
from server import api, i18n, keys
from server.casework import contact_pages, diary_pages, move_pages, policy_pages
from server.casework import pages as casework_pages
from server.casework.keys import POLICIES
from server.casework.policy_versions import PolicyStore
from server.errors import N_, Forbidden, Unauthenticated
from server.joining import device_test, failure, precall
from server.joining import pages as joining_pages
from server.messages import pages as messages_pages
from server.metrics import CONTENT_TYPE, Metrics
from server.middleware import (
    add_security_headers,
    context_middleware,
    error_middleware,
    language_middleware,
    static_compression_middleware,
)
from server.outbox.keys import COMPOSERS, TRANSPORTS
from server.outbox.transports import make_transports
from server.outbox.worker import outbox_ctx
from server.privacy import pages as privacy
from server.privacy import retention
from server.recordings import lifecycle as recordings
from server.recordings import playback as recording_playback
from server.recordings import views as recording_views
from server.records import pages as records_pages
from server.records.keys import RECORD_SUMMARIES
from server.render import WEB, make_jinja
from server.settings import Settings
from server.staff import (
    access,
    account_security,
    auth,
    factor_pages,
    passkey_pages,
    sso_pages,
)
from server.staff import pages as staff_pages
from server.staff.access import Audience, allow
from server.store.db import database_ctx
from server.store.models import AuditChainHead
from signalling import handler as signalling
from signalling.keys import BUS, LIVE

log = logging.getLogger("rapport.http")


@allow(Audience.PUBLIC)
async def healthz(request: web.Request) -> web.Response:
    """The process is up."""
    return web.json_response({"status": "ok"})


@allow(Audience.PUBLIC)
async def readyz(request: web.Request) -> web.Response:
    """The database answers and takes writes (a read-only file or replica is not ready), the
    room bus (Redis, when configured) answers, and the process is not draining: a load
    balancer sends new people here only then."""
    body = {"status": "ok", "database": "reachable", "bus": "reachable"}
    try:
        async with request.app[keys.ENGINE].connect() as conn:
            await conn.execute(text("SELECT 1"))
            # A write that changes nothing, rolled back: it still needs a writable database.
            await conn.execute(update(AuditChainHead).where(false()).values(seq=0))
            await conn.rollback()
    except Exception as exc:  # any driver failure means "not ready"
        log.warning("readiness check failed (database): %s", exc)
        body.update(status="unavailable", database="unreachable")
    try:
        await asyncio.wait_for(request.app[BUS].ping(), 5.0)
    except Exception as exc:
        log.warning("readiness check failed (room bus): %s", exc)
        body.update(status="unavailable", bus="unreachable")
    if request.app[LIVE].draining:
        body.update(status="draining")
    return web.json_response(body, status=200 if body["status"] == "ok" else 503)


@allow(Audience.PUBLIC)
async def metrics(request: web.Request) -> web.Response:
    """Prometheus metrics of this process: with RAPPORT_METRICS_TOKEN set, for a bearer of
    it only; without, for callers on this machine only (the proxy must not forward it)."""
    token = request.app[keys.SETTINGS].metrics_token
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise Unauthenticated(N_("Give the metrics token as a bearer token."))
    elif not ipaddress.ip_address(request.remote or "0.0.0.0").is_loopback:  # noqa: S104
        raise Forbidden(N_("Metrics are served to this machine only."))
    return web.Response(body=request.app[keys.METRICS].exposition(),
                        headers={"Content-Type": CONTENT_TYPE})


def _pool_in_use(app: web.Application) -> float:
    pool = app[keys.ENGINE].pool if keys.ENGINE in app else None
    checked_out = getattr(pool, "checkedout", None)
    return float(checked_out()) if callable(checked_out) else 0.0


async def _check_policies(app: web.Application) -> None:
    """Every organisation's stored policy must still be valid for this code: say so at once."""
    async with app[keys.DB]() as db:
        await app[POLICIES].check_stored(db)


async def _check_rules(app: web.Application) -> None:
    missing = access.routes_without_rules(app)
    if missing:
        raise RuntimeError(f"routes without an access rule: {missing}")


def create_app(settings: Settings) -> web.Application:
    """Assemble Rapport: middlewares, resources with a lifetime, each package's routes."""
    app = web.Application(
        middlewares=[context_middleware, error_middleware, language_middleware,
                     auth.auth_middleware, static_compression_middleware],
        client_max_size=settings.max_body_bytes,
    )
    app[keys.SETTINGS] = settings
    app.on_response_prepare.append(add_security_headers)
    app[keys.CATALOGUES] = i18n.load_catalogues(settings.languages)
    app[keys.JINJA] = make_jinja()
    hooks: list[keys.PageContext] = [auth.page_context]  # the signed-in person, the CSRF token
    app[keys.PAGE_CONTEXT] = hooks
    app[POLICIES] = PolicyStore(load_default_policy())
    app[keys.METRICS] = Metrics()
    app[keys.FIRST_USE] = asyncio.Lock()
    app[keys.METRICS].gauge("rapport_db_pool_in_use", "Database connections checked out now",
                            lambda: _pool_in_use(app))
    app.cleanup_ctx.append(database_ctx)
    app[TRANSPORTS] = make_transports(settings)  # the channels the settings name
    app[COMPOSERS] = {}  # message kinds beyond the outbox's own (server/messages/ adds them)
    app.cleanup_ctx.append(outbox_ctx)  # after the database's: it sends what is due
    app.cleanup_ctx.append(retention.sweeper_ctx)
    app.router.add_get("/healthz", healthz, name="healthz")
    app.router.add_get("/readyz", readyz, name="readyz")
    app.router.add_get("/metrics", metrics, name="metrics")
    app.router.add_static("/static/", WEB / "static", name="static")
    for pages in (staff_pages, factor_pages, passkey_pages, sso_pages, account_security,
                  casework_pages, diary_pages, policy_pages, joining_pages, privacy,
                  messages_pages, contact_pages, move_pages):
        pages.setup(app)
    api.setup(app)
    signalling.setup(app)
    records_pages.setup(app)  # after the rooms: contact records listen for each session's end
    # Each contact record says whether and when recording ran, with every consent event.
    app[RECORD_SUMMARIES]["recording"] = recordings.recording_summary
    recording_views.setup(app)
    recording_playback.setup(app)  # the playback page and its viewings
    app.cleanup_ctx.append(recordings.sweeper_ctx)  # after the database's: it uses it
    precall.setup(app)  # the pre-call check's echo peer and results
    failure.setup(app)  # "if nothing works": the call page's failure reports
    device_test.setup(app)  # "test my device", public, before the day
    app.on_startup.append(_check_rules)
    app.on_startup.append(_check_policies)
    return app
