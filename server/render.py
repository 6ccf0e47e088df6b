"""Pages (jinja2, translated) and problem JSON (RFC 9457)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from server import forms, i18n, keys
from server.errors import AppError
from server.i18n import gettext

WEB = Path(__file__).parent.parent / "web"
PROBLEM_TYPE = "urn:rapport:problem:"


def make_jinja() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(WEB / "templates"),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters["problem_detail"] = lambda error: translate(error)[1]
    env.globals["field_label"] = forms.field_label
    env.globals["field_message"] = forms.field_message
    return env


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    """A translated page with the standard context: language, help, and what the page
    context hooks add (the staff package adds the signed-in person and the CSRF token)."""
    env = request.app[keys.JINJA]
    hooked: dict[str, Any] = {}
    for hook in request.app[keys.PAGE_CONTEXT]:
        hooked.update(hook(request))
    page = env.get_template(template).render(
        request=request,
        **hooked,
        lang=i18n.current_language(),
        direction="rtl" if i18n.current_language() in i18n.RTL_LANGUAGES else "ltr",
        help_phone=request.app[keys.SETTINGS].help_phone,
        org_timezone=request.app[keys.SETTINGS].timezone,  # pages' scripts show times in it
        languages=[(c, i18n.LANGUAGE_NAMES.get(c, c))
                   for c in request.app[keys.SETTINGS].languages],
        **context,
    )
    return web.Response(text=page, status=status, content_type="text/html", charset="utf-8")


def translate(error: AppError) -> tuple[str, str]:
    """The error's title and detail in the request's language."""
    detail = gettext(error.detail)
    if error.params:
        detail = detail.format(**error.params)
    return gettext(error.title), detail


def problem(request: web.Request, error: AppError) -> web.Response:
    title, detail = translate(error)
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + error.slug,
        "title": title,
        "status": error.status,
        "detail": detail,
        "instance": request.path,
        "request_id": request.get(keys.REQUEST_ID),
    }
    if error.errors:
        body["errors"] = error.errors
    return web.json_response(body, status=error.status, content_type="application/problem+json",
                             headers=error.headers)


def error_page(request: web.Request, error: AppError) -> web.Response:
    title, detail = translate(error)
    response = render(request, "error.html", status=error.status, title=title, detail=detail,
                      errors=error.errors)
    response.headers.update(error.headers)
    return response
