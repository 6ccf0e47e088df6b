"""Single sign-on decisions with no I/O: why a sign-in failed (and what the person is told),
whether the provider did multi-factor, and whether an email counts as verified."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from server.errors import N_


class Reason(StrEnum):
    """Why a single sign-on did not sign anyone in; audited as `staff.sso_failure`."""

    UNREACHABLE = "provider_unreachable"
    PROVIDER_ERROR = "provider_error"
    STATE = "state"
    CODE = "code_refused"
    SIGNATURE = "signature"
    EXPIRED = "expired"
    NONCE = "nonce"
    CLAIMS = "claims"
    EMAIL_UNVERIFIED = "email_unverified"
    UNKNOWN = "unknown_person"
    DISABLED = "disabled"
    LINKED_ELSEWHERE = "linked_elsewhere"


@dataclass(frozen=True)
class Wording:
    status: int
    title: str
    message: str


WORDING: dict[Reason, Wording] = {
    Reason.UNREACHABLE: Wording(503, N_("The sign-in service cannot be reached"), N_(
        "Rapport could not reach {label}. Try again in a few minutes; if it keeps happening, "
        "tell your IT service desk.")),
    Reason.PROVIDER_ERROR: Wording(502, N_("The sign-in service did not sign you in"), N_(
        "{label} did not sign you in. Start again; if it keeps happening, tell your IT "
        "service desk.")),
    Reason.STATE: Wording(400, N_("This sign-in has expired"), N_(
        "This sign-in was already used, has expired, or was started in another browser. "
        "Start again from the sign-in page.")),
    Reason.CODE: Wording(400, N_("This sign-in has expired"), N_(
        "{label} refused the sign-in code: it was already used or has expired. Start again "
        "from the sign-in page.")),
    Reason.SIGNATURE: Wording(401, N_("The sign-in could not be checked"), N_(
        "The answer from {label} was not signed by it, so Rapport did not trust it. Start "
        "again; if it keeps happening, tell your IT service desk.")),
    Reason.EXPIRED: Wording(401, N_("This sign-in has expired"), N_(
        "The answer from {label} has expired. Check the time on this computer, then start "
        "again from the sign-in page.")),
    Reason.NONCE: Wording(401, N_("The sign-in could not be checked"), N_(
        "The answer from {label} belongs to another sign-in, so Rapport did not trust it. "
        "Start again from the sign-in page.")),
    Reason.CLAIMS: Wording(401, N_("The sign-in could not be checked"), N_(
        "The answer from {label} was not meant for Rapport or is incomplete. Start again; "
        "if it keeps happening, tell your IT service desk.")),
    Reason.EMAIL_UNVERIFIED: Wording(403, N_("Your email address is not verified"), N_(
        "{label} does not say that your email address is verified, so Rapport cannot tell "
        "which account is yours. Ask your IT service desk to verify it.")),
    Reason.UNKNOWN: Wording(403, N_("No Rapport account for you yet"), N_(
        "You signed in with {label}, but no active Rapport account has your email address. "
        "Ask an administrator of Rapport to create your account, then sign in again.")),
    Reason.DISABLED: Wording(403, N_("Your account is deactivated"), N_(
        "Your Rapport account is deactivated. Ask an administrator if you think this is "
        "wrong.")),
    Reason.LINKED_ELSEWHERE: Wording(403, N_("Your account is linked to another identity"), N_(
        "Your Rapport account is already linked to another {label} identity. Ask an "
        "administrator to unlink it, then sign in again.")),
}


class SsoError(Exception):
    """A single sign-on that must stop, with the reason and a detail for the audit log."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail[:200]


def provider_did_mfa(amr: Any, counted: Iterable[str]) -> bool:
    """Whether the ID token's `amr` (RFC 8176) names a method the settings count as
    multi-factor; a missing or malformed claim counts as no."""
    if not isinstance(amr, list):
        return False
    return bool({str(value) for value in amr} & set(counted))


def verified_email(claims: Mapping[str, Any]) -> str | None:
    """The claims' email, lower-cased, if the provider says it is verified."""
    email = claims.get("email")
    verified = claims.get("email_verified")
    if not isinstance(email, str) or not email.strip():
        return None
    if verified is not True and verified != "true":  # some providers send a string
        return None
    return email.strip().lower()[:254]
