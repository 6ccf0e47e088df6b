"""The async engine and session factory, with a lifetime tied to the app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from sqlalchemy import event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from server import keys
from server.settings import Settings


def make_engine(settings: Settings) -> AsyncEngine:
    """An engine for the configured database; SQLite gets foreign keys and WAL."""
    if settings.is_sqlite:
        path = settings.database_url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(settings.database_url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(settings.database_url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


async def database_is_empty(engine: AsyncEngine) -> bool:
    """True when the database has no Rapport tables at all (a brand-new database)."""
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda c: inspect(c).get_table_names())
    return "alembic_version" not in names


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: open the engine (migrating a new database), dispose it on shutdown."""
    settings = app[keys.SETTINGS]
    engine = make_engine(settings)
    if settings.migrate_on_start and await database_is_empty(engine):
        from server.store.migrate import upgrade

        await upgrade(engine)
    app[keys.ENGINE] = engine
    app[keys.DB] = async_sessionmaker(engine, expire_on_commit=False)
    try:
        yield
    finally:
        await engine.dispose()


__all__ = ["Engine", "database_ctx", "database_is_empty", "make_engine"]
