"""Typed errors, each mapped to one HTTP status and a message a person can read.

`detail` is an English message id: it is translated when the error is rendered, then
formatted with `params`, so the same error reads correctly in every language.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exc as sa_exc


def N_(message: str) -> str:
    """Mark a message for extraction into the catalogue; translated later, at render time."""
    return message


class AppError(Exception):
    status = 400
    slug = "bad-request"
    title = N_("Bad request")

    def __init__(
        self,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **params: Any,
    ) -> None:
        super().__init__(detail.format(**params) if params else detail)
        self.detail = detail
        self.params = params
        self.errors = errors or []
        self.headers = headers or {}


class BadRequest(AppError):
    pass


class Invalid(AppError):
    status = 422
    slug = "invalid"
    title = N_("Some of what you entered needs correcting")


class Unauthenticated(AppError):
    status = 401
    slug = "unauthenticated"
    title = N_("Please sign in")


class Forbidden(AppError):
    status = 403
    slug = "forbidden"
    title = N_("Not allowed")


class NotFound(AppError):
    status = 404
    slug = "not-found"
    title = N_("Not found")


class Conflict(AppError):
    status = 409
    slug = "conflict"
    title = N_("Conflict")


class TooMany(AppError):
    status = 429
    slug = "too-many-requests"
    title = N_("Too many attempts")


class Gone(AppError):
    status = 410
    slug = "gone"
    title = N_("No longer available")


class Unavailable(AppError):
    """The database (or another engine Rapport needs) cannot be reached: try again later."""

    status = 503
    slug = "unavailable"
    title = N_("Temporarily unavailable")


# What the database drivers raise when the database cannot be reached or written (server
# gone, connection refused, pool timed out, a read-only file): a 503, never a 500.
DATABASE_DOWN: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError, ConnectionError,
)
