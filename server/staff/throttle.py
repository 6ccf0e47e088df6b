"""Login throttling per account-and-address, per account and per address, or per device.

Failures inside a window raise a block that doubles with each further failure but never
lasts longer than `login_max_lockout_minutes`. The pair key is strictest: a guesser at one
address is slowed long before the account-wide limit (four times higher) is reached.

A browser that signed in correctly before carries a device cookie (`TrustedDevice`). Its
attempts are counted on that device's own key only, so guesses from anywhere else, however
many and from however many addresses, never block the person on their usual device; a stolen
device cookie is itself throttled like a pair.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from server.clock import now
from server.settings import Settings
from server.staff.tokens import new_token, token_hash
from server.store.models import LoginThrottle, TrustedDevice, User


def throttle_keys(email: str, address: str, settings: Settings,
                  device: TrustedDevice | None = None) -> dict[str, int]:
    """Each key with the number of failures it tolerates before blocking."""
    limit = settings.login_max_failures
    if device is not None:
        return {f"device:{device.id}": limit}
    return {
        f"pair:{email}|{address}": limit,
        f"acct:{email}": limit * 4,
        f"addr:{address}": limit * 10,
    }


async def blocked_until(db: AsyncSession, keys: dict[str, int]) -> datetime | None:
    """The latest block among the keys, if any is still in force."""
    rows = (await db.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys)))).all()
    current = now()
    blocks = [r.blocked_until for r in rows if r.blocked_until and r.blocked_until > current]
    return max(blocks) if blocks else None


async def record_failure(db: AsyncSession, keys: dict[str, int], settings: Settings) -> None:
    current = now()
    window = timedelta(minutes=settings.login_window_minutes)
    cap = timedelta(minutes=settings.login_max_lockout_minutes)
    await _ensure_rows(db, keys, current)
    rows = {r.key: r for r in (await db.scalars(
        select(LoginThrottle).where(LoginThrottle.key.in_(keys)).with_for_update()
    )).all()}
    for key, limit in keys.items():
        row = rows[key]
        if current - row.window_started_at > window and not _blocked(row, current):
            row.failures, row.window_started_at = 0, current
        row.failures += 1
        over = row.failures - limit
        if over >= 0:
            row.blocked_until = current + _block_length(over, cap)


async def _ensure_rows(db: AsyncSession, keys: dict[str, int], current: datetime) -> None:
    """Create missing counters without racing: two first failures at once must not both
    INSERT the same key (one would fail with a 500)."""
    dialect = (await db.connection()).dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(LoginThrottle).values(
        [{"key": key, "failures": 0, "window_started_at": current} for key in keys]
    ).on_conflict_do_nothing(index_elements=["key"])
    await db.execute(statement)


def _block_length(over: int, cap: timedelta) -> timedelta:
    """2**over minutes, capped. The exponent is bounded first: with a window much longer
    than the cap, failures pile up and 2**over minutes would overflow timedelta (a 500 that
    rolls back the failure, so the guesser would never be blocked)."""
    return min(timedelta(minutes=2 ** min(over, 30)), cap)


def _blocked(row: LoginThrottle, current: datetime) -> bool:
    return row.blocked_until is not None and row.blocked_until > current


async def record_success(db: AsyncSession, keys: dict[str, int]) -> None:
    """A correct password clears this person's own counters (not the address's)."""
    personal = [k for k in keys if not k.startswith("addr:")]
    await db.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(personal)))


async def trusted_device(db: AsyncSession, token: str | None, email: str) -> TrustedDevice | None:
    """The device behind this cookie, if it signed in before as this email and still counts."""
    if not token:
        return None
    return await db.scalar(
        select(TrustedDevice).join(User, User.id == TrustedDevice.user_id)
        .where(TrustedDevice.token_hash == token_hash(token), User.email == email,
               TrustedDevice.expires_at > now()))


async def trust_device(db: AsyncSession, user: User, old: TrustedDevice | None,
                       settings: Settings) -> str:
    """After a correct sign-in: a fresh device token (the old one is replaced)."""
    current = now()
    await db.execute(delete(TrustedDevice).where(
        TrustedDevice.user_id == user.id, TrustedDevice.expires_at <= current))
    if old is not None:
        await db.delete(old)
    token = new_token()
    db.add(TrustedDevice(token_hash=token_hash(token), user_id=user.id, created_at=current,
                         expires_at=current + timedelta(days=settings.login_device_days)))
    return token


async def forget_devices(db: AsyncSession, user_id: int) -> None:
    """"Sign out everywhere" also ends every device's standing."""
    await db.execute(delete(TrustedDevice).where(TrustedDevice.user_id == user_id))
