"""Single-use recovery codes: shown once, stored as argon2id hashes like passwords."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.clock import now
from server.staff.passwords import hash_password_sync, verify_password_sync
from server.store.models import RecoveryCode

COUNT = 10
# No 0/O, 1/l/I: codes are read off paper. 10 characters of 32 = 50 bits each; guessing is
# limited by the sign-in throttle and the per-session limit on wrong codes.
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
LENGTH = 10


def normalise(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def looks_like_code(code: str) -> bool:
    text = normalise(code)
    return len(text) == LENGTH and all(ch in ALPHABET for ch in text)


def new_codes() -> list[str]:
    """Fresh codes, grouped for reading ("abcde-fghjk")."""
    codes = ("".join(secrets.choice(ALPHABET) for _ in range(LENGTH)) for _ in range(COUNT))
    return [f"{c[:5]}-{c[5:]}" for c in codes]


async def replace_codes(db: AsyncSession, user_id: int) -> list[str]:
    """Forget the old codes and store fresh ones (hashed in worker threads)."""
    codes = new_codes()
    hashes = await asyncio.gather(*(asyncio.to_thread(hash_password_sync, normalise(c))
                                    for c in codes))
    await db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    db.add_all(RecoveryCode(user_id=user_id, code_hash=h, created_at=now()) for h in hashes)
    return codes


async def unused(db: AsyncSession, user_id: int) -> Sequence[RecoveryCode]:
    query = select(RecoveryCode).where(RecoveryCode.user_id == user_id,
                                       RecoveryCode.used_at.is_(None)).order_by(RecoveryCode.id)
    return (await db.scalars(query)).all()


async def use_code(db: AsyncSession, user_id: int, code: str) -> int | None:
    """Spend one code; the number left, or None when it matches no unused code."""
    if not looks_like_code(code):
        return None
    text = normalise(code)
    rows = await unused(db, user_id)
    for row in rows:
        if await asyncio.to_thread(verify_password_sync, row.code_hash, text):
            spent = await db.execute(
                update(RecoveryCode).where(RecoveryCode.id == row.id,
                                           RecoveryCode.used_at.is_(None))
                .values(used_at=now()).execution_options(synchronize_session=False))
            # Raced by another request with the same code: only one of them wins.
            return len(rows) - 1 if getattr(spent, "rowcount", 0) == 1 else None
    return None
