"""Who may call each route. Every route carries a rule; a route without one refuses everyone.

Rules are declared on the handler with `@allow(...)`, so the rule sits beside the code it
guards, and `routes_without_rules(app)` lets start-up and tests prove none was forgotten.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.web_urldispatcher import StaticResource

from server.store.models import Role

Handler = Callable[..., Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)


class Audience(StrEnum):
    PUBLIC = "public"  # anyone, signed in or not
    STAFF = "staff"  # any signed-in staff member, whatever their role
    # Also a session past its password whose second factor is still to come: only the
    # pages that enrol or prove a factor, and signing out, carry it.
    SIGNING_IN = "signing-in"


Rule = frozenset[Role | Audience]
ATTRIBUTE = "__rapport_access__"
SENSITIVE = "__rapport_sensitive__"
# The roles that work with caseloads: practitioners their own, supervisors their team's.
PRACTICE = (Role.PRACTITIONER, Role.SUPERVISOR)


def allow(*who: Role | Audience) -> Callable[[H], H]:
    """Declare who may call the decorated handler."""
    if not who:
        raise ValueError("allow() needs at least one role or audience")

    def mark(handler: H) -> H:
        setattr(handler, ATTRIBUTE, frozenset(who))
        return handler

    return mark


def sensitive(return_to: str | None = None) -> Callable[[H], H]:
    """Mark a sensitive act: it asks for the second factor again when the last check is old.

    `return_to` is the page to come back to after the check (for a form's POST, the page
    holding the form); without it, the request's own address.
    """

    def mark(handler: H) -> H:
        setattr(handler, SENSITIVE, return_to or "")
        return handler

    return mark


def sensitive_return(route: web.AbstractRoute) -> str | None:
    """None for an ordinary route; for a sensitive one, where to come back to ("" = here)."""
    value: str | None = getattr(route.handler, SENSITIVE, None)
    return value


def rule_of(handler: Handler) -> Rule | None:
    """The rule declared on a handler with `@allow`, if any."""
    rule: Rule | None = getattr(handler, ATTRIBUTE, None)
    return rule


def rule_for(route: web.AbstractRoute) -> Rule | None:
    """The rule of a route; static files are public, anything unmarked has none."""
    if isinstance(route.resource, StaticResource):
        return frozenset({Audience.PUBLIC})
    handler: Any = route.handler
    return getattr(handler, ATTRIBUTE, None)


def permits(rule: Rule, roles: frozenset[Role] | None) -> bool:
    """Whether a caller with these roles (None: not signed in) may use a route."""
    if Audience.PUBLIC in rule:
        return True
    if roles is None:
        return False
    return Audience.STAFF in rule or Audience.SIGNING_IN in rule or bool(rule & roles)


def routes_without_rules(app: web.Application) -> list[str]:
    return [
        f"{route.method} {route.resource.canonical if route.resource else '?'}"
        for route in app.router.routes()
        if rule_for(route) is None
    ]
