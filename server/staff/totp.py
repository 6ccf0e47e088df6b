"""Authenticator-app codes (RFC 6238, `pyotp`): the secret, its QR code, and checking a code
once only."""

from __future__ import annotations

import hmac
import time

import pyotp
import segno
from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.store.models import TotpFactor

ISSUER = "Rapport"
STEP = 30  # seconds per code, as every authenticator app assumes
# One step either side: the phone's clock may be a little out, and a code typed at the end
# of its 30 seconds arrives in the next.
DRIFT = 1


def new_secret() -> str:
    """160 random bits in base32 (RFC 4226 recommends at least 128)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret, interval=STEP).provisioning_uri(name=email, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The QR code as inline SVG, drawn here: no third party ever sees the secret."""
    return str(segno.make(uri, error="m").svg_inline(
        scale=5, dark="#000", light="#fff", title="QR code for your authenticator app"))


def matching_counter(secret: str, code: str, at: float | None = None) -> int | None:
    """The time step whose code this is (within the allowed drift), or None."""
    code = "".join(code.split())
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, interval=STEP)
    current = int((time.time() if at is None else at) // STEP)
    for counter in range(current - DRIFT, current + DRIFT + 1):
        if hmac.compare_digest(totp.generate_otp(counter), code):
            return counter
    return None


async def use_code(db: AsyncSession, factor: TotpFactor, code: str) -> bool:
    """Accept a code once: its time step must be newer than the last one accepted.

    The check and the write are one conditional UPDATE, so two requests racing with the
    same code cannot both succeed.
    """
    counter = matching_counter(factor.secret, code)
    if counter is None:
        return False
    result = await db.execute(
        update(TotpFactor)
        .where(TotpFactor.id == factor.id,
               or_(TotpFactor.last_counter.is_(None), TotpFactor.last_counter < counter))
        .values(last_counter=counter)
        .execution_options(synchronize_session=False))
    return bool(getattr(result, "rowcount", 0) == 1)
