"""Passkeys (WebAuthn, with the `webauthn` library): the registration and authentication
ceremonies, each with a challenge kept server-side for a few minutes and used once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import webauthn
from aiohttp import web
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, options_to_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from server.clock import now
from server.errors import N_, BadRequest
from server.settings import Settings
from server.staff.factors import mark_verified
from server.store import audit
from server.store.models import Passkey, User, WebauthnChallenge

CHALLENGE_LIFETIME = timedelta(minutes=5)
TIMEOUT_MS = 120_000
RP_NAME = "Rapport"


def relying_party(settings: Settings) -> tuple[str, str]:
    """The RP id (the host of `RAPPORT_BASE_URL`) and the origin browsers must report."""
    parts = urlsplit(settings.base_url)
    return parts.hostname or "localhost", f"{parts.scheme}://{parts.netloc}"


async def _keep(db: AsyncSession, session_id: int, purpose: str, challenge: bytes) -> None:
    await db.execute(delete(WebauthnChallenge).where(WebauthnChallenge.session_id == session_id))
    db.add(WebauthnChallenge(session_id=session_id, purpose=purpose,
                             challenge=bytes_to_base64url(challenge),
                             expires_at=now() + CHALLENGE_LIFETIME))


async def _take(db: AsyncSession, session_id: int, purpose: str) -> bytes:
    """The session's challenge for this ceremony, removed so that it serves once."""
    row = await db.scalar(select(WebauthnChallenge).where(
        WebauthnChallenge.session_id == session_id, WebauthnChallenge.purpose == purpose))
    if row is None or row.expires_at <= now():
        raise BadRequest(N_("This passkey request has expired. Try again."))
    await db.delete(row)
    return base64url_to_bytes(row.challenge)


async def _credentials(db: AsyncSession, user_id: int) -> list[Passkey]:
    return list((await db.scalars(select(Passkey).where(Passkey.user_id == user_id))).all())


def _descriptors(keys: list[Passkey]) -> list[PublicKeyCredentialDescriptor]:
    return [PublicKeyCredentialDescriptor(id=base64url_to_bytes(k.credential_id)) for k in keys]


async def registration_options(db: AsyncSession, user: User, session_id: int,
                               settings: Settings) -> str:
    """Options for `navigator.credentials.create` (JSON); the challenge is kept."""
    rp_id, _origin = relying_party(settings)
    options = webauthn.generate_registration_options(
        rp_id=rp_id, rp_name=RP_NAME, user_name=user.email, user_display_name=user.name,
        user_id=f"rapport-user-{user.id}".encode(), timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.REQUIRED),
        exclude_credentials=_descriptors(await _credentials(db, user.id)))
    await _keep(db, session_id, "register", options.challenge)
    return options_to_json(options)


async def register(db: AsyncSession, request: web.Request, user: User, session_id: int,
                   credential: dict[str, Any], name: str, settings: Settings) -> Passkey:
    """Check the authenticator's answer and keep the new passkey."""
    rp_id, origin = relying_party(settings)
    challenge = await _take(db, session_id, "register")
    try:
        verified = webauthn.verify_registration_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp_id,
            expected_origin=origin, require_user_verification=True)
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise BadRequest(N_("The passkey could not be checked: {why}"), why=str(exc)) from None
    row = Passkey(user_id=user.id, credential_id=bytes_to_base64url(verified.credential_id),
                  public_key=bytes_to_base64url(verified.credential_public_key),
                  sign_count=verified.sign_count, name=name[:100] or "Passkey",
                  created_at=now())
    db.add(row)
    await db.flush()
    await mark_verified(db, session_id, user)
    audit.record(db, request, "factor.enrol", "user", user.id, method="passkey",
                 passkey_id=row.id)
    return row


async def authentication_options(db: AsyncSession, user: User, session_id: int,
                                 settings: Settings) -> str:
    """Options for `navigator.credentials.get` (JSON), for this person's passkeys only."""
    rp_id, _origin = relying_party(settings)
    options = webauthn.generate_authentication_options(
        rp_id=rp_id, timeout=TIMEOUT_MS,
        allow_credentials=_descriptors(await _credentials(db, user.id)),
        user_verification=UserVerificationRequirement.REQUIRED)
    await _keep(db, session_id, "authenticate", options.challenge)
    return options_to_json(options)


async def authenticate(db: AsyncSession, request: web.Request, user: User, session_id: int,
                       credential: dict[str, Any], settings: Settings) -> Passkey:
    """Check a passkey assertion: this person's key, our challenge, our origin."""
    rp_id, origin = relying_party(settings)
    challenge = await _take(db, session_id, "authenticate")
    key = await db.scalar(select(Passkey).where(Passkey.user_id == user.id,
                                                Passkey.credential_id == str(credential.get("id"))))
    if key is None:
        raise BadRequest(N_("This passkey is not registered to your account."))
    try:
        verified = webauthn.verify_authentication_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp_id,
            expected_origin=origin, credential_public_key=base64url_to_bytes(key.public_key),
            credential_current_sign_count=key.sign_count, require_user_verification=True)
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise BadRequest(N_("The passkey could not be checked: {why}"), why=str(exc)) from None
    key.sign_count, key.last_used_at = verified.new_sign_count, now()
    await mark_verified(db, session_id, user)
    audit.record(db, request, "factor.verify", "user", user.id, method="passkey",
                 passkey_id=key.id)
    return key
