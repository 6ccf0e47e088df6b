"""The organisation's policy pages: read (supervisors, admins), change, check, restore (admins)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server import keys
from server.casework import policy_versions
from server.casework.keys import POLICIES
from server.errors import AppError, Conflict, Invalid
from server.forms import form_data, zone
from server.i18n import gettext as _
from server.parsing import path_id
from server.render import render
from server.staff.access import allow, sensitive
from server.staff.auth import (
    signed_in,
)
from server.store.models import (
    Role,
)

ROUTES = web.RouteTableDef()


async def _policy_context(request: web.Request) -> dict[str, Any]:
    """The policy in force and the history, for the policy pages."""
    org = signed_in(request).organisation_id
    async with request.app[keys.DB]() as db:
        views = await policy_versions.history(db, org)
        policy = await request.app[POLICIES].for_organisation(db, org)
    current = (policy_versions.as_dict(views[0], with_source=True) if views
               else policy_versions.shipped_dict(current=True, with_source=True))
    versions = [policy_versions.as_dict(v) for v in views]
    versions.append(policy_versions.shipped_dict(current=not views))
    return {"policy": policy, "current": current, "versions": versions, "zone": zone(request)}


@ROUTES.get("/admin/policy", name="policy")
@allow(Role.ADMIN, Role.SUPERVISOR)
async def policy_page(request: web.Request) -> web.Response:
    return render(request, "policy.html", **await _policy_context(request),
                  saved=request.query.get("saved"))


def _policy_form(request: web.Request, context: dict[str, Any], values: dict[str, Any],
                 error: Invalid | AppError | None = None, checked: str | None = None,
                 status: int = 200) -> web.Response:
    changes = policy_versions.diff(str(context["current"]["source"]),
                                   values.get("source", ""), _("in force"), _("your text"))
    return render(request, "policy_edit.html", status=status, **context, values=values,
                  error=error, checked=checked, changes=changes)


@ROUTES.get("/admin/policy/edit", name="policy-edit")
@allow(Role.ADMIN)
async def policy_edit(request: web.Request) -> web.Response:
    context = await _policy_context(request)
    start = (policy_versions.shipped_source() if request.query.get("from") == "default"
             else str(context["current"]["source"]))
    return _policy_form(request, context, {"source": start, "note": ""})


@ROUTES.post("/admin/policy", name="policy-save")
@allow(Role.ADMIN)
@sensitive("/admin/policy/edit")
async def policy_save(request: web.Request) -> web.StreamResponse:
    """Check a new text, or save it as the version in force; problems leave it unsaved."""
    values = await form_data(request)
    source = values.get("source", "").replace("\r\n", "\n")
    values["source"] = source
    try:
        if values.get("action") == "check":
            policy = policy_versions.validate(source)
            return _policy_form(request, await _policy_context(request), values,
                                checked=policy.version)
        async with request.app[keys.DB].begin() as db:
            await policy_versions.save(db, request, signed_in(request), source,
                                       values.get("note", ""))
    except (Invalid, Conflict) as error:
        return _policy_form(request, await _policy_context(request), values, error,
                            status=error.status)
    raise web.HTTPSeeOther("/admin/policy?saved=1")


@ROUTES.get("/admin/policy/versions/{id}", name="policy-version")
@allow(Role.ADMIN, Role.SUPERVISOR)
async def policy_version_page(request: web.Request) -> web.Response:
    return await _version_page(request)


async def _version_page(request: web.Request, error: AppError | None = None,
                        note: str = "") -> web.Response:
    context = await _policy_context(request)
    async with request.app[keys.DB]() as db:
        row = await policy_versions.get_version(db, signed_in(request), path_id(request))
    changes = policy_versions.diff(row.source, str(context["current"]["source"]),
                                   _("version %(label)s") % {"label": row.label}, _("in force"))
    return render(request, "policy_version.html", status=error.status if error else 200,
                  **context, version=row, changes=changes, error=error, note=note)


@ROUTES.post("/admin/policy/versions/{id}/restore", name="policy-restore")
@allow(Role.ADMIN)
@sensitive("/admin/policy")
async def policy_restore(request: web.Request) -> web.StreamResponse:
    """Put an earlier version back in force, stored again as the newest version."""
    values = await form_data(request)
    try:
        async with request.app[keys.DB].begin() as db:
            row = await policy_versions.get_version(db, signed_in(request), path_id(request))
            await policy_versions.save(db, request, signed_in(request), row.source,
                                       values.get("note", ""), restored_from=row)
    except (Invalid, Conflict) as error:
        return await _version_page(request, error, values.get("note", ""))
    raise web.HTTPSeeOther("/admin/policy?saved=1")


def setup(app: web.Application) -> None:
    """Its routes, declared on each handler above."""
    app.router.add_routes(ROUTES)
